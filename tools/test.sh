#!/usr/bin/env bash
# Every test on a new machine: install packages, build, start the servers on loopback,
# run the whole CTest suite, then run it again built with ASan+UBSan, and stop the
# servers. Exits non-zero when anything fails.
#   IMI_SKIP_ASAN=1   skip the sanitizer pass (quicker local runs)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)

bash tools/deps.sh servers

jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"
if [ "${IMI_SKIP_ASAN:-0}" != 1 ]; then
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DIMI_SANITIZE=ON >/dev/null
    cmake --build build-asan -j "$jobs"
fi

export IMI_RUN_DIR=${IMI_RUN_DIR:-$(mktemp -d /tmp/imi-run.XXXXXX)}
trap 'bash "$root/tools/services.sh" stop || true' EXIT
bash tools/services.sh start
eval "$(bash tools/services.sh env)"

status=0
ctest --test-dir build --output-on-failure --timeout 600 || status=1
if [ "${IMI_SKIP_ASAN:-0}" != 1 ]; then
    echo "== again under AddressSanitizer + UndefinedBehaviorSanitizer =="
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --test-dir build-asan --output-on-failure --timeout 900 || status=1
fi
exit $status
