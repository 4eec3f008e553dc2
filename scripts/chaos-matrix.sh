#!/usr/bin/env bash
# The chaos matrix (make chaos): every fault alone and a mixed schedule,
# with R=W=2 and with R=W=1, over seeds 1..SEEDS each, against the Docker
# cluster (started by docker/chaos up if needed, with the size-limited data
# filesystems disk-full needs, and removed at the end unless KEEP=1). Each
# run is scripts/chaos-run.sh; the results land in OUT:
#
#   OUT/results.tsv   one line per run: fault, R=W, seed, verdict (pass,
#                     fail, error, unsupported) and the checker's counts
#   OUT/table.md      the table of docs/reliability.md, one row per fault
#                     and R=W (sums over the seeds; the largest convergence
#                     time and sibling count)
#   OUT/<fault>-rwN-seedS/   each run's history, report and (seed 1) plot
#
#   FAULTS="partition-halves kill" SEEDS=3 RWS=2 scripts/chaos-matrix.sh
#
#   FAULTS    default: partition-halves partition-isolate partition-bridge
#             partition-one-way kill pause loss clock-skew disk-full delay
#             duplicate reorder mixed (a fault the kernel cannot do, such
#             as delay without NFQUEUE, gets one "unsupported" row)
#   SEEDS=10  seeds FIRST_SEED..SEEDS
#   FIRST_SEED=1  above 1: more seeds for an earlier matrix in OUT
#             (FIRST_SEED=6 SEEDS=10 adds seeds 6..10; its results.tsv
#             keeps the earlier seeds' rows and the table sums them all)
#   RWS="2 1" R=W settings
#   DURATION=20  seconds of workload per run (one fault cycle fits in 20)
#   MIXED_DURATION=60  for mixed: several cycles, a random fault each
#   MODE=docker  or local (kill, pause and mixed only)
#   OUT=chaos-out/matrix
#
# Exit 1 when any run failed its check or could not be run (unsupported
# faults excepted: they are listed as such).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

MODE=${MODE:-docker}
if [ "$MODE" = local ]; then
  FAULTS=${FAULTS:-kill pause mixed}
else
  FAULTS=${FAULTS:-partition-halves partition-isolate partition-bridge partition-one-way kill pause loss clock-skew disk-full delay duplicate reorder mixed}
fi
SEEDS=${SEEDS:-10}
FIRST_SEED=${FIRST_SEED:-1}
case "$SEEDS$FIRST_SEED" in *[!0-9]*) echo "chaos-matrix: SEEDS and FIRST_SEED are numbers" >&2; exit 2 ;; esac
[ "$FIRST_SEED" -ge 1 ] && [ "$FIRST_SEED" -le "$SEEDS" ] ||
  { echo "chaos-matrix: FIRST_SEED ($FIRST_SEED) must be from 1 to SEEDS ($SEEDS)" >&2; exit 2; }
RWS=${RWS:-2 1}
DURATION=${DURATION:-20}
MIXED_DURATION=${MIXED_DURATION:-60}
OUT=${OUT:-chaos-out/matrix}
KEEP=${KEEP:-0}
say() { echo "chaos-matrix: $*" >&2; }

mkdir -p "$OUT"
results="$OUT/results.tsv"
COLUMNS_SUMMARY="invoked ok failed indeterminate acked lost unexpected recovered resurrected failed_present divergent unchecked converge_seconds converge_since_heal_seconds max_siblings"
header=$(printf 'fault\trw\tseed\tverdict\t%s\tseconds' "$(echo $COLUMNS_SUMMARY | tr ' ' '\t')")
if [ "$FIRST_SEED" -gt 1 ] && [ -s "$results" ]; then
  # Adding seeds: keep the rows of every run this matrix does not repeat.
  [ "$(head -n 1 "$results")" = "$header" ] ||
    { say "error: $results has other columns than this script writes; use another OUT"; exit 2; }
  awk -F'\t' -v faults=" $FAULTS " -v rws=" $RWS " -v first="$FIRST_SEED" -v last="$SEEDS" '
    NR == 1 || index(faults, " " $1 " ") == 0 || index(rws, " " $2 " ") == 0 ||
      $3 < first || $3 > last' \
    "$results" > "$results.tmp" && mv "$results.tmp" "$results"
