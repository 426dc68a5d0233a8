#!/usr/bin/env bash
# The main job on a new machine: install what the build needs, build, and run
# `imi demo` on config/default.ini (in-memory drivers and SQLite: no servers).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tools/deps.sh build
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build
exec build/tools/imi demo -c config/default.ini
