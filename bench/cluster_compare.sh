#!/usr/bin/env bash
# What replication costs, in one run on one machine: a single kvd, then a
# 3-node cluster (N=3, R=2, W=2) on the same host, with the same kvbench
# settings; the cluster with ring routing (each request straight to a
# replica) and with routing=any (each client to one node, which forwards);
# then how fast hints replay after a restart and how fast two joining
# nodes take their ranges; then what an anti-entropy repair costs the
# foreground load (PHASES="replication aae" by default; either alone).
#
#   bench/cluster_compare.sh                  # from the repository root, after a build
#   DURATION=20 KEYS=200000 bench/cluster_compare.sh
#
# Environment: DURATION (seconds per kvbench run, default 10), CONCURRENCY
# (64), VALUE_SIZE (100), RECORDS (10000, zipfian), KEYS (keys written for
# the hint and handoff measurements, 100000), BUILD (default build),
# AAE_KEYS_PER_SECOND (the repair limit of the first anti-entropy row;
# default: kvd's), AAE_ROWS (which anti-entropy rows: "default unpaced
# none"), MAX_PAIRS (paused/repairing kvbench pairs per repair at most, 40).
# Starts every process on free ports with fresh data directories and
# stops them (by PID) on exit, whatever happens. Prints markdown tables.
set -euo pipefail

DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-64}
VALUE_SIZE=${VALUE_SIZE:-100}
RECORDS=${RECORDS:-10000}
KEYS=${KEYS:-100000}
BUILD=${BUILD:-build}
# Which parts to run: replication (throughput, hints, joins) and aae.
PHASES=${PHASES:-replication aae}
KVD=$BUILD/kvd
KVCLI=$BUILD/kvcli
KVBENCH=$BUILD/kvbench
for bin in "$KVD" "$KVCLI" "$KVBENCH"; do
  if [[ ! -x $bin ]]; then
    echo "cluster_compare.sh: $bin not found; build first (make build)" >&2
    exit 2
  fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rumor-cluster-bench-XXXXXX")
