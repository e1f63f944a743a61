// The config tables (handler/config/schema/) are the one place a key, its
// check, its default and its doc are written. This test holds everything
// else to them: README's configuration reference (the yaml block and the
// defaults it states), the `@default` JSDoc of handler/config/types.ts, and
// the CONSUL_* variables that check-config names as a setting's origin.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { parse as parseYaml } from "yaml";
import { flattenTable, isRecord, type Field, type Table } from "../../../handler/config/schema/field.js";
import { topLevelTable } from "../../../handler/config/schema/top-level.js";
import { ConfigError, validateConfig } from "../../../handler/config/config.js";
import { resolveConsulConnection, type ConsulConnection } from "../../../handler/source/consul-connection.js";

/** A file of the repository, found upwards from this test (it runs from dist/test/... too). */
function repositoryText(relative: string): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(directory, "package.json")) || !existsSync(join(directory, relative))) {
    assert.notEqual(directory, dirname(directory), `${relative} not found above ${fileURLToPath(import.meta.url)}`);
    directory = dirname(directory);
  }
  return readFileSync(join(directory, relative), "utf8");
}

const fields = new Map(flattenTable(topLevelTable as Table<unknown>).map(({ path, field }) => [path, field]));

/** README's reference: the ```yaml block under "## Configuration". */
function readmeReference(): unknown {
  const readme = repositoryText("README.md");
  const section = readme.slice(readme.indexOf("\n## Configuration\n"));
  const block = /```yaml\n([\s\S]*?)```/.exec(section);
  assert.ok(block?.[1], 'README has no ```yaml block under "## Configuration"');
  return parseYaml(block[1]);
}

/** Every key path of a YAML document, as flattenTable writes them, with the values at each (a list item's key may have several). */
function documentPaths(value: unknown, prefix = "", found = new Map<string, unknown[]>()): Map<string, unknown[]> {
  if (!isRecord(value)) return found;
  for (const [key, child] of Object.entries(value)) {
    const path = `${prefix}${key}`;
    found.set(path, [...(found.get(path) ?? []), child]);
    if (Array.isArray(child)) for (const item of child) documentPaths(item, `${path}[].`, found);
    else documentPaths(child, `${path}.`, found);
  }
  return found;
}

/** Keys of the tables that README's block shows only in a comment, with the reason. */
const NOT_IN_README_BLOCK: Record<string, RegExp> = {
  // token and tokenFile exclude each other; the block sets tokenFile and names token beside it.
  "consul.token": /tokenFile: .*# or token: /,
};

/** README values that show a form rather than the default, with why. */
const EXAMPLE_VALUES: Record<string, string> = {
  "services[].slotClasses": "the block shows three classes; left out, a service has none",
  "services[].slotClasses[].scheme": "the three classes show https, https without verification and a timeout class",
  "services[].slotClasses[].sslVerify": "as above",
  "services[].slotClasses[].timeout": "as above",
  "services[].powDefaults.maxconn": "shows a PoW limit; left out, powDefaults are the service's defaults",
};

/** The @default a key's JSDoc must carry: the table's default as JSON, or its default in words. */
function expectedDefault(field: Field<unknown>): string | undefined {
  if (field.default !== undefined) return JSON.stringify(field.default);
  return field.defaultText;
}

