#!/usr/bin/env bash
# tools/soak.sh [MINUTES] [CONFIG]: builds imi-soak and runs a mixed workload on every
# in-process driver (cache mem, mq mem, coord mem, db sqlite, plus uid, ratelimit and
# breaker) for MINUTES minutes (default 10), printing RSS, fds and threads once a minute.
# Not part of CI. BUILD_DIR (default build) is the CMake build folder to use.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
build=${BUILD_DIR:-build}
[ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target imi-soak imi_cache_mem imi_mq_mem imi_coord_mem imi_db_sqlite >/dev/null
export IMI_DRIVER_PATH=${IMI_DRIVER_PATH:-$PWD/$build/drivers}
exec "$build/tools/imi-soak" "$minutes" ${2:+"$2"}
