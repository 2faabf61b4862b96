#!/usr/bin/env bash
# The README's test command: installs what is needed, builds, and runs the whole test suite.
# .ci/run calls exactly this script. Stages, each on by default (set to 0 to skip one locally):
#   release   RelWithDebInfo build (g++ 12, -Werror) and every test, netns and deploy included
#   BUILD_TYPES=...  the `outrigger` binary alone in each of these CMAKE_BUILD_TYPEs (default
#             "Release MinSizeRel"; g++ 12, -Werror; build-release/, build-minsizerel/)
#   IMAGE=1   scripts/build-image.sh: the Dockerfile's runtime and init images built with buildah
#             and checked (its Release compile reuses the Release build's ccache entries)
#   ASAN=1    the whole suite again under ASan+UBSan (clang 14)
#   FUZZ=1    each libFuzzer target for FUZZ_SECONDS (default 60) s, from the same clang build
#   TSAN=1    the suites with threads under TSan: $TSAN_SUITES (default below)
#   ASAN=0 TSAN=0 FUZZ=0 IMAGE=0 BUILD_TYPES= bash scripts/test.sh   # the first stage only
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
# Threads beyond the workers: the health checker, the access-log flusher, reload publishing.
TSAN_SUITES=${TSAN_SUITES:-test_dataplane test_resilience test_ops}
started=$(date +%s)
section() { echo; echo "=== $* ($(( $(date +%s) - started ))s)"; }
# One ccache for every build dir and checkout path (and the image's build stage).
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}" CCACHE_NOHASHDIR=1

section "setup"
bash scripts/setup.sh

section "release build and suite"
BUILD_DIR=build CMAKE_ARGS=-DOUTRIGGER_WERROR=ON bash scripts/build.sh
# Includes the deploy checks and the netns multi-pod test (root only; it skips itself elsewhere).
(cd build && ctest --output-on-failure -j "$jobs" --timeout 300)

# The binary users build (the Dockerfile's Release) and the smallest one; only `outrigger`.
for type in ${BUILD_TYPES-Release MinSizeRel}; do
  section "$type build (outrigger only)"
  dir="build-$(tr '[:upper:]' '[:lower:]' <<<"$type")"
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" -DOUTRIGGER_WERROR=ON \
    -DOUTRIGGER_TESTS=OFF -DOUTRIGGER_BENCH=OFF >/dev/null
  cmake --build "$dir" -j "$jobs" --target outrigger
  "$dir/outrigger" version
  "$dir/outrigger" validate examples/canary/mesh.yaml
done

if [ "${IMAGE:-1}" = 1 ]; then
  section "images (scripts/build-image.sh)"
  CMAKE_ARGS=-DOUTRIGGER_WERROR=ON bash scripts/build-image.sh
fi

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

if [ "${ASAN:-1}" = 1 ] || [ "${FUZZ:-1}" = 1 ]; then
  # One clang build serves both stages: ASan+UBSan everywhere, libFuzzer coverage on every
  # library, the test binaries and the fuzz targets side by side (scripts/sanitize-build.sh).
  section "clang ASan+UBSan build (tests and fuzz targets)"
  bash scripts/sanitize-build.sh
fi

if [ "${ASAN:-1}" = 1 ]; then
  section "ASan+UBSan suite"
  # Everything except the netns and deploy checks, which ran above against the release binary.
  (cd build-asan && ctest --output-on-failure -j "$jobs" --timeout 600 -LE 'netns|deploy')
fi

if [ "${FUZZ:-1}" = 1 ]; then
  section "fuzzers, ${FUZZ_SECONDS:-60} s each"
  BUILD_DIR=build-asan SECONDS_PER_TARGET=${FUZZ_SECONDS:-60} bash scripts/fuzz.sh
fi

if [ "${TSAN:-1}" = 1 ]; then
  section "TSan build and suites (${TSAN_SUITES})"
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    -DOUTRIGGER_SANITIZE=thread -DOUTRIGGER_BENCH=OFF >/dev/null
  # shellcheck disable=SC2086
  cmake --build build-tsan -j "$jobs" --target outrigger $TSAN_SUITES
  (cd build-tsan && ctest --output-on-failure -j "$jobs" --timeout 600 -E '_NOT_BUILT' -LE 'netns|deploy')
fi

section "done"
