#!/usr/bin/env bash
# Lint, typecheck, build, then every suite and the mutation score; each suite
# prints how many tests ran and "<suite>: N passed, N failed, N skipped", and
# the summary repeats those lines and ends with the totals. Runs them all even
# when one fails, then exits non-zero if any failed, ran no test or was
# skipped: a suite that did not run proves nothing, so it never reads as a pass.
#
# Steps in one lane run one after the other; lanes run side by side. On 2
# cores the integration suites share a lane (their health checks tick every
# 100 ms and must not starve each other); the playbook containers mostly wait
# on apt and get a lane each. Every step has a deadline (seconds) so that a
# hung suite fails on its own instead of holding CI until CI's own deadline.
# Adding a step is one line:  step LANE NAME SECONDS COMMAND...
#
# Environment: SKIP_PLAYBOOK=1 leaves the container tests out (the run is then
# INCOMPLETE and exits 1);
# CHH_TEST_CACHE (default /var/cache/consul-haproxy-handler-test) holds the
# Debian root filesystems the HAProxy 3.x suites and playbook tests use.
set -uo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
logs=$(mktemp -d "${TMPDIR:-/tmp}/chh-test-all.XXXXXX")
export PLAYBOOK_TEST_CACHE=${CHH_TEST_CACHE:-${PLAYBOOK_TEST_CACHE:-/var/cache/consul-haproxy-handler-test}}
export CHH_TEST_CACHE=$PLAYBOOK_TEST_CACHE

# Every host package is installed before the lanes start (scripts/install-deps.sh,
# which `make test` runs first). A lane that calls apt on the host races the
# other lanes for apt's lock and hides a missing install step, so from here on
# apt-get and apt are a stand-in that fails, and leaves a mark that fails the
# run even when the caller ignores its exit code. Inside a container or a
# chroot the real apt-get is found (this directory is not there).
no_host_apt=$(mktemp -d /run/chh-no-host-apt.XXXXXX)
for tool in apt-get apt; do
  cat > "$no_host_apt/$tool" <<EOS
#!/bin/sh
echo "test-all: a test called '$tool \$*' on the host; add the package to HOST_PACKAGES in scripts/install-deps.sh instead" >&2
echo "\$PPID $tool \$*" >> "$no_host_apt/calls"
exit 100
EOS
  chmod +x "$no_host_apt/$tool"
done
export PATH="$no_host_apt:$PATH"

names=() lanes=() limits=() commands=() skipped=()
step() { # step LANE NAME SECONDS COMMAND...
  lanes+=("$1") names+=("$2") limits+=("$3")
  commands+=("$(printf '%q ' "${@:4}")")
}
# Runs step $1 with its deadline; output to its log; its result to $logs/result-$1.
run_step() {
  local i=$1 begun=$SECONDS rc
  echo "==> ${names[$i]} started (lane ${lanes[$i]}, deadline ${limits[$i]} s, at $(( SECONDS - started )) s)"
  eval "timeout --kill-after=30 ${limits[$i]} ${commands[$i]}" > "$logs/step-$i.log" 2>&1 < /dev/null
  rc=$?
  echo "$rc $(( SECONDS - begun ))" > "$logs/result-$i"
  echo "==> ${names[$i]} finished: exit $rc after $(( SECONDS - begun )) s"
}
# A step's exit status and seconds; "did-not-finish 0" when it left no result
# (the run was interrupted before or while it ran).
step_result() {
  if [ -s "$logs/result-$1" ]; then cat "$logs/result-$1"; else echo "did-not-finish 0"; fi
}
# The suite's own closing line, or what happened instead.
closing_line() {
  local i=$1 rc seconds line
  read -r rc seconds < <(step_result "$i")
  line=$(grep -E '^[A-Za-z0-9._-]+: ([0-9]+ passed|score )' "$logs/step-$i.log" 2>/dev/null | tail -n 1)
  if [[ $rc == did-not-finish ]]; then
    echo "${line:-${names[$i]}:} FAILED: did not finish (the run was interrupted)"
    return
  fi
  if (( rc == 0 )); then
    # A suite whose own line ends with its time (the playbook tests) is not timed twice.
    if [[ $line =~ \([0-9]+\ s\)$ ]]; then echo "$line"; else echo "${line:-${names[$i]}: ok} (${seconds} s)"; fi
  elif (( rc == 124 || rc == 137 )); then
    echo "${line:-${names[$i]}:} FAILED: timed out after ${limits[$i]} s"
  else
    echo "${line:-${names[$i]}:} FAILED (exit $rc, ${seconds} s)"
  fi
}

