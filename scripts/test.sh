#!/usr/bin/env bash
# Everything CI checks, from a fresh Debian 12 machine: installs missing packages, builds with
# warnings as errors, runs the Qt Test suite (ctest) and the interop run of the CLI over every
# msfixtures.py scenario.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$here/build"
"$here/scripts/setup.sh" "$build" -DLMS_BUILD_TESTS=ON -DLMS_BUILD_GUI=ON -DLMS_WARNINGS_AS_ERRORS=ON

echo "== unit and UI tests (ctest)"
ctest --test-dir "$build" --output-on-failure -j2

echo "== interop: loramerge over every msfixtures.py scenario"
shared="$(cd "$here/.." && pwd)/shared"
if [ -f "$shared/interop/msfixtures.py" ]; then
  /usr/bin/python3 "$here/tests/interop/run_interop.py" "$build/app/loramerge" --shared "$shared"
else
  echo "interop: $shared/interop/msfixtures.py not found (../shared must sit beside the checkout)" >&2
  exit 1
fi
