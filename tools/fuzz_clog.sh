#!/usr/bin/env bash
# Builds the clog fuzz target with clang, libFuzzer, ASan and UBSan straight from the
# sources (no CMake build needed) and runs it over tests/fuzz/corpus/clog.
#   tools/fuzz_clog.sh [SECONDS]     default 30; the corpus found goes to $IMI_FUZZ_OUT
# Exits non-zero on a crash, leak, sanitizer report or a line that fails its checks.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-30}
out=${IMI_FUZZ_OUT:-$(mktemp -d /tmp/imi-fuzz-clog.XXXXXX)}
bin=$out/fuzz_clog
mkdir -p "$out/corpus"
command -v clang >/dev/null || { echo "fuzz_clog: clang not installed (tools/deps.sh build)" >&2; exit 1; }
# Only the core files clog needs; the loader and config parsing are not linked.
clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -Wall -Wextra -Werror \
    -I"$root/include" -I"$root/core" \
    "$root"/tests/fuzz/clog_fuzz.c "$root"/core/clog*.c "$root"/core/error.c \
    "$root"/core/ctx.c "$root"/core/util.c \
    $(pkg-config --cflags --libs jansson) -lpthread -lm -o "$bin"
echo "fuzz_clog: running $secs s, corpus in $out/corpus" >&2
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$bin" -max_total_time="$secs" -max_len=16384 -timeout=10 -rss_limit_mb=1024 \
    -print_final_stats=1 -artifact_prefix="$out/" "$out/corpus" "$root/tests/fuzz/corpus/clog"
