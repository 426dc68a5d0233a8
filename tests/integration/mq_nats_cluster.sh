#!/usr/bin/env bash
# Starts NATS topologies with tools/clusters/nats.sh on their own ports and folder, runs
# the test programs against them, and stops every server even on failure.
#   mq_nats_cluster.sh SOURCE_DIR "TOPOLOGY..." PROGRAM...
set -euo pipefail
src=$1 topologies=$2
shift 2
ctl="bash $src/tools/clusters/nats.sh"
export IMI_CLUSTER_DIR
IMI_CLUSTER_DIR=$(mktemp -d /tmp/imi-nats-it.XXXXXX)
trap '$ctl stop; rm -rf "$IMI_CLUSTER_DIR"' EXIT
# shellcheck disable=SC2086
$ctl start $topologies
eval "$($ctl env)"
export IMI_NATS_CLUSTER_CTL=$ctl
status=0
for prog in "$@"; do
    "$prog" --jobs 1 || status=1
done
exit $status
