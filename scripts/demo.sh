#!/usr/bin/env bash
# The main job on the built-in demo, from a fresh Debian 12 machine: installs missing packages,
# builds, writes the demo checkpoints and merges them. With a display it opens LoRA Merge Studio on
# the demo workspace; without one (a server) it runs the same merges with the `loramerge` CLI.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$here/build"
"$here/scripts/setup.sh" "$build"
if [ -n "${DISPLAY:-}" ] && [ -x "$build/app/loramerge-studio" ] && [ "${1:-}" != "--cli" ]; then
  exec "$build/app/loramerge-studio" --demo
fi
cli="$build/app/loramerge"
work="$(mktemp -d /tmp/loramerge-demo.XXXXXX)"
"$cli" demo "$work/demo"
echo
echo "== merge the full demo checkpoint (lora_alpha 8, lora_rank 4)"
"$cli" --src_ckpt_path_or_dir "$work/demo/full/model.ckpt" --dst_ckpt_dir "$work/merged-full" --lora_scaling 8/4
echo
echo "== merge the 2-rank distributed demo checkpoint (strategy folder)"
"$cli" --src_ckpt_strategy "$work/demo/distributed/strategy" --src_ckpt_path_or_dir "$work/demo/distributed" \
       --dst_ckpt_dir "$work/merged-distributed" --lora_scaling 8/4
echo
"$cli" inspect "$work/merged-distributed/rank_0/checkpoint_0.ckpt"
echo
echo "demo files and results are in $work"
