#!/usr/bin/env bash
# Starts the 3-broker Kafka mock cluster with tools/clusters/kafka.sh in a temp folder,
# runs the test program against it, and stops the cluster even on failure.
#   mq_kafka_cluster.sh SOURCE_DIR PROGRAM
set -euo pipefail
src=$1 prog=$2
ctl="bash $src/tools/clusters/kafka.sh"
export IMI_CLUSTER_DIR
IMI_CLUSTER_DIR=$(mktemp -d /tmp/imi-kafka-it.XXXXXX)
trap '$ctl stop; rm -rf "$IMI_CLUSTER_DIR"' EXIT
$ctl start
eval "$($ctl env)"
"$prog" --jobs 1
