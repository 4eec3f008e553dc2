#!/usr/bin/env bash
# One chaos run: kvcheck's workload against a 5-node cluster while a nemesis
# injects one kind of fault in cycles (fault, hold, heal), then everything is
# healed, the replicas are given time to converge, every key is read from
# every node and the history is checked (tests/chaos/kvcheck.cc).
#
#   scripts/chaos-run.sh --fault=partition-halves --seed=3
#   scripts/chaos-run.sh --fault=kill --mode=local --duration=20 --rw=1
#
#   --fault=F      partition-halves, partition-isolate, partition-bridge,
#                  partition-one-way, kill, pause, loss, clock-skew,
#                  disk-full (needs the cluster started by docker/chaos up),
#                  delay, duplicate, reorder (need NFQUEUE and TEE in the
#                  kernel),
#                  mixed (a random one of those each cycle), none
#   --mode=M       docker (default: the running cluster of
#                  docker/compose.yml, faults by docker/chaos) or local
#                  (5 kvd processes on 127.0.0.1 started by this script; only
#                  kill, pause and mixed, which need no network control)
#   --seed=N       seeds the workload and the nemesis's choices (default 1)
#   --duration=S   seconds of workload (default 30); faults start after 3 s
#                  and the last is healed 3 s before the end
#   --hold=S       how long each fault lasts (default 8; pause: at least 12,
#                  past the suspicion timeout, so the node is declared dead
#                  and must refute when it is back)
#   --rw=N         R and W of every request (default 2; N is 3)
#   --rate=N       operations per second in all (default 100)
#   --out=DIR      where the history, summary, timeline and plot go
#                  (default chaos-out/FAULT-rwN-seedS)
#   --plot         also draw DIR/plot.png (gnuplot)
#
# Exit: 0 the check passed, 1 it failed (lost, unexpected, resurrected,
# divergent, or membership lost under clock skew), 2 usage, setup or
# nemesis error, 3 the fault is not possible here (no NFQUEUE or TEE).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
KVCHECK="$BUILD/kvcheck"
KVD="$BUILD/kvd"
KVCLI="$BUILD/kvcli"
CHAOS="$ROOT/docker/chaos"

fault="" mode=docker seed=1 duration=30 hold=8 rw=2 rate=100 out="" plot=0
for arg in "$@"; do
  case "$arg" in
    --fault=*) fault=${arg#*=} ;;
    --mode=*) mode=${arg#*=} ;;
    --seed=*) seed=${arg#*=} ;;
    --duration=*) duration=${arg#*=} ;;
    --hold=*) hold=${arg#*=} ;;
    --rw=*) rw=${arg#*=} ;;
    --rate=*) rate=${arg#*=} ;;
    --out=*) out=${arg#*=} ;;
    --plot) plot=1 ;;
    -h|--help) awk 'NR > 1 { if (!/^#/) exit; sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "chaos-run: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

say() { echo "chaos-run: $*" >&2; }
die() { say "error: $*"; exit 2; }

FAULTS="partition-halves partition-isolate partition-bridge partition-one-way kill pause loss clock-skew delay duplicate reorder"
# disk-full needs the size-limited data filesystems of `docker/chaos up`;
# mixed includes it when they are there.
CHAOS_STATE_DIR=${CHAOS_STATE_DIR:-/var/lib/rumor-chaos}
if [ "$fault" = disk-full ] || { [ "$mode" = docker ] && [ -e "$CHAOS_STATE_DIR/node1.img" ]; }; then
  FAULTS="$FAULTS disk-full"
fi
LOCAL_FAULTS="kill pause"
[ -n "$fault" ] || die "--fault is required (see --help)"
case " $FAULTS mixed none " in *" $fault "*) ;; *) die "unknown fault '$fault'" ;; esac
case "$mode" in
  docker) ;;
  local)
    case " $LOCAL_FAULTS mixed none " in *" $fault "*) ;;
      *) die "fault '$fault' needs network control: use --mode=docker" ;; esac ;;
  *) die "--mode must be docker or local" ;;
esac
for n in "$seed" "$duration" "$hold" "$rw" "$rate"; do
  [[ "$n" =~ ^[0-9]+$ ]] || die "seed, duration, hold, rw and rate are whole numbers"
