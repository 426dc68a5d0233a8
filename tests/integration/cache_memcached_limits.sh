#!/usr/bin/env bash
# The memcached driver at its limits, on a memcached of its own (port
# $IMI_MEMCACHED_LIMITS_PORT, default 21290; item size 64k): a TTL memcached cannot keep
# (past 2038) and a value larger than max_value or than the server's item size are refused
# with IMI_EINVALID and a message naming the limit; a set that succeeds keeps its key.
# Once the server is gone, calls fail with one clean line: no libmemcached pointer or
# source location.
set -euo pipefail
imi=$1
port=${IMI_MEMCACHED_LIMITS_PORT:-21290}
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v memcached >/dev/null || fail "memcached is not installed (tools/deps.sh installs it)"
dir=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
memcached -l 127.0.0.1 -p "$port" -U 0 -u nobody -I 64k -o slab_chunk_max=16384 >"$dir/mc.log" 2>&1 &
pid=$!
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || fail "memcached did not start: $(cat "$dir/mc.log")"
ini() {
    cat >"$dir/mc.ini" <<INI
[log]
level = off
[cache]
driver = memcached
servers = 127.0.0.1:$port
max_value = $1
INI
}
ini 1000k
key="k-$$"

# 1e9 s (31 years) is past memcached's 32-bit expiry: refused, not stored to vanish at once
set +e
err=$("$imi" cache -c "$dir/mc.ini" set "$key" v --ttl 1000000000 2>&1)
rc=$?
set -e
[ $rc = 1 ] || fail "a ttl past 2038 exited $rc: $err"
grep -q "2038" <<<"$err" || fail "the ttl error does not name the limit: $err"
"$imi" cache -c "$dir/mc.ini" set "$key" v --ttl 3000000   # 35 days: absolute time
[ "$("$imi" cache -c "$dir/mc.ini" get "$key")" = v ] || fail "a 35-day key is gone after set"

# larger than max_value: refused before it is sent
ini 1k
value=$(head -c 2000 /dev/zero | tr '\0' x)
set +e
err=$("$imi" cache -c "$dir/mc.ini" set big "$value" 2>&1)
rc=$?
set -e
[ $rc = 1 ] || fail "a value over max_value exited $rc"
grep -q "too large" <<<"$err" && grep -q "1024 bytes" <<<"$err" || fail "max_value error: $err"

# within max_value but over the server's item size (64k): the server's refusal, explained
ini 1m
value=$(head -c 100000 /dev/zero | tr '\0' x)
set +e
err=$("$imi" cache -c "$dir/mc.ini" set big "$value" 2>&1)
rc=$?
set -e
[ $rc = 1 ] || fail "a value over the item size exited $rc"
grep -q "SUCCESS" <<<"$err" && fail "the refusal says SUCCESS: $err"
grep -qi "too large\|larger" <<<"$err" || fail "the item size error does not say the value is too large: $err"

# the server gone: libmemcached's message ("(0x55d0...) CONNECTION FAILURE(...) ->
# ./src/libmemcached/io.cc:145") comes out without its pointer and source line
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=
for op in "get $key" "set $key v"; do
    set +e
    # shellcheck disable=SC2086
    err=$("$imi" cache -c "$dir/mc.ini" $op 2>&1)
    rc=$?
    set -e
    [ $rc = 1 ] || fail "$op on a stopped server exited $rc: $err"
    [ "$(wc -l <<<"$err")" = 1 ] || fail "$op: more than one line: $err"
    grep -q "IMI_EUNAVAILABLE" <<<"$err" || fail "$op: not IMI_EUNAVAILABLE: $err"
    grep -q "0x[0-9a-f]\|->\|\.cc:" <<<"$err" && fail "$op: the message shows libmemcached's insides: $err"
done
echo "ok: memcached refuses what it cannot keep, with the limit; errors are one clean line"
