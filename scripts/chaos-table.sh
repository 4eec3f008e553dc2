#!/usr/bin/env bash
# The table of docs/reliability.md from a chaos matrix's results.tsv
# (scripts/chaos-matrix.sh): one row per fault and R=W, sums over the seeds,
# the largest convergence time (from the last heal until every replica
# agreed, where the run recorded it; else from the check's start) and
# sibling count, and how many runs failed
# their check or could not be run.
#
#   scripts/chaos-table.sh chaos-out/matrix/results.tsv > table.md
set -euo pipefail
results=${1:?usage: chaos-table.sh RESULTS.tsv}
[ -f "$results" ] || { echo "chaos-table: $results not found" >&2; exit 2; }
awk -F'\t' '
  NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
  function v(name) { return (name in col) ? $col[name] : "" }
  { k = v("fault") "\t" v("rw")
    if (!(k in seen)) { order[++m] = k; seen[k] = 1 }
    verdict = v("verdict")
    if (verdict == "") verdict = (v("passed") == "true") ? "pass" : "fail"
    if (verdict == "unsupported") { unsup[k] = 1; next }
    runs[k]++
    if (verdict != "pass") bad[k]++
    ops[k] += v("invoked"); acked[k] += v("acked"); lost[k] += v("lost")
    unexp[k] += v("unexpected"); rec[k] += v("recovered")
    res[k] += v("resurrected"); fp[k] += v("failed_present")
    div[k] += v("divergent"); unch[k] += v("unchecked")
    c = v("converge_since_heal_seconds"); if (c == "") c = v("converge_seconds")
    if (c == "") c = v("converge_s")
    if (c + 0 > conv[k]) conv[k] = c + 0
    if (v("max_siblings") + 0 > sib[k]) sib[k] = v("max_siblings") + 0 }
  END {
    print "| fault | R=W | seeds | ops | acked | lost | unexpected | resurrected | failed but present | divergent | unchecked | recovered | converge after heal (max s) | max siblings | failed runs |"
    print "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    for (i = 1; i <= m; i++) { k = order[i]; split(k, p, "\t")
      if (k in unsup && !(k in runs)) {
        printf "| %s | %s | not possible on this kernel (no NFQUEUE or TEE) | | | | | | | | | | | | |\n", p[1], p[2]
        continue }
      printf "| %s | %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %.1f | %d | %d |\n",
        p[1], p[2], runs[k], ops[k], acked[k], lost[k], unexp[k], res[k], fp[k], div[k], unch[k],
        rec[k], conv[k], sib[k], bad[k] + 0 } }
' "$results"
