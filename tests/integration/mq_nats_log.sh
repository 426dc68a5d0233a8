#!/usr/bin/env bash
# nats.c's connection events reach the host log (clog's format, logger "mq"), not stderr
# raw or nowhere: a NATS restart under a subscriber logs one disconnect and one reconnect
# per connection, and closing logs no disconnect. Usage: mq_nats_log.sh IMI SOURCE_DIR
# (needs tools/services.sh start nats; the test restarts it through the same script).
set -u
imi=$1 src=$2
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
sub=
trap '[ -n "$sub" ] && kill "$sub" 2>/dev/null; bash "$src/tools/services.sh" start nats >/dev/null 2>&1; rm -rf "$tmp"' EXIT
printf '[log]\nlevel = info\nformat = console\n[mq]\ndriver = nats\nurl = nats://127.0.0.1:%s\nreconnect_wait = 100ms\n' \
    "${IMI_NATS_PORT:-14222}" >"$tmp/nats.ini"
timeout 30 "$imi" mq -c "$tmp/nats.ini" sub imi.log.t --group g --timeout 5 >"$tmp/out" 2>"$tmp/err" &
sub=$!
sleep 1.5
bash "$src/tools/services.sh" stop nats || fail "stopping nats"
sleep 0.5
bash "$src/tools/services.sh" start nats || fail "starting nats again"
wait "$sub"
sub=
cat "$tmp/err"
grep -qE 'WARN +\[mq\] nats: disconnected; reconnecting' "$tmp/err" || fail "no disconnect line"
grep -qE 'INFO +\[mq\] nats: reconnected to nats://127.0.0.1' "$tmp/err" || fail "no reconnect line"
downs=$(grep -c 'disconnected' "$tmp/err")
ups=$(grep -c 'reconnected' "$tmp/err")
[ "$downs" = "$ups" ] || fail "$downs disconnects for $ups reconnects: closing logged one"
echo "mq_nats_log: ok"
