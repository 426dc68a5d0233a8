#!/usr/bin/env bash
# A message published with `imi mq pub` on Kafka reads back through kcat with key and value
# intact, and one produced by kcat is consumed by `imi mq sub`.
#   mq_kcat_interop.sh PATH/TO/imi      (needs IMI_KAFKA_BOOTSTRAP, kcat)
set -euo pipefail
imi=$1
: "${IMI_KAFKA_BOOTSTRAP:?run tools/services.sh start kafka and eval its env}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/mq.ini" <<INI
[log]
level = error
[mq]
driver = kafka
brokers = $IMI_KAFKA_BOOTSTRAP
timeout = 30s
INI
run=$$-$RANDOM
t1=interop-imi-to-kcat-$run
t2=interop-kcat-to-imi-$run
fail() { echo "FAIL: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

"$imi" mq -c "$tmp/mq.ini" pub "$t1" 'hello from imi' --key 'user:42' || fail "imi mq pub"
got=$(kcat -C -b "$IMI_KAFKA_BOOTSTRAP" -t "$t1" -o beginning -c 1 -e -q -f '%k|%s\n' 2>/dev/null)
[ "$got" = 'user:42|hello from imi' ] || fail "kcat read '$got'"

printf 'user:7|hello from kcat\n' | kcat -P -b "$IMI_KAFKA_BOOTSTRAP" -t "$t2" -K '|' \
    || fail "kcat produce"
got=$("$imi" mq -c "$tmp/mq.ini" sub "$t2" --group interop --count 1 --timeout 30 --print-key) \
    || fail "imi mq sub"
[ "$got" = "$(printf 'user:7\thello from kcat')" ] || fail "imi mq sub printed '$got'"
echo "2 passed, 0 failed"
