// The house's import arrows as ESLint rules (a local plugin: no resolver, no native code).
//
//   app → components → lib          nothing in lib/ imports app/, components/ or agent/
//   components/<feature> ↛ components/<other feature>   (ui, wizard, layout are shared)
//   agent → lib/{contracts,storage,backups}             (agent/testing and tests also lib/process)
//   lib/contracts → zod only
//   dashboard server modules start with `import "server-only"` (rule `server-only`)
//
// Tests (*.test.ts[x]), e2e/ and bench/ may reach across: they start the real parts side by side.
// docs/architecture.md shows the same arrows; `lint/boundaries.test.ts` proves each rule can fail.
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "..");
const SHARED_COMPONENTS = new Set(["ui", "wizard", "layout"]);
const AGENT_MAY_USE = new Set(["contracts", "storage", "backups"]);

/** The project-relative path `spec` names from `file`, or null for a package import. */
export function resolveImport(file, spec) {
  if (spec.startsWith("@/")) return spec.slice(2);
  if (spec.startsWith("./") || spec.startsWith("../"))
    return path
      .relative(ROOT, path.resolve(path.dirname(file), spec))
      .split(path.sep)
      .join("/");
  return null;
}

const isTest = (rel) => /\.test\.tsx?$/.test(rel) || rel.startsWith("e2e/") || rel.startsWith("bench/") || rel.startsWith("lint/");
const parts = (rel) => rel.split("/");

/** Why `from` may not import `to` (both project-relative), or null when the arrow is allowed. */
export function arrowViolation(from, to) {
  if (to.startsWith("..")) return "imports from outside the project";
  if (isTest(from)) return null;
  const [fTop, fSub] = parts(from);
  const [tTop, tSub] = parts(to);
  if (fTop === "lib") {
    if (tTop === "app" || tTop === "components" || tTop === "agent") return `lib/ must not import ${tTop}/ (arrows: app → components → lib; agent → lib)`;
    if (fSub === "contracts" && tTop === "lib" && tSub !== "contracts") return "lib/contracts imports nothing but zod and itself";
    if (tTop === "lib" && tSub === "process" && fSub !== "process" && fSub !== "launcher") return "lib/process is for the launcher, tests and benchmarks";
    return null;
  }
  if (fTop === "components") {
    if (tTop === "app" || tTop === "agent") return `components/ must not import ${tTop}/`;
    if (tTop === "components" && fSub !== tSub && !SHARED_COMPONENTS.has(tSub) && !SHARED_COMPONENTS.has(fSub))
      return `components/${fSub} must not import components/${tSub}: share through components/ui, components/wizard or lib/`;
    if (tTop === "components" && SHARED_COMPONENTS.has(fSub) && !SHARED_COMPONENTS.has(tSub))
      return `components/${fSub} is shared and must not import components/${tSub}`;
    return null;
  }
  if (fTop === "app") {
    if (tTop === "agent") return "app/ talks to the agent through lib/agent, never by importing agent/";
    return null;
  }
  if (fTop === "agent") {
    if (tTop === "app" || tTop === "components") return `agent/ must not import ${tTop}/`;
    if (tTop === "lib") {
      if (AGENT_MAY_USE.has(tSub)) return null;
      if (tSub === "process" && fSub === "testing") return null;
      return `agent/ may import only lib/contracts, lib/storage and lib/backups (not lib/${tSub})`;
    }
    return null;
  }
  return null;
}

function sourcesOf(node) {
  if (node.type === "ImportDeclaration" || node.type === "ExportAllDeclaration" || node.type === "ExportNamedDeclaration") return node.source;
  if (node.type === "ImportExpression" && node.source.type === "Literal") return node.source;
  return null;
}

const arrows = {
  meta: { type: "problem", docs: { description: "The house's import arrows (docs/architecture.md)." }, schema: [] },
  create(context) {
    const file = context.filename;
    const from = path.relative(ROOT, file).split(path.sep).join("/");
    const check = (node) => {
      const src = sourcesOf(node);
      if (!src || typeof src.value !== "string") return;
      const spec = src.value;
      if (from.startsWith("lib/contracts/") && !isTest(from) && resolveImport(file, spec) === null && spec !== "zod")
        return context.report({ node: src, message: `lib/contracts imports nothing but zod (found "${spec}")` });
      const to = resolveImport(file, spec);
      if (to === null) return;
      const why = arrowViolation(from, to);
      if (why) context.report({ node: src, message: `${why}: "${spec}"` });
    };
    return { ImportDeclaration: check, ExportAllDeclaration: check, ExportNamedDeclaration: check, ImportExpression: check };
  },
};

const serverOnly = {
  meta: { type: "problem", docs: { description: 'Dashboard server modules start with import "server-only".' }, schema: [] },
  create(context) {
    return {
      Program(program) {
        const has = program.body.some((n) => n.type === "ImportDeclaration" && n.source.value === "server-only");
        if (!has) context.report({ node: program, message: 'A dashboard server module must import "server-only" (it holds secrets or the database).' });
      },
    };
  },
};

export default { rules: { arrows, "server-only": serverOnly } };