/** Each property of the interfaces reachable from HandlerConfig in types.ts, by the same paths, with its JSDoc and @default. */
function documentedProperties(): Map<string, { doc: string; default: string | undefined }> {
  const source = ts.createSourceFile("types.ts", repositoryText("handler/config/types.ts"), ts.ScriptTarget.Latest, true);
  const interfaces = new Map(source.statements.filter(ts.isInterfaceDeclaration).map((declaration) => [declaration.name.text, declaration]));
  const found = new Map<string, { doc: string; default: string | undefined }>();
  const walk = (name: string, prefix: string): void => {
    const declaration = interfaces.get(name);
    assert.ok(declaration, `types.ts has no interface ${name}`);
    for (const member of declaration.members) {
      if (!ts.isPropertySignature(member) || !ts.isIdentifier(member.name)) continue;
      const path = `${prefix}${member.name.text}`;
      const jsDoc = ts.getJSDocCommentsAndTags(member).find(ts.isJSDoc);
      const tag = jsDoc?.tags?.find((candidate) => candidate.tagName.text === "default");
      found.set(path, { doc: ts.getTextOfJSDocComment(jsDoc?.comment)?.replace(/\s+/g, " ").trim() ?? "", default: ts.getTextOfJSDocComment(tag?.comment)?.trim() });
      let type = member.type;
      let list = false;
      if (type && ts.isArrayTypeNode(type)) {
        type = type.elementType;
        list = true;
      }
      if (type && ts.isTypeReferenceNode(type) && ts.isIdentifier(type.typeName) && interfaces.has(type.typeName.text)) walk(type.typeName.text, `${path}${list ? "[]" : ""}.`);
    }
  };
  walk("HandlerConfig", "");
  return found;
}

