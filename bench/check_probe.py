#!/usr/bin/python3
"""Checks a merged bench output against the spot checks of msfixtures' probe.json: each sample's
raw bits must be within 1 ulp (16-bit types) of expected_bits. Streams one record at a time.

Usage: check_probe.py MERGED.ckpt PROBE.json"""

import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..", "..", "shared", "interop")))
import msfixtures  # noqa: E402


def main():
    merged, probe_path = sys.argv[1], sys.argv[2]
    with open(probe_path) as f:
        probe = json.load(f)
    wanted = {p["name"]: p for p in probe["params"]}
    found, bad = 0, []
    pending = {}
    for tag, dims, ttype, content, _, _ in msfixtures.iter_records(merged, {}):
        if tag not in wanted:
            continue
        pending.setdefault(tag, []).append(bytes(content))
        spec = wanted[tag]
        total = sum(len(c) for c in pending[tag])
        size = 2 if ttype in ("BFloat16", "Float16") else 4
        cols = dims[1]
        if total < dims[0] * cols * size:
            continue
        data = b"".join(pending.pop(tag))
        for s in spec["samples"]:
            at = (s["row"] * cols + s["col"]) * size
            got = int.from_bytes(data[at:at + size], "little")
            want = int(s["expected_bits"], 16)
            key = lambda v: -(v & 0x7FFF) if v & 0x8000 else v
            if size == 2 and abs(key(got) - key(want)) > 1:
                bad.append("%s[%d,%d]: 0x%04x, expected %s" % (tag, s["row"], s["col"], got, s["expected_bits"]))
            if size == 4:
                value = struct.unpack("<f", data[at:at + 4])[0]
                if abs(value - s["expected_f64"]) > 1e-5 * max(1.0, abs(s["expected_f64"])):
                    bad.append("%s[%d,%d]: %g, expected %g" % (tag, s["row"], s["col"], value, s["expected_f64"]))
            found += 1
    for line in bad:
        print(line)
    print("probe: %d samples checked, %d off by more than 1 ulp" % (found, len(bad)))
    return 0 if found and not bad else 1


if __name__ == "__main__":
    sys.exit(main())
