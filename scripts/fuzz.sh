#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) with clang + ASan + UBSan and runs each for a given
# time, one process at a time, at low priority. Not part of CI: the figures of the last long run
# are in docs/RELIABILITY.md, and every finding is a regression test that CI runs.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET ...]
#   SECONDS_PER_TARGET  default 600
#   TARGET              checkpoint strategy_proto strategy_json loraplan (default: all four)
# Environment:
#   LMS_FUZZ_DIR        corpora, artifacts and logs; default ../lms-fuzz beside the checkout
#                       (outside the repository). The corpus grows from run to run.
#   LMS_FUZZ_BUILD      build directory; default build-fuzz in the checkout
#   LMS_FUZZ_CXX        clang++ to use; default clang++-16 (clang 14 cannot compile <expected>)
#   LMS_FUZZ_KEEP_GOING 1: keep fuzzing after a crash (libFuzzer -fork=1 -ignore_crashes=1, still
#                       one process at a time), to collect every distinct finding in one run
#   LMS_FUZZ_AVOID_EMPTY 1: fuzz_loraplan does not merge models with empty tensors (while a
#                       finding about them is open; see docs/RELIABILITY.md)
# Seeds: the real MindSpore files of ../shared/real and every msfixtures.py scenario
# (tests/fuzz/make_seeds.py). Ends non-zero when a run left a new crash, leak, timeout or OOM
# artifact; the summary lines name them.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-600}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(checkpoint strategy_proto strategy_json loraplan)
work="${LMS_FUZZ_DIR:-$(cd "$here/.." && pwd)/lms-fuzz}"
build="${LMS_FUZZ_BUILD:-$here/build-fuzz}"
cxx="${LMS_FUZZ_CXX:-clang++-16}"
shared="$(cd "$here/.." && pwd)/shared"

if ! command -v "$cxx" >/dev/null || [ ! -d /usr/lib/llvm-16/lib/clang ]; then
  echo "fuzz: installing clang-16 and libclang-rt-16-dev"
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends clang-16 libclang-rt-16-dev >/dev/null
fi

echo "== fuzz: building in $build"
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" \
      -DLMS_BUILD_FUZZERS=ON -DLMS_BUILD_GUI=OFF -DLMS_BUILD_TESTS=OFF -DLMS_SANITIZE=ON >/dev/null
nice -n 10 cmake --build "$build" -j2 --target "${targets[@]/#/fuzz_}"

mkdir -p "$work"
if [ -f "$shared/interop/msfixtures.py" ]; then
  /usr/bin/python3 "$here/tests/fuzz/make_seeds.py" "$work/seeds" --shared "$shared"
else
  echo "fuzz: $shared/interop/msfixtures.py not found: fuzzing from the existing corpus only" >&2
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && command -v llvm-symbolizer >/dev/null; then
  export ASAN_SYMBOLIZER_PATH="$(command -v llvm-symbolizer)"
fi
status=0
summary=()
for target in "${targets[@]}"; do
  corpus="$work/corpus/$target" artifacts="$work/artifacts/$target" log="$work/logs/$target.log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")" "$work/seeds/$target"
  before=$(find "$artifacts" -type f | wc -l)
  touch "$log.start"
  flags=(-max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -max_len=1048576 -print_final_stats=1
         -artifact_prefix="$artifacts/" -dict="$here/tests/fuzz/$target.dict")
  [ "${LMS_FUZZ_KEEP_GOING:-0}" = 1 ] && flags+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  echo "== fuzz: $target for ${seconds}s (log: $log)"
  set +e
  nice -n 10 "$build/tests/fuzz/fuzz_$target" "${flags[@]}" "$corpus" "$work/seeds/$target" >"$log" 2>&1
  rc=$?
  set -e
  after=$(find "$artifacts" -type f | wc -l)
  # Plain mode prints "stat::number_of_executed_units"; fork mode prints "#N: cov: ..." lines.
  execs=$(grep -oP 'stat::number_of_executed_units: \K[0-9]+' "$log" | tail -1 || true)
  [ -n "$execs" ] || execs=$(grep -oP '^#\K[0-9]+(?=:? )' "$log" | tail -1 || true)
  cov=$(grep -oP 'cov: \K[0-9]+' "$log" | tail -1 || true)
  ft=$(grep -oP 'ft: \K[0-9]+' "$log" | tail -1 || true)
  line="$target: rc=$rc executions=${execs:-?} cov=${cov:-?} ft=${ft:-?} corpus=$(ls "$corpus" | wc -l) new_artifacts=$((after - before))"
  summary+=("$line")
  echo "$line"
  if ((after > before)); then
    status=1
    find "$artifacts" -type f -newer "$log.start" 2>/dev/null | sed 's/^/  artifact: /' || true
    grep -m3 -E 'ERROR: |runtime error|FUZZ INVARIANT' "$log" | sed 's/^/  /' || true
  fi
done
echo "== fuzz summary ($(date -u +%Y-%m-%dT%H:%MZ), ${seconds}s per target, artifacts in $work/artifacts)"
printf '%s\n' "${summary[@]}" | tee -a "$work/summary.txt"
exit "$status"
