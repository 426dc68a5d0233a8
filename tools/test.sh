#!/usr/bin/env bash
# Every test on a new machine: install packages, build, start the servers on loopback,
# run the whole CTest suite, then run it again built with ASan+UBSan, and stop the
# servers. Exits non-zero when anything fails.
# Criterion cannot start under ThreadSanitizer, so the TSan pass runs the conformance
# suites of the in-process drivers through `imi conformance` and the threaded benches.
#   IMI_SKIP_ASAN=1   skip the ASan+UBSan pass      IMI_SKIP_TSAN=1   skip the TSan pass
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)

bash tools/deps.sh servers

# Warnings are errors here (IMI_WERROR), not in a user's build. The main build is the
# Release one a user gets from -DCMAKE_BUILD_TYPE=Release.
jobs=$(nproc)
strict=(-G Ninja -DIMI_WERROR=ON)
cmake -S . -B build "${strict[@]}" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"
if [ "${IMI_SKIP_ASAN:-0}" != 1 ]; then
    cmake -S . -B build-asan "${strict[@]}" -DCMAKE_BUILD_TYPE=Debug -DIMI_SANITIZE=ON >/dev/null
    cmake --build build-asan -j "$jobs"
fi

if [ "${IMI_SKIP_TSAN:-0}" != 1 ]; then
    cmake -S . -B build-tsan "${strict[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIMI_TSAN=ON \
        -DIMI_BUILD_TESTS=OFF >/dev/null
    cmake --build build-tsan -j "$jobs" --target imi resilience_stress \
        imi_cache_mem imi_mq_mem imi_coord_mem imi_db_sqlite
    cmake --build build-tsan -j "$jobs" --target clog_stress
fi

# A core that simulates the next ABI minor, for drivers built against the frozen 1.0
# headers (tests/abi).
cmake -S . -B build-abi-next "${strict[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DIMI_ABI_NEXT_TEST=ON -DIMI_BUILD_TESTS=OFF >/dev/null
cmake --build build-abi-next -j "$jobs" --target imi imi_cache_mem imi_db_sqlite \
    abi_v1_0_cache_example abi_v1_0_mq_mem abi_v1_0_coord_mem abi_v1_0_db_sqlite

export IMI_RUN_DIR=${IMI_RUN_DIR:-$(mktemp -d /tmp/imi-run.XXXXXX)}
trap 'bash "$root/tools/services.sh" stop || true' EXIT
bash tools/services.sh start
eval "$(bash tools/services.sh env)"

status=0
echo "== ABI 1.0 drivers on a core that simulates the next minor =="
bash tests/abi/run.sh build-abi-next || status=1
bash tests/abi/run.sh build build-abi-next || status=1
if [ "${IMI_SKIP_TSAN:-0}" != 1 ]; then
    echo "== concurrency under ThreadSanitizer =="
    tsan() { TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 "$@" || status=1; }
    conf=tests/conformance/configs
    tsan build-tsan/tools/imi conformance cache mem -c $conf/cache_mem.ini
    tsan build-tsan/tools/imi conformance mq mem -c $conf/mq_mem.ini
    tsan build-tsan/tools/imi conformance coord mem -c $conf/coord_mem.ini
    # The reader's file must exist before the read-only reader opens it.
    IMI_DB_DIR=$IMI_RUN_DIR/tsan-db && mkdir -p "$IMI_DB_DIR" && touch "$IMI_DB_DIR/imi-conf-reader.db"
    IMI_DB_DIR=$IMI_DB_DIR tsan build-tsan/tools/imi conformance db sqlite -c $conf/db_sqlite.ini
    tsan build-tsan/tests/stress/resilience_stress
    tsan build-tsan/tests/stress/clog_stress
    tsan build-tsan/tools/imi bench breaker --threads 2 --ops 200000
    tsan build-tsan/tools/imi bench ratelimit --threads 2 --ops 200000
    tsan build-tsan/tools/imi bench uid --threads 2 --ops 200000
    # The db pool's lock-free slot and the reused result objects, under 4 threads.
    tsan build-tsan/tools/imi bench db --threads 4 --ops 4000
    # The mem mq queue: producer, batching member and completion thread (default.ini).
    tsan build-tsan/tools/imi bench mq --ops 20000 --rounds 5
fi
ctest --test-dir build --output-on-failure --timeout 600 || status=1
if [ "${IMI_SKIP_ASAN:-0}" != 1 ]; then
    echo "== again under AddressSanitizer + UndefinedBehaviorSanitizer =="
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --test-dir build-asan --output-on-failure --timeout 900 || status=1
fi
# libFuzzer smoke run over every fuzz target (tests/fuzz): a crash fails the run.
echo "== fuzz smoke run =="
bash tools/fuzz.sh 20 || status=1
exit $status
