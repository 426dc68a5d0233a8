#!/usr/bin/env bash
# The Debian packages: cpack -G DEB from the build tree into a temp folder, every package
# unpacked (dpkg-deb -x) under one temp root, the CLI there lists every driver from that
# root, and each package's Depends holds its own client library and no other.
#   packages.sh BUILD_DIR SOURCE_DIR LIB_PACKAGE imi_<kind>_<name>...
set -euo pipefail
build=$1 src=$2 libpkg=$3
shift 3
drivers=("$@")
tmp=$(mktemp -d /tmp/imi-deb.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
for tool in cpack dpkg-deb dpkg-shlibdeps file; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (tools/deps.sh build installs it)"
done
[ ${#drivers[@]} -gt 0 ] || fail "no drivers were built"
abi=$(awk '$1 == "#define" && $2 == "IMI_ABI_MAJOR" { print $3 }' "$src/include/iminfra/driver/driver.h")
[ -n "$abi" ] || fail "no IMI_ABI_MAJOR in driver.h"

cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/debs" >"$tmp/cpack.log" 2>&1 \
    || { cat "$tmp/cpack.log"; fail "cpack -G DEB"; }

# The client library of each driver, as a Depends pattern; a driver package must hold its
# own and none of the others.
declare -A client=(
    [cache_redis]='libhiredis' [cache_memcached]='libmemcached' [db_postgres]='libpq5'
    [db_mysql]='libmariadb3' [db_sqlite]='libsqlite3' [mq_kafka]='librdkafka1'
    [mq_nats]='libnats' [coord_etcd]='libcurl'
)
deb_of() { # package name -> .deb file
    local f
    f=$(find "$tmp/debs" -maxdepth 1 -name "$1_*.deb" | head -1)
    [ -n "$f" ] || fail "no package $1 among: $(cd "$tmp/debs" && ls ./*.deb | tr '\n' ' ')"
    echo "$f"
}
depends() { dpkg-deb -f "$(deb_of "$1")" Depends; }
has() { grep -Eq "(^|, )$2[^,]*" <<<"$(depends "$1")" || fail "$1 does not depend on $2: $(depends "$1")"; }
lacks() { grep -Eq "(^|, )$2" <<<"$(depends "$1")" && fail "$1 depends on $2: $(depends "$1")"; return 0; }

root=$tmp/root
pkgs=("$libpkg" libiminfra-dev iminfra-tools iminfra-bench)
for d in "${drivers[@]}"; do
    pkgs+=("iminfra-driver-$(sed -E 's/^imi_([a-z]+)_(.*)$/\1-\2/; s/_/-/g' <<<"$d")")
done
for p in "${pkgs[@]}"; do
    f=$(deb_of "$p")
    dpkg-deb -x "$f" "$root"
    echo "$p: Depends: $(depends "$p")"
done

# What each package carries (listed into variables: grep -q on a pipe would cut it short).
contents() { dpkg-deb -c "$(deb_of "$1")" | awk '{ for (i = 1; i <= NF; i++) if ($i == "->") { print $(i-1); next } print $NF }'; }
tools_files=$(contents iminfra-tools) lib_files=$(contents "$libpkg") dev_files=$(contents libiminfra-dev)
grep -q '/usr/bin/imi$' <<<"$tools_files" || fail "iminfra-tools has no /usr/bin/imi"
grep -q 'share/iminfra/config/default\.ini$' <<<"$tools_files" || fail "iminfra-tools has no default config"
grep -q 'libiminfra\.so\.[0-9]' <<<"$lib_files" || fail "$libpkg has no libiminfra.so.N"
grep -Eq 'include/|\.a$|libiminfra\.so$' <<<"$lib_files" && fail "$libpkg carries development files"
for f in include/iminfra/driver/driver.h include/iminfra/cache.h 'libiminfra\.a' 'libiminfra\.so$' \
         'pkgconfig/iminfra\.pc' 'pkgconfig/iminfra-driver\.pc' 'cmake/iminfra/iminfraConfig\.cmake' \
         'doc/iminfra/driver-guide\.md' 'doc/iminfra/app-guide\.md' 'driver-cache-example/cache_example\.c'; do
    grep -Eq "$f" <<<"$dev_files" || fail "libiminfra-dev has no $f"
done

# Depends: the core and the CLI on no client library; each driver on its own only.
has "$libpkg" libinih
has "$libpkg" libltdl
has libiminfra-dev "$libpkg \\(= "
for k in "${!client[@]}"; do
    lacks "$libpkg" "${client[$k]}"
    lacks iminfra-tools "${client[$k]}"
done
for p in "$libpkg" iminfra-tools; do
    dpkg-deb -f "$(deb_of "$p")" Provides | grep -q "iminfra-driver-abi-$abi" || fail "$p does not provide iminfra-driver-abi-$abi"
done
for d in "${drivers[@]}"; do
    short=${d#imi_}
    p="iminfra-driver-$(tr _ - <<<"$short")"
    has "$p" "iminfra-driver-abi-$abi"
    lacks "$p" "$libpkg"
    for k in "${!client[@]}"; do
        if [ "$k" = "$short" ]; then has "$p" "${client[$k]}"; else lacks "$p" "${client[$k]}"; fi
    done
done
[[ " ${drivers[*]} " == *" imi_mq_kafka "* ]] && has iminfra-bench librdkafka1

# The CLI of the unpacked root lists every driver, from that root.
imi=$root/usr/bin/imi
out=$(env -u IMI_DRIVER_PATH "$imi" drivers 2>&1) || { echo "$out"; fail "imi drivers in the unpacked root"; }
for d in "${drivers[@]}"; do
    grep -Eq "^ +$root/usr/lib/.*iminfra/drivers/$d\.so\$" <<<"$out" || fail "$d is not listed from $root: $out"
done
echo "$out" | grep -E '^[a-z]'
out=$(cd "$tmp" && IMI_DATA_DIR=$tmp env -u IMI_DRIVER_PATH "$imi" check -c "$root/usr/share/iminfra/config/default.ini" 2>&1) \
    || { echo "$out"; fail "imi check of the packaged default config"; }
# A missing config names the example configs of this root, not of the prefix built for.
out=$(cd "$tmp" && env -u IMI_DRIVER_PATH IMI_CONFIG= "$imi" check 2>&1) && fail "imi check without a config passed"
grep -qF "example configs are installed in $(realpath "$root")/usr/share/iminfra/config" <<<"$out" \
    || fail "the missing-config hint does not name the unpacked root's examples: $out"
out=$(env -u IMI_DRIVER_PATH "$imi" conformance cache mem --case set_get_del_miss 2>&1) || { echo "$out"; fail "imi conformance in the unpacked root"; }
grep -q '^1 passed, 0 failed' <<<"$out" || fail "conformance in the unpacked root: $out"
echo "packages: ${#pkgs[@]} packages ok"
