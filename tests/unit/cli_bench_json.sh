#!/usr/bin/env bash
# imi bench all --json: stdout is JSON lines only (progress, counters and the summary go
# to stderr), and every comparison line has the fields docs/performance.md lists.
#   cli_bench_json.sh IMI CONFIG
set -euo pipefail
imi=$1 config=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$imi" bench all -c "$config" --json --ops 2000 --rounds 5 > "$tmp/out" 2> "$tmp/err" ||
    fail "imi bench all failed: $(tail -5 "$tmp/err")"
n=0
while IFS= read -r line; do
    n=$((n + 1))
    [ -n "$line" ] || fail "line $n is empty"
    jq -e 'type == "object"' <<<"$line" > /dev/null 2>&1 || fail "line $n is not a JSON object: $line"
done < "$tmp/out"
[ "$n" -ge 10 ] || fail "only $n lines"
# A comparison carries a ratio; each has every documented field.
missing=$(jq -c 'select(has("ratio")) | select([
    "bench","driver","case","threads","unit","im_infra","baseline","baseline_name",
    "ratio","ratio_min","ratio_max","rounds"] - keys | length > 0)' "$tmp/out")
[ -z "$missing" ] || fail "comparison lines without a documented field: $missing"
for want in '.bench == "log" and has("ns_per_line")' '.bench == "uid" and has("ids_per_s")' \
            '.bench == "mq" and .driver == "mem" and .baseline_name == "mutex queue"'; do
    [ "$(jq -c "select($want)" "$tmp/out" | wc -l)" -ge 1 ] || fail "no line with $want"
done
grep -q '^summary: ' "$tmp/err" || fail "no summary table on stderr"
echo "ok: $n JSON lines"
