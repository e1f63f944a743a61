#!/usr/bin/env bash
# Checks the alert rules (promtool check rules) and runs every rule test in
# monitoring/tests/ (promtool test rules, one file per alert area, each with
# series that must fire and series that must not). Ends with the line CI reads:
#   monitoring: N passed, N failed, N skipped
# promtool comes from Debian's prometheus package (scripts/install-deps.sh).
set -uo pipefail
cd "$(dirname "$0")"
if ! command -v promtool >/dev/null; then
  echo "monitoring: promtool not found; install Debian's prometheus package (make deps)" >&2
  echo "monitoring: 0 passed, 0 failed, 1 skipped"
  exit 1
fi
passed=0 failed=0
if promtool check rules consul-haproxy-handler.rules.yml; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
for test in tests/*.yml; do
  if promtool test rules "$test"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "monitoring: FAILED $test" >&2; fi
done
echo "monitoring: $passed passed, $failed failed, 0 skipped"
(( failed == 0 && passed > 1 ))
