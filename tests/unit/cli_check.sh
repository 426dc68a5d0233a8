#!/usr/bin/env bash
# imi check runs each component in a child: a driver that crashes or hangs in its open
# fails that component only, and the others are still checked. imi db query fails on a
# value a driver cannot hand over instead of printing an empty cell.
#   tests/unit/cli_check.sh IMI TEST_DRIVER_DIR
set -u
imi=$1 dir=$(cd "$2" && pwd)
fail() { echo "FAIL: $*"; exit 1; }
# Under AddressSanitizer the driver's SIGSEGV would become a report and an exit: let the
# signal through, as in a plain build.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/app.ini" <<INI
[log]
level = error
[cache]
driver = $dir/imi_cache_opencrashes.so
addr = x
[cache.hangs]
driver = $dir/imi_cache_openhangs.so
addr = x
[cache.fine]
driver = mem
INI
start=$SECONDS
out=$(timeout 60 "$imi" check -c "$tmp/app.ini" --timeout 2 2>&1); rc=$?
echo "$out"
[ $rc = 1 ] || fail "exit code $rc, expected 1"
grep -q "FAIL \[cache\] the driver crashed during open or ping: killed by SEGV" <<<"$out" \
    || fail "the crash was not reported as SIGSEGV"
grep -q "FAIL \[cache.hangs\] open + ping timed out after 2 s" <<<"$out" || fail "the hang was not reported"
grep -q "ok   \[cache.fine\] driver mem" <<<"$out" || fail "the good component was not checked"
grep -q "3 component(s) checked, 2 failed" <<<"$out" || fail "wrong summary"
[ $((SECONDS - start)) -lt 30 ] || fail "took $((SECONDS - start)) s"

printf '[log]\nlevel = off\n[db]\ndriver = liar\ndriver_path = %s\nlie = null_text\n' "$dir" \
    >"$tmp/liar.ini"
out=$("$imi" db -c "$tmp/liar.ini" query --json "SELECT v" 2>&1); rc=$?
echo "$out"
[ $rc = 1 ] || fail "imi db query on a broken value: exit code $rc, expected 1"
grep -q "driver liar: column 0 is 5 bytes at NULL (IMI_EDRIVER)" <<<"$out" \
    || fail "imi db query did not name the broken value"
echo "ok: imi check isolates crashing and hanging drivers; imi db query refuses a broken value"
