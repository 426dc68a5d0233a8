#!/usr/bin/env bash
# A driver built only against an installed im-infra: install the build tree into a temp
# prefix, build examples/driver-cache-example there with its own CMakeLists.txt (and a
# second copy with pkg-config alone), load it by path from a config, list it, and run the
# cache conformance suite on it with the installed imi.
#   sdk_out_of_tree.sh BUILD_DIR SOURCE_DIR [EXTRA_CFLAGS]
set -euo pipefail
build=$1 src=$2 cflags=${3:-}
tmp=$(mktemp -d /tmp/imi-sdk.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
for tool in cmake cc pkg-config readelf; do
    command -v "$tool" >/dev/null || fail "$tool is not installed"
done

prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "cmake --install"; }
imi=$prefix/bin/imi
[ -x "$imi" ] || fail "no imi in $prefix/bin"
for f in include/iminfra/iminfra.h include/iminfra/driver/driver.h include/iminfra/driver/cache_driver.h \
         include/iminfra/driver/mq_driver.h include/iminfra/driver/db_driver.h \
         include/iminfra/driver/coord_driver.h; do
    [ -f "$prefix/$f" ] || fail "$f not installed"
done
cfgdir=$(dirname "$(find "$prefix" -name iminfraConfig.cmake | head -1)")
[ -f "$cfgdir/iminfraConfig.cmake" ] || fail "no iminfraConfig.cmake installed"
pcdir=$(dirname "$(find "$prefix" -name iminfra-driver.pc | head -1)")
[ -f "$pcdir/iminfra.pc" ] || fail "no iminfra.pc installed"

# The example from a copy, so that nothing of the source tree is in reach.
cp -r "$src/examples/driver-cache-example" "$tmp/example"
rm -rf "$tmp/example/build"
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S "$tmp/example" -B "$tmp/example/build" "${gen[@]}" -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
      -DCMAKE_C_FLAGS="$cflags" -DCMAKE_MODULE_LINKER_FLAGS="$cflags" >"$tmp/cfg.log" 2>&1 \
    || { cat "$tmp/cfg.log"; fail "configuring the example against the installed SDK"; }
grep -q "^iminfra_DIR:PATH=$cfgdir\$" "$tmp/example/build/CMakeCache.txt" \
    || fail "find_package(iminfra) did not find the temp install: $(grep iminfra_DIR "$tmp/example/build/CMakeCache.txt")"
cmake --build "$tmp/example/build" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "building the example"; }
grep -q -- "-I$src" "$tmp/example/build/compile_commands.json" && fail "the example was built with headers of the source tree"
so=$tmp/example/build/imi_cache_example.so
[ -f "$so" ] || fail "no $so"
readelf -d "$so" | grep -q 'NEEDED.*libiminfra' && fail "the driver links libiminfra"
readelf --dyn-syms -W "$so" | awk '$5 == "GLOBAL" && $7 != "UND" {print $8}' | grep -vx imi_driver_entry \
    | grep -v '^_' && fail "the driver exports more than imi_driver_entry"

# An application through the CMake package: the shared and the static library targets.
mkdir -p "$tmp/app"
cat >"$tmp/app/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.18)
project(app C)
find_package(iminfra CONFIG REQUIRED)
add_executable(app main.c)
target_link_libraries(app PRIVATE iminfra::iminfra)
add_executable(app_static main.c)
target_link_libraries(app_static PRIVATE iminfra::iminfra_static)
CMAKE
printf '#include <stdio.h>\n#include "iminfra/iminfra.h"\nint main(void) { puts(imi_version()); return 0; }\n' \
    >"$tmp/app/main.c"
cmake -S "$tmp/app" -B "$tmp/app/build" "${gen[@]}" -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON -DCMAKE_C_FLAGS="$cflags" \
      -DCMAKE_EXE_LINKER_FLAGS="$cflags" >"$tmp/app.log" 2>&1 && cmake --build "$tmp/app/build" >>"$tmp/app.log" 2>&1 \
    || { cat "$tmp/app.log"; fail "an application against iminfra::iminfra / iminfra_static"; }
