#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan; scripts/sanitize-build.sh, build-asan/) and
# runs each for SECONDS_PER_TARGET (default 60) seconds, seeded with the App Mesh corpus and
# examples/.
#   bash scripts/fuzz.sh            # every target, 60 s each (what CI runs)
#   SECONDS_PER_TARGET=3600 bash scripts/fuzz.sh fuzz_mesh   # a longer local run of one target
# Crashes are written to $B/crashes/<target>/; turn each into a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${SECONDS_PER_TARGET:-60}
B=${BUILD_DIR:-build-asan}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cd fuzz && ls fuzz_*.cpp | sed 's/\.cpp$//')
fi
BUILD_DIR="$B" bash scripts/sanitize-build.sh "${targets[@]}"
seed_dir=$B/seeds
for t in "${targets[@]}"; do
  mkdir -p "$B/corpus/$t" "$B/crashes/$t" "$seed_dir/$t"
  case "$t" in
    fuzz_mesh) cp -f ../shared/corpus/appmesh-examples/*.yaml examples/*/*.yaml "$seed_dir/$t/" 2>/dev/null || true ;;
    fuzz_yaml_fast_path)
      cp -f ../shared/corpus/appmesh-examples/*.yaml examples/*/*.yaml "$seed_dir/$t/" 2>/dev/null || true
      cp -f "fuzz/seeds/$t/"* "$seed_dir/$t/" ;;
    *) [ -d "fuzz/seeds/$t" ] && cp -f "fuzz/seeds/$t/"* "$seed_dir/$t/" ;;
  esac
  echo "fuzz: $t for ${secs}s"
  # -max_len bounds inputs; -timeout flags a single input taking more than 10 s (a hang).
  "$B/fuzz/$t" "$B/corpus/$t" "$seed_dir/$t" -max_total_time="$secs" -timeout=10 \
    -max_len=65536 -artifact_prefix="$B/crashes/$t/" -print_final_stats=1 2>"$B/$t.log" \
    || { tail -40 "$B/$t.log"; echo "fuzz: $t FAILED"; exit 1; }
  grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$B/$t.log" | sed "s/^/fuzz: $t /"
done
