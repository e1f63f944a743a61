// Every variable of every role is documented once: its default only in
// defaults/main.yml, its type and meaning in meta/argument_specs.yml, and the
// role's README.md lists it (a table rendered from those two files).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { readmePath, readRole, renderTable, repositoryRoot, roleNames, roleVariables, tableInReadme } from "./role-variables.js";

const root = repositoryRoot();
const names = roleNames(root);

describe("role variables", () => {
  test("finds the playbook's roles", () => {
    assert.deepEqual(names, ["consul", "handler", "haproxy"]);
  });

  for (const name of names) {
    describe(`roles/${name}`, () => {
      const role = readRole(root, name);

      test("defaults/main.yml and the argument specs name the same variables", () => {
        const defaults = Object.keys(role.defaults);
        const options = Object.keys(role.options);
        assert.deepEqual(
          { "in defaults/main.yml only": defaults.filter((key) => !options.includes(key)), "in meta/argument_specs.yml only": options.filter((key) => !defaults.includes(key)) },
          { "in defaults/main.yml only": [], "in meta/argument_specs.yml only": [] },
          `roles/${name}: give every variable a default in defaults/main.yml and an entry (type, description) in meta/argument_specs.yml`,
        );
      });

      test("each default is written once (no default: in the argument specs)", () => {
        const twice = Object.entries(role.options).filter(([, spec]) => "default" in spec).map(([key]) => key);
        assert.deepEqual(twice, [], `roles/${name}/meta/argument_specs.yml repeats these defaults of defaults/main.yml: remove them there`);
      });

      test("every argument spec entry has a type and a description", () => {
        const bare = Object.entries(role.options).filter(([, spec]) => spec.type === undefined || spec.description === undefined).map(([key]) => key);
        assert.deepEqual(bare, [], `roles/${name}/meta/argument_specs.yml: give these a type and a description`);
      });

      test("README.md names every variable", () => {
        const path = readmePath(role);
        assert.ok(existsSync(path), `${path} is missing: run npm run roles:readme`);
        const readme = readFileSync(path, "utf8");
        const missing = roleVariables(role).map((variable) => variable.name).filter((variable) => !readme.includes(`\`${variable}\``));
        assert.deepEqual(missing, [], `${path} does not name these variables: run npm run roles:readme`);
      });

      test("README.md's variables table is the one defaults/main.yml and the argument specs give", () => {
        const readme = existsSync(readmePath(role)) ? readFileSync(readmePath(role), "utf8") : "";
        assert.equal(tableInReadme(readme), renderTable(role), `roles/${name}/README.md's variables table is out of date: run npm run roles:readme`);
      });
    });
  }
});
