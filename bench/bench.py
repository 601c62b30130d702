#!/usr/bin/python3
"""Benchmark of `loramerge` against the I/O floor (cp of the same input bytes).

Creates the workloads with ../shared/interop/msfixtures.py bench (cached in bench/cache/ between
runs), then, for each workload, runs interleaved REPEAT times: our merge, `cp` of the input bytes
and `loramerge inspect`, each under /usr/bin/time -v (wall, user+sys CPU, peak RSS). Prints a
Markdown table of medians with the merge/cp ratio; --output writes it to a file as well.

  W1  full BFloat16 checkpoint, ~2 GB, LoRA rank 16 on q/k/v/o
  W2  the same model as 8 tensor-parallel ranks with a strategy file
  W3  full BFloat16 checkpoint, ~4 GB (memory must not grow with size)
  W4  a checkpoint of 100,000 small records (index speed)
  W6  the bench model, ~1 GB, as a MindFormers Checkpoint 2.0 save of 8 tensor-parallel shards

Usage: bench/bench.py [--repeat 3] [--only W1 W4] [--output docs/bench-results.md]
"""

import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared"))
FIXTURES = os.path.join(SHARED, "interop", "msfixtures.py")
CACHE = os.path.join(HERE, "cache")
LORAMERGE = os.path.join(ROOT, "build", "app", "loramerge")
PROBE = os.path.join(ROOT, "build", "bench", "lms-ui-latency-probe")

WORKLOADS = {
    "W1": dict(gb=2, ranks=1, desc="full BFloat16 ~2 GB, LoRA r=16 on q/k/v/o"),
    "W2": dict(gb=2, ranks=8, desc="the W1 model as 8 tensor-parallel ranks + strategy"),
    "W3": dict(gb=4, ranks=1, desc="full BFloat16 ~4 GB"),
    "W4": dict(records=100_000, desc="100,000 small records (index speed)"),
    "W5": dict(gb=1, ranks=1, adapter=True, desc="full BFloat16 ~1 GB base + its LoRA as a separate --adapter file"),
    "W6": dict(gb=1, ranks=8, ck2=True, desc="~1 GB Checkpoint 2.0 save, 8 shards + metadata.json"),
}


