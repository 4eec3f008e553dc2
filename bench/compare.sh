#!/usr/bin/env bash
# Compares kvd with the bare baseline (bench/bare_kv_server: a gRPC callback
# server doing one RocksDB put and one get per RPC) in one run, so the
# figures are ratios taken on the same machine at the same time.
#
#   bench/compare.sh                 # from the repository root, after a build
#   DURATION=30 bench/compare.sh
#
# Starts both servers on free ports with fresh data directories, runs
# kvbench --workload=put and --workload=get against each (interleaved:
# put/bare, put/kvd, get/bare, get/kvd), prints a markdown table, and stops
# both servers (by PID) on exit, whatever happens.
#
# Environment: DURATION (seconds per run, default 10), CONCURRENCY (64),
# VALUE_SIZE (100), RECORDS (10000), BUILD (build directory, default build),
# KVD_FLAGS (extra kvd flags, e.g. --storage-threads=0).
# Exit status: 0 when every run succeeded, 1 otherwise.
set -euo pipefail

DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-64}
VALUE_SIZE=${VALUE_SIZE:-100}
RECORDS=${RECORDS:-10000}
BUILD=${BUILD:-build}

KVD=$BUILD/kvd
KVCLI=$BUILD/kvcli
KVBENCH=$BUILD/kvbench
BARE=$BUILD/bench/bare_kv_server
for bin in "$KVD" "$KVCLI" "$KVBENCH" "$BARE"; do
  if [[ ! -x $bin ]]; then
    echo "compare.sh: $bin not found; build first (ninja -C $BUILD kvd kvcli kvbench bare_kv_server)" >&2
    exit 2
  fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rumor-compare-XXXXXX")
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    # Both servers drain for at most 5 s on SIGTERM; then force.
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD... : starts a server writing its address to $WORK/NAME.port
# and sets ADDR to it once the file appears (deadline 15 s).
start() {
  local name=$1
  shift
  "$@" --listen=127.0.0.1:0 --port-file="$WORK/$name.port" \
    --data-dir="$WORK/$name-data" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  local pid=$!
  local deadline=$((SECONDS + 15))
  until [[ -s $WORK/$name.port ]]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "compare.sh: $name exited at start:" >&2
      cat "$WORK/$name.log" >&2
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "compare.sh: $name wrote no port file within 15 s" >&2
      exit 1
    fi
    sleep 0.1
  done
  ADDR=$(<"$WORK/$name.port")
}

# wait_answers NAME CMD... : runs CMD until it succeeds (deadline 15 s).
wait_answers() {
  local name=$1
  shift
  local deadline=$((SECONDS + 15))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "compare.sh: $name does not answer within 15 s" >&2
      exit 1
    fi
    sleep 0.2
  done
}

start bare "$BARE"
BARE_ADDR=$ADDR
# shellcheck disable=SC2086  # KVD_FLAGS is a list of flags
start kvd "$KVD" ${KVD_FLAGS:-}
KVD_ADDR=$ADDR
wait_answers kvd "$KVCLI" --server="$KVD_ADDR" --timeout=1s status
# The bare server has no Admin service: a one-op kvbench run is the probe.
wait_answers bare "$KVBENCH" --servers="$BARE_ADDR" --workload=put \
  --records=1 --duration=0.05 --concurrency=1 --connections=1 \
  --key-prefix=probe-

# First occurrence of a numeric field of kvbench's JSON (top-level fields
# come before the per-kind objects that repeat the latency names).
field() {
  grep -o "\"$2\":[0-9.]*" <<<"$1" | head -n 1 | cut -d: -f2
}

declare -A RESULT
FAILED=0
run() {
  local workload=$1 server=$2 addr=$3
  local out
  echo "compare.sh: $workload on $server ($addr) for ${DURATION}s" >&2
  if ! out=$("$KVBENCH" --servers="$addr" --workload="$workload" \
    --duration="$DURATION" --concurrency="$CONCURRENCY" \
    --value-size="$VALUE_SIZE" --records="$RECORDS" --json); then
    echo "compare.sh: kvbench $workload against $server failed" >&2
    FAILED=1
  fi
  RESULT[$workload.$server]=$out
  if [[ $(field "$out" errors) != 0 ]]; then
    echo "compare.sh: $workload on $server had errors: $out" >&2
    FAILED=1
  fi
}

for workload in put get; do
  run "$workload" bare "$BARE_ADDR"
  run "$workload" kvd "$KVD_ADDR"
done

ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}

echo
echo "kvd vs bare gRPC+RocksDB server: ${DURATION}s per run, concurrency $CONCURRENCY," \
  "value $VALUE_SIZE B, $RECORDS records (zipfian), $(nproc) cores," \
  "$(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "| workload | server | ops/s | p50 µs | p99 µs | errors |"
echo "|---|---|---:|---:|---:|---:|"
for workload in put get; do
  for server in bare kvd; do
    out=${RESULT[$workload.$server]}
    printf "| %s | %s | %s | %s | %s | %s |\n" "$workload" "$server" \
      "$(field "$out" ops_per_sec)" "$(field "$out" p50_us)" \
      "$(field "$out" p99_us)" "$(field "$out" errors)"
  done
  b=${RESULT[$workload.bare]}
  k=${RESULT[$workload.kvd]}
  printf "| %s | **kvd/bare** | **%s** | %s | %s | |\n" "$workload" \
    "$(ratio "$(field "$k" ops_per_sec)" "$(field "$b" ops_per_sec)")" \
    "$(ratio "$(field "$k" p50_us)" "$(field "$b" p50_us)")" \
    "$(ratio "$(field "$k" p99_us)" "$(field "$b" p99_us)")"
done
exit "$FAILED"