describe("config tables: README's configuration reference", () => {
  const readme = documentPaths(readmeReference());

  test("every key in README's block is in the tables", () => {
    const unknown = [...readme.keys()].filter((path) => !fields.has(path));
    assert.deepEqual(unknown, [], "README names keys the config does not read");
  });

  test("every key of the tables is in README's block (or named beside it, see NOT_IN_README_BLOCK)", () => {
    const readmeText = repositoryText("README.md");
    const missing = [...fields.keys()].filter((path) => !readme.has(path) && !(NOT_IN_README_BLOCK[path]?.test(readmeText) ?? false));
    assert.deepEqual(missing, [], "keys missing from README's configuration block");
  });

  test("the values README shows are the defaults, except the examples listed in EXAMPLE_VALUES", () => {
    const differ: string[] = [];
    for (const [path, values] of readme) {
      const field = fields.get(path);
      if (field?.default === undefined || path in EXAMPLE_VALUES) continue;
      for (const value of values) if (JSON.stringify(value) !== JSON.stringify(field.default)) differ.push(`${path}: README shows ${JSON.stringify(value)}, the default is ${JSON.stringify(field.default)}`);
    }
    assert.deepEqual(differ, []);
    for (const path of Object.keys(EXAMPLE_VALUES)) assert.ok(readme.has(path) && fields.get(path)?.default !== undefined, `${path} is listed as an example but README or the tables have no such key with a default`);
  });

  test("the consul table names the environment variable and default README's connection table states", () => {
    const rows = repositoryText("README.md")
      .split("\n")
      .map((line) => /^\| `consul\.(\w+)` \| `(\w+)` \| [^|]* \| ([^|]*) \|$/.exec(line))
      .filter((match) => match !== null);
    assert.ok(rows.length >= 9, `README's connection table has ${rows.length} consul.* rows`);
    for (const [, key, variable, stated] of rows) {
      const defaultText = fields.get(`consul.${key ?? ""}`)?.defaultText ?? "";
      assert.ok(defaultText.startsWith(variable ?? "-"), `consul.${key}: README names ${variable}, the table's default is ${JSON.stringify(defaultText)}`);
      const fallback = /, else (.*)$/.exec(defaultText)?.[1];
      if (fallback !== undefined) assert.equal(stated?.replace(/`/g, "").trim(), fallback, `consul.${key}: README's default differs from the table's`);
    }
  });
});

describe("config tables: types.ts", () => {
  const documented = documentedProperties();

  test("types.ts and the tables have the same keys", () => {
    assert.deepEqual([...documented.keys()].sort(), [...fields.keys()].sort());
  });

  test("every key with a default carries it as @default, and no other key has one", () => {
    const differ: string[] = [];
    for (const [path, field] of fields) {
      const stated = documented.get(path)?.default;
      if (stated !== expectedDefault(field)) differ.push(`${path}: @default ${stated ?? "(none)"}, the table says ${expectedDefault(field) ?? "(none)"}`);
    }
    assert.deepEqual(differ, []);
  });

  test("each key's JSDoc is the table's one-line doc", () => {
    const differ = [...fields].filter(([path, field]) => documented.get(path)?.doc !== field.doc).map(([path, field]) => `${path}: JSDoc ${JSON.stringify(documented.get(path)?.doc)}, table ${JSON.stringify(field.doc)}`);
    assert.deepEqual(differ, []);
  });
});

describe("config tables: the reader", () => {
  const minimal = { haproxy: { socket: "127.0.0.1:9999" }, services: [{ name: "a", backend: "b", slotPrefix: "s" }] };

  test("a file with only the required keys reads as every table default", () => {
    const config = validateConfig(minimal, "test.yml") as unknown as Record<string, unknown>;
    for (const [path, field] of fields) {
      if (field.default === undefined || path.includes("[]") || ["haproxy.slotsFile", "services"].some((optional) => path.startsWith(`${optional}.`))) continue;
      const value = path.split(".").reduce<unknown>((parent, key) => (isRecord(parent) ? parent[key] : undefined), config);
      assert.deepEqual(value, field.default, path);
    }
  });

  test("an unknown key is named with the closest known one", () => {
    try {
      validateConfig({ ...minimal, consul: { timeoutMS: 1000 }, policy: { drainSecond: 5 }, run: { nonsense: 1 } }, "test.yml");
      assert.fail("a config with unknown keys was accepted");
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      assert.deepEqual(
        error.problems.filter((problem) => problem.includes("unknown key")),
        [
          "consul.timeoutMS: unknown key; expected one of address, token, tokenFile, caFile, caPath, clientCert, clientKey, sslVerify, tlsServerName, datacenter, timeoutMs, aclCanaryService, blockingWaitSeconds; did you mean timeoutMs?",
          "policy.drainSecond: unknown key; expected one of warningAs, drainSeconds, maxRemovalFraction, massRemovalMinNodes, massRemovalHoldSeconds; did you mean drainSeconds?",
          "run.nonsense: unknown key; expected one of listen, resyncSeconds, allowNonLoopback",
        ],
      );
    }
  });
});

describe("config tables: check-config's connection listing", () => {
  test("each setting's environment variable, as check-config prints it, is the one the consul table documents", () => {
    const environment = {
      CONSUL_HTTP_ADDR: "127.0.0.1:8501",
      CONSUL_HTTP_TOKEN: "t",
      CONSUL_CACERT: "/ca.pem",
      CONSUL_CAPATH: "/cas",
      CONSUL_CLIENT_CERT: "/c.pem",
      CONSUL_CLIENT_KEY: "/k.pem",
      CONSUL_HTTP_SSL_VERIFY: "false",
      CONSUL_TLS_SERVER_NAME: "consul.example.com",
    };
    const connection = resolveConsulConnection(validateConfig({ haproxy: { socket: "s" }, services: [{ name: "a", backend: "b", slotPrefix: "s" }] }, "t").consul, environment);
    const tokenFile = resolveConsulConnection(validateConfig({ haproxy: { socket: "s" }, services: [{ name: "a", backend: "b", slotPrefix: "s" }] }, "t").consul, { CONSUL_HTTP_TOKEN_FILE: "/token" });
    const settings: [string, ConsulConnection[keyof ConsulConnection]][] = [...Object.entries(connection), ["tokenFile", tokenFile.token]] as [string, ConsulConnection[keyof ConsulConnection]][];
    for (const [key, setting] of settings) {
      assert.equal(setting.origin.kind, "environment", key);
      const variable = setting.origin.kind === "environment" ? setting.origin.variable : "";
      assert.ok(fields.get(`consul.${key}`)?.defaultText?.startsWith(variable), `consul.${key} comes from ${variable}; the table says ${fields.get(`consul.${key}`)?.defaultText}`);
    }
  });
});