done
[ "$duration" -ge 10 ] || die "--duration must be at least 10 seconds"
[ -x "$KVCHECK" ] || die "$KVCHECK not found: run 'make build' first"
out=${out:-chaos-out/$fault-rw$rw-seed$seed}
mkdir -p "$out"
out=$(cd "$out" && pwd)
history="$out/history.jsonl"
nemesis="$out/nemesis.jsonl"
# Nothing of an earlier run in the same place may pass for this one's.
rm -f "$history" "$out/summary.json" "$out/report.txt" "$out/timeline.tsv" \
  "$out/plot.png" "$out/check.log" "$out/workload.log" "$out"/node*.log
: > "$nemesis"
# Every random choice below is made in this shell (never in a $(...)
# subshell, which bash reseeds), so a seed replays the same faults.
RANDOM=$seed
# A command of the nemesis or the setup that fails is an error of the run
# (exit 2), never a verdict about rumor.
set -E
trap 'say "error: a command failed (line $LINENO)"; exit 2' ERR

now_ms() { date +%s%3N; }
# A nemesis event: the plot shades each fault from start to stop. The time
# is when the nemesis began to act (NEMESIS_AT, set before the fault
# command ran), not when the command returned.
log_nemesis() {  # f fault detail
  printf '{"type":"nemesis","unix_ms":%s,"f":"%s","fault":"%s","detail":"%s"}\n' \
    "${NEMESIS_AT:-$(now_ms)}" "$1" "$2" "${3//\"/\'}" >> "$nemesis"
}

NODES=5
pick_node() { REPLY="node$((RANDOM % NODES + 1))"; }  # sets REPLY

