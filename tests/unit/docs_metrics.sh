#!/usr/bin/env bash
# docs/metrics.md's metric table is what `imi stats --list-metrics --markdown` prints.
#   docs_metrics.sh IMI SOURCE_DIR
set -euo pipefail
imi=$1
doc=$2/docs/metrics.md
want=$(mktemp)
trap 'rm -f "$want"' EXIT
"$imi" stats --list-metrics --markdown > "$want"
if ! sed -n '/^<!-- generated: imi stats --list-metrics --markdown -->$/,/^<!-- end generated -->$/p' "$doc" |
        sed '1d;$d' | diff -u - "$want"; then
    echo "FAIL: docs/metrics.md is out of date; regenerate its table with"
    echo "      imi stats --list-metrics --markdown"
    exit 1
fi
echo "ok   docs/metrics.md lists the $(($(wc -l < "$want") - 2)) metrics of the code's table"