# ------------------------------------------------------------------ steps
step first lint 300 npm run --silent lint
step first typecheck 300 npm run --silent typecheck
step first build 300 npm run --silent build
step tests unit 300 node test/run-suite.mjs unit
step tests monitoring 120 bash monitoring/test.sh
step tests demo 180 bash test/demo-check.sh
# 1,500 s each: on a fresh machine the suite of another release first
# debootstraps its root filesystem (the 3.0 suite took 1,074 s in a cold run
# on 2026-12-06, beside the container lanes).
step tests integration-haproxy-2.6 1500 bash test/integration-on.sh host
step tests integration-haproxy-3.0 1500 bash test/integration-on.sh trixie
step tests integration-haproxy-3.2 1500 bash test/integration-on.sh forky
# Three minutes of seeded faults under load (make soak); a fixed seed, so a
# failure here replays with `make soak SEED=20261206 MINUTES=3`.
step tests soak 600 node dist/test/soak/soak.js --seed 20261206 --minutes 3
if [ "${SKIP_PLAYBOOK:-0}" = 1 ]; then
  skipped+=(playbook-debian-12 playbook-debian-13 package-debian-12 package-debian-13 cluster)
else
  step playbook-12 playbook-debian-12 3900 env PLAYBOOK_TEST_SKIP_BUILD=1 bash test/playbook/run.sh
  # Debian 13's ansible for the controller, built (once, cached) side by side
  # with the container's own rootfs; the playbook test waits for its lock.
  step rootfs rootfs-trixie-ansible 1500 bash test/harness/debian-rootfs.sh trixie ansible
  # ansible-lint runs once, in the Debian 12 lane. A longer deadline: on a fresh
  # machine this lane also builds the Debian 13 ansible rootfs (~6 min), and
  # ansible-core 2.19 takes about twice as long per play as 2.14 here.
  step playbook-13 playbook-debian-13 3900 env PLAYBOOK_TEST_SKIP_BUILD=1 PLAYBOOK_TEST_SKIP_LINT=1 PLAYBOOK_TEST_SUITE=trixie bash test/playbook/run.sh
  # The Debian package (make deb) installed, upgraded under load, removed and
  # purged in a booted container: after each playbook test, whose rootfs it reuses.
  step playbook-12 package-debian-12 1200 bash test/package/run.sh
  step playbook-13 package-debian-13 1200 env PACKAGE_TEST_SUITE=trixie bash test/package/run.sh
fi
# Three hosts on a bridge of their own: safe to run beside the playbook tests.
if [ "${SKIP_PLAYBOOK:-0}" != 1 ]; then
  step cluster cluster 3300 env PLAYBOOK_TEST_SKIP_BUILD=1 bash test/playbook/cluster.sh
fi
# Mutation testing fails under the break threshold in stryker.config.mjs and
# prints the score either way. It is pure CPU (a Node process per mutant), so
# it does not start beside the four other lanes: its lane, "after-first",
# waits until the first of them (tests, playbook-12, playbook-13, cluster) has
# finished and takes its place. Started beside all four (cold CI run of
# 2026-12-07, from 263 s on), it slowed the integration suites enough that a
# convergence took 2.3 s instead of under 1.
if [ "${SKIP_PLAYBOOK:-0}" = 1 ]; then
  step tests mutation 3000 bash test/mutation/run.sh
else
  step after-first mutation 3000 bash test/mutation/run.sh
