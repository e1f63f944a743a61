// Lint rules: strict TypeScript, no `any`, and the folders of handler/ as
// floors (README, Development): a file imports from its own folder and from
// the floors below it, never from a floor above or beside it. `planner/` is
// pure and imports only `planner/`; `haproxy-runtime-api/` knows nothing of
// Consul or the rest of the handler. test/unit/lint/import-floors.test.ts
// checks that an import running back up fails the lint.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/**
 * Each folder of handler/ and the folders it may import from (besides its
 * own files and handler/'s root files, log.ts and version.ts). A folder
 * missing from a list is above or beside it.
 */
const FLOORS = {
  "planner": [],
  "haproxy-runtime-api": [],
  // The portmap (issue 17): pure parse, render and change classes; source/ reads it from KV.
  "portmap": [],
  "config": ["haproxy-runtime-api"],
  // Certificates over ACME (issue 18): a module of its own, on disk and over HTTP-01; the run wires it in.
  "certificates": ["config", "haproxy-runtime-api"],
  // The rendered portmap into HAProxy: files, `haproxy -c`, a reload over the master CLI.
  "lb": ["slots-file", "portmap", "config", "planner", "haproxy-runtime-api"],
  "applier": ["planner", "haproxy-runtime-api"],
  "slots-file": ["planner", "config"],
  // source/ implements certificates/' ChallengeStore in Consul KV (acme-challenges.ts): certificates/ reads no Consul itself.
  "source": ["certificates", "planner", "portmap", "config", "haproxy-runtime-api"],
  "haproxy-state": ["planner", "applier", "haproxy-runtime-api"],
  // reconcile/lb-certificates.ts drives the certificate manager for the rendered portmap.
  "reconcile": ["certificates", "source", "haproxy-state", "applier", "slots-file", "lb", "config", "planner", "portmap", "haproxy-runtime-api"],
  "metrics": ["reconcile", "source", "planner", "config"],
  "triggers": ["certificates", "metrics", "reconcile", "source", "haproxy-state", "applier", "slots-file", "lb", "config", "planner", "portmap", "haproxy-runtime-api"],
  "cli": ["triggers", "certificates", "metrics", "reconcile", "source", "haproxy-state", "applier", "slots-file", "lb", "config", "planner", "portmap", "haproxy-runtime-api"],
};

function floorRule(folder, allowed) {
  if (allowed.length === 0) {
    // The bottom floors import nothing of the handler; the planner imports no package or node: module either.
    const pattern =
      folder === "planner"
        ? { regex: "^(?!\\./)", message: "planner/ is the bottom floor and pure: it imports only planner/ (no other folder, no package, no node: module)." }
        : { group: ["../*"], message: `${folder}/ is a bottom floor, a module of its own: it must not import the rest of the handler.` };
    return { files: [`handler/${folder}/**/*.ts`], rules: { "no-restricted-imports": ["error", { patterns: [pattern] }] } };
  }
  const above = Object.keys(FLOORS).filter((other) => other !== folder && !allowed.includes(other));
  // The top floor (cli/) may import every folder.
  if (above.length === 0) return undefined;
  return {
    files: [`handler/${folder}/**/*.ts`],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: above.map((other) => `../${other}/**`), message: `${folder}/ imports only from the floors below it (${allowed.join(", ")}): this import runs back up or sideways (see FLOORS in eslint.config.js).` }] }],
    },
  };
}

const floorRules = [
  ...Object.entries(FLOORS)
    .map(([folder, allowed]) => floorRule(folder, allowed))
    .filter((rule) => rule !== undefined),
  {
    // log.ts and version.ts: below every folder.
    files: ["handler/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [{ group: ["./*/**"], message: "handler/'s root files are the lowest floor: they import no folder of the handler." }] }] },
  },
];

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**"] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", setTimeout: "readonly", clearTimeout: "readonly", setInterval: "readonly", clearInterval: "readonly", Buffer: "readonly", URL: "readonly", AbortController: "readonly" } },
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "no-console": ["error", { allow: ["error"] }],
    },
  },
  ...floorRules,
  {
    files: ["test/**/*.ts", "test/**/*.mjs", "bench/**/*.ts", "handler/cli/**/*.ts"],
    rules: { "no-console": "off" },
  },
  {
    // Tests index fixtures they just built; a wrong guess fails the test anyway.
    files: ["test/**/*.ts"],
    rules: { "@typescript-eslint/no-non-null-assertion": "off" },
  },
);
