#!/usr/bin/env bash
# Rows written with `imi db exec` are read back by psql and by the mariadb client, and rows
# the clients write are read by `imi db query`. Usage: db_interop.sh IMI SOURCE_DIR
# (needs tools/services.sh start postgres mariadb).
set -euo pipefail
imi=$1
src=$2
t=imi_interop_$$
fail() { echo "FAIL: $*" >&2; exit 1; }

export PGPASSWORD=imi
psql_q() { psql -X -q -t -A -h 127.0.0.1 -p "${IMI_PG_PORT:-15432}" -U imi -d imi_test -c "$1"; }
maria_q() { mariadb --no-defaults -h 127.0.0.1 -P "${IMI_MYSQL_PORT:-13306}" -uimi -pimi -N -B imi_test -e "$1"; }

check() {   # name config reader-function blob-type
    local name=$1 cfg="$src/tests/conformance/configs/$2" q=$3
    "$imi" db -c "$cfg" exec "CREATE TABLE $t (id BIGINT PRIMARY KEY, s VARCHAR(100), d DOUBLE PRECISION, f BOOLEAN)" >/dev/null
    trap '"$imi" db -c "$cfg" exec "DROP TABLE $t" >/dev/null 2>&1 || true' RETURN
    "$imi" db -c "$cfg" exec "INSERT INTO $t (id, s, d, f) VALUES (?, ?, ?, ?)" 1 "héllo 'wörld' ?" 2.5 true >/dev/null
    "$imi" db -c "$cfg" exec "INSERT INTO $t (id, s, d, f) VALUES (?, ?, ?, ?)" 2 null -1e-3 false >/dev/null
    local got
    got=$($q "SELECT s FROM $t WHERE id = 1")
    [ "$got" = "héllo 'wörld' ?" ] || fail "$name read back '$got'"
    got=$($q "SELECT count(*) FROM $t WHERE s IS NULL AND d < 0")
    [ "$got" = "1" ] || fail "$name: NULL and negative double row not found ('$got')"
    $q "INSERT INTO $t (id, s, d, f) VALUES (3, 'from the client', 0.5, true)" >/dev/null
    got=$("$imi" db -c "$cfg" query --writer "SELECT s FROM $t WHERE id = ?" 3 | tail -n 1)
    [ "$got" = "from the client" ] || fail "$name: imi read '$got'"
    if [ "$name" = mariadb ]; then   # `#` comments: the `?` and the quote in one are text
        got=$("$imi" db -c "$cfg" query --writer "SELECT s FROM $t WHERE id = ? # the row's id?" 3 | tail -n 1)
        [ "$got" = "from the client" ] || fail "$name: with a # comment imi read '$got'"
    fi
    echo "ok $name"
}

check postgres db_postgres.ini psql_q
check mariadb db_mysql.ini maria_q