else
  [ "$FIRST_SEED" -eq 1 ] ||
    say "note: no earlier $results to add seeds $FIRST_SEED..$SEEDS to: the table will hold only these"
  echo "$header" > "$results"
fi

# Tombstones are reaped within a run, so the checker sees whether a reaped
# delete ever brings a value back.
export RUMOR_TOMBSTONE_GRACE=${RUMOR_TOMBSTONE_GRACE:-20s}
started_cluster=0
if [ "$MODE" = docker ]; then
  if ! docker/chaos heal >/dev/null 2>&1; then
    say "starting the Docker cluster (docker/chaos up)"
    docker/chaos up || { say "error: the cluster did not come up"; exit 2; }
    started_cluster=1
  fi
  # A cluster started by somebody else may keep tombstones for an hour, and
  # then no delete is reaped during a run and the check is weaker.
  grace=$(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' \
            "$(docker ps -q --filter label=com.docker.compose.project=rumor \
                 --filter label=com.docker.compose.service=node1)" 2>/dev/null |
          sed -n 's/^RUMOR_TOMBSTONE_GRACE=//p')
  if [ "$grace" != "$RUMOR_TOMBSTONE_GRACE" ]; then
    say "error: the running cluster has RUMOR_TOMBSTONE_GRACE=${grace:-unset}, not $RUMOR_TOMBSTONE_GRACE: recreate it (docker/chaos down; RUMOR_TOMBSTONE_GRACE=$RUMOR_TOMBSTONE_GRACE docker/chaos up)"
    exit 2
  fi
fi
finish() {
  if [ "$started_cluster" -eq 1 ] && [ "$KEEP" != 1 ]; then
    docker/chaos down >/dev/null 2>&1 || true
  fi
}
trap finish EXIT

field() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" "$1"; }
total=0
for _ in $FAULTS; do for _ in $RWS; do total=$((total + SEEDS - FIRST_SEED + 1)); done; done
n=0 failures=0 start=$SECONDS
unsupported=" "
# Seed by seed across the faults, so a matrix stopped early (Ctrl-C) has
# covered every fault about equally.
for rw in $RWS; do
  for seed in $(seq "$FIRST_SEED" "$SEEDS"); do
    for fault in $FAULTS; do
      n=$((n + 1))
      case "$unsupported" in *" $fault "*) continue ;; esac
      dir="$OUT/$fault-rw$rw-seed$seed"
      rm -rf "$dir"
      plot=()
      [ "$seed" -eq 1 ] && plot=(--plot)
      duration=$DURATION
      [ "$fault" = mixed ] && duration=$MIXED_DURATION
      t0=$SECONDS
      code=0
      bash scripts/chaos-run.sh --mode="$MODE" --fault="$fault" --seed="$seed" \
        --rw="$rw" --duration="$duration" --out="$dir" "${plot[@]}" > "$dir.log" 2>&1 || code=$?
      secs=$((SECONDS - t0))
      case "$code" in
        0) verdict=pass ;;
        1) verdict=fail ;;
        3) verdict=unsupported; unsupported+="$fault " ;;
        *) verdict=error ;;
      esac
      row="$fault\t$rw\t$seed\t$verdict"
      for k in $COLUMNS_SUMMARY; do
        v=""
        [ -f "$dir/summary.json" ] && v=$(field "$dir/summary.json" "$k")
        row+="\t$v"
      done
      printf "$row\t%s\n" "$secs" >> "$results"
      case "$verdict" in
        pass) ;;
        unsupported) say "[$n/$total] $fault: not possible here ($dir.log); its other seeds are skipped"; continue ;;
        *) failures=$((failures + 1)) ;;
      esac
      s="$dir/summary.json"
      if [ -f "$s" ]; then
        say "[$n/$total] $fault R=W=$rw seed $seed: ${verdict^^} (acked $(field "$s" acked), lost $(field "$s" lost), unexpected $(field "$s" unexpected), ${secs} s; $((SECONDS - start)) s in all)"
      else
        say "[$n/$total] $fault R=W=$rw seed $seed: ${verdict^^} (exit $code; $dir.log)"
      fi
    done
  done
done

# The table: sums over the seeds per fault and R=W.
bash scripts/chaos-table.sh "$results" > "$OUT/table.md"
cat "$OUT/table.md"
say "$n runs, $failures failed, $((SECONDS - start)) s; results in $results"
[ "$failures" -eq 0 ]
