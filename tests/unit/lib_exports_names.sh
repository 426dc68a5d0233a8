#!/usr/bin/env bash
# Every function libiminfra.so exports is named in a public header (include/iminfra/*.h),
# and every function a public header declares is exported. In libiminfra.a, where every
# internal function is global too, each name is in the imi_ namespace, so that an
# application's own function cannot collide with one when it links statically.
# Every exported function is called in null_sweep.c.
#   lib_exports_names.sh NM LIBIMINFRA.so INCLUDE_DIR LIBIMINFRA.a NULL_SWEEP.c
set -euo pipefail
nm=$1 lib=$2 inc=$3 archive=$4 sweep=$5
fail() { echo "FAIL: $*" >&2; exit 1; }
exported=$("$nm" -D --defined-only "$lib" | awk '$2 ~ /^[TtWDdBbRrVi]$/ {print $3}' | sort -u)
[ -n "$exported" ] || fail "nm lists no symbols of $lib"
# What the headers name, comments aside.
named=$(sed -e 's://.*$::' "$inc"/*.h | perl -0777 -pe 's{/\*.*?\*/}{}gs' |
        grep -oE '\bimi_[a-z0-9_]+[[:space:]]*\(' | sed -E 's/[[:space:]]*\($//' | sort -u)
stray=$(comm -23 <(echo "$exported") <(echo "$named"))
[ -z "$stray" ] || fail "exported but not in a public header: $(echo $stray)"
# Declared (not static inline, not a macro) but missing from the library.
declared=$(sed -e 's://.*$::' "$inc"/*.h | perl -0777 -pe 's{/\*.*?\*/}{}gs; s{\\\n}{ }g' |
           grep -vE '^[[:space:]]*(#|static)' |
           grep -oE '^[a-z_][a-z0-9_ ]*[ *]+imi_[a-z0-9_]+\(' | grep -oE 'imi_[a-z0-9_]+\($' |
           tr -d '(' | sort -u)
missing=$(comm -13 <(echo "$exported") <(echo "$declared"))
[ -z "$missing" ] || fail "declared in a public header but not exported: $(echo $missing)"
outside=$("$nm" -g --defined-only "$archive" | awk 'NF == 3 && $3 !~ /^(imi_|_)/ {print $3}' |
         sort -u)
[ -z "$outside" ] || fail "$archive defines names outside imi_: $(echo $outside)"
swept=$(grep -oE '\{ "imi_[a-z0-9_]+"' "$sweep" | grep -oE 'imi_[a-z0-9_]+' | sort -u)
unswept=$(comm -23 <(echo "$exported") <(echo "$swept"))
[ -z "$unswept" ] || fail "not called in $sweep: $(echo $unswept)"
echo "ok: $(echo "$exported" | wc -l) exported functions, all of the public headers"
