#!/usr/bin/env bash
# The chaos run without Docker: 5 local kvd processes, kvcheck's workload,
# a node killed with SIGKILL and restarted, then a node paused past its
# suspicion timeout and resumed; the check must pass with writes
# acknowledged during the faults, and the nemesis must really have acted.
#
#   chaos_local_test.sh REPO_DIR BUILD_DIR
set -uo pipefail
repo=${1:?usage: chaos_local_test.sh REPO_DIR BUILD_DIR}
build=${2:?usage: chaos_local_test.sh REPO_DIR BUILD_DIR}
work=$(mktemp -d /tmp/rumor-chaos-local.XXXXXX)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
field() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" "$1"; }

run() {  # fault duration
  local dir="$work/$1"
  BUILD="$build" bash "$repo/scripts/chaos-run.sh" --mode=local --fault="$1" \
    --duration="$2" --seed=1 --out="$dir" || {
      tail -20 "$dir"/node*.log >&2 2>/dev/null
      fail "chaos-run.sh --fault=$1 failed"; }
  [ -f "$dir/summary.json" ] || fail "$1: no summary"
  [ "$(field "$dir/summary.json" passed)" = true ] || fail "$1: check did not pass"
  [ "$(field "$dir/summary.json" lost)" = 0 ] || fail "$1: lost writes"
  local acked
  acked=$(field "$dir/summary.json" acked)
  [ "$acked" -gt 100 ] || fail "$1: only $acked writes acknowledged"
  [ "$(field "$dir/summary.json" final_reads)" -gt 0 ] || fail "$1: no final reads"
  # The nemesis acted: at least one fault started and was healed.
  grep -q '"f":"start"' "$dir/nemesis.jsonl" || fail "$1: no fault was injected"
  grep -q '"f":"stop"' "$dir/nemesis.jsonl" || fail "$1: no fault was healed"
  # And it was felt: some requests failed or timed out while it lasted.
  local hurt
  hurt=$(grep -c '"type":"\(fail\|info\)"' "$dir/history.jsonl")
  [ "$hurt" -gt 0 ] || fail "$1: no request failed during the fault: did it act?"
  echo "ok: $1: $acked acknowledged, $hurt failed or indeterminate, none lost"
}

run kill 20
run pause 25
# The paused node was declared dead and came back by refuting (a higher
# incarnation), as the other nodes logged.
node=$(sed -n 's/.*"detail":"pause node\([0-9]\)".*/\1/p' "$work/pause/nemesis.jsonl" | head -1)
[ -n "$node" ] || fail "pause: no paused node in the nemesis log"
addr="127.0.0.1:$(( ${LOCAL_BASE:-19400} + node - 1 ))"
grep -q "at $addr is dead" "$work"/pause/node*.log || fail "pause: node$node ($addr) was never declared dead"
grep -q "at $addr is alive (incarnation" "$work"/pause/node*.log ||
  fail "pause: node$node ($addr) did not come back alive by refuting"
echo "PASS"
