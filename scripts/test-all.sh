#!/usr/bin/env bash
# Lint, typecheck and every suite; each suite prints "<suite>: N passed, N failed".
# Runs them all even when one fails, then exits non-zero if any did.
set -uo pipefail
cd "$(dirname "$0")/.."
failed=()
step() {
  local name=$1; shift
  echo "==> $name"
  if "$@"; then echo "==> $name: ok"; else echo "==> $name: FAILED"; failed+=("$name"); fi
}
step lint npm run --silent lint
step typecheck npm run --silent typecheck
step build npm run --silent build
step unit node test/run-suite.mjs unit
step integration node test/run-suite.mjs integration
if [ -f test/playbook/run.sh ] && [ "${SKIP_PLAYBOOK:-0}" != 1 ]; then
  step playbook bash test/playbook/run.sh
fi
if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all suites passed"
