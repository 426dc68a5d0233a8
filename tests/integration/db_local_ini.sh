#!/usr/bin/env bash
# config/local.ini's reader reads what its writer wrote: a row written with `imi db exec`
# is read back by `imi db query` without --writer (a reader). Usage: db_local_ini.sh IMI
# SOURCE_DIR (needs tools/services.sh start postgres and its env).
set -u
imi=$1 cfg=$2/config/local.ini t=imi_local_$$
fail() { echo "FAIL: $*"; exit 1; }
q() { "$imi" db -c "$cfg" "$@" 2>&1; }
out=$(q exec "CREATE TABLE $t (id BIGINT PRIMARY KEY, s TEXT)") || fail "create: $out"
trap '"$imi" db -c "$cfg" exec "DROP TABLE $t" >/dev/null 2>&1' EXIT
out=$(q exec "INSERT INTO $t (id, s) VALUES (?, ?)" 1 written) || fail "insert: $out"
out=$(q query "SELECT s FROM $t WHERE id = ?" 1) || fail "read through the reader: $out"
[ "$(tail -n 1 <<<"$out")" = written ] || fail "the reader did not see the row: $out"
echo "db_local_ini: ok"
