#!/usr/bin/env bash
# The mutation-testing step of CI: StrykerJS against the unit tests (see
# stryker.config.mjs and docs/mutation-testing.md), then the score line
#   mutation: score S% (...) of M mutants
# printed whether or not the score is above the break threshold. Exits with
# Stryker's status (non-zero under the threshold). Needs 'npm run build'.
set -uo pipefail
cd "$(dirname "$0")/../.."
if (( $(node -p 'process.versions.node.split(".")[0]') < 20 )); then
  echo "mutation: FAILED (StrykerJS 9 needs Node >= 20; this is Node $(node -v))"
  exit 1
fi
# Each mutant runs the unit tests; their temporary files go here, removed at the end.
TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/chh-mutation.XXXXXX")
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
npx --no-install stryker run
rc=$?
node test/mutation/score.mjs || rc=1
exit "$rc"
