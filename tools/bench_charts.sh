#!/usr/bin/env bash
# Charts of one benchmark run, drawn from its JSON lines (tools/bench_all.sh OUT.jsonl or
# imi-bench bench ... --json) with gnuplot (Debian: gnuplot-nox) into SVG files:
#   ratio.svg    median ratio im-infra / baseline per comparison, with the min..max bar
#   threads.svg  throughput against threads (cache and db), im-infra and baseline
#   msgsize.svg  end-to-end p50 latency against message size (mq), im-infra and baseline
#
#   tools/bench_charts.sh RUN.jsonl OUT_DIR
set -euo pipefail
in=${1:?usage: tools/bench_charts.sh RUN.jsonl OUT_DIR}
out=${2:?usage: tools/bench_charts.sh RUN.jsonl OUT_DIR}
command -v gnuplot >/dev/null || { echo "bench_charts.sh: gnuplot is not installed" >&2; exit 1; }
command -v jq >/dev/null || { echo "bench_charts.sh: jq is not installed" >&2; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Only the comparison lines (other JSON lines, e.g. the log bench's, are skipped).
jq -c 'select(type == "object" and has("im_infra") and has("rounds"))' "$in" >"$tmp/rows"
[ -s "$tmp/rows" ] || { echo "bench_charts.sh: no comparison lines in $in" >&2; exit 1; }

# ---- ratio per backend ------------------------------------------------------------------
jq -r 'select(.ratio != null) |
       [(.bench + " " + .driver + " " + .case + (if .size then " " + (.size|tostring) + "B" else "" end)
         + (if .threads > 1 then " x" + (.threads|tostring) else "" end)),
        .ratio, .ratio_min, .ratio_max] | @tsv' "$tmp/rows" | tr ' ' '_' >"$tmp/ratio.tsv"
n=$(wc -l <"$tmp/ratio.tsv")
gnuplot <<GP
set terminal svg size 1200,$((400 + n * 4)) dynamic font "sans,10"
set output "$out/ratio.svg"
set datafile separator "\t"
set title "im-infra / baseline, median of alternating rounds (bar: min..max); > 1: im-infra ahead"
set style fill solid 0.5
set boxwidth 0.6
set xtics rotate by -60 noenhanced
set yrange [0:*]
set grid ytics
set key off
plot 0.95 with lines dt 2 lc rgb "red", \
     "$tmp/ratio.tsv" using 0:2:xtic(1) with boxes lc rgb "#4477aa", \
     "" using 0:2:3:4 with yerrorbars lc rgb "black" pt 0
GP

# ---- throughput against threads ---------------------------------------------------------
plots=()
i=0
while IFS=$'\t' read -r bench driver case; do
    jq -r --arg b "$bench" --arg d "$driver" --arg c "$case" \
        'select(.bench == $b and .driver == $d and .case == $c) | [.threads, .im_infra, (.baseline // "NaN")] | @tsv' \
        "$tmp/rows" | sort -n >"$tmp/t$i.tsv"
    if [ "$(wc -l <"$tmp/t$i.tsv")" -gt 1 ]; then
        base=$(jq -r --arg b "$bench" --arg d "$driver" --arg c "$case" \
            'select(.bench == $b and .driver == $d and .case == $c) | .baseline_name // "baseline"' "$tmp/rows" | head -1)
        plots+=("\"$tmp/t$i.tsv\" using 1:2 with linespoints title \"$driver $case: im-infra\"")
        plots+=("\"$tmp/t$i.tsv\" using 1:3 with linespoints dt 2 title \"$driver $case: $base\"")
    fi
    i=$((i + 1))
done < <(jq -r 'select(.bench == "cache" or .bench == "db") | [.bench, .driver, .case] | @tsv' "$tmp/rows" | sort -u)
if [ ${#plots[@]} -gt 0 ]; then
    gnuplot <<GP
set terminal svg size 1000,600 dynamic font "sans,10"
set output "$out/threads.svg"
set datafile separator "\t"
set title "throughput against threads (cache and db), median of alternating rounds"
set xlabel "threads"
set ylabel "operations per second"
set logscale x 2
set logscale y
set grid
set key outside right noenhanced
plot $(IFS=,; echo "${plots[*]}")
GP
fi

# ---- latency against message size -------------------------------------------------------
plots=()
i=0
while read -r driver; do
    jq -r --arg d "$driver" 'select(.bench == "mq" and .driver == $d and .case == "e2e p50") |
        [.size, .im_infra, (.baseline // "NaN")] | @tsv' "$tmp/rows" | sort -n >"$tmp/m$i.tsv"
    if [ -s "$tmp/m$i.tsv" ]; then
        base=$(jq -r --arg d "$driver" 'select(.bench == "mq" and .driver == $d and .case == "e2e p50") |
            .baseline_name // "baseline"' "$tmp/rows" | head -1)
        plots+=("\"$tmp/m$i.tsv\" using 1:2 with linespoints title \"$driver: im-infra\"")
        [ "$base" = null ] || plots+=("\"$tmp/m$i.tsv\" using 1:3 with linespoints dt 2 title \"$driver: $base\"")
    fi
    i=$((i + 1))
done < <(jq -r 'select(.bench == "mq") | .driver' "$tmp/rows" | sort -u)
if [ ${#plots[@]} -gt 0 ]; then
    gnuplot <<GP
set terminal svg size 1000,600 dynamic font "sans,10"
set output "$out/msgsize.svg"
set datafile separator "\t"
set title "mq end-to-end p50 latency against message size, median of alternating rounds"
set xlabel "message bytes"
set ylabel "p50 latency, us"
set logscale x
set logscale y
set grid
set key outside right noenhanced
plot $(IFS=,; echo "${plots[*]}")
GP
fi
ls "$out"/*.svg
