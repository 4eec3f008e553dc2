#!/usr/bin/env bash
# The chaos smoke against the Docker cluster (CI runs it through ctest):
# build the image, bring up the 5 nodes of docker/compose.yml, check that
# delay, duplication and reordering act on the wire, then one seed each of
# a partition into two halves, a kill -9 and restart, and a pause past the
# suspicion timeout, each under kvcheck's workload, failing on any lost,
# unexpected, resurrected or divergent write. The cluster,
# its network and volumes are removed at the end, pass or fail.
#
#   chaos_docker_smoke.sh REPO_DIR BUILD_DIR
#
# Exit 77 (ctest: skipped, not passed) when there is no Docker engine.
set -uo pipefail
repo=${1:?usage: chaos_docker_smoke.sh REPO_DIR BUILD_DIR}
build=${2:?usage: chaos_docker_smoke.sh REPO_DIR BUILD_DIR}
cd "$repo" || exit 2

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
  # CI (.ci/run sets RUMOR_CI=1) has Docker: there, no engine is a failure.
  if [ "${RUMOR_CI:-0}" = 1 ]; then
    echo "FAIL: RUMOR_CI is set but there is no Docker engine" >&2
    exit 1
  fi
  echo "SKIP: no Docker engine here; the chaos smoke needs one" >&2
  exit 77
fi
fail() { echo "FAIL: $*" >&2; exit 1; }
# The smoke owns the compose project "rumor" for its duration: refuse to
# take over (and at the end remove) a cluster somebody else started.
if [ -n "$(docker ps -aq --filter label=com.docker.compose.project=rumor)" ]; then
  fail "containers of the compose project 'rumor' exist already; this test \
would remove them. Stop that cluster first: make docker-down"
fi

work=$(mktemp -d /tmp/rumor-chaos-smoke.XXXXXX)
cleanup() {
  bash scripts/docker-cluster.sh down > "$work/down.log" 2>&1 ||
    { echo "warning: docker-cluster.sh down failed:" >&2; tail -5 "$work/down.log" >&2; }
  rm -rf "$work"
}
trap cleanup EXIT

# Tombstones are reaped within the run, so the checker sees whether a
# reaped delete ever brings a value back.
export RUMOR_TOMBSTONE_GRACE=${RUMOR_TOMBSTONE_GRACE:-20s}
start=$SECONDS
if ! WAIT=180 bash scripts/docker-cluster.sh up > "$work/up.log" 2>&1; then
  tail -40 "$work/up.log" >&2
  fail "the Docker cluster did not come up"
fi
echo "cluster up after $((SECONDS - start)) s (image built or reused)"

# --- delay, duplicate and reorder act on the wire ---------------------------
# Each is injected on node1 alone and must be seen where it acts: node1's
# TCP round trips to its peers grow by the delay; the other nodes' TCP
# counts the duplicates (D-SACKs) and the reordered segments (out-of-order
# queue), and the rumor-netfault that reorders counts packets sent at once
# and held. Every value written meanwhile must read back whole, and heal
# must leave no rule or rumor-netfault behind.
cid() { docker ps -q --filter label=com.docker.compose.project=rumor \
          --filter "label=com.docker.compose.service=$1"; }
