#!/usr/bin/env bash
# The guides' code samples compile against an installed im-infra: every ```c block of
# docs/app-guide.md is a program linked with pkg-config iminfra, and runs; every ```c block of
# docs/driver-guide.md is a driver built with pkg-config iminfra-driver alone, and loaded
# and listed by the installed imi.
#   docs_samples.sh BUILD_DIR SOURCE_DIR [EXTRA_CFLAGS]
set -euo pipefail
build=$1 src=$2 cflags=${3:-}
tmp=$(mktemp -d /tmp/imi-docs.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v pkg-config >/dev/null || fail "pkg-config is not installed"

prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "cmake --install"; }
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$(find "$prefix" -name iminfra.pc | head -1)")
libdir=$(pkg-config --variable=libdir iminfra)

# extract FILE OUTDIR: each ```c block into OUTDIR/sample_N.c; prints the count.
extract() {
    awk -v out="$2" '
        /^```c[ \t]*$/ { n++; file = sprintf("%s/sample_%02d.c", out, n); inside = 1; next }
        /^```/ && inside { inside = 0; close(file); next }
        inside { print > file }
        END { print n + 0 }' "$1"
}

# -Wl,--no-undefined proves a driver needs nothing of libiminfra; sanitizer runtimes
# are only there once loaded into an instrumented program.
noundef=-Wl,--no-undefined
[ -n "$cflags" ] && noundef=
total=0
for guide in app-guide driver-guide; do
    doc=$src/docs/$guide.md
    [ -f "$doc" ] || fail "no $doc"
    mkdir -p "$tmp/$guide"
    n=$(extract "$doc" "$tmp/$guide")
    [ "$n" -ge 3 ] || fail "$guide.md has $n c samples"
    for f in "$tmp/$guide"/sample_*.c; do
        name=$(basename "$f" .c)
        # shellcheck disable=SC2046,SC2086
        if [ "$guide" = app-guide ]; then
            cc -std=c11 -Wall -Wextra -Werror $cflags $(pkg-config --cflags iminfra) \
               -o "$tmp/$guide/$name" "$f" $(pkg-config --libs iminfra) 2>"$tmp/cc.log"
        else
            # Named as the loader finds it by name: imi_<kind>_<name>.so.
            kind=$(grep -o 'IMI_KIND_[A-Z]*' "$f" | head -1 | sed 's/IMI_KIND_//' | tr 'A-Z' 'a-z')
            dname=$(awk '/imi_driver_desc [a-z_]+ = \{/ {d = 1} d && /\.name = "/ {print; exit}' "$f" \
                    | cut -d'"' -f2)
            cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -shared $cflags \
               $(pkg-config --cflags iminfra-driver) $noundef \
               -o "$tmp/$guide/imi_${kind}_${dname}.so" "$f" $(pkg-config --libs iminfra-driver) 2>"$tmp/cc.log"
        fi || { cat -n "$f"; cat "$tmp/cc.log"; fail "$guide.md sample $name does not compile"; }
        # The application samples run too, on the installed drivers found next to the
        # installed libiminfra.
        if [ "$guide" = app-guide ]; then
            (cd "$tmp" && env -u IMI_DRIVER_PATH -u IMI_CONFIG LD_LIBRARY_PATH="$libdir" \
                timeout 60 "$tmp/$guide/$name" >"$tmp/run.log" 2>&1) \
                || { cat -n "$f"; cat "$tmp/run.log"; fail "$guide.md sample $name failed when run"; }
        fi
        total=$((total + 1))
    done
    echo "$guide.md: $n samples compile"
done

# The driver samples load in the installed imi: imi drivers lists each, refusing none.
printf '[drivers]\npath = %s\n' "$tmp/driver-guide" >"$tmp/drivers.ini"
out=$(env -u IMI_DRIVER_PATH "$prefix/bin/imi" drivers -c "$tmp/drivers.ini" 2>&1) || { echo "$out"; fail "imi drivers refused a sample"; }
listed=$(grep -c "^ *$tmp/driver-guide/imi_[a-z]*_[a-z0-9_]*\.so" <<<"$out" || true)
[ "$listed" -eq "$(ls "$tmp/driver-guide"/imi_*.so | wc -l)" ] || fail "imi drivers listed $listed of the driver samples: $out"
grep -q "REFUSED" <<<"$out" && fail "imi drivers would refuse a sample: $out"
echo "docs_samples: $total samples ok"
