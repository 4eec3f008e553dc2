#!/usr/bin/env bash
# scripts/cluster.sh is the README's run command. This test starts it as a
# user would and stops it the ways a terminal does, checking that every
# node it started is gone afterwards (none orphaned) and shut down cleanly.
#
#   cluster_sh_test.sh REPO_DIR BUILD_DIR
#
# Cases:
#   int-pipe  Ctrl-C on `make cluster | tee log`: SIGINT reaches the script
#             and the pipe's reader together, so the reader is gone before
#             the script can say anything.
#   hup       the terminal closes: SIGHUP to the whole foreground group.
#   term      SIGTERM to the script alone.
set -uo pipefail

repo=${1:?usage: cluster_sh_test.sh REPO_DIR BUILD_DIR}
build=${2:?usage: cluster_sh_test.sh REPO_DIR BUILD_DIR}
kvcli="$build/kvcli"
work=$(mktemp -d /tmp/rumor-cluster-sh.XXXXXX)
group=""
node_pids=()

current_log=""
fail() {
  if [ -n "$current_log" ] && [ -f "$current_log" ]; then
    echo "--- cluster.sh output:" >&2; tail -40 "$current_log" >&2
  fi
  echo "FAIL: $*" >&2
  exit 1
}

# kvd processes this test started: by PID as printed, and any kvd whose
# data dir is under this test's own temporary directory (they run in
# sessions of their own, out of reach of a process-group kill).
our_kvds() {
  local p
  for p in "${node_pids[@]}"; do echo "$p"; done
  for p in $(pgrep -x kvd); do
    if tr '\0' '\n' < "/proc/$p/cmdline" 2>/dev/null | grep -q -- "--data-dir=$work/"; then
      echo "$p"
    fi
  done
}

cleanup() {
  if [ -n "$group" ]; then kill -KILL -- "-$group" 2>/dev/null; fi
  for p in $(our_kvds); do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

# Two consecutive ports on 127.0.0.1 where nothing listens (a connect is
# refused). Racy against other tests picking ports, but the window is short
# and the range wide.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_base_port() {
  local i base
  for i in $(seq 1 200); do
    base=$((20000 + RANDOM % 39000))
    if port_free "$base" && port_free $((base + 1)); then echo "$base"; return; fi
  done
}

# wait_for DEADLINE_SECONDS DESCRIPTION COMMAND...: polls COMMAND; fails
# the test with DESCRIPTION if it is not true by the deadline.
wait_for() {
  local deadline=$(($(date +%s) + $1)) what=$2
  shift 2
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "timed out waiting for $what"
    sleep 0.1
  done
}

all_alive() {
  [ "$("$kvcli" --server="127.0.0.1:$base" members 2>/dev/null | grep -c ' alive ')" = 2 ]
}

none_running() {
  local p
  for p in "${node_pids[@]}"; do
    kill -0 "$p" 2>/dev/null && return 1
  done
  return 0
}

run_case() {
  local name=$1
  base=$(free_base_port)
  [ -n "$base" ] || fail "$name: no free ports"
  local data="$work/$name/data" log="$work/$name/log"
  mkdir -p "$work/$name"
  current_log=$log
  # A new session stands in for the terminal and its process group for the
  # foreground job. For int-pipe the reader is a plain `cat`, which the
  # interrupt kills as it kills tee. Otherwise the reader ignores the
  # signals, so the log keeps the nodes' shutdown lines.
  local reader='exec cat > "$5"'
  [ "$name" = int-pipe ] || reader='trap "" INT HUP TERM PIPE; exec cat > "$5"'
  # (env: a background job of a script starts with SIGINT ignored, and
  # bash cannot trap a signal ignored on entry; a terminal job has it.)
  # (Started from a subshell, so it is not our job: no job-status noise.)
  group=$(setsid env --default-signal=INT,QUIT bash -c '
      BUILD="$1" DATA="$2" NODES=2 BASE_PORT="$3" PROBE_INTERVAL=200ms METRICS_BASE_PORT=0 \
        bash "$4/scripts/cluster.sh" 2>&1 | ( '"$reader"' )' \
      _ "$build" "$data" "$base" "$repo" "$log" </dev/null >/dev/null 2>&1 &
    echo $!)
  wait_for 20 "$name: 2 nodes listed in the log" \
      bash -c "[ \"\$(grep -c 'cluster: node. pid' '$log' 2>/dev/null)\" = 2 ]"
  mapfile -t node_pids < <(sed -n 's/^cluster: node[0-9]* pid \([0-9]*\) .*/\1/p' "$log")
  [ "${#node_pids[@]}" = 2 ] || fail "$name: expected 2 node pids, got ${node_pids[*]}"
  wait_for 20 "$name: both nodes alive" all_alive

  case $name in
    int-pipe) # The reader goes first (as tee does when it wins the race),
              # so the script's trap always meets a dead pipe.
              local reader_pid
              reader_pid=$(pgrep -g "$group" -x cat)
              [ -n "$reader_pid" ] || fail "int-pipe: the reader is not running"
              kill -INT "$reader_pid"
              wait_for 10 "int-pipe: the reader to exit" \
                  bash -c "! kill -0 $reader_pid 2>/dev/null"
              kill -INT -- "-$group" ;;
    hup)      kill -HUP -- "-$group" ;;
    term)     local script_pid="" p
              for p in $(pgrep -g "$group" -x bash); do
                # the bash whose first argument is the script itself
                if tr '\0' '\n' < "/proc/$p/cmdline" 2>/dev/null | sed -n 2p |
                     grep -q '/scripts/cluster\.sh$'; then script_pid=$p; fi
              done
              [ -n "$script_pid" ] || fail "term: cluster.sh not found"
              kill -TERM "$script_pid" ;;
  esac
  wait_for 20 "$name: nodes to exit (pids ${node_pids[*]})" none_running
  # (Also by what they held, in case the printed PIDs were not theirs.)
  wait_for 10 "$name: ports $base and $((base + 1)) to be released" \
      bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$base) 2>/dev/null &&
               ! (exec 3<>/dev/tcp/127.0.0.1/$((base + 1))) 2>/dev/null"
  [ -z "$(our_kvds | sort -u | while read -r p; do kill -0 "$p" 2>/dev/null && echo "$p"; done)" ] ||
    fail "$name: kvd processes of this test still run"
  if [ "$name" != int-pipe ]; then
    # (with the reader gone, int-pipe's shutdown lines have nowhere to go)
    wait_for 10 "$name: both nodes to log 'shut down cleanly'" \
        bash -c "[ \"\$(grep -c 'shut down cleanly' '$log' 2>/dev/null)\" = 2 ]"
  fi
  kill -KILL -- "-$group" 2>/dev/null
  group=""
  node_pids=()
  echo "ok: $name"
}

[ -x "$build/kvd" ] || fail "$build/kvd not built"
run_case int-pipe
run_case hup
run_case term
echo "PASS"