fi

# ------------------------------------------------------------------- run
# Lane "first" (lint, typecheck, build) runs alone: every other lane needs the build.
run_lane() {
  local lane=$1 i
  if [ "$lane" = after-first ]; then
    # Until another lane is done (its steps' deadlines bound the wait).
    until compgen -G "$logs/lane-done-*" > /dev/null; do sleep 5; done
  fi
  for i in "${!names[@]}"; do
    if [ "${lanes[$i]}" = "$lane" ]; then run_step "$i"; fi
  done
  # "first" runs alone before the others, and "rootfs" only builds a cache
  # beside them (a few minutes cold, nothing warm): neither frees a place.
  if [ "$lane" != first ] && [ "$lane" != rootfs ]; then touch "$logs/lane-done-$lane"; fi
}
run_lane first
pids=()
for lane in $(printf '%s\n' "${lanes[@]}" | awk '$0 != "first" && !seen[$0]++'); do
  run_lane "$lane" &
  pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null' INT TERM
wait "${pids[@]}"

failed=()
for i in "${!names[@]}"; do
  echo
  echo "==> ${names[$i]} (lane ${lanes[$i]})"
  cat "$logs/step-$i.log" 2>/dev/null || echo "(no output: it did not start)"
done
echo
echo "==> summary ($(( SECONDS - started )) s in all)"
# One closing line for the whole run: the sum of every suite's counts (its
# last "N passed, N failed[, N skipped]" line). A step that failed, timed out
# or ran no test counts at least one failure there even when its own line
# counts none or it printed none: the total never reads as a pass above a
# FAILED line.
total_passed=0 total_failed=0 total_skipped=0
for i in "${!names[@]}"; do
  closing_line "$i"
  read -r rc _ < <(step_result "$i")
  [[ $rc == did-not-finish ]] && rc=255
  counts=$(grep -E '^[A-Za-z0-9._-]+: [0-9]+ passed, [0-9]+ failed' "$logs/step-$i.log" 2>/dev/null | tail -n 1)
  passed=0 failed_here=0 skipped_here=0
  if [[ $counts =~ :\ ([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)? ]]; then
    passed=${BASH_REMATCH[1]} failed_here=${BASH_REMATCH[2]} skipped_here=${BASH_REMATCH[4]:-0}
    # A suite that counted tests but passed none proved nothing.
    if (( passed == 0 && failed_here == 0 )); then
      echo "${names[$i]}: FAILED: no test passed"
      failed_here=1
      (( rc != 0 )) || failed+=("${names[$i]}")
    fi
  fi
  if (( rc != 0 )); then
    failed+=("${names[$i]}")
    (( failed_here > 0 )) || failed_here=1
    # The checks that failed, under the suite's line: a long run's output is
    # often read from its end (or cut in the middle), and they are what to
    # look at first.
    grep -E '^(FAIL|[[:space:]]*not ok|[[:space:]]*✖)' "$logs/step-$i.log" 2>/dev/null | awk 'NR <= 20 { print "  " $0 }'
  fi
  (( total_passed += passed, total_failed += failed_here, total_skipped += skipped_here ))
done
for name in "${skipped[@]}"; do
  echo "$name: skipped (0 tests ran)"
  (( total_skipped += 1 ))
done
echo "all suites: $total_passed passed, $total_failed failed, $total_skipped skipped"
rm -rf "$logs"
if [ -s "$no_host_apt/calls" ]; then
  echo "FAILED: apt was called on the host during the run (install it in scripts/install-deps.sh):"
  sed 's/^/  /' "$no_host_apt/calls"
  failed+=(host-apt)
fi
rm -rf "$no_host_apt"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${failed[*]}${skipped:+; SKIPPED: ${skipped[*]}}"
  exit 1
fi
if [ "${#skipped[@]}" -gt 0 ]; then
  echo "INCOMPLETE: skipped ${skipped[*]}; not every suite ran"
  exit 1
fi
echo "all suites passed"
