#!/usr/bin/env bash
# What TLS costs, in one run on one machine: the same 3-node cluster (N=3,
# R=W=2) started three ways, plaintext, TLS (peers with mutual TLS against
# a cluster CA, clients verify the nodes) and mutual TLS for clients too
# (--tls-client-ca), each loaded by kvbench with the same settings. The
# three are measured in ROUNDS interleaved rounds (plain, tls, mtls, plain,
# ...) so that the machine's drift hits each alike; each row is the median
# of its rounds, and the ratios are against plaintext.
#
#   bench/tls_cost.sh                       # after a build
#   ROUNDS=3 DURATION=20 WORKLOAD=b bench/tls_cost.sh
#
# Environment: WORKLOAD (a), DURATION (seconds per run, 15), CONCURRENCY
# (32), RECORDS (10000), VALUE_SIZE (100), ROUNDS (2), BUILD (build).
# Every process runs on free ports with fresh data, and is stopped (by PID)
# on exit whatever happens. Prints a markdown table.
set -euo pipefail

WORKLOAD=${WORKLOAD:-a}
DURATION=${DURATION:-15}
CONCURRENCY=${CONCURRENCY:-32}
RECORDS=${RECORDS:-10000}
VALUE_SIZE=${VALUE_SIZE:-100}
ROUNDS=${ROUNDS:-2}
BUILD=${BUILD:-build}
KVD=$BUILD/kvd
KVCLI=$BUILD/kvcli
KVBENCH=$BUILD/kvbench
for bin in "$KVD" "$KVCLI" "$KVBENCH"; do
  [[ -x $bin ]] || { echo "tls_cost.sh: $bin not found; build first (make build)" >&2; exit 2; }
done
REPO=$(cd "$(dirname "$0")/.." && pwd)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rumor-tls-bench-XXXXXX")
PIDS=()
cleanup() {
  local rc=$? p
  if ((rc != 0)); then
    for log in "$WORK"/*.log; do
      [[ -f $log ]] || continue
      echo "--- last lines of $(basename "$log")" >&2
      tail -n 10 "$log" >&2
    done
  fi
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bash "$REPO/scripts/make-certs.sh" "$WORK/certs" --nodes 3 2>/dev/null
C=$WORK/certs

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# cluster MODE: starts 3 nodes; sets SERVERS and CLIENT_FLAGS.
cluster() {
  local mode=$1 i port seed="" flags=()
  PIDS=()
  SERVERS=""
  CLIENT_FLAGS=()
  for i in 1 2 3; do
    port=$(free_port)
    flags=(--listen="127.0.0.1:$port" --data-dir="$WORK/$mode-$RANDOM/node$i")
    [[ -z $seed ]] || flags+=(--seeds="$seed")
    case $mode in
      tls|mtls) flags+=(--peer-ca="$C/ca.pem" --peer-cert="$C/node$i.pem" --peer-key="$C/node$i.key") ;;
    esac
    [[ $mode != mtls ]] || flags+=(--tls-client-ca="$C/client-ca.pem")
    "$KVD" "${flags[@]}" >>"$WORK/$mode-node$i.log" 2>&1 &
    PIDS+=($!)
    [[ -n $seed ]] || seed="127.0.0.1:$port"
    SERVERS+="${SERVERS:+,}127.0.0.1:$port"
  done
  case $mode in
    tls) CLIENT_FLAGS=(--tls-ca="$C/ca.pem") ;;
    mtls) CLIENT_FLAGS=(--tls-ca="$C/ca.pem" --tls-cert="$C/client.pem" --tls-key="$C/client.key") ;;
  esac
  # Formed: 3 members alive with their tokens, seen from the first node.
  local deadline=$((SECONDS + 60))
  until [[ $("$KVCLI" --server="$seed" --timeout=2s "${CLIENT_FLAGS[@]}" members 2>/dev/null |
              grep -c ' alive ') == 3 ]]; do
    ((SECONDS < deadline)) || { echo "tls_cost.sh: the $mode cluster did not form" >&2; exit 1; }
    sleep 0.2
  done
}
stop_cluster() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}

field() { grep -o "\"$2\":[0-9.]*" <<<"$1" | head -n 1 | cut -d: -f2; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A OPS P50 P99
for round in $(seq 1 "$ROUNDS"); do
  for mode in plain tls mtls; do
    echo "tls_cost.sh: round $round/$ROUNDS, $mode: workload $WORKLOAD for ${DURATION}s" >&2
    cluster "$mode"
    out=$("$KVBENCH" --servers="$SERVERS" --workload="$WORKLOAD" --records="$RECORDS" \
            --duration="$DURATION" --concurrency="$CONCURRENCY" --value-size="$VALUE_SIZE" \
            "${CLIENT_FLAGS[@]}" --json)
    stop_cluster
    OPS[$mode]+="$(field "$out" ops_per_sec) "
    P50[$mode]+="$(field "$out" p50_us) "
    P99[$mode]+="$(field "$out" p99_us) "
  done
done

base=$(tr ' ' '\n' <<<"${OPS[plain]}" | grep . | median)
echo
echo "| cluster (3 nodes, workload $WORKLOAD, concurrency $CONCURRENCY) | ops/s (median of $ROUNDS) | vs plaintext | p50 µs | p99 µs |"
echo "|---|---:|---:|---:|---:|"
for mode in plain tls mtls; do
  ops=$(tr ' ' '\n' <<<"${OPS[$mode]}" | grep . | median)
  p50=$(tr ' ' '\n' <<<"${P50[$mode]}" | grep . | median)
  p99=$(tr ' ' '\n' <<<"${P99[$mode]}" | grep . | median)
  label=$mode
  case $mode in
    plain) label="plaintext" ;;
    tls) label="TLS (peers mutual TLS, clients verify nodes)" ;;
    mtls) label="mutual TLS for clients and peers" ;;
  esac
  ratio=$(awk -v a="$ops" -v b="$base" 'BEGIN { printf "%.2f", a / b }')
  echo "| $label | $ops | $ratio | $p50 | $p99 |"
done
echo
for mode in plain tls mtls; do
  echo "tls_cost.sh: $mode, each round: ops/s ${OPS[$mode]}" >&2
done
