#!/usr/bin/env bash
# A key put with `imi coord put` is read by etcdctl and one put by etcdctl is read by
# `imi coord get`; a registration made by `imi coord register` is listed by
# `etcdctl get --prefix`. Usage: coord_etcdctl_interop.sh IMI SOURCE_DIR
# (needs tools/services.sh start etcd).
set -euo pipefail
imi=$1
src=$2
cfg=$src/tests/conformance/configs/coord_etcd.ini
prefix=imi-conformance/          # the [coord] prefix of that config
ep=${IMI_ETCD_ENDPOINTS:-http://127.0.0.1:12379}
t=interop-$$-$RANDOM
fail() { echo "FAIL: $*" >&2; exit 1; }
ctl() { ETCDCTL_API=3 etcdctl --endpoints "$ep" "$@"; }

"$imi" coord -c "$cfg" put "$t/key" "héllo wörld" || fail "imi coord put"
got=$(ctl get --print-value-only "$prefix$t/key")
[ "$got" = "héllo wörld" ] || fail "etcdctl read '$got'"
echo "ok imi put -> etcdctl get"

ctl put "$prefix$t/from-etcdctl" "from etcdctl" >/dev/null
got=$("$imi" coord -c "$cfg" get "$t/from-etcdctl")
[ "$got" = "from etcdctl" ] || fail "imi coord get read '$got'"
echo "ok etcdctl put -> imi get"

"$imi" coord -c "$cfg" register "$t-svc" 10.1.2.3:8080 --name inst1 --for 30 >/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true; ctl del --prefix "$prefix$t" >/dev/null 2>&1 || true' EXIT
listed=""
for _ in $(seq 50); do
    listed=$(ctl get --prefix "${prefix}services/$t-svc/")
    [ -n "$listed" ] && break
    sleep 0.1
done
echo "$listed" | grep -qx "${prefix}services/$t-svc/inst1" || fail "etcdctl listed: $listed"
echo "$listed" | grep -qx "10.1.2.3:8080" || fail "etcdctl listed no address: $listed"
got=$("$imi" coord -c "$cfg" services "$t-svc")
[ "$got" = "$(printf 'inst1\t10.1.2.3:8080')" ] || fail "imi coord services: '$got'"
echo "ok imi register -> etcdctl get --prefix"

kill -TERM $pid
wait $pid || fail "imi coord register exited with $?"
[ -z "$(ctl get --prefix "${prefix}services/$t-svc/")" ] || fail "deregister left the key"
echo "ok deregister on SIGTERM"
echo "4 passed, 0 failed"
