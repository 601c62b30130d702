#!/usr/bin/python3
"""Writes a MindFormers Checkpoint 2.0 save of the msfixtures bench model for bench.py (W6):
OUT/input/checkpoint/latest_checkpointed_iteration.txt, iteration_00000100/ with one
llama-model-000000r-000000N.safetensors per tensor-parallel rank, metadata.json and common.json,
plus probe.json and scenario.json in the form `msfixtures.py bench` writes them. Values, names,
layouts and probes come from msfixtures' own bench model (bench_model, ck2_metadata), so
check_probe.py can check the merged result; tensors are generated in row blocks, so memory stays
bounded. Optimizer states are left out (Checkpoint 2.0 keeps them in -opt- files that a merge
never reads).

Usage: make_ck2.py OUT --gb G --ranks N [--lora-rank R]"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..", "..", "shared", "interop")))
import msfixtures as mf  # noqa: E402

ITERATION = 100


def rank_box(q, ranks, rank):
    if q.tmap is None or ranks == 1:
        return [[0, n] for n in q.shape]
    return mf.rank_slice(list(q.shape), [ranks], q.tmap, 0, 0, rank)


def write_shard(path, params, ranks, rank):
    entries, pos = [], 0
    for q in params:
        box = rank_box(q, ranks, rank)
        n = mf.DTYPES[q.ttype].itemsize
        for a, b in box:
            n *= b - a
        entries.append((q.name, q.ttype, [b - a for a, b in box], n))
    with open(path, "wb") as f:
        f.write(mf.encode_st_header(entries, (("format", "ms"),)))
        for q in params:
            (r0, r1), (c0, c1) = rank_box(q, ranks, rank) if len(q.shape) == 2 else ([0, 1], rank_box(q, ranks, rank)[0])
            step = max(1, (1 << 22) // max(1, c1 - c0))
            for r in range(r0, r1, step):
                f.write(q.block(r, min(r1, r + step), c0, c1).tobytes())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--gb", type=float, required=True)
    parser.add_argument("--ranks", type=int, default=8)
    parser.add_argument("--lora-rank", type=int, default=16)
    args = parser.parse_args()
    ps, model = mf.bench_model(args.gb, "BFloat16", args.lora_rank)
    params = [q for q in ps if q.role in ("param", "lora_a", "lora_b")]
    root = os.path.join(args.out, "input", "checkpoint")
    it = mf.ck2_iter_dir(root, ITERATION)
    os.makedirs(it, exist_ok=True)
    name = lambda r: mf.ck2_file_name("llama", "model", r, args.ranks)
    for r in range(args.ranks):
        write_shard(os.path.join(it, name(r)), params, args.ranks, r)
    tensors = [(q.name, q.ttype, list(q.shape),
                mf.ck2_layout([args.ranks], q.tmap, ["tp"], args.ranks) if q.tmap else None) for q in params]
    mf.write_json(os.path.join(it, "metadata.json"), mf.ck2_metadata(tensors, args.ranks, lambda n, r: name(r)), indent=4)
    mf.write_json(os.path.join(it, "common.json"), {"epoch_num": 1, "step_num": ITERATION, "global_step": ITERATION},
                  indent=4)
    with open(os.path.join(root, "latest_checkpointed_iteration.txt"), "w") as f:
        f.write(str(ITERATION))
    # Probes as msfixtures' bench computes them (alpha = 2R, so s = 2): W + s·B·A in float64 from the
    # stored values, rounded once.
    scale = 2.0
    by, H, probes = {q.name: q for q in ps}, model["hidden"], []
    for base in ("model.layers.0.attention.wq.weight", "model.layers.%d.attention.wo.weight" % (model["layers"] - 1)):
        w, a, b = by[base], *(by[n] for n in mf.lora_names(base, "mindpet"))
        samples = []
        for r, c in ((0, 0), (H - 1, H - 1), (H // 3, H // 2), (H // 2, 7)):
            x = w.f64(r, r + 1, c, c + 1)[0, 0] + scale * float(b.f64(r, r + 1, 0, args.lora_rank) @
                                                                a.f64(0, args.lora_rank, c, c + 1))
            qv = mf.quantize(w.ttype, mf.np.array([x]))
            samples.append(dict(row=r, col=c, expected=float(mf.to_f64(w.ttype, qv)[0]), expected_f64=x,
                                expected_bits="0x" + qv.tobytes()[::-1].hex()))
        probes.append(dict(name=base, tensor_type=w.ttype, shape=list(w.shape), samples=samples))
    with open(os.path.join(args.out, "probe.json"), "w") as f:
        json.dump(dict(lora_scaling=scale, tolerance="1 ulp", params=probes), f, indent=1)
    with open(os.path.join(args.out, "scenario.json"), "w") as f:
        json.dump(dict(name="bench_ck2", src="input/checkpoint", strategy=None, lora_scaling=scale, model=model,
                       ranks=args.ranks), f, indent=1)


if __name__ == "__main__":
    main()
