#!/usr/bin/env bash
# The chaos matrix (make chaos): every fault alone and a mixed schedule,
# with R=W=2 and with R=W=1, over SEEDS seeds each, against the Docker
# cluster (started by docker/chaos up if needed, with the size-limited data
# filesystems disk-full needs, and removed at the end unless KEEP=1). Each
# run is scripts/chaos-run.sh; the results land in OUT:
#
#   OUT/results.tsv   one line per run (fault, R=W, seed and the checker's
#                     counts)
#   OUT/table.md      the table of docs/reliability.md, one row per fault
#                     and R=W (sums over the seeds; the largest convergence
#                     time and sibling count)
#   OUT/<fault>-rwN-seedS/   each run's history, report and (seed 1) plot
#
#   FAULTS="partition-halves kill" SEEDS=3 RWS=2 scripts/chaos-matrix.sh
#
#   FAULTS    default: partition-halves partition-isolate partition-bridge
#             partition-one-way kill pause loss clock-skew disk-full mixed
#   SEEDS=10  seeds 1..SEEDS
#   RWS="2 1" R=W settings
#   DURATION=20  seconds of workload per run (one fault cycle fits in 20)
#   MODE=docker  or local (kill, pause and mixed only)
#   OUT=chaos-out/matrix
#
# Exit 1 when any run lost, made up, resurrected or left divergent a write.
set -uo pipefail
cd "$(dirname "$0")/.."

MODE=${MODE:-docker}
if [ "$MODE" = local ]; then
  FAULTS=${FAULTS:-kill pause mixed}
else
  FAULTS=${FAULTS:-partition-halves partition-isolate partition-bridge partition-one-way kill pause loss clock-skew disk-full mixed}
fi
SEEDS=${SEEDS:-10}
RWS=${RWS:-2 1}
DURATION=${DURATION:-20}
OUT=${OUT:-chaos-out/matrix}
KEEP=${KEEP:-0}
say() { echo "chaos-matrix: $*" >&2; }

mkdir -p "$OUT"
results="$OUT/results.tsv"
printf 'fault\trw\tseed\tpassed\tinvoked\tok\tfailed\tindeterminate\tacked\tlost\tunexpected\trecovered\tresurrected\tdivergent\tconverge_s\tmax_siblings\tseconds\n' > "$results"

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
fi
finish() {
  if [ "$started_cluster" -eq 1 ] && [ "$KEEP" != 1 ]; then
    docker/chaos down >/dev/null 2>&1 || true
  fi
}
trap finish EXIT

field() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" "$1"; }
total=0
for _ in $FAULTS; do for _ in $RWS; do total=$((total + SEEDS)); done; done
n=0 failures=0 start=$SECONDS
# Seed by seed across the faults, so a matrix stopped early (Ctrl-C) has
# covered every fault about equally.
for rw in $RWS; do
  for seed in $(seq 1 "$SEEDS"); do
    for fault in $FAULTS; do
      n=$((n + 1))
      dir="$OUT/$fault-rw$rw-seed$seed"
      plot=()
      [ "$seed" -eq 1 ] && plot=(--plot)
      t0=$SECONDS
      bash scripts/chaos-run.sh --mode="$MODE" --fault="$fault" --seed="$seed" \
        --rw="$rw" --duration="$DURATION" --out="$dir" "${plot[@]}" > "$dir.log" 2>&1
      code=$?
      secs=$((SECONDS - t0))
      s="$dir/summary.json"
      if [ ! -f "$s" ] || [ "$code" -gt 1 ]; then
        failures=$((failures + 1))
        say "[$n/$total] $fault R=W=$rw seed $seed: ERROR (exit $code; $dir.log)"
        printf '%s\t%s\t%s\terror\t\t\t\t\t\t\t\t\t\t\t\t\t%s\n' "$fault" "$rw" "$seed" "$secs" >> "$results"
        continue
      fi
      row="$fault\t$rw\t$seed\t$(field "$s" passed)"
      for k in invoked ok failed indeterminate acked lost unexpected recovered resurrected divergent converge_seconds max_siblings; do
        row+="\t$(field "$s" $k)"
      done
      printf "$row\t%s\n" "$secs" >> "$results"
      verdict=PASS
      [ "$code" -eq 0 ] || { verdict=FAIL; failures=$((failures + 1)); }
      say "[$n/$total] $fault R=W=$rw seed $seed: $verdict (acked $(field "$s" acked), lost $(field "$s" lost), unexpected $(field "$s" unexpected), ${secs} s; $((SECONDS - start)) s in all)"
    done
  done
done

# The table: sums over the seeds per fault and R=W.
awk -F'\t' '
  NR == 1 { next }
  { k = $1 "\t" $2; if (!(k in seeds)) order[++m] = k; seeds[k]++
    if ($4 != "true") bad[k]++
    ops[k] += $5; acked[k] += $9; lost[k] += $10; unexp[k] += $11
    rec[k] += $12; res[k] += $13; div[k] += $14
    if ($15 > conv[k]) conv[k] = $15; if ($16 > sib[k]) sib[k] = $16 }
  END {
    print "| fault | R=W | seeds | ops | acked | lost | unexpected | recovered | resurrected | divergent | converge (max s) | max siblings | failed runs |"
    print "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    for (i = 1; i <= m; i++) { k = order[i]; split(k, p, "\t")
      printf "| %s | %s | %d | %d | %d | %d | %d | %d | %d | %d | %.1f | %d | %d |\n",
        p[1], p[2], seeds[k], ops[k], acked[k], lost[k], unexp[k], rec[k], res[k], div[k], conv[k], sib[k], bad[k] + 0 } }
' "$results" > "$OUT/table.md"
cat "$OUT/table.md"
say "$n runs, $failures failed, $((SECONDS - start)) s; results in $results"
[ "$failures" -eq 0 ]