counter() {  # NAME: a TcpExt counter of /proc/net/netstat, summed over node2..node5
  local c v sum=0
  for c in $n2 $n3 $n4 $n5; do
    v=$(docker exec "$c" awk -v name="$1" '$1 == "TcpExt:" {
        if (!h) { for (i = 2; i <= NF; i++) col[$i] = i; h = 1 }
        else { print $col[name] + 0; exit } }' /proc/net/netstat) ||
      fail "cannot read /proc/net/netstat in $c"
    sum=$((sum + v))
  done
  echo "$sum"
}
max_rtt() {  # CONTAINER: the largest smoothed RTT (ms) of its TCP links to nodes
  docker exec "$1" ss -tin state established '( dport = :7379 or sport = :7379 )' |
    sed -n 's/.* rtt:\([0-9.]*\)\/.*/\1/p' | sort -n | tail -1
}
# Six writes of 270 KB coordinated by node1 (--routing=any), which sends
# them on to the replicas in many segments for the faults to act on; each
# value is kept in node1's /tmp to be read back. TIMEOUT: kvcli's deadline
# per put (a 270 KB put behind a 400 ms delay takes several round trips).
traffic() {  # TAG [TIMEOUT]
  docker exec "$n1" sh -c 'for i in 1 2 3 4 5 6; do
      head -c 200000 /dev/urandom | base64 -w0 > /tmp/wire-$0-$i &&
      kvcli --routing=any --timeout=$1 put --w 3 "wire-$0-$i" - < /tmp/wire-$0-$i >/dev/null || exit 1
    done' "$1" "${2:-10s}" || fail "kvcli put of 6 large values through node1 failed ($1)"
}
# Each value written by traffic TAG, read through node3 with R=3: exactly
# one value (kvcli prints it on the first line; siblings would start with
# "N siblings:"), byte for byte the one written.
read_back() {  # TAG
  local i want got
  for i in 1 2 3 4 5 6; do
    want=$(docker exec "$n1" sh -c '{ cat "$0"; echo; } | sha256sum' "/tmp/wire-$1-$i") ||
      fail "cannot read /tmp/wire-$1-$i in node1"
    got=$(docker exec "$n3" sh -c 'out=$(kvcli --routing=any --timeout=10s get --r 3 "$0") &&
        printf "%s\n" "$out" | head -n 1 | sha256sum' "wire-$1-$i") ||
      fail "wire-$1-$i cannot be read through node3 after $1"
    [ "$got" = "$want" ] || fail "wire-$1-$i does not read back as written through node3 after $1"
  done
  echo "ok: $1: the 6 values written under it read back as written"
}
# Injects a fault (docker/chaos ARGS) on node1 under traffic and heals it:
# the other nodes' TcpExt COUNTER must have risen meanwhile.
counter_rises() {  # COUNTER WHAT ARGS...
  local name=$1 what=$2 before after out
  shift 2
  before=$(counter "$name") || exit 1
  out=$(docker/chaos "$@") || fail "docker/chaos $* failed: $out"
  echo "$out"
  traffic "$1"
  after=$(counter "$name") || exit 1
  [ "$after" -gt "$before" ] || fail "$* : node2..node5's $name did not rise ($before -> $after)"
  echo "ok: $1: node2..node5 $what: $((after - before))"
  if [ "$1" = reorder ]; then
    # The netfault in node2 that reorders node1's packets sent some at once
    # and held others.
    local st
    st=$(docker exec "$n2" cat /tmp/rumor-netfault/11.status) || fail "reorder: no rumor-netfault status in node2"
    grep -q ' at_once=[1-9]' <<<"$st" && grep -q ' delayed=[1-9]' <<<"$st" ||
      fail "reorder: node2's rumor-netfault did not both hold and pass packets: $st"
    echo "ok: reorder: node2's rumor-netfault: $st"
  fi
  out=$(docker/chaos heal) || fail "heal after $1 failed: $out"
  read_back "$1"
}
check_packet_faults() {
  local rtt deadline out c
  n1=$(cid node1) n2=$(cid node2) n3=$(cid node3) n4=$(cid node4) n5=$(cid node5)
  [ -n "$n1" ] && [ -n "$n2" ] && [ -n "$n3" ] && [ -n "$n4" ] && [ -n "$n5" ] ||
    fail "cannot find the five node containers"

  out=$(docker/chaos delay node1 400) || fail "docker/chaos delay failed: $out"
  echo "$out"
  deadline=$((SECONDS + 30))
  while :; do
    rtt=$(max_rtt "$n1")
    awk -v r="${rtt:-0}" 'BEGIN { exit !(r >= 300) }' && break
    [ "$SECONDS" -lt "$deadline" ] || fail "delay 400 ms on node1: its largest TCP RTT to a node is ${rtt:-none} ms after 30 s"
    sleep 1
  done
  echo "ok: delay: node1's TCP RTT to a node is $rtt ms"
  traffic delay 60s
  out=$(docker/chaos heal) || fail "heal after delay failed: $out"
  read_back delay

  counter_rises TCPDSACKOldSent "answered duplicate segments with D-SACKs" duplicate node1 50
  counter_rises TCPOFOQueue "queued segments out of order" reorder node1 50 100

  for c in $n1 $n2 $n3 $n4 $n5; do
    out=$(docker exec -u 0 "$c" sh -c 'iptables -S && iptables -t mangle -S') ||
      fail "cannot list the iptables rules of $c"
    ! grep -q RUMOR-CHAOS <<<"$out" || fail "heal left rules in $c: $out"
    out=$(docker exec "$c" sh -c 'for p in /proc/[0-9]*; do
        tr "\0" " " 2>/dev/null <$p/cmdline | grep -q "^rumor-netfault " && echo "${p#/proc/}"; done; true') ||
      fail "cannot list the processes of $c"
    [ -z "$out" ] || fail "heal left rumor-netfault running in $c (pid $out)"
  done
  echo "ok: heal removed every rule and rumor-netfault"
}
check_packet_faults

field() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" "$1"; }
for fault in partition-halves kill pause; do
  dir="$work/$fault"
  BUILD="$build" bash scripts/chaos-run.sh --fault="$fault" --seed=1 \
    --duration=25 --out="$dir" > "$work/$fault.log" 2>&1
  code=$?
  cat "$work/$fault.log"
  [ "$code" -eq 0 ] || fail "$fault: chaos-run.sh exited $code"
  [ "$(field "$dir/summary.json" lost)" = 0 ] || fail "$fault: lost writes"
  acked=$(field "$dir/summary.json" acked)
  [ "$acked" -gt 100 ] || fail "$fault: only $acked writes acknowledged"
  grep -q '"f":"start"' "$dir/nemesis.jsonl" || fail "$fault: no fault was injected"
  grep -q '"f":"stop"' "$dir/nemesis.jsonl" || fail "$fault: the fault was not healed"
  # The fault was felt: some requests failed or timed out meanwhile.
  hurt=$(grep -c '"type":"\(fail\|info\)"' "$dir/history.jsonl")
  [ "$hurt" -gt 0 ] || fail "$fault: no request failed: did the fault act?"
  if [ "$fault" = pause ]; then
    # The paused node was declared dead by the others and came back by
    # refuting, as their logs say.
    node=$(sed -n 's/.*"detail":"pause \(node[0-9]\)".*/\1/p' "$dir/nemesis.jsonl" | head -1)
    [ -n "$node" ] || fail "pause: no paused node in the nemesis log"
    logs=$(for c in $(docker ps -q --filter label=com.docker.compose.project=rumor); do
             docker logs "$c" 2>&1; done)
    grep -q "at $node:[0-9]* is dead" <<< "$logs" || fail "pause: $node was never declared dead"
    grep -q "at $node:[0-9]* is alive (incarnation" <<< "$logs" ||
      fail "pause: $node did not come back alive by refuting"
  fi
  echo "ok: $fault: $acked acknowledged, $hurt failed or indeterminate, none lost ($((SECONDS - start)) s so far)"
done
echo "PASS after $((SECONDS - start)) s"
