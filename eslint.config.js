// Lint rules: strict TypeScript, no `any`, and the HAProxy client module stays
// independent of the rest of the handler (it must know nothing of Consul).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

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
  {
    files: ["handler/haproxy-runtime-api/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: ["../*", "!../haproxy-runtime-api/*"], message: "haproxy-runtime-api is a module of its own: it must not import the rest of the handler." }] }],
    },
  },
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
