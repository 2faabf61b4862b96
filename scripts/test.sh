#!/usr/bin/env bash
# The README's test command: installs what is needed, builds, and runs the whole test suite.
# .ci/run calls exactly this script.
#
#   bash scripts/test.sh                  # release build + every test binary (what CI runs)
#   ASAN=1 bash scripts/test.sh           # + the whole suite under ASan+UBSan
#   TSAN=1 bash scripts/test.sh           # + test_dataplane and test_routing under TSan
#   FUZZ=1 bash scripts/test.sh           # + each libFuzzer target for FUZZ_SECONDS (default 60) s
#   ASAN=1 TSAN=1 FUZZ=1 bash scripts/test.sh   # everything
#
# The sanitizer and fuzz stages are opt-in until each has a recorded green run on the merged
# code base (issue 8 tracks turning them on in CI).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
started=$(date +%s)
section() { echo; echo "=== $* ($(( $(date +%s) - started ))s)"; }

section "setup"
bash scripts/setup.sh

section "release build and suite"
BUILD_DIR=build bash scripts/build.sh
# Includes the deploy checks and the netns multi-pod test (root only; it skips itself elsewhere).
(cd build && ctest --output-on-failure -j "$jobs" --timeout 300)

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

if [ "${ASAN:-0}" = 1 ]; then
  section "ASan+UBSan build and suite"
  BUILD_DIR=build-asan CMAKE_ARGS="-DOUTRIGGER_SANITIZE=address,undefined -DOUTRIGGER_BENCH=OFF" \
    bash scripts/build.sh
  # The netns test already ran above against the release binary.
  (cd build-asan && ctest --output-on-failure -j "$jobs" --timeout 600 -LE netns)
fi

if [ "${TSAN:-0}" = 1 ]; then
  section "TSan build and suite (dataplane, routing)"
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOUTRIGGER_SANITIZE=thread \
    -DOUTRIGGER_BENCH=OFF >/dev/null
  cmake --build build-tsan -j "$jobs" --target outrigger test_dataplane test_routing
  (cd build-tsan && ctest --output-on-failure -j "$jobs" --timeout 600 -E '_NOT_BUILT$' -LE 'netns|deploy')
fi

if [ "${FUZZ:-0}" = 1 ]; then
  section "fuzzers"
  SECONDS_PER_TARGET=${FUZZ_SECONDS:-60} bash scripts/fuzz.sh
fi

section "done"
