#!/usr/bin/env bash
# Builds the .deb from a configured and built tree, unpacks it into a temporary root (dpkg -x) and
# checks it as a user would meet it: metadata and dependencies, the files in their places, the
# programs running from the package alone, the desktop entry and AppStream metainfo valid and
# consistent with the CMake identity, the icons and the man page.
# Usage: packaging/check-package.sh BUILD_DIR        (the tree must already be built)
# Needs: cpack, dpkg-dev, desktop-file-utils, appstream, man-db, groff-base, file, binutils.
set -uo pipefail

if [ $# -ne 1 ] || [ ! -f "$1/CMakeCache.txt" ]; then
  echo "usage: $0 BUILD_DIR   (a configured and built CMake tree)" >&2
  exit 2
fi
build="$(cd "$1" && pwd)"
cache="$build/CMakeCache.txt"
cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$cache" | head -n 1; }

version="$(cache_value CMAKE_PROJECT_VERSION)"
with_gui="$(cache_value LMS_BUILD_GUI)"
source_dir="$(cache_value CMAKE_HOME_DIRECTORY)"
# The app id is defined once, in the top-level CMakeLists.txt; read it from there.
app_id="$(sed -n 's/^set(LMS_APP_ID "\([^"]*\)")$/\1/p' "$source_dir/CMakeLists.txt")"
case "$with_gui" in ON | on | TRUE | true | 1 | YES | yes) with_gui=1 ;; *) with_gui=0 ;; esac
if ((with_gui)); then package=loramerge-studio; else package=loramerge; fi

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; [ $# -lt 2 ] || printf '%s\n' "$2" | sed 's/^/     /'; }
# check NAME COMMAND...: passes when COMMAND exits 0; shows its output otherwise.
check() {
  local name="$1" output status
  shift
  output="$("$@" 2>&1)"
  status=$?
  if ((status == 0)); then pass "$name"; else fail "$name" "${output:+$output
}(exit status $status)"; fi
}
finish() {
  echo "package: $passed passed, $failed failed"
  ((failed == 0))
  exit
}

work="$(mktemp -d "${TMPDIR:-/tmp}/lms-package.XXXXXX")"
trap 'rm -rf "$work"' EXIT
root="$work/root"

echo "== package $package $version (app id $app_id) from $build"
if [ -z "$version" ] || [ -z "$app_id" ]; then
  fail "read version and app id from CMake"
  finish
fi

# --- build the .deb into the temporary directory, leaving the build tree as it was -------------
if output="$(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" 2>&1)"; then
  pass "cpack -G DEB"
else
  fail "cpack -G DEB" "$output"
  finish
