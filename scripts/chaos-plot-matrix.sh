#!/usr/bin/env bash
# One figure for a chaos matrix: for each fault, its seed-1 run's
# operations per second (ok, and failed or indeterminate), each fault
# shaded from start to heal, one panel per fault (gnuplot):
#
#   scripts/chaos-plot-matrix.sh chaos-out/matrix 2 docs/reliability.png
#
# Reads MATRIX/<fault>-rwRW-seed1/{history.jsonl,timeline.tsv,nemesis.jsonl}
# as scripts/chaos-matrix.sh leaves them.
set -euo pipefail
dir=${1:?usage: chaos-plot-matrix.sh MATRIX_DIR RW OUT.png}
rw=${2:?usage: chaos-plot-matrix.sh MATRIX_DIR RW OUT.png}
out=${3:?usage: chaos-plot-matrix.sh MATRIX_DIR RW OUT.png}
command -v gnuplot >/dev/null ||
  { echo "chaos-plot-matrix: needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 2; }

runs=()
for d in "$dir"/*-rw"$rw"-seed1; do
  [ -f "$d/timeline.tsv" ] && [ -f "$d/nemesis.jsonl" ] && runs+=("$d")
done
[ "${#runs[@]}" -gt 0 ] || { echo "chaos-plot-matrix: no seed-1 runs with R=W=$rw in $dir" >&2; exit 2; }
rows=$(( (${#runs[@]} + 1) / 2 ))

script=$(mktemp)
trap 'rm -f "$script"' EXIT
{
  echo "set terminal pngcairo size 1400,$((rows * 230 + 40)) font 'sans,9'"
  echo "set output '$out'"
  echo "set multiplot layout $rows,2 title 'rumor under faults, R=W=$rw, seed 1: operations per second (green ok, red failed or indeterminate; faults shaded)'"
  echo "set grid; set yrange [0:*]; set key off; set xlabel 'seconds'"
  for d in "${runs[@]}"; do
    name=$(basename "$d"); name=${name%-rw*}
    start=$(head -1 "$d/history.jsonl" | sed -n 's/.*"start_unix_ms":\([0-9]*\).*/\1/p')
    echo "unset object"
    awk -v start="$start" -f "$(dirname "$0")/chaos-windows.awk" "$d/nemesis.jsonl"
    echo "set title '$name'"
    echo "plot '$d/timeline.tsv' using 1:2 with lines lw 2 lc rgb '#2a6f2a', '' using 1:(\$3+\$4) with lines lw 2 lc rgb '#c03030'"
  done
  echo "unset multiplot"
} > "$script"
gnuplot "$script"
echo "chaos-plot-matrix: wrote $out (${#runs[@]} faults)" >&2
