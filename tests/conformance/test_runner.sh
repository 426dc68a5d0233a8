#!/usr/bin/env bash
# Tests of `imi conformance` itself, on drivers broken on purpose (bad_drivers/):
#  - crash_get segfaults in set_get_del_miss: that case fails "killed by SIGSEGV";
#  - hang_ping never returns from ping: the two cases that ping a live handle,
#    open_ping_close_twice and canceled_and_expired_ctx, fail "timed out after 3 s" and
#    their processes are killed;
# and in both runs every other case still runs and passes, the closing line counts them
# all, the exit code is 1 and --junit writes well-formed XML with one testcase per case.
# The contract cases (open_fails_cleanly, required_slot_null_refused) judge the core, not
# the driver under test: they may pass or fail here, and are checked by the conformance.*
# tests.
# usage: test_runner.sh IMI BAD_DRIVER_DIR
set -u
imi=$1 bad=$2
export IMI_CONF_BAD_DRIVERS=$bad
work=$(mktemp -d "${TMPDIR:-/tmp}/imi-conf-runner-XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
command -v xmllint >/dev/null || { echo "xmllint is missing (tools/deps.sh installs libxml2-utils)"; exit 1; }
contract='^(open_fails_cleanly|required_slot_null_refused)$'

# The case list, from a driver that passes them all.
"$imi" conformance cache mem > "$work/mem.out" 2>&1
cases=$(awk '$1 == "ok" || $1 == "FAIL" { print $2 }' "$work/mem.out")
n=$(echo "$cases" | wc -l)
[ "$n" -ge 10 ] || fail "cache mem ran only $n cases: $(cat "$work/mem.out")"

# check DRIVER "EXPECTED_CASES" EXPECTED_MESSAGE MAX_SECONDS
check() {
    local driver=$1 want_cases=$2 want_msg=$3 max_s=$4 want_case
    local out=$work/$driver.out xml=$work/$driver.xml t0 t1 rc
    t0=$(date +%s)
    "$imi" conformance cache "$bad/imi_cache_$driver.so" --timeout 3 --junit "$xml" \
        > "$out" 2> "$work/$driver.err"
    rc=$?
    t1=$(date +%s)
    [ "$rc" = 1 ] || fail "$driver: exit code $rc, expected 1"
    [ $((t1 - t0)) -le "$max_s" ] || fail "$driver: took $((t1 - t0)) s (a case was not killed?)"
    for want_case in $want_cases; do
        grep -Eq "^FAIL +$want_case +$want_msg\$" "$out" || \
            fail "$driver: no 'FAIL $want_case $want_msg' line in: $(cat "$out")"
    done
    for c in $cases; do
        [[ " $want_cases " == *" $c "* ]] && continue
        [[ $c =~ $contract ]] && continue
        grep -Eq "^ok +$c " "$out" || fail "$driver: case $c did not run and pass: $(grep -E " $c " "$out")"
    done
    local passed failed
    read -r passed failed < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$out")
    [ "$(tail -n 1 "$out" | grep -Ec '^[0-9]+ passed, [0-9]+ failed$')" = 1 ] || \
        fail "$driver: the last line is not 'N passed, M failed': $(tail -n 1 "$out")"
    [ "$((${passed:-0} + ${failed:-0}))" = "$n" ] || \
        fail "$driver: $passed passed + $failed failed is not the $n cases"
    xmllint --noout "$xml" || fail "$driver: the JUnit report is not well-formed XML"
    [ "$(xmllint --xpath 'count(//testsuite/testcase)' "$xml")" = "$n" ] || \
        fail "$driver: the JUnit report does not hold $n testcases"
    for want_case in $want_cases; do
        [ "$(xmllint --xpath "string(//testcase[@name='$want_case']/failure/@message)" "$xml")" \
            = "$want_msg" ] || fail "$driver: the JUnit failure of $want_case is not '$want_msg'"
    done
    [ "$(xmllint --xpath 'count(//testcase/failure)' "$xml")" = "${failed:-x}" ] || \
        fail "$driver: the JUnit failures do not match the $failed failed cases"
}

# Under AddressSanitizer the child's SIGSEGV would be turned into a report and exit 1: let
# the signal through, as in a plain build, so the runner's report of a real crash is checked.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0"
check crash_get set_get_del_miss "killed by SIGSEGV" 150
check hang_ping "open_ping_close_twice canceled_and_expired_ctx" "timed out after 3 s" 150

# --case runs that one case alone; an unknown case name is an error that lists them.
"$imi" conformance cache "$bad/imi_cache_crash_get.so" --case set_get_del_miss > "$work/one.out" 2>&1
[ "$(grep -Ec '^(ok|FAIL) ' "$work/one.out")" = 1 ] || fail "--case ran: $(cat "$work/one.out")"
grep -q '^0 passed, 1 failed$' "$work/one.out" || fail "--case: $(cat "$work/one.out")"
"$imi" conformance cache mem --case set_get > "$work/none.out" 2>&1 && fail "--case set_get (a prefix) passed"
grep -q "no case 'set_get'" "$work/none.out" || fail "--case set_get: $(cat "$work/none.out")"

# Without -c, db sqlite runs on its built-in config, on files in a temporary folder that
# is gone afterwards.
if "$imi" drivers 2>/dev/null | grep -q sqlite; then
    mkdir -p "$work/tmp"
    TMPDIR=$work/tmp "$imi" conformance db sqlite > "$work/sqlite.out" 2>&1
    bad=$(grep '^FAIL' "$work/sqlite.out" | awk '{ print $2 }' | grep -Ev "$contract")
    [ -z "$bad" ] || fail "db sqlite without -c failed: $bad"
    [ "$(grep -c '^ok ' "$work/sqlite.out")" -ge 10 ] || fail "db sqlite without -c: $(cat "$work/sqlite.out")"
    [ -z "$(ls -A "$work/tmp")" ] || fail "db sqlite without -c left $(ls -A "$work/tmp")"
fi

# A driver that needs options, run without -c, names them in one line.
if "$imi" drivers 2>/dev/null | grep -q postgres; then
    "$imi" conformance db postgres > "$work/pg.out" 2>&1 && fail "db postgres without -c passed"
    grep -q "needs option writer.*pass -c FILE" "$work/pg.out" || fail "db postgres: $(cat "$work/pg.out")"
fi

[ "$failures" = 0 ] && echo "runner tests passed" || echo "$failures runner checks failed"
[ "$failures" = 0 ]
