#!/usr/bin/env bash
# The clang ASan+UBSan build shared by the sanitizer suite and the fuzzers (build-asan/):
# every library is built with ASan+UBSan and libFuzzer coverage (-fsanitize=fuzzer-no-link),
# the test binaries link ASan+UBSan, the fuzz targets link libFuzzer as well.
#   bash scripts/sanitize-build.sh                 # everything
#   bash scripts/sanitize-build.sh fuzz_mesh       # only the named targets
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang++ >/dev/null || ! compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev
fi
BUILD_DIR=${BUILD_DIR:-build-asan}
# -O1 with line tables only: the build is the long pole of CI on 2 cores; asserts stay on.
# CMake reads CXX on a first configure only: a build dir configured earlier with another
# compiler (g++ ASan builds of older checkouts) starts over.
if [ -f "$BUILD_DIR/CMakeCache.txt" ] && ! grep -q '^CMAKE_CXX_COMPILER:.*clang++' "$BUILD_DIR/CMakeCache.txt"; then
  rm -rf "$BUILD_DIR/CMakeCache.txt" "$BUILD_DIR/CMakeFiles"
fi
CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DOUTRIGGER_SANITIZE=address,undefined -DOUTRIGGER_FUZZ=ON -DOUTRIGGER_BENCH=OFF >/dev/null
if [ $# -gt 0 ]; then
  cmake --build "$BUILD_DIR" -j "$(nproc)" --target "$@"
else
  cmake --build "$BUILD_DIR" -j "$(nproc)"
fi
