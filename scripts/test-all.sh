#!/usr/bin/env bash
# Lint, typecheck and every suite; each suite prints "<suite>: N passed, N failed".
# Runs them all even when one fails, then exits non-zero if any did.
# Each step has a deadline (seconds) so that a hung suite fails on its own
# instead of holding CI until CI's own deadline kills everything.
set -uo pipefail
cd "$(dirname "$0")/.."
failed=()
step() {
  local name=$1 limit=$2; shift 2
  local started=$SECONDS rc
  echo "==> $name"
  timeout --kill-after=30 "$limit" "$@"
  rc=$?
  if (( rc == 0 )); then
    echo "==> $name: ok ($(( SECONDS - started )) s)"
  else
    (( rc == 124 )) && echo "==> $name: timed out after $limit s"
    echo "==> $name: FAILED (exit $rc, $(( SECONDS - started )) s)"
    failed+=("$name")
  fi
}
step lint 300 npm run --silent lint
step typecheck 300 npm run --silent typecheck
step build 300 npm run --silent build
step unit 300 node test/run-suite.mjs unit
step integration 900 node test/run-suite.mjs integration
if [ -f test/playbook/run.sh ] && [ "${SKIP_PLAYBOOK:-0}" != 1 ]; then
  step playbook 1800 bash test/playbook/run.sh
fi
# Three hosts on a bridge of their own: safe to run beside the playbook test.
if [ -f test/playbook/cluster.sh ] && [ "${SKIP_CLUSTER:-0}" != 1 ]; then
  step cluster 1800 bash test/playbook/cluster.sh
fi
if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all suites passed"
