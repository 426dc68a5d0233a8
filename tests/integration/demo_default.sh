#!/usr/bin/env bash
# imi demo on config/default.ini, as tools/demo.sh runs it on a new machine: exit 0 within
# 15 s, and each part printing what it did (no servers: mem drivers and SQLite).
set -euo pipefail
imi=$1
src=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() {
    echo "FAIL: $*" >&2
    echo "--- stdout" >&2; cat "$dir/out" >&2
    echo "--- stderr" >&2; cat "$dir/err" >&2
    exit 1
}

start=$SECONDS
rc=0
IMI_DATA_DIR=$dir timeout 60 "$imi" demo -c "$src/config/default.ini" >"$dir/out" 2>"$dir/err" || rc=$?
took=$((SECONDS - start))
[ "$rc" -eq 0 ] || fail "imi demo exited $rc"
[ "$took" -lt 15 ] || fail "imi demo took ${took}s"

expect() {
    grep -Eq -- "$1" "$dir/out" || fail "no line matching '$1' in the output"
}
expect '^== clog$'
expect '^== coord$'
expect '^     discovered gw-2 at 127\.0\.0\.1:7002$'
expect '^     resolve -> 127\.0\.0\.1:7002$'
expect '^     rev [0-9]+ +PUT +config/im-gateway/max_conns = 250 \(version 2\)$'
expect '^     rev [0-9]+ +DELETE config/im-gateway/max_conns$'
expect 'holder B tries it too -> IMI_ECONFLICT$'
expect '^== mq$'
expect 'key=poison attempt=3 trace=trace-order-1004 .* -> handler failed'
expect '^   dead-letter topic demo\.orders\.dlq received key=poison trace=trace-order-1004'
expect 'imi-dlq-attempts=3 imi-dlq-error=IMI_EINVALID$'
expect '^== db$'
expect "^   rows named mallory after the rollback: 0$"
expect '^     id=3 name=carol +email=carol@example\.com +karma=3\.00 active=true$'
expect '^== cache$'
expect 'get session:alice -> IMI_ENOTFOUND \(expired\)$'
expect '^== uid$'
expect '^6 of 6 parts ran cleanly$'
! grep -q 'FAILED' "$dir/out" || fail "a part failed"
grep -q 'user logged in' "$dir/err" || fail "no clog line on stderr"
[ -f "$dir/imi-default.db" ] || fail "the SQLite file is not under IMI_DATA_DIR"
echo "imi demo ran cleanly in ${took}s"
