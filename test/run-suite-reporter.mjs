// A test reporter for test/run-suite.mjs: one JSON line per finished test or
// suite, with its file, so that run-suite.mjs counts from the events rather
// than from node's closing "# pass N" lines. Those lines miss two cases: a
// suite whose own setup threw is "not ok" with "# fail 0" (its tests never
// ran and are not counted), and a file that declared no test is reported as
// one passing test named after the file.
export default async function* countEvents(source) {
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const { name, nesting, file, skip, todo, details } = event.data;
    yield `${JSON.stringify({
      passed: event.type === "test:pass",
      name,
      nesting,
      file,
      kind: details?.type ?? "test",
      skipped: skip !== undefined && skip !== false,
      todo: todo !== undefined && todo !== false,
      failureType: details?.error?.failureType,
    })}\n`;
  }
}
