#!/usr/bin/python3
"""Runs the `loramerge` CLI over every scenario of ../shared/interop/msfixtures.py and checks each
result with the independent checker: positives must `compare` equal to the expected output,
negatives must fail with exit code 1, a message about the right thing and no output file. Inputs
must be byte-identical afterwards (the strategy folder's merged_ckpt_strategy.ckpt excepted).

Usage: run_interop.py LOAMERGE_BINARY [--shared DIR] [--work DIR] [--scenario NAME ...]
Ends with the line 'N passed, M failed' (and ', K skipped')."""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

# What the error message of each negative scenario must mention (any of the words, case-insensitive).
EXPECTED_ERRORS = {
    "bad_truncated": ["overruns", "unexpected end", "truncated"],
    "bad_garbage": ["overruns", "invalid", "truncated", "not a", "unexpected end", "no parameter", "negative", "dimension"],
    "bad_missing_lora_b": ["no matching b"],
    "bad_shape_mismatch": ["shape mismatch"],
    "bad_missing_rank": ["rank_1"],
    "bad_encrypted": ["encrypted"],
    "bad_not_checkpoint": ["strategy file"],
    "dist_frozen_base_missing": ["only_trainable_params"],
    "adapter_bad_mismatch": ["shape mismatch"],
    "bad_unrecognised_lora": ["lora tensors that could not be paired"],
    "ck2_bad_tp2_no_metadata": ["no metadata.json"],
    "cfg_bad_no_alpha": ["lora_alpha"],
}

# Every newer msfixtures scenario (IN_PROGRESS there: ck2_*, unified_*, cfg_*, peft_adapter_infix,
# moe_grouped_lora, bad_unrecognised_lora, sharded_output) is supported, so the default run generates
# them all with `generate --all` (../shared/interop/README.md, "Newer scenarios").


def fingerprint(root):
    """{relative path: sha256} of every file under root."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def command_for(binary, scenario_dir, spec, dst):
    cmd = [binary, "--src_ckpt_path_or_dir", os.path.join(scenario_dir, spec["src"]),
           "--dst_ckpt_dir", dst, "--prefix", "checkpoint_"]
    if spec["lora_scaling"] is not None:
        cmd += ["--lora_scaling", repr(spec["lora_scaling"])]
    elif spec.get("lora_config"):  # the scaling must come from the training config (README runner notes)
        cmd += ["--lora_config", os.path.join(scenario_dir, spec["lora_config"])]
    if spec.get("strategy"):
        cmd += ["--src_ckpt_strategy", os.path.join(scenario_dir, spec["strategy"])]
    if spec.get("adapter"):
        cmd += ["--adapter", os.path.join(scenario_dir, spec["adapter"])]
    if spec.get("output_format", "ckpt") != "ckpt":
        cmd += ["--save_format", spec["output_format"]]
    if spec.get("dst_strategy"):
        cmd += ["--dst_ckpt_strategy", os.path.join(scenario_dir, spec["dst_strategy"])]
    if spec.get("max_shard_bytes"):
        cmd += ["--max_shard_size", str(spec["max_shard_bytes"])]
    return cmd


def run_scenario(binary, fixtures, scenario_dir, spec, work):
    """Returns (ok, message)."""
    name = spec["name"]
    dst = os.path.join(work, name + "-out")
    shutil.rmtree(dst, ignore_errors=True)
    inputs = os.path.join(scenario_dir, "input")
    before = fingerprint(inputs)
    cmd = command_for(binary, scenario_dir, spec, dst)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    after = fingerprint(inputs)
    changed = sorted(k for k in set(before) | set(after)
                     if before.get(k) != after.get(k) and not k.endswith("merged_ckpt_strategy.ckpt"))
    if changed:
        return False, "inputs changed: " + ", ".join(changed)
    if spec["expect"] == "error":
        if proc.returncode != 1:
            return False, "expected exit 1, got %d; stderr: %s" % (proc.returncode, proc.stderr.strip())
        message = proc.stderr.lower()
        words = EXPECTED_ERRORS.get(name, [])
        if words and not any(w in message for w in words):
            return False, "error does not mention %s: %s" % (" / ".join(words), proc.stderr.strip())
        leftovers = [os.path.join(f, n) for f, _, files in os.walk(dst) for n in files] if os.path.exists(dst) else []
        if leftovers:
            return False, "a failed run left files: " + ", ".join(leftovers)
        return True, proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
    if proc.returncode != 0:
        return False, "exit %d: %s" % (proc.returncode, proc.stderr.strip())
    ignore = [] if spec.get("order_matters", True) else ["--ignore-order"]
    scenario_json = os.path.join(scenario_dir, "scenario.json")
    expected = os.path.join(scenario_dir, spec["expected_ckpt"])
    if spec.get("compare") == "compare-sharded":
        check = [fixtures, "compare-sharded", os.path.join(dst, "rank_0"), expected, "--scenario", scenario_json] + ignore
    elif spec.get("dst_strategy"):
        check = [fixtures, "compare-dir", dst, expected, "--scenario", scenario_json] + ignore
    else:
        out_dir = os.path.join(dst, "rank_0")
        produced = sorted(os.listdir(out_dir)) if os.path.isdir(out_dir) else []
        if len(produced) != 1:
            return False, "expected one file in %s, found %s" % (out_dir, produced)
        check = [fixtures, "compare", os.path.join(out_dir, produced[0]), expected, "--scenario", scenario_json] + ignore
    cmp_proc = subprocess.run(["/usr/bin/python3"] + check, capture_output=True, text=True, timeout=600)
    if cmp_proc.returncode != 0:
        return False, cmp_proc.stdout.strip() + cmp_proc.stderr.strip()
    if spec.get("expected_strategy"):
        merged = os.path.join(scenario_dir, spec["strategy"], "merged_ckpt_strategy.ckpt")
        if not os.path.exists(merged):
            return False, "merged_ckpt_strategy.ckpt was not written into the strategy folder"
        dumps = [subprocess.run(["/usr/bin/python3", fixtures, "dump", p], capture_output=True, text=True).stdout
                 for p in (merged, os.path.join(scenario_dir, spec["expected_strategy"]))]
        body = [d.split("\n", 1)[1] if "\n" in d else d for d in dumps]  # first line names the file
        if body[0] != body[1]:
            return False, "merged strategy differs from the expected one"
    return True, cmp_proc.stdout.strip().splitlines()[-1]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--shared", default=os.path.normpath(os.path.join(here, "..", "..", "..", "shared")))
    parser.add_argument("--work")
    parser.add_argument("--scenario", nargs="*")
    args = parser.parse_args()
    fixtures = os.path.join(args.shared, "interop", "msfixtures.py")
    if not os.path.exists(fixtures):
        print("interop: %s not found" % fixtures)
        return 1
    work = args.work or tempfile.mkdtemp(prefix="lms-interop-")
    gen = os.path.join(work, "fixtures")
    cmd = ["/usr/bin/python3", fixtures, "generate", gen]
    subprocess.run(cmd + (["--scenario"] + args.scenario if args.scenario else ["--all"]), check=True,
                   capture_output=True)
    passed = failed = 0
    for name in sorted(os.listdir(gen)):
        scenario_dir = os.path.join(gen, name)
        with open(os.path.join(scenario_dir, "scenario.json")) as f:
            spec = json.load(f)
        ok, message = run_scenario(os.path.abspath(args.binary), fixtures, scenario_dir, spec, work)
        print("%s %-28s %s" % ("PASS" if ok else "FAIL", name, message))
        passed += ok
        failed += not ok
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    print("interop: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
