// A node:test reporter for the mutation runs: the process exits 1 at the
// first failed test. Stryker's command runner only needs "some test failed"
// to count a mutant killed, so the tests after the first failure would be
// time spent for nothing (most mutants are killed).
// Used as: node --test-reporter=./test/mutation/bail-reporter.mjs test/mutation/unit-tests.mjs
export default async function* bailAtFirstFailure(source) {
  for await (const event of source) {
    if (event.type === "test:fail") {
      yield `mutation run: stopped at the first failed test: ${event.data.name}\n`;
      process.exit(1);
    }
  }
}
