#!/usr/bin/env bash
# Installs the Debian packages im-infra needs, only those missing.
#   tools/deps.sh build     compilers and client libraries (enough for the demo)
#   tools/deps.sh servers   the build set plus every server the tests start
set -euo pipefail

build_pkgs=(
    build-essential cmake ninja-build pkg-config git dpkg-dev file
    libinih-dev libltdl-dev libcriterion-dev libsqlite3-dev
    libhiredis-dev libmemcached-dev librdkafka-dev libnats-dev
    libpq-dev libmariadb-dev libcurl4-openssl-dev libjansson-dev
    libmicrohttpd-dev
)
# xmllint checks the JUnit reports of `imi conformance` (tests/conformance/test_runner.sh).
build_pkgs+=(libxml2-utils)
server_pkgs=(
    redis-server redis-tools memcached libmemcached-tools
    mariadb-server mariadb-client nats-server etcd-server etcd-client
    postgresql postgresql-contrib kcat curl
    openssl ca-certificates
    prometheus jq
)
# tools/fuzz.sh (run by the tests): clang and its libFuzzer/sanitizer runtimes (only
# recommended by clang).
server_pkgs+=(clang libclang-rt-14-dev)

want=("${build_pkgs[@]}")
[ "${1:-build}" = servers ] && want+=("${server_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
