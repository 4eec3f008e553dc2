#!/usr/bin/env bash
# Draws docs/membership.png from swimsim's CSV (gnuplot, from Debian's
# gnuplot-nox). Regenerate the figure with:
#   build/swimsim --csv=/tmp/swimsim.csv > /tmp/swimsim.md
#   scripts/membership-plot.sh /tmp/swimsim.csv docs/membership.png
set -euo pipefail
csv=${1:?usage: membership-plot.sh SWIMSIM.csv OUT.png}
out=${2:?usage: membership-plot.sh SWIMSIM.csv OUT.png}
command -v gnuplot >/dev/null || { echo "membership-plot: needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 2; }

gnuplot <<GP
set terminal pngcairo size 2000,500 font "sans,11"
set output "$out"
set datafile separator ","
set key top left
set grid
set logscale x 2
set xlabel "cluster size N"
set xtics (16, 64, 256, 1024, 4096)
set xrange [12:5500]
set multiplot layout 1,4 title "rumor membership (SWIM + Lifeguard), simulated; times in probe periods"

set title "Dissemination to every live node"
set ylabel "periods"
plot "$csv" every ::1 using 1:2 with linespoints lw 2 pt 7 title "new member known by all (mean)", \
     "" every ::1 using 1:3 with points pt 6 ps 1.5 title "new member (max)", \
     "" every ::1 using 1:8 with linespoints lw 2 pt 5 title "Dead spread to all (mean)", \
     "" every ::1 using 1:4 with lines lw 2 dt 2 lc rgb "red" title "target 3 log2 N"

set title "Crash detection"
set key bottom right
set ylabel "periods"
set yrange [0:*]
plot "$csv" every ::1 using 1:5 with linespoints lw 2 pt 7 title "first detection (mean)", \
     "" every ::1 using 1:6 with points pt 6 ps 1.5 title "first detection (max)", \
     2 with lines lw 2 dt 2 lc rgb "red" title "target: mean < 2", \
     1.582 with lines lw 2 dt 3 lc rgb "#555555" title "SWIM analysis 1/(1-1/e)"

set key top left
set title "Healthy nodes declared Dead in 1000 periods\n(10% of nodes slowed; no runs at 4096)"
set ylabel "nodes (log scale, 0 drawn at 0.1)"
set logscale y 10
set yrange [0.05:*]
plot "$csv" every ::1 using 1:(\$13 > 0 ? \$13 : 0.1) with linespoints lw 2 pt 7 title "Lifeguard, 5% loss", \
     "" every ::1 using 1:(\$15 > 0 ? \$15 : 0.1) with linespoints lw 2 pt 5 title "Lifeguard, 10% loss", \
     "" every ::1 using 1:14 with linespoints lw 2 pt 6 dt 2 title "SWIM, 5% loss", \
     "" every ::1 using 1:16 with linespoints lw 2 pt 4 dt 2 title "SWIM, 10% loss"

# Bytes per node per period with full-state push-pull, as measured with the
# same command and seed at commit d8e9223, before digests.
\$fullstate << EOD
16 723
64 2817
256 10773
1024 40128
4096 164803
EOD
unset logscale y
set key top left
set title "Membership bytes per node per period"
set ylabel "bytes (log scale)"
set logscale y 10
set yrange [100:300000]
set datafile separator whitespace
plot \$fullstate using 1:2 with linespoints lw 2 pt 6 dt 2 title "full-state push-pull (before)", \
     "< tr ',' ' ' < $csv" every ::1 using 1:12 with linespoints lw 2 pt 7 title "digest push-pull (now)"
unset multiplot
GP
echo "membership-plot: wrote $out" >&2
