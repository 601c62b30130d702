#!/usr/bin/python3
"""Builds the seed corpora of the libFuzzer targets (tests/fuzz/) from real MindSpore files
(../shared/real/) and every msfixtures.py scenario.

Usage: make_seeds.py OUT_DIR [--shared DIR] [--max-bytes N]

Writes OUT_DIR/<target>/ for the targets checkpoint, strategy_proto, strategy_json and loraplan:
  checkpoint      every .ckpt / .safetensors checkpoint of the scenarios and of shared/real up to
                  --max-bytes (larger files contribute their first --max-bytes bytes, a truncation
                  seed), plus the negative scenarios' files;
  strategy_proto  every strategy file (per-rank and merged);
  strategy_json   the same strategies converted to the JSON form of spec section 2.3, with
                  tensor_shape added where the scenario's checkpoints tell the full shape;
  loraplan        each checkpoint's index as text, one "name<TAB>tensor_type<TAB>d0,d1" per line.
Files are named by content hash, so re-running only adds new seeds."""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile


def save(out_dir, target, data):
    folder = os.path.join(out_dir, target)
    os.makedirs(folder, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def is_strategy_path(path):
    return "strategy" in os.path.basename(os.path.dirname(path)) or "strategy" in os.path.basename(path)


def full_shapes(fx, path):
    """{name: dims} of the scenario's full model (expected/merged.ckpt), {} when there is none."""
    folder = os.path.dirname(path)
    while folder != os.path.dirname(folder) and not os.path.exists(os.path.join(folder, "scenario.json")):
        folder = os.path.dirname(folder)
    merged = os.path.join(folder, "expected", "merged.ckpt")
    if not os.path.exists(merged):
        return {}
    return {p.name: p.dims for p in fx.open_tensors(merged, keep=False).params}


def strategy_to_json(fx, data, shapes):
    decoded = fx.decode_strategy(data)
    items = {}
    for node, stage, strategies in decoded["items"]:
        items[node or "node"] = {"stage": stage or 0, "parallel_strategy": strategies}
    layouts = {}
    for name, lay in decoded["layouts"]:
        entry = {"dev_matrix": lay["dev_matrix"][0] if lay["dev_matrix"] else [],
                 "tensor_map": (lay["tensor_map"][0] if len(lay["tensor_map"]) == 1 else lay["tensor_map"]),
                 "field": lay["field"], "opt_weight_shard_step": lay["opt_weight_shard_step"],
                 "opt_weight_shard_size": lay["opt_weight_shard_size"]}
        plain = name.split("-", 1)[1] if name.split("-", 1)[0].isdigit() and "-" in name else name
        if plain in shapes:
            entry["tensor_shape"] = shapes[plain]
        if any(lay["indices_offset"]):
            entry["param_split_shape"] = lay["param_split_shape"][0]
            entry["indices_offset"] = lay["indices_offset"][0]
        layouts[name] = entry
    return {"current_stage": decoded["current_stage"], "parallel_strategy_item": items,
            "parallel_layout_item": layouts}


def index_text(fx, path):
    params = [(p.name, p.ttype, p.dims) for p in fx.open_tensors(path, keep=False).params]
    lines = ["%s\t%s\t%s" % (n, t, ",".join(str(d) for d in dims)) for n, t, dims in params]
    return ("\n".join(lines) + "\n").encode()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--shared", default=os.path.normpath(os.path.join(here, "..", "..", "..", "shared")))
    parser.add_argument("--max-bytes", type=int, default=1 << 20)
    args = parser.parse_args()
    fixtures = os.path.join(args.shared, "interop", "msfixtures.py")
    if not os.path.exists(fixtures):
        print("make_seeds: %s not found" % fixtures, file=sys.stderr)
        return 1
    sys.path.insert(0, os.path.dirname(fixtures))
    import msfixtures as fx  # noqa: E402  (found through --shared)

    work = tempfile.mkdtemp(prefix="lms-seeds-")
    subprocess.run(["/usr/bin/python3", fixtures, "generate", work], check=True, capture_output=True)
    roots = [work, os.path.join(args.shared, "real")]
    counts = {}
    for root in roots:
        for folder, _, files in os.walk(root):
            for name in sorted(files):
                path = os.path.join(folder, name)
                if "expected" in path.split(os.sep) or not (name.endswith(".ckpt") or name.endswith(".safetensors")):
                    continue
                with open(path, "rb") as f:
                    data = f.read(args.max_bytes)
                if is_strategy_path(path) and not name.endswith(".safetensors"):
                    save(args.out, "strategy_proto", data)
                    counts["strategy_proto"] = counts.get("strategy_proto", 0) + 1
                    try:
                        text = json.dumps(strategy_to_json(fx, data, full_shapes(fx, path)), separators=(",", ":")).encode()
                        save(args.out, "strategy_json", text)
                        counts["strategy_json"] = counts.get("strategy_json", 0) + 1
                    except Exception as e:  # a negative scenario's strategy: the proto seed is enough
                        print("make_seeds: no JSON for %s: %s" % (path, e), file=sys.stderr)
                    continue
                save(args.out, "checkpoint", data)
                counts["checkpoint"] = counts.get("checkpoint", 0) + 1
                try:
                    save(args.out, "loraplan", index_text(fx, path))
                    counts["loraplan"] = counts.get("loraplan", 0) + 1
                except Exception:
                    pass  # negative scenarios have no index
    subprocess.run(["rm", "-rf", work], check=False)
    for target in ("checkpoint", "strategy_proto", "strategy_json", "loraplan"):
        folder = os.path.join(args.out, target)
        total = len(os.listdir(folder)) if os.path.isdir(folder) else 0
        print("make_seeds: %-15s %3d files read, %3d distinct seeds in %s" % (target, counts.get(target, 0), total, folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