fi
debs=("$work"/out/*.deb)
if [ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ]; then
  deb="${debs[0]}"
  pass "one package: $(basename "$deb")"
else
  fail "exactly one .deb written" "$(ls -l "$work/out")"
  finish
fi
arch="$(dpkg --print-architecture)"
check "file name is ${package}_${version}-1_${arch}.deb" test "$(basename "$deb")" = "${package}_${version}-1_${arch}.deb"

# --- control fields -------------------------------------------------------------------------
field() { dpkg-deb --field "$deb" "$1"; }
check "Package: $package" test "$(field Package)" = "$package"
check "Version: $version-1" test "$(field Version)" = "$version-1"
check "Architecture: $arch" test "$(field Architecture)" = "$arch"
check "Maintainer and Description present" test -n "$(field Maintainer)" -a -n "$(field Description)"
check "Description has no XML entities" bash -c "! dpkg-deb --field '$deb' Description | grep -E '&[a-z]+;'"
depends="$(field Depends)"
echo "     Depends: $depends"
# Package names in Depends, one a line (alternatives "a | b" count as both).
depends_names="$(tr ',|' '\n' <<<"$depends" | sed 's/^ *//; s/[ (].*//; /^$/d')"

# Every shared library the binaries link directly (DT_NEEDED) must come from a package that
# Depends names, itself or through its Provides (what dpkg-shlibdeps is for), so the .deb installs
# on a clean Debian 12. Libraries those load in turn are their own packages' business.
dpkg-deb -x "$deb" "$root" || { fail "dpkg -x"; finish; }
pass "dpkg -x into a temporary root"
binaries=("$root/usr/bin/loramerge")
((with_gui)) && binaries+=("$root/usr/bin/loramerge-studio")
missing_deps=""
for binary in "${binaries[@]}"; do
  [ -x "$binary" ] || continue
  resolved="$(env -u LD_LIBRARY_PATH ldd "$binary")"
  for soname in $(readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    lib="$(sed -n "s|^[[:space:]]*${soname//./\\.} => \(/[^ ]*\) .*|\1|p" <<<"$resolved")"
    owner=""
    for candidate in "$lib" "$(readlink -f "$lib")" "${lib#/usr}" "/usr${lib}"; do
      owner="$(dpkg-query -S "$candidate" 2>/dev/null | head -n 1 | sed 's/:.*//')"
      [ -n "$owner" ] && break
    done
    provides="$(dpkg-query -W -f='${Provides}' "$owner" 2>/dev/null | tr ',' '\n' | sed 's/^ *//; s/[ (].*//')"
    if [ -z "$lib" ] || [ -z "$owner" ]; then
      missing_deps+="$(basename "$binary"): $soname (${lib:-not found}) belongs to no installed package"$'\n'
    elif ! grep -Fqx -f <(printf '%s\n' "$owner" "$provides" | sed '/^$/d') <<<"$depends_names"; then
      missing_deps+="$(basename "$binary"): $soname is in $owner, which Depends does not name"$'\n'
    fi
  done
done
if [ -z "$missing_deps" ]; then pass "Depends names the package of every linked library"; else fail "Depends complete" "$missing_deps"; fi
if ((with_gui)); then
  # Qt opens its X11 window through a plugin loaded at run time, which no DT_NEEDED names.
  xcb_owner="$(dpkg-query -S '*/qt6/plugins/platforms/libqxcb.so' 2>/dev/null | head -n 1 | sed 's/:.*//')"
  check "Depends names $xcb_owner, home of the Qt xcb platform plugin" \
        grep -Fqx "${xcb_owner:-"(libqxcb.so not installed)"}" <<<"$depends_names"
fi

# --- files in their places ------------------------------------------------------------------
expected=(usr/bin/loramerge usr/share/man/man1/loramerge.1.gz "usr/share/doc/$package/README.md")
if ((with_gui)); then
  expected+=(usr/bin/loramerge-studio "usr/share/applications/$app_id.desktop"
             "usr/share/metainfo/$app_id.metainfo.xml" "usr/share/icons/hicolor/scalable/apps/$app_id.svg")
  for size in 16 22 24 32 48 64 128 256; do
    expected+=("usr/share/icons/hicolor/${size}x${size}/apps/$app_id.png")
  done
fi
absent=""
for path in "${expected[@]}"; do [ -f "$root/$path" ] || absent+="$path"$'\n'; done
if [ -z "$absent" ]; then pass "all ${#expected[@]} expected files installed"; else fail "files installed" "$absent"; fi
stray="$(find "$root" -type f -printf '/%P\n' | grep -Ev '^/usr/(bin|share)/')"
if [ -z "$stray" ]; then pass "nothing outside /usr/bin and /usr/share"; else fail "no files outside /usr/bin, /usr/share" "$stray"; fi
for binary in "${binaries[@]}"; do
  [ -x "$binary" ] || continue
  name="$(basename "$binary")"
  check "$name has no RPATH/RUNPATH" bash -c "! readelf -d '$binary' | grep -Eq 'R(UN)?PATH'"
  check "$name is stripped" bash -c "file -b '$binary' | grep -q ', stripped'"
  check "$name resolves every library without the build tree" \
        bash -c "! env -u LD_LIBRARY_PATH ldd '$binary' | grep -E 'not found|$build'"
done

# --- the command line from the package --------------------------------------------------------
cli="$root/usr/bin/loramerge"
output="$(env -u LD_LIBRARY_PATH "$cli" --version 2>&1)"
if [ "$output" = "loramerge $version" ]; then
  pass "loramerge --version prints 'loramerge $version'"
else
  fail "loramerge --version prints 'loramerge $version'" "$output"
fi
if ((with_gui)); then
  # The studio starts from the package (offscreen: CI has no display) and reports the same version.
  output="$(env -u LD_LIBRARY_PATH QT_QPA_PLATFORM=offscreen XDG_RUNTIME_DIR="$work" \
              "$root/usr/bin/loramerge-studio" --version 2>&1)"
  if [ "$output" = "loramerge-studio $version" ]; then
    pass "loramerge-studio --version prints 'loramerge-studio $version'"
  else
    fail "loramerge-studio --version prints 'loramerge-studio $version'" "$output"
  fi
fi
demo="$work/demo"
output="$(env -u LD_LIBRARY_PATH "$cli" demo "$demo" 2>&1)"
status=$?
if ((status == 0)) && [ -s "$demo/full/model.ckpt" ]; then
  pass "loramerge demo writes full/model.ckpt"
else
  fail "loramerge demo writes full/model.ckpt" "${output:+$output
}(exit status $status)"
fi
merged="$work/merged"
output="$(env -u LD_LIBRARY_PATH "$cli" --quiet --src_ckpt_path_or_dir "$demo/full/model.ckpt" \
            --dst_ckpt_dir "$merged" --lora_scaling 8/4 2>&1)"
status=$?
if ((status == 0)) && [ -s "$merged/rank_0/checkpoint_0.ckpt" ]; then
  pass "loramerge merges the demo checkpoint"
else
  fail "loramerge merges the demo checkpoint" "${output:+$output
}(exit status $status)"
fi

# --- man page --------------------------------------------------------------------------------
page="$root/usr/share/man/man1/loramerge.1.gz"
if [ -f "$page" ]; then
  rendered="$work/man.txt"
  warnings="$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >"$rendered")"
  check "man -l renders without warnings" test -z "$warnings" -a -s "$rendered"
  # help2man finds a SYNOPSIS only in GNU-style "Usage: loramerge ..." / "  or:  loramerge ..." lines.
  for section in NAME SYNOPSIS DESCRIPTION EXAMPLES; do
    check "man page has $section" grep -q "^$section" "$rendered"
  done
  check "man page documents --lora_scaling" grep -q -- "--lora_scaling" "$rendered"
  check "man page carries version $version" grep -q "$version" "$rendered"
fi

# --- desktop entry, metainfo, icons ---------------------------------------------------------
if ((with_gui)); then
  desktop="$root/usr/share/applications/$app_id.desktop"
  metainfo="$root/usr/share/metainfo/$app_id.metainfo.xml"
  if [ -f "$desktop" ]; then
    check "desktop-file-validate" desktop-file-validate "$desktop"
    exec_name="$(sed -n 's/^Exec=\([^ ]*\).*/\1/p' "$desktop")"
    check "desktop Exec=$exec_name is in the package" test -x "$root/usr/bin/$exec_name"
    check "desktop Icon= is the app id" test "$(sed -n 's/^Icon=//p' "$desktop")" = "$app_id"
  fi
  if [ -f "$metainfo" ]; then
    check "appstreamcli validate --no-net" appstreamcli validate --no-net --explain "$metainfo"
    check "metainfo id is the app id" grep -q "<id>$app_id</id>" "$metainfo"
    check "metainfo launchable is the desktop file" grep -q ">$app_id.desktop</launchable>" "$metainfo"
    newest="$(sed -n 's/.*<release version="\([^"]*\)".*/\1/p' "$metainfo" | head -n 1)"
    check "metainfo newest release is $version" test "$newest" = "$version"
  fi
  wrong=""
  for size in 16 22 24 32 48 64 128 256; do
    png="$root/usr/share/icons/hicolor/${size}x${size}/apps/$app_id.png"
    [ -f "$png" ] || continue
    file -b "$png" | grep -q "^PNG image data, $size x $size," || wrong+="$(basename "$(dirname "$(dirname "$png")")"): $(file -b "$png")"$'\n'
  done
  if [ -z "$wrong" ]; then pass "hicolor PNGs have their nominal sizes"; else fail "hicolor PNG sizes" "$wrong"; fi
  svg="$root/usr/share/icons/hicolor/scalable/apps/$app_id.svg"
  [ -f "$svg" ] && check "scalable icon is SVG" bash -c "file -b '$svg' | grep -q 'SVG'"
fi

finish
