#!/usr/bin/env bash
# Runs the conformance suites of the drivers built against the frozen ABI 1.0 headers
# with the imi of BUILD (a 1.0 core, or one built with IMI_ABI_NEXT_TEST=ON that
# simulates the next minor). With OTHER_BUILD, also checks that OTHER_BUILD's in-tree
# drivers (built for the next minor) are refused by BUILD's older core.
#   tests/abi/run.sh BUILD [OTHER_BUILD]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "$1" && pwd)
imi=$build/tools/imi
conf=$here/../conformance/configs
abi=$($imi version | sed -n 's/.*driver ABI \([0-9.]*\).*/\1/p')
echo "abi: core $($imi version | head -1), driver ABI ${abi:-?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
run() { # KIND DRIVER CONFIG
    echo "== $1 $(basename "$2") (built against ABI 1.0) on a core of ABI ${abi:-?}"
    if ! IMI_DB_DIR=$tmp "$imi" conformance "$1" "$2" -c "$3" >"$tmp/out" 2>&1; then
        cat "$tmp/out"; echo "FAIL: $1 $2"; fail=1
    else
        tail -n 1 "$tmp/out"
    fi
}
run cache "$build/abi_v1_0/imi_cache_example.so" "$here/../../examples/driver-cache-example/example.ini"
run mq "$build/abi_v1_0/imi_mq_mem.so" "$conf/mq_mem.ini"
run coord "$build/abi_v1_0/imi_coord_mem.so" "$conf/coord_mem.ini"
if [ -f "$build/abi_v1_0/imi_db_sqlite.so" ]; then
    touch "$tmp/imi-conf-reader.db"
    run db "$build/abi_v1_0/imi_db_sqlite.so" "$conf/db_sqlite.ini"
fi
if [ $# -ge 2 ]; then
    newer=$(cd "$2" && pwd)/drivers/imi_cache_mem.so
    echo "== a driver of a newer minor ($newer) on this core"
    if "$imi" conformance cache "$newer" --case ping >"$tmp/out" 2>&1; then
        cat "$tmp/out"; echo "FAIL: a driver of a newer minor was accepted"; fail=1
    elif grep -qE "ABI minor [0-9]+ is newer than the core's ${abi#*.}" "$tmp/out"; then
        echo "refused: $(grep -oE "ABI minor [0-9]+ is newer than the core's ${abi#*.}" "$tmp/out" | head -1)"
    else
        cat "$tmp/out"; echo "FAIL: the refusal does not name the ABI minor"; fail=1
    fi
fi
[ $fail = 0 ] && echo "abi: all passed"
exit $fail
