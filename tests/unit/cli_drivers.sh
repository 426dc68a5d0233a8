#!/usr/bin/env bash
# imi drivers flags every driver the core would refuse at open, exits 1 for them, and with
# -c also lists the drivers a config names by path.
#   tests/unit/cli_drivers.sh IMI TEST_DRIVER_DIR
set -u
imi=$1 dir=$2
fail() { echo "FAIL: $*"; exit 1; }
out=$(IMI_DRIVER_PATH=$dir "$imi" drivers 2>&1); rc=$?
[ $rc = 1 ] || fail "exit code $rc with refused drivers listed, expected 1"
grep -q "imi_cache_nullget.so" <<<"$out" || fail "nullget not listed"
grep -q "REFUSED at open: required slots NULL: get" <<<"$out" || fail "NULL get not flagged: $out"
grep -q "REFUSED at open: vtable too small" <<<"$out" || fail "small vtable not flagged"
grep -q "REFUSED at open: it advertises 'hash' but these slots are NULL" <<<"$out" \
    || fail "a capability without slots not flagged"
grep -q "name 'othername' is unlike its file name imi_cache_misnamed.so" <<<"$out" \
    || fail "a name unlike its file not flagged"
good=$(grep -A2 "^cache  good " <<<"$out")
grep -q REFUSED <<<"$good" && fail "the good driver was flagged: $good"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$dir/imi_cache_good.so" "$tmp/my_cache.so"
printf '[cache]\ndriver = ./my_cache.so\naddr = x\n' >"$tmp/app.ini"
out=$("$imi" drivers -c "$tmp/app.ini" 2>&1); rc=$?
grep -q "$tmp/my_cache.so" <<<"$out" || fail "-c did not list the driver configured by path: $out"
echo "ok: imi drivers flags refused drivers and lists configured paths"
