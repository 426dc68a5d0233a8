#!/usr/bin/env bash
# The etcd driver over https with client certificates and user/password auth, against a
# 3-member cluster (tools/clusters/etcd.sh, ports from $IMI_ETCD_CLUSTER_PORT, default
# 22100) with a throw-away CA (tools/tls/make-ca.sh) and --auth-token-ttl 2:
#   - the right CA, certificate and password: put and get work;
#   - the wrong CA: refused with one line naming the endpoint and the TLS reason (IMI_ECONFIG);
#   - a wrong password: refused with one line naming the user (IMI_ECONFIG);
#   - no password configured while auth is on: IMI_ECONFIG saying so;
#   - tokens expire: a put after the token's TTL, and a watch across a member restart,
#     go on with a new token (etcd_token_renewal).
# Stops the cluster even on failure. Fails (never skips) when etcd or openssl is missing.
#   coord_etcd_tls_auth.sh IMI_CLI TOKEN_PROGRAM SOURCE_DIR
set -euo pipefail
imi=${1:?imi} prog=${2:?token program} src=${3:?source dir}
for tool in etcd etcdctl openssl curl; do
    command -v $tool >/dev/null || { echo "FAIL: $tool is not installed" >&2; exit 1; }
done

export IMI_ETCD_CLUSTER_DIR IMI_ETCD_CLUSTER_TLS IMI_ETCD_CLUSTER_ARGS IMI_ETCD_CLUSTER_PORT
IMI_ETCD_CLUSTER_PORT=${IMI_ETCD_CLUSTER_PORT:-22100}
IMI_ETCD_CLUSTER_DIR=$(mktemp -d /tmp/imi-etcd-tls-XXXXXX)
IMI_ETCD_CLUSTER_TLS=$IMI_ETCD_CLUSTER_DIR/tls
IMI_ETCD_CLUSTER_ARGS="--auth-token-ttl 2"
script=$src/tools/clusters/etcd.sh
d=$IMI_ETCD_CLUSTER_DIR
cleanup() {
    bash "$script" stop || true
    rm -rf "$d"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

bash "$src/tools/tls/make-ca.sh" "$IMI_ETCD_CLUSTER_TLS"
# etcd 3.4 refuses gateway requests whose client certificate has a CommonName once auth is
# on: the driver's certificate has none (the CA's client.pem, CN imi-client, is kept for
# etcdctl, which speaks gRPC).
(cd "$IMI_ETCD_CLUSTER_TLS" &&
    printf '%s\n' 'extendedKeyUsage=clientAuth' 'keyUsage=digitalSignature,keyEncipherment' >nocn.ext &&
    openssl req -newkey rsa:2048 -nodes -keyout app.key -out app.csr -subj "/O=imi app" 2>/dev/null &&
    openssl x509 -req -in app.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out app.pem -days 2 \
        -extfile nocn.ext 2>/dev/null &&
    rm -f app.csr nocn.ext ca.srl)
bash "$script" start
export IMI_TEST_ETCD_PASSWORD=pw-$RANDOM$RANDOM
bash "$script" auth app "$IMI_TEST_ETCD_PASSWORD"
endpoints=$(bash "$script" endpoints)
first=${endpoints%%,*}

config() { # FILE CA PASSWORD-LINE [CLIENT-CERT]
    cat >"$1" <<INI
[log]
level = error

[coord]
driver    = etcd
timeout   = 3s
endpoints = $endpoints
ca_file   = $2
cert_file = $4
key_file  = ${4%.pem}.key
$3
INI
}
pwlines=$'user = app\npassword = ${IMI_TEST_ETCD_PASSWORD}'
app=$IMI_ETCD_CLUSTER_TLS/app.pem
config "$d/good.ini" "$IMI_ETCD_CLUSTER_TLS/ca.pem" "$pwlines" "$app"
config "$d/wrongca.ini" "$IMI_ETCD_CLUSTER_TLS/other-ca.pem" "$pwlines" "$app"
config "$d/cncert.ini" "$IMI_ETCD_CLUSTER_TLS/ca.pem" "$pwlines" "$IMI_ETCD_CLUSTER_TLS/client.pem"
config "$d/wrongpw.ini" "$IMI_ETCD_CLUSTER_TLS/ca.pem" $'user = app\npassword = not-the-password' "$app"
config "$d/nouser.ini" "$IMI_ETCD_CLUSTER_TLS/ca.pem" "" "$app"

# the right CA and password
"$imi" coord -c "$d/good.ini" put tls/k hello || fail "put with the right CA and password"
[ "$("$imi" coord -c "$d/good.ini" get tls/k)" = hello ] || fail "get with the right CA and password"
echo "right CA, certificate and password: put and get ok"

# refused, each with one line of its own
expect_refusal() { # CONFIG WHAT PATTERN...
    local cfg=$1 what=$2 out
    shift 2
    if out=$("$imi" coord -c "$cfg" get tls/k 2>&1); then fail "$what: the get succeeded"; fi
    [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "$what: not one line: $out"
    for p in "$@"; do
        [[ $out == *"$p"* ]] || fail "$what: '$p' not in: $out"
    done
    echo "$what: $out"
}
expect_refusal "$d/wrongca.ini" "wrong CA" "https://127.0.0.1:" "TLS: SSL certificate problem" "IMI_ECONFIG"
expect_refusal "$d/wrongpw.ini" "wrong password" "user 'app' was refused" "IMI_ECONFIG"
expect_refusal "$d/nouser.ini" "no user" "set the user and password" "IMI_ECONFIG"
expect_refusal "$d/cncert.ini" "certificate with a CN" "without CN" "IMI_ECONFIG"
if grep -rq "not-the-password" <("$imi" coord -c "$d/wrongpw.ini" get tls/k 2>&1); then
    fail "the wrong password is printed"
fi

# the cluster does forget tokens after 2 idle seconds
tls_curl=(curl -s --cacert "$IMI_ETCD_CLUSTER_TLS/ca.pem" --cert "$app"
          --key "${app%.pem}.key" -X POST)
token=$("${tls_curl[@]}" -d "{\"name\":\"app\",\"password\":\"$IMI_TEST_ETCD_PASSWORD\"}" \
        "$first/v3/auth/authenticate" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || fail "no token from $first"
sleep 3.5
"${tls_curl[@]}" -H "Authorization: $token" -d '{"key":"dGxzL2s="}' "$first/v3/kv/range" |
    grep -q "invalid auth token" || fail "etcd kept a token past --auth-token-ttl"

"$prog" "$d/good.ini" "$script"
