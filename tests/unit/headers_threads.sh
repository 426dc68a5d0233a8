#!/usr/bin/env bash
# Every public header says, in its first comment, what may run on many threads.
#   tests/unit/headers_threads.sh SOURCE_DIR
set -u
bad=0
for h in "$1"/include/iminfra/*.h; do
    awk 'NR == 1, /\*\//' "$h" | grep -qi 'thread' || { echo "FAIL: $h says nothing about threads"; bad=1; }
done
[ $bad = 0 ] && echo "headers_threads: ok"
exit $bad
