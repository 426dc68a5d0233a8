#!/usr/bin/env bash
# Numbers given to the CLI are whole, in range, or refused with exit 2 naming the range:
# never wrapped, cut or taken as something else.
#   cli_args.sh IMI CONFIG
set -euo pipefail
imi=$1 config=$2
fail() { echo "FAIL: $*"; exit 1; }

refused() { # WANT ARGS...: exit 2 and WANT in the output
    local want=$1 out rc=0
    shift
    out=$("$imi" "$@" 2>&1) || rc=$?
    [ "$rc" = 2 ] || fail "imi $*: exit $rc, not 2: $(head -2 <<<"$out")"
    grep -qF -- "$want" <<<"$out" || fail "imi $* does not say '$want': $(head -2 <<<"$out")"
}

refused "-n takes 1 to 100000000, not '99999999999'" uid -c "$config" next -n 99999999999
refused "-n takes 1 to 100000000, not '0'" uid -c "$config" next -n 0
refused "-n takes 1 to 100000000, not '3x'" uid -c "$config" uuid -n 3x
# past 2^63: strtoll saturated it into a valid-looking id before
refused "is not a snowflake id" uid -c "$config" parse 99999999999999999999999
refused "is not a snowflake id" uid -c "$config" parse ""
refused "--threads takes 1 to 64" bench -c "$config" cache --threads 100000
[ "$("$imi" uid -c "$config" next -n 3 | wc -l)" = 3 ] || fail "uid next -n 3 did not print 3 ids"
echo "ok: CLI numbers"
