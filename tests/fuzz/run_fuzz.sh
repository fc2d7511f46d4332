#!/usr/bin/env bash
# run_fuzz.sh - build and run the campaign-loader libFuzzer target for a bounded time.
#
#   tests/fuzz/run_fuzz.sh [SECONDS]        # default 60
#
# Configures its own clang build (NNFI_FUZZ_BUILD, default build-fuzz/ at the
# repository root) from tests/fuzz/CMakeLists.txt alone - the loader's two
# sources plus libcyaml/libyaml, with -fsanitize=fuzzer,address,undefined -
# collects the seed corpus from every campaign YAML in the repository
# (campaigns/, tests/**: good and bad config files, regressions) into the build
# directory, and runs the target with leak detection on. New interesting inputs
# accumulate in BUILD/corpus; crashes, leaks, timeouts and out-of-memory inputs
# land in BUILD/artifacts. Exits non-zero on any of them, or on a sanitizer
# report. A crashing input belongs in tests/fuzz/regressions/ (as NAME.yaml)
# once the loader is fixed; CTest's fuzz_config_replay then replays it.
set -euo pipefail
secs=${1:-60}
[[ $secs =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS]" >&2; exit 2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${NNFI_FUZZ_BUILD:-$root/build-fuzz}
cc=${NNFI_FUZZ_CC:-clang}
command -v "$cc" >/dev/null || { echo "run_fuzz: $cc not found; hint: scripts/install-deps installs clang" >&2; exit 1; }

gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$root/tests/fuzz" -B "$build" "${gen[@]}" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build.configure.log" 2>&1 ||
    { cat "$build.configure.log" >&2; exit 1; }
  rm -f "$build.configure.log"
fi
cmake --build "$build" >/dev/null || { cmake --build "$build" >&2; exit 1; }

# Seeds: collected on each run (never copied into the repository).
rm -rf "$build/seeds" "$build/artifacts"
mkdir -p "$build/seeds" "$build/corpus" "$build/artifacts"
n=0
while IFS= read -r -d '' f; do
  rel=${f#"$root"/}
  cp "$f" "$build/seeds/${rel//\//__}"
  n=$((n + 1))
done < <(find "$root/campaigns" "$root/tests" -path "$root/tests/*/build*" -prune -o \
  -type f \( -name '*.yaml' -o -name '*.yml' \) -print0)
echo "run_fuzz: $n seed files, ${secs}s, corpus $build/corpus"

log=$build/fuzz.log
status=0
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
  "$build/fuzz_config" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
  -detect_leaks=1 -print_final_stats=1 -dict="$root/tests/fuzz/campaign.dict" \
  -artifact_prefix="$build/artifacts/" "$build/corpus" "$build/seeds" >"$log" 2>&1 || status=$?

grep -E "^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" "$log" || true
echo "run_fuzz: corpus now $(find "$build/corpus" -type f | wc -l) inputs"
if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|contract breach" "$log"; then
  [[ $status -ne 0 ]] || status=1
fi
if [[ -n $(ls -A "$build/artifacts") ]]; then
  echo "run_fuzz: artifacts:" && ls -l "$build/artifacts"
  [[ $status -ne 0 ]] || status=1
fi
if [[ $status -ne 0 ]]; then
  echo "run_fuzz: FAILED (exit $status); the end of $log:" >&2
  tail -n 60 "$log" >&2
  exit "$status"
fi
echo "run_fuzz: clean"
