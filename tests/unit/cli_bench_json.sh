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
# Out-of-range options are refused with exit 2 and the range, before any bench runs
# (--threads 100000 overran the benches' thread arrays).
for bad in "cache --threads 100000:--threads takes 1 to 64" "log --ops 99999999999999999999:--ops takes 1 to" \
           "log --rounds 4:--rounds takes 5 to 64" "log --threads 2x:--threads takes 1 to 64"; do
    args=${bad%%:*} want=${bad#*:}
    rc=0
    # shellcheck disable=SC2086
    "$imi" bench $args -c "$config" > "$tmp/bad.out" 2>&1 || rc=$?
    [ "$rc" = 2 ] || fail "imi bench $args: exit $rc, not 2: $(head -3 "$tmp/bad.out")"
    grep -q -- "$want" "$tmp/bad.out" || fail "imi bench $args does not say '$want': $(head -3 "$tmp/bad.out")"
done
echo "ok: $n JSON lines"
