#!/usr/bin/env bash
# Starts a PostgreSQL primary and streaming replica with TLS (tools/clusters/pg-replica.sh)
# in a temp folder, runs the replica/TLS/auth test program against them, and stops both,
# also when the test fails or is interrupted. A missing server package fails the test.
#   db_pg_replica.sh TEST_PROGRAM SOURCE_DIR
set -euo pipefail
prog=${1:?usage: db_pg_replica.sh TEST_PROGRAM SOURCE_DIR}
src=${2:?usage: db_pg_replica.sh TEST_PROGRAM SOURCE_DIR}
ctl=$src/tools/clusters/pg-replica.sh
dir=$(mktemp -d /tmp/imi-pg-replica.XXXXXX)
chmod 755 "$dir"
cleanup() {
    bash "$ctl" stop "$dir/cluster" || echo "db_pg_replica: stopping the cluster failed" >&2
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
bash "$ctl" start "$dir/cluster"
eval "$(bash "$ctl" env "$dir/cluster")"
export IMI_PG_CLUSTER=$ctl IMI_PG_CLUSTER_DIR=$dir/cluster
"$prog" --jobs 1
