#!/usr/bin/env bash
# The sanitizer run CI makes (docs/RELIABILITY.md): the core, the CLI and the core tests built with
# AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer included), GUI off, then
#   1. ctest -L core (the unit tests, the fault-injection tests and the bad-input catalogue),
#   2. the interop harness over every msfixtures.py scenario with the sanitized CLI.
# Any sanitizer report fails the run (halt_on_error, exitcode 1 from the test or the CLI).
# Usage: scripts/sanitize.sh [BUILD_DIR]   (default: build-asan in the checkout)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$here/build-asan}"
shared="$(cd "$here/.." && pwd)/shared"

# No -Werror here: GCC reports false -Wmaybe-uninitialized under ASan instrumentation; the warning
# policy is enforced by the normal -Werror build of scripts/test.sh.
"$here/scripts/setup.sh" "$build" -DLMS_SANITIZE=ON -DLMS_BUILD_GUI=OFF -DLMS_BUILD_TESTS=ON \
                                  -DLMS_WARNINGS_AS_ERRORS=OFF

# detect_leaks: LeakSanitizer at exit; the CLI and every test binary must not leak.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:strict_string_checks=1:check_initialization_order=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

echo "== sanitizers: core and CLI tests (ctest -L core, ASan+UBSan)"
ctest --test-dir "$build" -L core --output-on-failure -j2

echo "== sanitizers: interop with the ASan+UBSan loramerge"
if [ ! -f "$shared/interop/msfixtures.py" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "sanitize: $shared/interop/msfixtures.py not found (CI needs ../shared beside the checkout)" >&2
    exit 1
  fi
  echo "sanitize: interop skipped: the oracle $shared/interop/msfixtures.py is not beside this checkout (CI=true requires it)"
  exit 0
fi
/usr/bin/python3 "$here/tests/interop/run_interop.py" "$build/app/loramerge" --shared "$shared"
