#!/usr/bin/env bash
# Runs a local rumor cluster in the foreground: NODES (default 3) kvd
# processes on 127.0.0.1:7379, 7380, ... with data under ./data/nodeN and
# each log line prefixed with its node. Ctrl-C (or SIGTERM) stops them all
# cleanly. Node 1 starts the cluster; the others join through it.
#
# Each node serves Prometheus metrics on 127.0.0.1:METRICS_BASE_PORT+i-1
# (default BASE_PORT+1000: 8379, 8380, ...; METRICS_BASE_PORT=0: none).
# TLS=1 makes a throwaway CA and node certificates under DATA/certs (once,
# with scripts/make-certs.sh) and runs every node with mutual TLS between
# peers; clients then need --tls-ca=DATA/certs/ca.pem.
#
#   NODES=5 PROBE_INTERVAL=200ms scripts/cluster.sh
#   BASE_PORT=9000 DATA=/tmp/rumor scripts/cluster.sh
#   TLS=1 scripts/cluster.sh
set -uo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
NODES=${NODES:-3}
BASE_PORT=${BASE_PORT:-7379}
PROBE_INTERVAL=${PROBE_INTERVAL:-1s}
DATA=${DATA:-data}
METRICS_BASE_PORT=${METRICS_BASE_PORT:-$((BASE_PORT + 1000))}
TLS=${TLS:-0}
KVD="$BUILD/kvd"

if [ ! -x "$KVD" ]; then
  echo "cluster: $KVD not found; run 'make build' first" >&2
  exit 2
fi

certs="$DATA/certs"
if [ "$TLS" = 1 ] && [ ! -f "$certs/node$NODES.pem" ]; then
  # A new CA for all (every node restarts with the new certificates).
  bash scripts/make-certs.sh "$certs" --nodes "$NODES" --force || exit 2
fi

pids=()
names=()
# The nodes are this script's background jobs; `jobs -p` lists exactly the
# ones not yet reaped, so a signal never goes to a recycled PID, and a node
# started an instant before a Ctrl-C is not missed.
signal_nodes() {
  local p
  for p in $(jobs -p); do kill -TERM "$p" 2>/dev/null; done
}
# Signal the nodes before saying anything: if our output is a pipe whose
# reader died with the same Ctrl-C (`make cluster | tee log`), writing
# first would fail and the nodes would be orphaned. SIGPIPE is ignored so
# a dead reader can only make a write fail, never kill this script.
trap '' PIPE
stop_all() {
  # A second Ctrl-C while they shut down is passed on: kvd exits at once
  # on its second signal.
  trap 'signal_nodes' INT TERM HUP
  signal_nodes
  echo "cluster: stopping $(jobs -p | wc -l) nodes (Ctrl-C again to force)" >&2
  # (A signal ends `wait` early, after its trap ran: wait again.)
  while [ -n "$(jobs -pr)" ]; do wait; done
  echo "cluster: stopped" >&2
}
# Exit as the signal would have (130 for Ctrl-C), so make reports it.
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all; exit 129' HUP

for i in $(seq 1 "$NODES"); do
  port=$((BASE_PORT + i - 1))
  args=(--listen="127.0.0.1:$port" --data-dir="$DATA/node$i"
        --probe-interval="$PROBE_INTERVAL")
  if [ "$i" -gt 1 ]; then args+=(--seeds="127.0.0.1:$BASE_PORT"); fi
  if [ "$METRICS_BASE_PORT" != 0 ]; then
    args+=(--metrics="127.0.0.1:$((METRICS_BASE_PORT + i - 1))")
  fi
  if [ "$TLS" = 1 ]; then
    args+=(--peer-ca="$certs/ca.pem" --peer-cert="$certs/node$i.pem"
           --peer-key="$certs/node$i.key")
  fi
  mkdir -p "$DATA/node$i"
  # Own session: a terminal Ctrl-C reaches this script only, which then
  # sends each node exactly one SIGTERM (a second signal forces an exit).
  # The log prefixers ignore signals (they end when their node closes its
  # output), so the shutdown lines still show.
  setsid "$KVD" "${args[@]}" \
    > >(trap '' INT HUP TERM; exec sed -u "s/^/[node$i] /") 2>&1 &
  pids+=($!)
  names+=("node$i")
  echo "cluster: node$i pid $! on 127.0.0.1:$port" >&2
  if [ "$i" -eq 1 ]; then sleep 0.3; fi  # let the first node bind its port
done

last=$((BASE_PORT + NODES - 1))
try="build/kvcli members"
[ "$TLS" = 1 ] && try="build/kvcli --tls-ca=$certs/ca.pem members"
echo "cluster: $NODES nodes on 127.0.0.1:$BASE_PORT..$last, data under $DATA;" \
     "try: $try. Ctrl-C stops them." >&2
if [ "$METRICS_BASE_PORT" != 0 ]; then
  echo "cluster: metrics at http://127.0.0.1:$METRICS_BASE_PORT/metrics .." \
       "$((METRICS_BASE_PORT + NODES - 1))" >&2
fi

# Report nodes that exit on their own (a failed start, or 'kvcli leave');
# the others keep running.
while true; do
  wait -n 2>/dev/null
  code=$?
  running=" $(jobs -pr | tr '\n' ' ')"
  for idx in "${!pids[@]}"; do
    if [ -n "${names[$idx]}" ] && [[ "$running" != *" ${pids[$idx]} "* ]]; then
      echo "cluster: ${names[$idx]} exited (code $code)" >&2
      names[$idx]=""
    fi
  done
  [ "$running" = " " ] && break
done
echo "cluster: all nodes have exited" >&2
