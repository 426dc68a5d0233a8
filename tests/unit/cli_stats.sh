#!/usr/bin/env bash
# imi stats: prints the metrics of the configured components once or --count times,
# refuses bad arguments with exit 2, and a component that fails to open with exit 1.
#   cli_stats.sh IMI
set -euo pipefail
imi=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
printf '[log]\nlevel = off\n[cache.sessions]\ndriver = mem\n[mq]\ndriver = mem\n' > "$tmp/ok.ini"

"$imi" stats -c "$tmp/ok.ini" > "$tmp/out"
grep -q '^imi_cache_hits_total{instance="sessions",driver="mem"} 0$' "$tmp/out" || fail "no cache series: $(cat "$tmp/out")"
grep -q '^imi_mq_published_total{instance="default",driver="mem"} 0$' "$tmp/out" || fail "no mq series"
[ "$(grep -c '^# TYPE imi_cache_calls_total counter$' "$tmp/out")" = 1 ] || fail "one exposition expected"

"$imi" stats -c "$tmp/ok.ini" --watch 20ms --count 3 > "$tmp/out"
[ "$(grep -c '^# imi stats ' "$tmp/out")" = 3 ] || fail "--count 3 printed $(grep -c '^# imi stats ' "$tmp/out") times"

for args in "--watch 5x" "--watch 1ms" "--count 3" "--markdown" "--count 0 --watch 1s" "extra"; do
    set +e
    # shellcheck disable=SC2086
    "$imi" stats -c "$tmp/ok.ini" $args > /dev/null 2> "$tmp/err"
    rc=$?
    set -e
    [ "$rc" = 2 ] || fail "imi stats $args: exit $rc, want 2"
    grep -q '^imi stats: ' "$tmp/err" || fail "imi stats $args: no clear message: $(cat "$tmp/err")"
done

printf '[log]\nlevel = off\n[cache]\ndriver = nosuchdriver\n[mq]\ndriver = mem\n' > "$tmp/bad.ini"
set +e
"$imi" stats -c "$tmp/bad.ini" > "$tmp/out" 2> "$tmp/err"
rc=$?
set -e
[ "$rc" = 1 ] || fail "a component that fails to open: exit $rc, want 1"
grep -q '\[cache\] open' "$tmp/err" || fail "the failure does not name [cache]: $(cat "$tmp/err")"
grep -q '^imi_mq_published_total' "$tmp/out" || fail "the other components are still shown"
echo "ok   imi stats: one-shot, --watch/--count, usage errors, a failed component"
