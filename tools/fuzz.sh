#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, ASan+UBSan, folder build-fuzz) and
# runs each for SECONDS_EACH seconds (default 20) from its seed corpus in
# tests/fuzz/corpus/<target>/ (and dictionary tests/fuzz/<target>.dict, if any). Prints per target the executions, the coverage (cov: and
# ft: from libFuzzer's final stats) and the crashes; exits non-zero when any target
# crashed, leaked, hung (10 s per input) or ran out of memory. New corpus entries go to a
# scratch folder, never into the tree; crash inputs are kept in build-fuzz/artifacts/.
#   tools/fuzz.sh [SECONDS_EACH] [TARGET...]      targets: config values settings
#                                                 mock_script sql_scan etcd_json
#   IMI_FUZZ_KEEP_GOING=1   go on past crashes (libFuzzer's fork mode), for long runs:
#                           every crash input is kept and counted, the exit code is the same
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
secs=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config values settings mock_script sql_scan etcd_json clog)

# The etcd reply reader gets short inputs: its nesting depth is bounded by the length.
declare -A max_len=([etcd_json]=2048 [sql_scan]=1024 [values]=512 [settings]=1024)

cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
    -DIMI_FUZZ=ON -DIMI_BUILD_TESTS=OFF >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null

scratch=$(mktemp -d /tmp/imi-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
status=0
printf '%-12s %12s %8s %8s %8s\n' target executions cov ft crashes
for t in "${targets[@]}"; do
    art=build-fuzz/artifacts/$t
    mkdir -p "$art" "$scratch/$t"
    log=$scratch/$t.log
    rc=0
    touch "$scratch/$t.start"
    extra=()
    # A dictionary of the input's words, when the target has one.
    [ -f "tests/fuzz/$t.dict" ] && extra+=(-dict="tests/fuzz/$t.dict")
    [ "${IMI_FUZZ_KEEP_GOING:-0}" = 1 ] && extra+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
    # -close_fd_mask=1: the targets' stdout (the config target logs there) is dropped.
    ASAN_OPTIONS=detect_leaks=1 build-fuzz/tests/fuzz/fuzz_"$t" "${extra[@]}" \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -close_fd_mask=1 -max_len="${max_len[$t]:-4096}" -artifact_prefix="$art/" \
        "$scratch/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
    # Fork mode prints no final stats: its last status line "#N: cov: ..." counts them.
    [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\):\{0,1\}[[:space:]].*cov:.*/\1/p' "$log" | tail -1 || true)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d" " -f2 || true)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d" " -f2 || true)
    crashes=$(find "$art" -type f -newer "$scratch/$t.start" | wc -l)
    [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ] && crashes=1
    [ "$crashes" -ne 0 ] && rc=${rc/#0/1}
    [ "$rc" -ne 0 ] && status=1
    printf '%-12s %12s %8s %8s %8s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$crashes"
    if [ "$rc" -ne 0 ]; then
        echo "fuzz: $t failed (exit $rc); inputs kept in $art/:" >&2
        find "$art" -type f -newer "$scratch/$t.start" | head -20 >&2
        grep -E -A25 '^==[0-9]+==ERROR|runtime error|Test unit written|ALARM|out-of-memory' "$log" \
            | head -60 >&2 || true
    fi
done
exit $status
