#!/usr/bin/env bash
# Everything CI checks, from a fresh Debian 12 machine: installs missing packages, builds with
# warnings as errors, runs the Qt Test suite (ctest) and the interop run of the CLI over every
# msfixtures.py scenario. A user's own clone has no ../shared: the interop run is then skipped
# with one line saying so; under CI (CI=true) the oracle is required.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$here/build"
"$here/scripts/setup.sh" "$build" -DLMS_BUILD_TESTS=ON -DLMS_BUILD_GUI=ON -DLMS_WARNINGS_AS_ERRORS=ON

echo "== format (.clang-format)"
"$here/scripts/check-format.sh"
echo "== no function over 100 lines in core/, app/, ui/"
/usr/bin/python3 "$here/scripts/long-functions.py"

echo "== unit and UI tests (ctest)"
ctest --test-dir "$build" --output-on-failure -j2

echo "== interop: loramerge over every msfixtures.py scenario"
shared="$(cd "$here/.." && pwd)/shared"
if [ -f "$shared/interop/msfixtures.py" ]; then
  /usr/bin/python3 "$here/tests/interop/run_interop.py" "$build/app/loramerge" --shared "$shared"
elif [ "${CI:-}" = "true" ]; then
  echo "interop: $shared/interop/msfixtures.py not found (CI needs ../shared beside the checkout)" >&2
  exit 1
else
  echo "interop: skipped: the oracle $shared/interop/msfixtures.py is not beside this checkout (CI=true requires it)"
fi
