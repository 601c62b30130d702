#!/bin/bash
# Screenshots of the studio as a person sees it, for docs/STUDIO.md: runs build/tests/lms-studio-
# screenshots (the demo walkthrough) under Xvfb on a 1024x700 screen, a 1600x1000 screen, and a
# 1600x1000 screen at QT_SCALE_FACTOR=2, writing docs/screenshots/<size>-<step>.png.
# Needs xvfb and imagemagick (Debian packages of those names) and a GUI build (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
tool=build/tests/lms-studio-screenshots
out=${1:-docs/screenshots}
[ -x "$tool" ] || { echo "screenshots: build $tool first (cmake --build build --target lms-studio-screenshots)" >&2; exit 1; }
command -v Xvfb >/dev/null && command -v import >/dev/null ||
  { echo "screenshots: needs the Debian packages xvfb and imagemagick" >&2; exit 1; }
mkdir -p "$out"
display=:87
shoot() {  # size scale prefix
  local home
  home=$(mktemp -d)  # fresh settings: what a first start shows
  Xvfb "$display" -screen 0 "${1}x24" -nolisten tcp >/dev/null 2>&1 &
  local xvfb=$!
  sleep 1
  DISPLAY=$display QT_QPA_PLATFORM=xcb QT_SCALE_FACTOR=$2 HOME=$home XDG_RUNTIME_DIR=$home \
    XDG_CONFIG_HOME=$home/.config "$tool" "$out" "$3" || { kill "$xvfb"; rm -rf "$home"; return 1; }
  kill "$xvfb"
  wait "$xvfb" 2>/dev/null || true
  rm -rf "$home"
  local f
  for f in "$out/$3"-*.png; do convert "$f" +dither -colors 256 "PNG8:$f"; done  # ~65 KB instead of ~200
}
shoot 1024x700 1 1024x700
shoot 1600x1000 1 1600x1000
shoot 1600x1000 2 1600x1000@2x
