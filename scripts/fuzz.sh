#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) into build-fuzz/ and runs each for
# SECONDS (default 60) seconds, seeded with the App Mesh corpus and examples/.
#   bash scripts/fuzz.sh            # every target, 60 s each (what CI runs)
#   SECONDS_PER_TARGET=3600 bash scripts/fuzz.sh fuzz_mesh   # a longer local run of one target
# Crashes are written to build-fuzz/crashes/<target>/; turn each into a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${SECONDS_PER_TARGET:-60}
if ! command -v clang++ >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev
fi
# Release build of the fuzz targets (speed); see CMakeLists.txt for the clang 14 coroutine note.
CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Release -DOUTRIGGER_FUZZ=ON \
  -DOUTRIGGER_SANITIZE=address,undefined -DOUTRIGGER_TESTS=OFF -DOUTRIGGER_BENCH=OFF >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cd fuzz && ls fuzz_*.cpp | sed 's/\.cpp$//')
fi
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]}"
seed_dir=build-fuzz/seeds
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t" "build-fuzz/crashes/$t" "$seed_dir/$t"
  case "$t" in
    fuzz_mesh) cp -f ../shared/corpus/appmesh-examples/*.yaml examples/*/*.yaml "$seed_dir/$t/" 2>/dev/null || true ;;
    *) [ -d "fuzz/seeds/$t" ] && cp -f "fuzz/seeds/$t/"* "$seed_dir/$t/" ;;
  esac
  echo "fuzz: $t for ${secs}s"
  # -max_len bounds inputs; -timeout flags a single input taking more than 10 s (a hang).
  "build-fuzz/fuzz/$t" "build-fuzz/corpus/$t" "$seed_dir/$t" -max_total_time="$secs" -timeout=10 \
    -max_len=65536 -artifact_prefix="build-fuzz/crashes/$t/" -print_final_stats=1 2>"build-fuzz/$t.log" \
    || { tail -40 "build-fuzz/$t.log"; echo "fuzz: $t FAILED"; exit 1; }
  grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "build-fuzz/$t.log" | sed "s/^/fuzz: $t /"
done