def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def small_records_file(path, count):
    """A .ckpt of `count` Float32 [4] parameters, written record by record (spec §1.2)."""
    with open(path + ".part", "wb") as f:
        content = struct.pack("<4f", 1, 2, 3, 4)
        for i in range(count):
            name = ("model.layers.%d.block.%d.weight" % (i // 100, i % 100)).encode()
            tensor = b"\x08\x04" + b"\x12\x07Float32" + b"\x1a" + varint(len(content)) + content
            value = b"\x0a" + varint(len(name)) + name + b"\x12" + varint(len(tensor)) + tensor
            f.write(b"\x0a" + varint(len(value)) + value)
    os.rename(path + ".part", path)


def read_varint(data, pos):
    value, shift = 0, 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, pos


def split_adapter(model, base, adapter):
    """Splits a .ckpt record by record (spec §1.2): LoRA tensors to `adapter`, the rest to `base`."""
    with open(model, "rb") as f:
        data = memoryview(f.read())
    pos = 0
    with open(base + ".part", "wb") as fb, open(adapter + ".part", "wb") as fa:
        while pos < len(data) and data[pos] == 0x0A:
            length, body = read_varint(data, pos + 1)
            value = data[body:body + length]
            name_len, name_at = read_varint(value, 1)  # Value.tag (field 1) comes first
            name = bytes(value[name_at:name_at + name_len])
            (fa if b"lora" in name else fb).write(data[pos:body + length])
            pos = body + length
    os.rename(base + ".part", base)
    os.rename(adapter + ".part", adapter)


def ensure_workload(name):
    spec = WORKLOADS[name]
    folder = os.path.join(CACHE, name)
    done = os.path.join(folder, ".complete")
    if not os.path.exists(done):
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        print("creating %s (%s) in %s ..." % (name, spec["desc"], folder), file=sys.stderr, flush=True)
        if "records" in spec:
            small_records_file(os.path.join(folder, "records.ckpt"), spec["records"])
        elif spec.get("ck2"):
            subprocess.run(["/usr/bin/python3", os.path.join(HERE, "make_ck2.py"), folder, "--gb", str(spec["gb"]),
                            "--ranks", str(spec["ranks"]), "--lora-rank", "16"], check=True, stdout=subprocess.DEVNULL)
        else:
            subprocess.run(["/usr/bin/python3", FIXTURES, "bench", folder, "--gb", str(spec["gb"]), "--dtype",
                            "BFloat16", "--ranks", str(spec["ranks"]), "--lora-rank", "16"], check=True,
                           stdout=subprocess.DEVNULL)
        if spec.get("adapter"):
            with open(os.path.join(folder, "scenario.json")) as f:
                src = os.path.join(folder, json.load(f)["src"])
            split_adapter(src, os.path.join(folder, "base.ckpt"), os.path.join(folder, "adapter.ckpt"))
        open(done, "w").close()
    return folder


def inputs_of(name, folder):
    """(merge arguments, list of input files, file to inspect)."""
    if name == "W4":
        path = os.path.join(folder, "records.ckpt")
        return None, [path], path
    with open(os.path.join(folder, "scenario.json")) as f:
        scenario = json.load(f)
    src = os.path.join(folder, scenario["src"])
    if WORKLOADS[name].get("adapter"):
        src = os.path.join(folder, "base.ckpt")
        files = [src, os.path.join(folder, "adapter.ckpt")]
        return (["--src_ckpt_path_or_dir", src, "--adapter", files[1], "--lora_scaling", str(scenario["lora_scaling"])],
                files, src)
    args = ["--src_ckpt_path_or_dir", src, "--lora_scaling", str(scenario["lora_scaling"])]
    if scenario.get("strategy"):
        args += ["--src_ckpt_strategy", os.path.join(folder, scenario["strategy"])]
    files = [os.path.join(d, n) for d, _, ns in os.walk(src) for n in ns] if os.path.isdir(src) else [src]
    files = sorted(f for f in files if f.endswith((".ckpt", ".safetensors", ".json")))
    return args, files, next(f for f in files if not f.endswith(".json"))


def timed(cmd):
    """Runs cmd under /usr/bin/time -v; returns (wall s, cpu s, peak RSS MB)."""
    proc = subprocess.run(["/usr/bin/time", "-v"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit("failed: %s\n%s" % (" ".join(cmd), proc.stderr[-2000:]))
    fields = {}
    for line in proc.stderr.splitlines():
        key, _, value = line.strip().rpartition(": ")
        fields[key] = value
    wall = fields["Elapsed (wall clock) time (h:mm:ss or m:ss)"]
    parts = [float(p) for p in wall.split(":")]
    seconds = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    cpu = float(fields["User time (seconds)"]) + float(fields["System time (seconds)"])
    return seconds, cpu, int(fields["Maximum resident set size (kbytes)"]) / 1024


def scratch_dir(need_bytes):
    """Outputs go to tmpfs when it has room, so that, as for the page-cached inputs, the figures
    measure our software against cp at memory speed rather than the disk's writeback."""
    shm = "/dev/shm"
    if os.path.isdir(shm):
        st = os.statvfs(shm)
        if st.f_bavail * st.f_frsize > 2 * need_bytes:
            return os.path.join(shm, "lms-bench-out")
    return os.path.join(CACHE, "out")


def run(names, repeat):
    rows = []
    scratch = scratch_dir(5 * 10**9)
    for name in names:
        folder = ensure_workload(name)
        merge_args, files, inspect_file = inputs_of(name, folder)
        size = sum(os.path.getsize(f) for f in files)
        samples = {"merge": [], "cp": [], "inspect": []}
        for _ in range(repeat):
            for f in files:  # warm the page cache the same way for every contender
                subprocess.run(["cat", f], stdout=subprocess.DEVNULL, check=True)
            if merge_args:
                shutil.rmtree(scratch, ignore_errors=True)
                samples["merge"].append(timed([LORAMERGE, "--quiet"] + merge_args + ["--dst_ckpt_dir", scratch]))
                if len(samples["merge"]) == 1:  # the result must match the generator's spot checks
                    subprocess.run(["/usr/bin/python3", os.path.join(HERE, "check_probe.py"),
                                    os.path.join(scratch, "rank_0", "checkpoint_0.ckpt"),
                                    os.path.join(folder, "probe.json")], check=True, stdout=sys.stderr)
                shutil.rmtree(scratch, ignore_errors=True)
                os.makedirs(scratch)
                samples["cp"].append(timed(["cp"] + files + [scratch]))
                shutil.rmtree(scratch, ignore_errors=True)
            samples["inspect"].append(timed([LORAMERGE, "inspect", inspect_file]))
        med = {k: tuple(statistics.median(s[i] for s in v) for i in range(3)) for k, v in samples.items() if v}
        rows.append((name, WORKLOADS[name]["desc"], size, med))
    return rows


def table(rows, repeat):
    out = ["| workload | input | merge wall | merge CPU | merge peak RSS | cp wall | merge / cp | inspect wall | inspect RSS |",
           "|---|---|---|---|---|---|---|---|---|"]
    for name, desc, size, med in rows:
        merge = med.get("merge")
        cp = med.get("cp")
        ins = med["inspect"]
        cells = [name + ": " + desc, "%.2f GB" % (size / 1e9)]
        if merge:
            cells += ["%.2f s" % merge[0], "%.2f s" % merge[1], "%.0f MB" % merge[2], "%.2f s" % cp[0],
                      "%.2f" % (merge[0] / cp[0])]
        else:
            cells += ["-"] * 5
        cells += ["%.3f s" % ins[0], "%.0f MB" % ins[2]]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append("Medians of %d interleaved runs; inputs in the page cache (warmed before each round), outputs "
               "written to %s." % (repeat, scratch_dir(5 * 10**9)))
    return "\n".join(out)


def ui_probe(names, repeat):
    """The studio's merge worker under an event-loop latency probe (offscreen)."""
    if not os.access(PROBE, os.X_OK):
        return "(UI latency probe not built: configure with -DLMS_BUILD_GUI=ON)"
    lines = ["| workload | merge wall | max UI stall | progress updates / s |", "|---|---|---|---|"]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    scratch = scratch_dir(5 * 10**9)
    for name in names:
        if name == "W4":
            continue
        folder = ensure_workload(name)
        with open(os.path.join(folder, "scenario.json")) as f:
            scenario = json.load(f)
        cmd = [PROBE, os.path.join(folder, scenario["src"]), scratch, str(scenario["lora_scaling"])]
        if scenario.get("strategy"):
            cmd.append(os.path.join(folder, scenario["strategy"]))
        results = []
        for _ in range(repeat):
            shutil.rmtree(scratch, ignore_errors=True)
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                raise SystemExit("probe failed: %s" % proc.stderr)
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        shutil.rmtree(scratch, ignore_errors=True)
        med = lambda key: statistics.median(r[key] for r in results)
        lines.append("| %s | %.2f s | %d ms | %.1f |" % (name, med("seconds"), max(r["max_stall_ms"] for r in results),
                                                     med("progress_per_second")))
    lines.append("")
    lines.append("Max UI stall: the longest gap between ticks of a 5 ms timer on the UI thread (worst of %d runs)." % repeat)
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=sorted(WORKLOADS), default=sorted(WORKLOADS))
    parser.add_argument("--output")
    args = parser.parse_args()
    if not os.access(LORAMERGE, os.X_OK):
        raise SystemExit("build first: %s is missing (./scripts/setup.sh)" % LORAMERGE)
    text = table(run(args.only, args.repeat), args.repeat) + "\n\n" + ui_probe(args.only, args.repeat)
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
