// ESLint (flat config): typescript-eslint's recommended rules, React hooks, and the house's import
// arrows (lint/boundaries.mjs). Formatting is Prettier's job (`npm run format`), not ESLint's.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import reactHooks from "eslint-plugin-react-hooks";
import prettier from "eslint-config-prettier";
import globals from "globals";
import boundaries from "./lint/boundaries.mjs";

/** Dashboard server modules: they hold the database, secrets or the agent's token. */
const SERVER_MODULES = [
  "lib/server/**",
  "lib/db/**",
  "lib/catalog/**",
  "lib/kube/**",
  "lib/log.ts",
  "lib/http/**",
  "lib/agent/**",
  "lib/wizard/**",
  "lib/restore/**",
  "lib/alerts/**",
  "lib/notify/**",
  "lib/metrics/**",
  "lib/auth/**",
  "lib/statistics/**",
];
/** Browser-safe or launcher-imported modules inside those folders. */
const NOT_SERVER_ONLY = [
  "**/*.test.ts",
  "**/testing/**",
  "lib/catalog/config.ts",
  "lib/kube/{choices,format,quantity,selectors,views}.ts",
  // The demo cluster: a simulated Kubernetes API the launcher runs (plain Node), holding no dashboard secret.
  "lib/kube/simulator/**",
  "lib/restore/{contracts,proposal,set-stats}.ts",
  "lib/alerts/rules/**",
  "lib/notify/{types,formats,env-channels}.ts",
  // Parsed with the environment by the launcher; the HTTP front runs outside Next.js's bundles.
  "lib/auth/config.ts",
  "lib/http/{dashboard-server,release-server,peer,front-headers,data-dir}.ts",
];

export default tseslint.config(
  {
    ignores: [
      "node_modules/**",
      ".next*/**",
      "agent/dist*/**",
      "data/**",
      "test-results/**",
      "playwright-report/**",
      "test-reports/**",
      "bench/out/**",
      "next-env.d.ts",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    plugins: { boundaries },
    rules: {
      "boundaries/arrows": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-non-null-assertion": "off",
      "no-empty": ["error", { allowEmptyCatch: true }],
    },
  },
  // Browser globals only where browser code lives (a bare `stop` elsewhere is a bug, not window.stop).
  { files: ["app/**", "components/**", "lib/client/**", "e2e/**"], languageOptions: { globals: { ...globals.node, ...globals.browser } } },
  // Hooks rules only where React lives (agent helpers named use… are not hooks).
  {
    files: ["app/**/*.tsx", "components/**/*.{ts,tsx}"],
    plugins: { "react-hooks": reactHooks },
    rules: { "react-hooks/rules-of-hooks": "error", "react-hooks/exhaustive-deps": "warn" },
  },
  // Playwright fixtures are declared as `async ({}, testInfo) => …`.
  { files: ["e2e/**"], rules: { "no-empty-pattern": "off" } },
  { files: SERVER_MODULES, ignores: NOT_SERVER_ONLY, rules: { "boundaries/server-only": "error" } },
  { files: ["**/*.cjs"], languageOptions: { sourceType: "commonjs" }, rules: { "@typescript-eslint/no-require-imports": "off" } },
  // Focused tests would hide the rest of the suite.
  {
    files: ["**/*.test.ts", "**/*.test.tsx", "e2e/**"],
    rules: {
      "no-restricted-properties": ["error", { object: "it", property: "only" }, { object: "describe", property: "only" }, { object: "test", property: "only" }],
    },
  },
  prettier,
);
