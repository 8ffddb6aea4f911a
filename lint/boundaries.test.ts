import path from "node:path";
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

// Lints made-up files through the project's real eslint.config.mjs, so both the rules and their
// wiring (which files they cover) are checked.
const ROOT = path.resolve(import.meta.dirname, "..");
const eslint = new ESLint({ cwd: ROOT });

async function problems(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
  return result.messages.filter((m) => m.ruleId?.startsWith("boundaries/")).map((m) => m.message);
}

describe("import arrows", () => {
  it("lib must not import app, components or agent; tests may", async () => {
    expect(await problems("lib/backups/x.ts", 'import { a } from "../../agent/config";\nexport const b = a;\n')).toEqual([
      expect.stringMatching(/lib\/ must not import agent/),
    ]);
    expect(await problems("lib/backups/x.ts", 'import { a } from "@/components/ui/button";\nexport const b = a;\n')).toEqual([
      expect.stringMatching(/must not import components/),
    ]);
    expect(await problems("lib/backups/x.test.ts", 'import { a } from "../../agent/config";\nexport const b = a;\n')).toEqual([]);
  });

  it("agent imports only lib/contracts, lib/storage and lib/backups (and lib/process from its testing folder)", async () => {
    expect(
      await problems(
        "agent/restore/x.ts",
        'import { a } from "../../lib/contracts/errors";\nimport { b } from "../../lib/storage";\nexport const c = [a, b];\n',
      ),
    ).toEqual([]);
    expect(await problems("agent/restore/x.ts", 'import { a } from "../../lib/catalog/catalog-service";\nexport const c = a;\n')).toEqual([
      expect.stringMatching(/not lib\/catalog/),
    ]);
    expect(await problems("agent/restore/x.ts", 'export async function f() { return import("../../lib/kube/drain"); }\n')).toEqual([
      expect.stringMatching(/not lib\/kube/),
    ]);
    expect(await problems("agent/testing/x.ts", 'import { a } from "../../lib/process";\nexport const c = a;\n')).toEqual([]);
    expect(await problems("agent/restore/x.ts", 'import { a } from "../../lib/process";\nexport const c = a;\n')).toEqual([
      expect.stringMatching(/not lib\/process/),
    ]);
    expect(await problems("agent/restore/x.ts", 'import { a } from "@/app/layout";\nexport const c = a;\n')).toEqual([
      expect.stringMatching(/agent\/ must not import app/),
    ]);
  });

  it("component feature folders do not import each other; shared folders are ui, wizard and layout", async () => {
    expect(await problems("components/backups/x.tsx", 'import { a } from "../restore/queries";\nexport const c = a;\n')).toEqual([
      expect.stringMatching(/components\/backups must not import components\/restore/),
    ]);
    expect(await problems("components/backups/x.tsx", 'import { a } from "@/components/ui/button";\nexport const c = a;\n')).toEqual([]);
    expect(await problems("components/ui/x.tsx", 'import { a } from "@/components/nodes/queries";\nexport const c = a;\n')).toEqual([
      expect.stringMatching(/shared and must not import/),
    ]);
    expect(await problems("components/nodes/x.tsx", 'import { a } from "@/app/layout";\nexport const c = a;\n')).toEqual([
      expect.stringMatching(/must not import app/),
    ]);
  });

  it("lib/contracts imports nothing but zod", async () => {
    expect(await problems("lib/contracts/x.ts", 'import { z } from "zod";\nimport { a } from "./errors";\nexport const c = [z, a];\n')).toEqual([]);
    expect(await problems("lib/contracts/x.ts", 'import { a } from "../backups";\nexport const c = a;\n')).toEqual([expect.stringMatching(/nothing but zod/)]);
    expect(await problems("lib/contracts/x.ts", 'import pino from "pino";\nexport const c = pino;\n')).toEqual([expect.stringMatching(/nothing but zod/)]);
  });

  it('dashboard server modules import "server-only"; browser-safe and launcher-imported ones need not', async () => {
    expect(await problems("lib/catalog/x.ts", "export const a = 1;\n")).toEqual([expect.stringMatching(/server-only/)]);
    expect(await problems("lib/catalog/x.ts", 'import "server-only";\nexport const a = 1;\n')).toEqual([]);
    expect(await problems("lib/catalog/config.ts", "export const a = 1;\n")).toEqual([]);
    expect(await problems("lib/backups/x.ts", "export const a = 1;\n")).toEqual([]);
  });
});
