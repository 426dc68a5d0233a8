#!/usr/bin/env bash
# imi cache against redis-cli on the same server: what one writes the other reads, with
# the instance's prefix in front of the key. Needs tools/services.sh start redis.
set -euo pipefail
imi=$1
port=${IMI_REDIS_PORT:-16379}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/interop.ini" <<INI
[log]
level = warn
[cache]
driver = redis
addr = 127.0.0.1:$port
prefix = interop:
INI
key="k-$$-$RANDOM"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$imi" cache -c "$dir/interop.ini" set "$key" "written by imi" --ttl 60
got=$(redis-cli -p "$port" --raw GET "interop:$key")
[ "$got" = "written by imi" ] || fail "redis-cli read '$got'"
ttl=$(redis-cli -p "$port" TTL "interop:$key")
[ "$ttl" -gt 50 ] && [ "$ttl" -le 60 ] || fail "redis-cli sees ttl $ttl"

redis-cli -p "$port" SET "interop:$key" "written by redis-cli" >/dev/null
got=$("$imi" cache -c "$dir/interop.ini" get "$key")
[ "$got" = "written by redis-cli" ] || fail "imi cache get printed '$got'"
left=$("$imi" cache -c "$dir/interop.ini" ttl "$key")
[ "$left" = "-1" ] || fail "imi cache ttl printed '$left' for a key without ttl"

"$imi" cache -c "$dir/interop.ini" del "$key"
[ "$(redis-cli -p "$port" EXISTS "interop:$key")" = 0 ] || fail "key still there after imi cache del"
set +e
"$imi" cache -c "$dir/interop.ini" get "$key" 2>/dev/null
rc=$?
set -e
[ $rc = 3 ] || fail "a miss exited $rc, not 3"
echo "ok: imi cache and redis-cli agree"