[ "$("$tmp/app/build/app")" = "$("$tmp/app/build/app_static")" ] || fail "the app programs do not run"
readelf -d "$tmp/app/build/app" | grep -q 'NEEDED.*libiminfra\.so' || fail "iminfra::iminfra is not the shared library"

# The same source with nothing but the SDK's pkg-config file.
mkdir -p "$tmp/pc"
# shellcheck disable=SC2046
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -shared $cflags \
   $(PKG_CONFIG_PATH=$pcdir pkg-config --cflags iminfra-driver) \
   -o "$tmp/pc/imi_cache_example.so" "$tmp/example/cache_example.c" \
   $(PKG_CONFIG_PATH=$pcdir pkg-config --libs iminfra-driver) || fail "building with pkg-config iminfra-driver"
driverdir=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=driverdir iminfra-driver)
[ -d "$driverdir" ] || fail "pkg-config driverdir $driverdir is not the installed driver folder"

# imi drivers lists it from [drivers] path; the installed drivers come with it.
cat >"$tmp/list.ini" <<INI
[drivers]
path = $tmp/pc
INI
out=$(env -u IMI_DRIVER_PATH "$imi" drivers -c "$tmp/list.ini") || fail "imi drivers: $out"
grep -Eq '^cache +example +1\.0\.0' <<<"$out" || fail "imi drivers does not list the example: $out"
grep -q "max_entries" <<<"$out" || fail "imi drivers does not show the example's options"
grep -q "^ *$prefix/.*/imi_cache_mem.so" <<<"$out" || fail "the installed imi does not find its own drivers: $out"

# An installed imi never searches (nor names) the build tree it was compiled in: a typo in
# a driver name lists the installed drivers instead.
printf '[log]\nlevel = error\n[cache]\ndriver = rediss\n' >"$tmp/typo.ini"
err=$(env -u IMI_DRIVER_PATH "$imi" check -c "$tmp/typo.ini" 2>&1) && fail "imi check passed a typo: $err"
grep -q "driver 'rediss' for \[cache\] not found" <<<"$err" || fail "no not-found message: $err"
grep -q "cache drivers found: .*mem" <<<"$err" || fail "the installed drivers are not listed: $err"
grep -qF "$(cd "$build" && pwd)" <<<"$err" && fail "the installed imi names the build folder: $err"

# Loaded by path from a config (relative to the config's folder).
cat >"$tmp/example/app.ini" <<INI
[log]
level = warn
[cache]
driver = build/imi_cache_example.so
prefix = t:
max_entries = 100
INI
env -u IMI_DRIVER_PATH "$imi" cache -c "$tmp/example/app.ini" set greeting hello >/dev/null || fail "imi cache set"
# one process per command: a get in a new process misses (the cache lives in the process)
got=$(env -u IMI_DRIVER_PATH "$imi" cache -c "$tmp/example/app.ini" get greeting 2>&1) && fail "a new process saw '$got'"
sed -i 's/^max_entries = 100$/max_entries = lots/' "$tmp/example/app.ini"
err=$(env -u IMI_DRIVER_PATH "$imi" cache -c "$tmp/example/app.ini" get x 2>&1) && fail "a bad option was accepted"
grep -q "app.ini:6" <<<"$err" || fail "the bad option's error does not name its line: $err"

# The conformance suite of its kind, by path and by name.
out=$(env -u IMI_DRIVER_PATH "$imi" conformance cache "$so" 2>&1) || { echo "$out"; fail "imi conformance cache $so"; }
echo "$out"
grep -Eq '^[1-9][0-9]* passed, 0 failed' <<<"$out" || fail "no passing summary"
cat >"$tmp/conf.ini" <<INI
[drivers]
path = $tmp/pc
[cache]
max_entries = 50000
INI
out=$(env -u IMI_DRIVER_PATH "$imi" conformance cache example -c "$tmp/conf.ini" --case many_threads 2>&1) \
    || { echo "$out"; fail "imi conformance cache example -c (by name)"; }
grep -q '^1 passed, 0 failed' <<<"$out" || fail "by name: $out"
echo "sdk_out_of_tree: ok"