# --- local mode: 5 kvd processes that this script owns ---------------------
LOCAL_BASE=${LOCAL_BASE:-19400}
declare -a PIDS=()
local_args() {  # i
  local i=$1 port=$((LOCAL_BASE + $1 - 1)) seeds=""
  for j in $(seq 1 $NODES); do
    [ "$j" -eq "$i" ] || seeds+="${seeds:+,}127.0.0.1:$((LOCAL_BASE + j - 1))"
  done
  echo "--listen=127.0.0.1:$port --data-dir=$out/data/node$i --seeds=$seeds" \
       "--probe-interval=500ms --tombstone-grace=20s"
}
local_start() {  # i
  mkdir -p "$out/data/node$1"
  # shellcheck disable=SC2046
  "$KVD" $(local_args "$1") >> "$out/node$1.log" 2>&1 &
  PIDS[$1]=$!
}
local_stop_all() {
  local i
  for i in $(seq 1 $NODES); do
    [ -n "${PIDS[$i]:-}" ] || continue
    kill -CONT "${PIDS[$i]}" 2>/dev/null || true
    kill -TERM "${PIDS[$i]}" 2>/dev/null || true
  done
  for i in $(seq 1 $NODES); do
    [ -n "${PIDS[$i]:-}" ] || continue
    local deadline=$((SECONDS + 20))
    while kill -0 "${PIDS[$i]}" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
      sleep 0.2
    done
    kill -KILL "${PIDS[$i]}" 2>/dev/null || true
    wait "${PIDS[$i]}" 2>/dev/null || true
  done
}
local_kill() {
  local i=${1#node}
  kill -KILL "${PIDS[$i]}"
  wait "${PIDS[$i]}" 2>/dev/null || true
  unset "PIDS[$i]"  # reaped: its pid may be anybody's from now on
}
local_restart() { local_start "${1#node}"; }
local_pause() { kill -STOP "${PIDS[${1#node}]}"; }
local_unpause() { kill -CONT "${PIDS[${1#node}]}"; }

servers=""
if [ "$mode" = local ]; then
  [ -x "$KVD" ] || die "$KVD not found: run 'make build' first"
  rm -rf "$out/data"
  for i in $(seq 1 $NODES); do
    port=$((LOCAL_BASE + i - 1))
    # Someone else's server on our port would answer for a node of ours.
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      die "127.0.0.1:$port is in use (another chaos run?): set LOCAL_BASE"
    fi
    servers+="${servers:+,}127.0.0.1:$port"
  done
else
  command -v docker >/dev/null 2>&1 || die "docker not found (use --mode=local)"
  [ -x "$CHAOS" ] || die "$CHAOS not found"
  for i in $(seq 1 $NODES); do
    servers+="${servers:+,}127.0.0.1:$((17379 + i - 1))"
  done
fi

workload_pid=""
cleanup() {
  if [ -n "$workload_pid" ]; then kill -TERM "$workload_pid" 2>/dev/null || true; fi
  if [ "$mode" = local ]; then
    local_stop_all
  else
    "$CHAOS" heal >/dev/null 2>&1 || say "warning: 'docker/chaos heal' failed; run it by hand"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Every node sees 5 alive members with their tokens claimed.
wait_formed() {  # seconds
  local deadline=$((SECONDS + $1)) s n ready
  while true; do
    ready=1
    for s in ${servers//,/ }; do
      n=$("$KVCLI" --server="$s" --timeout=2s members 2>/dev/null |
            awk 'NR > 1 && $3 == "alive" && $5 > 0 { n++ } END { print n + 0 }')
      [ "$n" -eq "$NODES" ] || { ready=0; break; }
    done
    [ "$ready" -eq 1 ] && return 0
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.5
  done
}

if [ "$mode" = local ]; then
  say "starting 5 kvd on $servers (data and logs under $out)"
  for i in $(seq 1 $NODES); do local_start "$i"; done
  wait_formed 60 || die "the local cluster did not form within 60 s (logs: $out/node*.log)"
else
  "$CHAOS" heal >/dev/null || die "docker/chaos heal failed (is the cluster up? docker/chaos up)"
  wait_formed 90 || die "the Docker cluster does not show 5 alive nodes within 90 s (docker/chaos up)"
fi

# --- the nemesis -------------------------------------------------------------
active=""  # what heal must undo: "kill nodeN", "pause nodeN", "net"
inject() {  # fault
  local f=$1 node detail code=0 a b skew
  NEMESIS_AT=$(now_ms)
  pick_node; node=$REPLY
  case "$f" in
    kill)
      if [ "$mode" = local ]; then local_kill "$node"; else "$CHAOS" kill "$node" >/dev/null; fi
      active="kill $node" detail="kill -9 $node" ;;
    pause)
      if [ "$mode" = local ]; then local_pause "$node"; else "$CHAOS" pause "$node" >/dev/null; fi
      active="pause $node" detail="pause $node" ;;
    partition-halves) detail=$("$CHAOS" partition halves --seed "$RANDOM"); active=net ;;
    partition-isolate) detail=$("$CHAOS" partition isolate "$node"); active=net ;;
    partition-bridge) detail=$("$CHAOS" partition bridge --seed "$RANDOM"); active=net ;;
    partition-one-way)
      a=$node; pick_node; b=$REPLY
      while [ "$b" = "$a" ]; do pick_node; b=$REPLY; done
      detail=$("$CHAOS" partition one-way "$a" "$b"); active=net ;;
    loss) detail=$("$CHAOS" loss all 30); active=net ;;
    disk-full) detail=$("$CHAOS" disk-full "$node"); active=net ;;
    clock-skew)
      skews=(+1h -1h +10m -10m)
      skew=${skews[$((RANDOM % 4))]}
      skewed_node=$node skewed_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
      detail=$("$CHAOS" clock-skew "$node" "$skew"); active=net ;;
    delay|duplicate|reorder)
      case "$f" in
        delay) detail=$("$CHAOS" delay all 100 50) || code=$? ;;
        duplicate) detail=$("$CHAOS" duplicate all 20) || code=$? ;;
        reorder) detail=$("$CHAOS" reorder all 30 50) || code=$? ;;
      esac
      if [ "$code" -eq 3 ]; then
        say "$f is not possible on this kernel (no NFQUEUE or TEE): not run"
        exit 3
      fi
      [ "$code" -eq 0 ] || die "docker/chaos $f failed (exit $code)"
      active=net ;;
  esac
  log_nemesis start "$f" "$detail"
  say "$(printf '%5.1f' "$(elapsed)") s: $detail"
}
membership_broken=0
last_heal_ms=""
heal() {  # fault
  local f=$1
  # A node whose wall clock jumped keeps its membership: every node still
  # sees all 5 alive at the end of the hold, and no other node declared it
  # dead meanwhile (their logs since the jump).
  if [ "$f" = clock-skew ]; then
    local why=""
    wait_formed 10 || why="not every node sees 5 alive members"
    local c
    for c in $(docker ps -q --filter label=com.docker.compose.project=rumor); do
      if docker logs --since "$skewed_at" "$c" 2>&1 |
           grep -q "at $skewed_node:[0-9]* is dead"; then
        why="${why:+$why; }$skewed_node was declared dead"
      fi
    done
    if [ -n "$why" ]; then
      membership_broken=1
      NEMESIS_AT=$(now_ms) log_nemesis problem "$f" "$why while its clock was skewed"
      say "problem: $why while its clock was skewed"
    fi
  fi
  NEMESIS_AT=$(now_ms)
  case "$active" in
    "kill "*)
      if [ "$mode" = local ]; then local_restart "${active#kill }"; else "$CHAOS" restart "${active#kill }" --no-wait >/dev/null; fi ;;
    "pause "*)
      if [ "$mode" = local ]; then local_unpause "${active#pause }"; else "$CHAOS" unpause "${active#pause }" >/dev/null; fi ;;
    net) "$CHAOS" heal >/dev/null ;;
  esac
  active=""
  log_nemesis stop "$f" healed
  last_heal_ms=$NEMESIS_AT
  say "$(printf '%5.1f' "$(elapsed)") s: healed"
}
start_s=0
elapsed() { echo "$(( $(now_ms) - start_s * 1000 ))" | awk '{ printf "%.1f", $1 / 1000 }'; }

