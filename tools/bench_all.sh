#!/usr/bin/env bash
# One full benchmark run: imi-bench bench all on each config of config/bench/ (the
# servers of tools/services.sh must be running; `tools/services.sh env` says where), the
# JSON lines into OUT.jsonl and the text (with each run's summary) into OUT.txt.
#
#   tools/bench_all.sh BUILD_DIR OUT [imi bench options, e.g. --rounds 7]
set -euo pipefail
build=${1:?usage: tools/bench_all.sh BUILD_DIR OUT [options]}
out=${2:?usage: tools/bench_all.sh BUILD_DIR OUT [options]}
shift 2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench="$build/tools/imi-bench"
[ -x "$bench" ] || { echo "bench_all.sh: $bench is not built" >&2; exit 1; }
: >"$out.jsonl"
: >"$out.txt"
failed=0
# The in-process benches once, then one config per backend.
for cfg in "" sqlite sqlite-memory postgres mysql redis memcached kafka nats nats-jetstream; do
    args=(bench all --json "$@")
    if [ -n "$cfg" ]; then
        args=(bench all -c "$here/config/bench/$cfg.ini" --backends-only --json "$@")
    fi
    echo "bench_all.sh: ${cfg:-in-process}" >&2
    if ! "$bench" "${args[@]}" >>"$out.jsonl" 2>>"$out.txt"; then
        echo "bench_all.sh: ${cfg:-in-process} failed (see $out.txt)" >&2
        failed=1
    fi
done
exit $failed
