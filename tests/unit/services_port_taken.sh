#!/usr/bin/env bash
# tools/services.sh start fails when another process holds a server's port, even one that
# answers the readiness probe (here a fake redis answering PONG to everything).
#   tests/unit/services_port_taken.sh SOURCE_DIR
set -u
src=$1
fail() { echo "FAIL: $*"; exit 1; }
export IMI_RUN_DIR
IMI_RUN_DIR=$(mktemp -d /tmp/imi-porttaken.XXXXXX)
fake=
cleanup() {
    [ -n "$fake" ] && kill "$fake" 2>/dev/null
    IMI_REDIS_PORT=$port bash "$src/tools/services.sh" stop redis >/dev/null 2>&1
    rm -rf "$IMI_RUN_DIR"
}
trap cleanup EXIT
# A free port: the kernel picks it, the fake listens there.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 - "$port" <<'PY' &
import socket, sys, threading
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1]))); srv.listen(16)
def serve(c):
    with c:
        while c.recv(4096):
            c.sendall(b"+PONG\r\n")
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
fake=$!
for _ in $(seq 50); do
    [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ] && break
    sleep 0.1
done
[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ] || fail "the fake redis did not start"
err=$(IMI_REDIS_PORT=$port timeout 60 bash "$src/tools/services.sh" start redis 2>&1); rc=$?
echo "$err"
[ $rc != 0 ] || fail "start reported success with port $port taken"
grep -q "port $port on 127.0.0.1 is already taken" <<<"$err" || fail "no clear message"
grep -q "IMI_REDIS_PORT" <<<"$err" || fail "the message does not name IMI_REDIS_PORT"
[ ! -f "$IMI_RUN_DIR/redis.pid" ] || fail "a redis was spawned anyway"
echo "services_port_taken: ok"
