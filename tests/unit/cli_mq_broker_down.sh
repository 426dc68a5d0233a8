#!/usr/bin/env bash
# imi mq pub with the broker down exits soon after its publish timeout: close does not
# wait close_timeout for a message whose publish already reported failure.
#   tests/unit/cli_mq_broker_down.sh IMI
set -u
imi=$(realpath "$1")
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Port 1 on loopback: nothing listens, every connect is refused at once.
printf '[log]\nlevel = off\n[mq]\ndriver = kafka\nbrokers = 127.0.0.1:1\ntimeout = 2s\nclose_timeout = 20s\n' \
    >"$tmp/down.ini"
start=$(date +%s%N)
err=$(timeout 60 "$imi" mq -c "$tmp/down.ini" pub orders hello 2>&1); rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "$err"
echo "exit $rc after $ms ms"
[ $rc = 1 ] || fail "exit code $rc, expected 1"
grep -q "IMI_ETIMEDOUT" <<<"$err" || fail "not reported as a timeout"
# 2 s of publish timeout; the driver's own close takes about 1 s more. Waiting
# close_timeout (20 s) on top is the bug.
[ "$ms" -lt 5000 ] || fail "took $ms ms with a 2 s timeout"
echo "cli_mq_broker_down: ok"
