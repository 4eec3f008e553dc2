#!/usr/bin/env bash
# Draws kvbench timelines (kvbench --timeline=FILE: one CSV line per second
# of the run phase) into one PNG with gnuplot (from Debian's gnuplot-nox):
# throughput over time on top, p50 and p99 latency over time below (log
# scale), one colour per timeline (p50 solid, p99 dashed).
#
#   build/kvbench --servers=127.0.0.1:7379 --workload=d --timeline=/tmp/d.csv
#   build/kvbench --servers=127.0.0.1:7379 --workload=f --timeline=/tmp/f.csv
#   scripts/bench-plot.sh /tmp/ycsb.png d=/tmp/d.csv f=/tmp/f.csv
#
# A timeline given without "LABEL=" is labelled with its file name. TITLE
# (environment) sets the figure's title.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench-plot.sh OUT.png [LABEL=]TIMELINE.csv [[LABEL=]TIMELINE.csv ...]

Draws kvbench --timeline CSVs (second,ops,errors,ops_per_sec,p50_us,p95_us,
p99_us,p999_us) into OUT.png: throughput over time (top) and p50/p99
latency over time (bottom, log scale), one colour per timeline. Needs
gnuplot (apt-get install gnuplot-nox). TITLE=... sets the title.
EOF
}

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
esac
if [ "$#" -lt 2 ]; then
  usage >&2
  exit 2
fi
command -v gnuplot >/dev/null || { echo "bench-plot: needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 2; }

out=$1
shift
title=${TITLE:-kvbench timeline}
# gnuplot strings are double-quoted here: a quote or backslash in a name
# would end them.
case "$out$title" in
  *'"'*|*'\'*) echo "bench-plot: no \" or \\ in OUT or TITLE, please" >&2; exit 2 ;;
esac

throughput=()
latency=()
colour=0
for arg in "$@"; do
  if [[ $arg == *=* ]]; then
    label=${arg%%=*}
    file=${arg#*=}
  else
    file=$arg
    label=$(basename "$file" .csv)
  fi
  case "$label$file" in
    *'"'*|*'\'*) echo "bench-plot: no \" or \\ in labels or file names, please: $arg" >&2; exit 2 ;;
  esac
  if [ ! -r "$file" ]; then
    echo "bench-plot: cannot read $file" >&2
    exit 2
  fi
  if ! head -n 1 "$file" | grep -q '^second,ops,errors,ops_per_sec,p50_us,'; then
    echo "bench-plot: $file is not a kvbench --timeline CSV (its first line is not the header)" >&2
    exit 2
  fi
  if [ "$(wc -l < "$file")" -lt 2 ]; then
    echo "bench-plot: warning: $file has no data lines yet" >&2
  fi
  colour=$((colour + 1))
  # Columns: 1 second, 4 ops/s, 5 p50 µs, 7 p99 µs; line 0 is the header.
  throughput+=("\"$file\" every ::1 using 1:4 with linespoints lw 2 pt 7 ps 0.6 lc $colour title \"$label\"")
  latency+=("\"$file\" every ::1 using 1:5 with linespoints lw 2 pt 7 ps 0.6 lc $colour title \"$label p50\"")
  latency+=("\"$file\" every ::1 using 1:7 with linespoints lw 2 dt 2 pt 6 ps 0.6 lc $colour title \"$label p99\"")
done

join_plots() {
  local IFS=$'\x1f'
  local joined="$*"
  echo "${joined//$'\x1f'/, \\$'\n'     }"
}

gnuplot <<GP
set terminal pngcairo size 1200,900 font "sans,11"
set output "$out"
set datafile separator ","
set grid
set key outside right top
set xrange [0:*]
# The same margins in both panels, so their time axes line up.
set lmargin at screen 0.08
set rmargin at screen 0.84
set multiplot layout 2,1 title "$title"

set title "Throughput (successful operations per second)"
set xlabel "seconds since the run phase started"
set ylabel "ops/s"
set yrange [0:*]
plot $(join_plots "${throughput[@]}")

set title "Latency of the successful operations (p50 solid, p99 dashed)"
set ylabel "µs (log scale)"
set yrange [*:*]
set logscale y 10
plot $(join_plots "${latency[@]}")
unset multiplot
GP
echo "bench-plot: wrote $out" >&2