say "run: fault $fault, seed $seed, R=W=$rw, ${duration} s, history $history"
start_s=$(date +%s)
"$KVCHECK" run --servers="$servers" --history="$history" --duration="$duration" \
  --seed="$seed" --rate="$rate" --r="$rw" --w="$rw" --timeout=2 2> "$out/workload.log" &
workload_pid=$!

end=$((SECONDS + duration - 3))
sleep 3
while [ "$fault" != none ] && [ $((SECONDS + hold)) -le "$end" ] && kill -0 "$workload_pid" 2>/dev/null; do
  f=$fault
  if [ "$fault" = mixed ]; then
    read -r -a pool <<< "$FAULTS"
    [ "$mode" = local ] && read -r -a pool <<< "$LOCAL_FAULTS"
    f=${pool[$((RANDOM % ${#pool[@]}))]}
  fi
  this_hold=$hold
  [ "$f" = pause ] && [ "$this_hold" -lt 12 ] && this_hold=12
  [ $((SECONDS + this_hold)) -le "$end" ] || break
  inject "$f"
  sleep "$this_hold"
  heal "$f"
  sleep 3
done
code=0
wait "$workload_pid" || code=$?
workload_pid=""
[ "$code" -eq 0 ] || { cat "$out/workload.log" >&2; die "the workload failed (exit $code)"; }

# Everything healed (again: a restarted node must be back), then the check.
if [ "$mode" = docker ]; then "$CHAOS" heal >/dev/null; fi
wait_formed 120 || say "warning: not every node sees 5 alive members 120 s after healing"
say "checking: waiting for convergence, then reading every key from every node"
code=0
check_start_ms=$(now_ms)
"$KVCHECK" check --servers="$servers" --history="$history" --converge-timeout=180 \
  --summary="$out/summary.json" --timeline="$out/timeline.tsv" > "$out/report.txt" \
  2> "$out/check.log" || code=$?
# Time to converge counted from the last heal (the workload runs on for a
# few seconds after it), not only from the check's start.
if [ -n "$last_heal_ms" ] && [ -f "$out/summary.json" ]; then
  since=$(sed -n 's/.*"converge_seconds":\([0-9.]*\).*/\1/p' "$out/summary.json" |
          awk -v a="$check_start_ms" -v h="$last_heal_ms" '{ printf "%.1f", (a - h) / 1000 + $1 }')
  [ -z "$since" ] || sed -i "s/}\$/,\"converge_since_heal_seconds\":$since}/" "$out/summary.json"
fi
cat "$out/report.txt"
[ "$code" -le 1 ] || { cat "$out/check.log" >&2; die "kvcheck check failed (exit $code)"; }
if [ "$membership_broken" -eq 1 ]; then
  echo "FAIL: membership was lost while a clock was skewed (see $nemesis)"
  code=1
fi

if [ "$plot" -eq 1 ]; then
  bash "$ROOT/scripts/chaos-plot.sh" "$out" "$fault, R=W=$rw, seed $seed" ||
    say "warning: the plot failed"
fi
exit "$code"
