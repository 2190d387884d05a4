#!/usr/bin/env bash
# The test command (`npm test`): lint and type-check; the unit tier (test/unit/, no broker);
# then every other test against a real Pulsar standalone (started here unless one is
# already healthy, and then stopped again), and the Python client's. Extra arguments go to
# ava (e.g. a test file) and run alone. Ends with "N passed, N failed", every tier counted.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bash "$root/scripts/setup.sh"
cd "$root"

echo "== lint and types"
lint_ok=1
biome check . || lint_ok=0
tsc -p tsconfig.json || lint_ok=0
"$python" -m ruff check "$root/clients/python" || lint_ok=0
(cd proto && buf lint) || lint_ok=0

log=$(mktemp)
ava_status=0
run_suite() {
  echo "== tests: $1 suite (ava)"
  set +e
  SEAM_TEST_SUITE=$1 ava --tap "${@:2}" | tee -a "$log"
  local code=${PIPESTATUS[0]}
  set -e
  if [ "$code" -ne 0 ]; then
    echo "ava ($1 suite) exited with $code"
    ava_status=1
  fi
}
# The broker-free tier first, before Pulsar starts; skipped when a file was named.
[ $# -gt 0 ] || run_suite unit

started_pulsar=0
if ! bash "$pulsar" status >/dev/null 2>&1; then
  bash "$pulsar" start
  started_pulsar=1
  trap 'bash "$pulsar" stop' EXIT
fi

# The security tests start more standalones (authentication on: pulsar.sh's secure and
# trusted-proxy profiles) when they need them and leave them for the other files; stop
# them at the end unless they were running before.
auth_profiles=(secure trusted-proxy)
auth_running=()
for profile in "${auth_profiles[@]}"; do
  SEAM_PULSAR_PROFILE=$profile bash "$pulsar" status >/dev/null 2>&1 && auth_running+=("$profile")
done

run_suite main "$@"
# Tests that restart Pulsar run alone, after the others; skipped when a file was named.
[ $# -gt 0 ] || run_suite disruptive
pytest_passed=0
pytest_failed=0
if [ $# -eq 0 ]; then
  echo "== tests: Python client (pytest)"
  pylog=$(mktemp)
  set +e
  "$python" -m pytest -q -p no:cacheprovider "$root/clients/python/tests" 2>&1 | tee "$pylog"
  pytest_status=${PIPESTATUS[0]}
  set -e
  # pytest's last line: "5 passed in 3.2s", "1 failed, 4 passed, 1 error in ...".
  summary_line=$(tail -n 1 "$pylog")
  pytest_passed=$(grep -oE '[0-9]+ passed' <<<"$summary_line" | grep -oE '^[0-9]+' || echo 0)
  for n in $(grep -oE '[0-9]+ (failed|errors?)' <<<"$summary_line" | grep -oE '^[0-9]+'); do
    pytest_failed=$((pytest_failed + n))
  done
  if [ "$pytest_status" -ne 0 ]; then
    echo "pytest exited with $pytest_status"
    ava_status=1
    # A run that crashed before its summary still counts as a failure.
    [ "$pytest_failed" -gt 0 ] || pytest_failed=1
  fi
  rm -f "$pylog"
fi
# Counted from the TAP lines themselves, so a crash before ava's summary still counts.
passed=$(grep -c '^ok ' "$log" || true)
failed=$(grep -c '^not ok ' "$log" || true)
skipped=$(grep -c '^ok .* # SKIP' "$log" || true)
todo=$(grep -c '# TODO' "$log" || true)
passed=$((passed - skipped - todo + pytest_passed))
failed=$((failed + pytest_failed))
rm -f "$log"
for profile in "${auth_profiles[@]}"; do
  [[ " ${auth_running[*]} " == *" $profile "* ]] ||
    SEAM_PULSAR_PROFILE=$profile bash "$pulsar" stop >/dev/null 2>&1 || true
done
if [ "$started_pulsar" -eq 1 ]; then
  bash "$pulsar" stop
  trap - EXIT
fi

status=0
[ "$lint_ok" -eq 1 ] || { echo "lint or type check failed (see above)"; status=1; }
[ "$ava_status" -eq 0 ] || status=1
summary="$passed passed, $failed failed"
[ $((skipped + todo)) -eq 0 ] || summary="$summary, $((skipped + todo)) skipped"
echo "$summary"
exit "$status"
