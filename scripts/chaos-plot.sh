#!/usr/bin/env bash
# Draws a chaos run's throughput and errors over time, with each fault
# shaded from its start to its heal (gnuplot, from Debian's gnuplot-nox):
#
#   scripts/chaos-plot.sh chaos-out/kill-rw2-seed1 "kill, R=W=2, seed 1"
#
# Reads DIR/history.jsonl (its start time), DIR/timeline.tsv (kvcheck
# --timeline) and DIR/nemesis.jsonl (scripts/chaos-run.sh); writes
# DIR/plot.png.
set -euo pipefail
dir=${1:?usage: chaos-plot.sh DIR [TITLE]}
title=${2:-$(basename "$dir")}
command -v gnuplot >/dev/null ||
  { echo "chaos-plot: needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 2; }
for f in history.jsonl timeline.tsv nemesis.jsonl; do
  [ -f "$dir/$f" ] || { echo "chaos-plot: $dir/$f is missing" >&2; exit 2; }
done
start=$(head -1 "$dir/history.jsonl" | sed -n 's/.*"start_unix_ms":\([0-9]*\).*/\1/p')
[ -n "$start" ] || { echo "chaos-plot: no start_unix_ms in $dir/history.jsonl" >&2; exit 2; }

# Fault windows as gnuplot rectangles, seconds since the start.
rects=$(awk -v start="$start" -f "$(dirname "$0")/chaos-windows.awk" "$dir/nemesis.jsonl")

gnuplot <<GP
set terminal pngcairo size 1100,380 font "sans,10"
set output "$dir/plot.png"
set title "$title: operations per second (faults shaded)"
set xlabel "seconds"
set ylabel "operations / s"
set grid
set key top right
set yrange [0:*]
$rects
plot "$dir/timeline.tsv" using 1:2 with lines lw 2 lc rgb "#2a6f2a" title "ok", \
     "" using 1:(\$3+\$4) with lines lw 2 lc rgb "#c03030" title "failed or indeterminate"
GP
echo "chaos-plot: wrote $dir/plot.png" >&2