declare -A PID
cleanup() {
  local rc=$? name
  if ((rc != 0)); then  # say why: the last lines of every node's log
    for log in "$WORK"/*.log; do
      [[ -f $log ]] || continue
      echo "--- last lines of $(basename "$log")" >&2
      tail -n 15 "$log" >&2
    done
  fi
  # A kvcli repair left running by a failed step.
  if [[ -n ${REPAIR_PID:-} ]]; then kill -TERM "$REPAIR_PID" 2>/dev/null || true; fi
  for name in "${!PID[@]}"; do kill -TERM "${PID[$name]}" 2>/dev/null || true; done
  for name in "${!PID[@]}"; do
    for _ in $(seq 100); do
      kill -0 "${PID[$name]}" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "${PID[$name]}" 2>/dev/null || true
    wait "${PID[$name]}" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

declare -A PORT
# start NAME [kvd flags...]: starts node NAME (port kept across restarts).
start() {
  local name=$1
  shift
  [[ -n ${PORT[$name]:-} ]] || PORT[$name]=$(free_port)
  "$KVD" --listen="127.0.0.1:${PORT[$name]}" --data-dir="$WORK/$name" \
    --handoff-settle=1s "$@" >>"$WORK/$name.log" 2>&1 &
  PID[$name]=$!
  local deadline=$((SECONDS + 20))
  until "$KVCLI" --server="127.0.0.1:${PORT[$name]}" --timeout=1s status >/dev/null 2>&1; do
    if ! kill -0 "${PID[$name]}" 2>/dev/null || ((SECONDS >= deadline)); then
      echo "cluster_compare.sh: $name did not start:" >&2
      tail -20 "$WORK/$name.log" >&2
      exit 1
    fi
    sleep 0.2
  done
}
stop() {
  kill -TERM "${PID[$1]}" 2>/dev/null || true
  wait "${PID[$1]}" 2>/dev/null || true
  unset "PID[$1]"
}
addr() { echo "127.0.0.1:${PORT[$1]}"; }

# value NAME COUNTER: a counter from the node's status.
value() {
  "$KVCLI" --server="$(addr "$1")" --timeout=2s status --json |
    grep -o "\"$2\":[0-9]*" | head -n 1 | cut -d: -f2
}
# sum COUNTER NAMES...: the counter summed over nodes.
sum() {
  local counter=$1 total=0 v
  shift
  for n in "$@"; do
    v=$(value "$n" "$counter")
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
ring_size() {
  "$KVCLI" --server="$(addr "$1")" --timeout=2s ring --json | grep -o '"id"' | wc -l
}
ring_is() { [[ $(ring_size "$1") -eq $2 ]]; }
no_hints() { [[ $(sum hints_held "$@") -eq 0 ]]; }
wait_for() {  # wait_for SECONDS DESCRIPTION CMD...
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    if ((SECONDS >= deadline)); then
      echo "cluster_compare.sh: $what did not happen within ${limit}s" >&2
      exit 1
    fi
    sleep 0.2
  done
}

field() { grep -o "\"$2\":[0-9.]*" <<<"$1" | head -n 1 | cut -d: -f2; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

declare -A RESULT
FAILED=0
bench() {  # bench LABEL WORKLOAD SERVERS ROUTING
  local label=$1 workload=$2 servers=$3 routing=$4 out
  echo "cluster_compare.sh: $workload on $label for ${DURATION}s" >&2
  if ! out=$("$KVBENCH" --servers="$servers" --workload="$workload" \
    --duration="$DURATION" --concurrency="$CONCURRENCY" \
    --value-size="$VALUE_SIZE" --records="$RECORDS" --routing="$routing" --json); then
    echo "cluster_compare.sh: kvbench $workload on $label failed" >&2
    FAILED=1
  fi
  RESULT[$workload.$label]=$out
}

if [[ " $PHASES " == *" replication "* ]]; then
# --- one node
start single
for w in put get; do bench single "$w" "$(addr single)" any; done
stop single

# --- three nodes, N=3 R=2 W=2
start n1
start n2 --seeds="$(addr n1)"
start n3 --seeds="$(addr n1)"
wait_for 30 "a ring of 3" ring_is n1 3
ALL="$(addr n1),$(addr n2),$(addr n3)"
for w in put get; do
  bench ring "$w" "$ALL" ring
  bench any "$w" "$ALL" any
done

echo
echo "One node against a 3-node cluster (N=3, R=2, W=2) on the same $(nproc)-core host:" \
  "${DURATION}s per run, concurrency $CONCURRENCY, value $VALUE_SIZE B, $RECORDS records" \
  "(zipfian), $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "| workload | setup | ops/s | p50 µs | p99 µs | errors | ops/s vs one node |"
echo "|---|---|---:|---:|---:|---:|---:|"
for w in put get; do
  s=${RESULT[$w.single]}
  for label in single ring any; do
    out=${RESULT[$w.$label]}
    case $label in
      single) what="one node" ;;
      ring) what="3 nodes, routing=ring" ;;
      any) what="3 nodes, routing=any" ;;
    esac
    printf "| %s | %s | %s | %s | %s | %s | %s |\n" "$w" "$what" \
      "$(field "$out" ops_per_sec)" "$(field "$out" p50_us)" "$(field "$out" p99_us)" \
      "$(field "$out" errors)" "$(ratio "$(field "$out" ops_per_sec)" "$(field "$s" ops_per_sec)")"
  done
done

# --- hint replay: node 3 down while KEYS keys are written, then restarted
echo "cluster_compare.sh: hint replay ($KEYS keys written with n3 down)" >&2
kill -KILL "${PID[n3]}"
wait "${PID[n3]}" 2>/dev/null || true
unset "PID[n3]"
wait_for 30 "n3 seen down" bash -c \
  "'$KVCLI' --server=$(addr n1) members --json | grep -q '\"address\":\"$(addr n3)\",\"status\":\"\(suspect\|dead\)\"'"
"$KVBENCH" --servers="$(addr n1),$(addr n2)" --workload=c --records="$KEYS" \
  --duration=0.001 --concurrency="$CONCURRENCY" --value-size="$VALUE_SIZE" \
  --key-prefix=hint- --json >/dev/null
HINTS=$(sum hints_held n1 n2)
T0=$(date +%s.%N)
start n3 --seeds="$(addr n1)"
# Delivery proper runs from the first hint delivered to the last.
TB=""
deadline=$((SECONDS + 300))
while :; do
  held=$(sum hints_held n1 n2)
  now=$(date +%s.%N)
  [[ -z $TB && $held -lt $HINTS ]] && TB=$now
  [[ $held -eq 0 ]] && break
  if ((SECONDS >= deadline)); then
    echo "cluster_compare.sh: hints not delivered within 300 s" >&2
    exit 1
  fi
  sleep 0.05
done
T1=$(date +%s.%N)
[[ -n $TB ]] || TB=$T1
HINT_SECONDS=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.2f", b - a }')
DELIVERY_SECONDS=$(awk -v a="$TB" -v b="$T1" 'BEGIN { s = b - a; if (s < 0.05) s = 0.05; printf "%.2f", s }')

# --- range handoff: two nodes join a cluster holding the data. Each joiner
# pulls its future ranges from their replicas, then serves them; then the
# old owners send what they stop replicating and delete it.
echo "cluster_compare.sh: range handoff (2 nodes join)" >&2
T0=$(date +%s.%N)
start n4 --seeds="$(addr n1)"
start n5 --seeds="$(addr n1)"
# Done when both joiners serve, nothing is pending and no counter has
# moved for 3 s (more than --handoff-interval plus --handoff-settle, after
# which old owners plan their sends); the
# time is that of the last change seen (polled every 0.1 s). The pull and
# the old owners' sends are also timed on their own, from the first change
# of their counter to the last.
progress() {
  echo "$(sum join_keys_pulled n4 n5) $(sum handoff_keys_sent n1 n2 n3 n4 n5)" \
    "$(sum handoff_ranges_pending n1 n2 n3 n4 n5) $(sum join_ranges_left n4 n5)"
}
read -r PULL0 SENT0 _ _ <<<"$(progress)"
last=$(progress)
TLAST=$(date +%s.%N)
PULL_FIRST="" PULL_LAST="" SEND_FIRST="" SEND_LAST=""
prev_pull=$PULL0 prev_sent=$SENT0
deadline=$((SECONDS + 600))
while :; do
  sleep 0.1
  now=$(progress)
  t=$(date +%s.%N)
  read -r pulled sent pending left <<<"$now"
  if [[ $pulled != "$prev_pull" ]]; then
    [[ -z $PULL_FIRST ]] && PULL_FIRST=$t
    PULL_LAST=$t
    prev_pull=$pulled
  fi
  if [[ $sent != "$prev_sent" ]]; then
    [[ -z $SEND_FIRST ]] && SEND_FIRST=$t
    SEND_LAST=$t
    prev_sent=$sent
  fi
  if [[ $now != "$last" ]]; then
    last=$now
    TLAST=$t
  fi
  if [[ $pending -eq 0 && $left -eq 0 ]] &&
     awk -v a="$TLAST" -v b="$t" 'BEGIN { exit !(b - a >= 3) }' &&
     ring_is n1 5; then  # both joiners serve
    break
  fi
  if ((SECONDS >= deadline)); then
    echo "cluster_compare.sh: range handoff not done within 600 s" >&2
    exit 1
  fi
done
read -r PULLED SENT _ _ <<<"$last"
PULLED=$((PULLED - PULL0))
SENT=$((SENT - SENT0))
DROPPED=$(sum handoff_keys_dropped n1 n2 n3 n4 n5)
# What the new nodes merged: pulled while joining, plus what the old
# owners sent them (they take no client writes meanwhile).
PUSHED=$(sum replica_writes_received n4 n5)
span() {  # span FIRST LAST: seconds, at least one poll
  awk -v a="$1" -v b="$2" 'BEGIN { s = b - a; if (s < 0.1) s = 0.1; printf "%.2f", s }'
}
PULL_SECONDS=$(span "${PULL_FIRST:-0}" "${PULL_LAST:-0}")
SEND_SECONDS=$(span "${SEND_FIRST:-0}" "${SEND_LAST:-0}")
HANDOFF_SECONDS=$(awk -v a="$T0" -v b="$TLAST" 'BEGIN { printf "%.2f", b - a }')
echo
echo "| measurement | keys | seconds | keys/s |"
echo "|---|---:|---:|---:|"
printf "| hint replay, first hint delivered to last | %s | %s | %s |\n" \
  "$HINTS" "$DELIVERY_SECONDS" "$(awk -v k="$HINTS" -v s="$DELIVERY_SECONDS" 'BEGIN { printf "%.0f", k / s }')"
printf "| hint replay, from the restart command (start, detection as alive) | %s | %s | %s |\n" \
  "$HINTS" "$HINT_SECONDS" "$(awk -v k="$HINTS" -v s="$HINT_SECONDS" 'BEGIN { printf "%.0f", k / s }')"
printf "| 2 nodes join 3, start to end: copies the new nodes took over (old owners deleted them) | %s | %s | %s |\n" \
  "$DROPPED" "$HANDOFF_SECONDS" "$(awk -v k="$DROPPED" -v s="$HANDOFF_SECONDS" 'BEGIN { printf "%.0f", k / s }')"
printf "| 2 nodes join 3, pulling: objects pulled from N-W+1 = 2 replicas each | %s | %s | %s |\n" \
  "$PULLED" "$PULL_SECONDS" "$(awk -v k="$PULLED" -v s="$PULL_SECONDS" 'BEGIN { printf "%.0f", k / s }')"
printf "| 2 nodes join 3, old owners sending before they delete (%s received by the new nodes) | %s | %s | %s |\n" \
  "$PUSHED" "$SENT" "$SEND_SECONDS" "$(awk -v k="$SENT" -v s="$SEND_SECONDS" 'BEGIN { printf "%.0f", k / s }')"
echo
echo "(Start to end runs from starting the two nodes to the last counter"
echo "change: their start, token claims one after the other, the 1 s"
echo "--handoff-settle before each pull and each plan, the pulls, and the old"
echo "owners' sends. The pull and send rows time those phases alone, from"
echo "their counter's first change to its last. The old owners send each"
echo "range the joiners pulled once more before deleting their copy.)"
for name in n1 n2 n3 n4 n5; do [[ -n ${PID[$name]:-} ]] && stop "$name"; done
fi

if [[ " $PHASES " == *" aae "* ]]; then
# --- anti-entropy: a replica whose data column was wiped (its identity
# kept: a replaced data disk) is restored by `kvcli repair` on it while
# kvbench runs through the cluster. The foreground is measured in pairs of
# kvbench runs during the one repair: one with the repair paused (kvcli
# aae --pause), one with it working, alternating until the repair ends.
# Each pair sees the same machine a few seconds apart, which takes out
# the drift between runs minutes apart (caches, compactions, the other
# tenants) that a before/after comparison suffers. Twice: at the default
# repair rate limit, and without one.
WIPE=$BUILD/bench/wipe_data
if [[ ! -x $WIPE ]]; then
  echo "cluster_compare.sh: $WIPE not found; build first (make build)" >&2
  exit 2
fi
MAX_PAIRS=${MAX_PAIRS:-40}
# The rows: default (the default limits and pacing), unpaced (the default
# limits, no pacing by latency), none (no limits).
AAE_ROWS=${AAE_ROWS:-default unpaced none}
echo "cluster_compare.sh: anti-entropy restoring a wiped replica of $KEYS keys" >&2
AE_FLAGS=(--aae-interval=0)
start a1 "${AE_FLAGS[@]}"
start a2 "${AE_FLAGS[@]}" --seeds="$(addr a1)"
start a3 "${AE_FLAGS[@]}" --seeds="$(addr a1)"
wait_for 30 "a ring of 3" ring_is a1 3
AE_ALL="$(addr a1),$(addr a2),$(addr a3)"
aae_ready() { [[ $(value "$1" aae_tree_ready) == 1 && $(value "$1" cluster_joined) == 1 ]]; }
# fg NAME: one kvbench run of workload b (95% reads, 5% updates) on keys of
# its own (a blind-put workload would grow siblings on its hot keys from
# run to run and make the later runs slower for that alone).
fg() {
  "$KVBENCH" --servers="$AE_ALL" --workload=b --duration="$DURATION" \
    --concurrency="$CONCURRENCY" --value-size="$VALUE_SIZE" \
    --records="$RECORDS" --key-prefix="fg-$1-" --json 2>"$WORK/fg-$1.err" || {
    echo "cluster_compare.sh: kvbench fg-$1 failed:" >&2
    cat "$WORK/fg-$1.err" >&2
    return 1
  }
}
aae_pause() { "$KVCLI" --server="$(addr a3)" --timeout=30s aae "$1" >/dev/null; }
declare -A AE_REPAIR AE_WIPED AE_PACING AE_PAIRS
for limit in $AAE_ROWS; do
  "$KVBENCH" --servers="$AE_ALL" --workload=c --records="$KEYS" \
    --duration=0.001 --concurrency="$CONCURRENCY" --value-size="$VALUE_SIZE" \
    --key-prefix="aae-$limit-" --json >/dev/null
  stop a3
  AE_WIPED[$limit]=$("$WIPE" --data-dir="$WORK/a3" | grep -o 'deleted [0-9]*' | cut -d' ' -f2)
  case $limit in
    none) start a3 "${AE_FLAGS[@]}" --seeds="$(addr a1)" --aae-keys-per-second=0 \
            --aae-bytes-per-second=0 ;;
    unpaced) start a3 "${AE_FLAGS[@]}" --seeds="$(addr a1)" --aae-latency-tolerance=0 \
               ${AAE_KEYS_PER_SECOND:+--aae-keys-per-second=$AAE_KEYS_PER_SECOND} ;;
    default) start a3 "${AE_FLAGS[@]}" --seeds="$(addr a1)" \
               ${AAE_KEYS_PER_SECOND:+--aae-keys-per-second=$AAE_KEYS_PER_SECOND} ;;
    *) echo "cluster_compare.sh: unknown AAE_ROWS entry '$limit' (default, unpaced, none)" >&2; exit 2 ;;
  esac
  wait_for 60 "a3 back with its tree" aae_ready a3
  wait_for 30 "a ring of 3" ring_is a3 3
  echo "cluster_compare.sh: kvcli repair (limit: $limit), with ${DURATION}s kvbench runs alternately paused and repairing" >&2
  # The repair's deadline covers the paused runs too (each up to a run
  # and its load phase).
  "$KVCLI" --server="$(addr a3)" --timeout="$(( (MAX_PAIRS * 2 + 10) * (DURATION + 30) ))s" \
    repair --json >"$WORK/repair-$limit.json" 2>&1 &
  REPAIR_PID=$!
  pairs=0 pairs_out=""
  # Each pair: one run with the repair working and one with it paused,
  # in alternating order (working first, then paused first, ...) so that
  # what one run leaves behind (flushes of repaired keys, say) does not
  # always fall on the same side. The first pair starts working: a paused
  # node refuses a new kvcli repair, so the repair must be under way. A
  # pair counts only if the repair worked through its whole working run.
  while ((pairs < MAX_PAIRS)); do
    if ((pairs % 2 == 0)); then
      working=$(fg "$limit-working-$pairs")
      kill -0 "$REPAIR_PID" 2>/dev/null || break
      aae_pause --pause
      paused=$(fg "$limit-paused-$pairs")
      aae_pause --resume
    else
      aae_pause --pause
      paused=$(fg "$limit-paused-$pairs")
      aae_pause --resume
      working=$(fg "$limit-working-$pairs")
      kill -0 "$REPAIR_PID" 2>/dev/null || break
    fi
    pairs=$((pairs + 1))
    pairs_out+="$(field "$paused" ops_per_sec) $(field "$working" ops_per_sec) $(field "$paused" p99_us) $(field "$working" p99_us)"$'\n'
    echo "cluster_compare.sh:   pair $pairs: $(field "$paused" ops_per_sec) ops/s paused, $(field "$working" ops_per_sec) repairing" >&2
  done
  aae_pause --resume
  if ! wait "$REPAIR_PID"; then
    echo "cluster_compare.sh: kvcli repair failed" >&2
    cat "$WORK/repair-$limit.json" >&2
    exit 1
  fi
  REPAIR_PID=
  AE_REPAIR[$limit]=$(cat "$WORK/repair-$limit.json")
  AE_PACING[$limit]=$("$KVCLI" --server="$(addr a3)" aae --json)
  AE_PAIRS[$limit]=$pairs_out
done
echo
echo "Anti-entropy restoring a replica whose data column was wiped (its"
echo "identity kept), holding $KEYS keys of the run plus those of earlier runs, by"
echo "\`kvcli repair\` on that replica, while kvbench runs workload b (95% reads,"
echo "5% updates; concurrency $CONCURRENCY, $RECORDS records of its own) through"
echo "all three nodes in ${DURATION}s runs, alternately with the repair paused"
echo "(kvcli aae --pause) and working, in alternating order, until the repair"
echo "ends; pairs in which the repair worked through the whole working run are"
echo "counted. Ratio: mean"
echo "ops/s repairing over mean ops/s paused; the pair ratios' range beside it."
echo "Repair seconds include the paused runs."
echo
echo "| repair rate limit | entries wiped | keys repaired | repair seconds | pairs | ops/s paused | ops/s repairing | ratio | pair ratios min..max | p99 µs paused | p99 µs repairing | slowdowns | probes | share at end |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for limit in $AAE_ROWS; do
  r=${AE_REPAIR[$limit]}
  repaired=$(grep -o '"repaired_here":[0-9]*' <<<"$r" | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }')
  took=$(grep -o '"took_ms":[0-9]*' <<<"$r" | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }')
  stats=$(awk 'NF == 4 && $1 > 0 { n++; p += $1; w += $2; pp += $3; pw += $4;
                 q = $2 / $1; if (n == 1 || q < lo) lo = q; if (n == 1 || q > hi) hi = q }
               END { if (n == 0) { print "0 n/a n/a n/a n/a n/a n/a"; exit }
                     printf "%d %.1f %.1f %.2f %.2f..%.2f %.0f %.0f\n", n, p / n, w / n, w / p, lo, hi, pp / n, pw / n }' <<<"${AE_PAIRS[$limit]}")
  read -r n mp mw rt range p99p p99w <<<"$stats"
  case $limit in
    default) label="${AAE_KEYS_PER_SECOND:-the default} keys/s, paced by latency" ;;
    unpaced) label="${AAE_KEYS_PER_SECOND:-the default} keys/s, not paced (--aae-latency-tolerance=0)" ;;
    none) label="none" ;;
  esac
  printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n" "$label" \
    "${AE_WIPED[$limit]}" "$repaired" \
    "$(awk -v t="$took" 'BEGIN { printf "%.2f", t / 1000 }')" \
    "$n" "$mp" "$mw" "$rt" "$range" "$p99p" "$p99w" \
    "$(grep -o '"slowdowns":[0-9]*' <<<"${AE_PACING[$limit]}" | cut -d: -f2)" \
    "$(grep -o '"latency_probes":[0-9]*' <<<"${AE_PACING[$limit]}" | cut -d: -f2)" \
    "$(grep -o '"rate_share":[0-9.]*' <<<"${AE_PACING[$limit]}" | cut -d: -f2)"
done
echo
echo "(Slowdowns, probes and share: the repaired node's pacing by client"
echo "latency, from kvcli aae after the repair. A pause mid-exchange is left"
echo "out of the pacing: neither a cost nor a baseline. Without a rate limit"
echo "or with --aae-latency-tolerance=0 there is no pacing.)"
fi
exit "$FAILED"
