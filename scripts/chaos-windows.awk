# A chaos run's fault windows (nemesis.jsonl from scripts/chaos-run.sh) as
# gnuplot rectangles, in seconds since the run's start:
#   awk -v start=START_UNIX_MS -f scripts/chaos-windows.awk nemesis.jsonl
{ ms = $0; sub(/.*"unix_ms":/, "", ms); sub(/,.*/, "", ms)
  f = $0; sub(/.*"f":"/, "", f); sub(/".*/, "", f)
  t = (ms - start) / 1000
  if (f == "start") from = t
  else if (f == "stop" && from != "") {
    n++
    printf "set object %d rect from %.2f, graph 0 to %.2f, graph 1 fc rgb \"#f4cccc\" fs solid 0.6 noborder behind\n", n, from, t
    from = "" } }
