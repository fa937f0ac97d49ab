#!/usr/bin/env python3
"""Writes the portable Roaring test vectors of tests/portable.rs with CRoaring (pyroaring).

Each vector is the bytes of `BitMap.serialize()` (CRoaring's portable serialization, the
format of https://github.com/RoaringBitmap/RoaringFormatSpec) in tests/data/portable/NAME.bin,
and manifest.json says what each one holds. The tests read only these committed files: Python
is needed only to make them again.

    python3 -m venv target/pyroaring-venv
    target/pyroaring-venv/bin/pip install pyroaring
    target/pyroaring-venv/bin/python tests/data/make_portable_vectors.py

The manifest, per vector:
  - "file", "note": the file and what it covers;
  - "run_optimized": whether run_optimize() was called before serializing (otherwise the
    set was built with optimize=False, so it has array and bitset containers only);
  - "containers": the container count, and "kinds": how many of each kind CRoaring wrote;
  - "bytes": the file's length; "cardinality", "min", "max", and "fnv": the ids ascending
    folded FNV-1a style over 64 bits (h = 0xcbf29ce484222325; for each id: h = ((h ^ id) * 0x100000001b3) mod 2^64);
  - "ranges": the ids as inclusive [lo, hi] ranges when there are at most 64 of them,
    otherwise "sample" (some members) and "absent" (some non-members);
  - "same_bytes": whether roaring-rs, given the same ids (and optimize() when run_optimized),
    writes these very bytes.
"""

import json
import os
import random

import pyroaring
from pyroaring import BitMap

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "portable")
MAX = 2**32 - 1


def fnv(ids):
    h = 0xCBF29CE484222325
    for i in ids:
        h = ((h ^ i) * 0x100000001B3) % 2**64
    return h


def ranges(ids):
    out = []
    for i in ids:
        if out and out[-1][1] + 1 == i:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def kinds(image):
    """Counts the containers of each kind in a portable image (the header only)."""
    cookie = int.from_bytes(image[0:4], "little")
    if cookie == 12346:
        n = int.from_bytes(image[4:8], "little")
        flags, desc = b"", 8
    else:
        assert cookie & 0xFFFF == 12347, cookie
        n = (cookie >> 16) + 1
        flags, desc = image[4 : 4 + (n + 7) // 8], 4 + (n + 7) // 8
    count = {"array": 0, "bitset": 0, "run": 0}
    for i in range(n):
        card = int.from_bytes(image[desc + 4 * i + 2 : desc + 4 * i + 4], "little") + 1
        if flags and flags[i // 8] & (1 << (i % 8)):
            count["run"] += 1
        else:
            count["array" if card <= 4096 else "bitset"] += 1
    return n, count


def vectors():
    rng = random.Random(14)
    yield "empty", [], False, True, "no containers: the 8-byte header alone"
    yield "one", [7], False, True, "one id"
    yield "max", [MAX], False, True, "u32::MAX, in block 65535"
    yield "zero_and_max", [0, MAX], False, True, "the first and the last id"
    yield "array", sorted(rng.sample(range(0, 3 << 16), 3000)), False, True, "array containers in 3 blocks"
    yield "array_full", list(range(0, 8192, 2)), False, True, "an array of exactly 4,096 values"
    yield "bitset", list(range(5 << 16, (5 << 16) + 20000)), False, True, "a bitset container (no run_optimize)"
    yield "bitset_min", list(range(0, 8194, 2)), False, True, "a bitset of 4,097 values (the smallest)"
    yield "runs_few", list(range(100, 300)) + list(range(70000, 80000)), True, True, \
        "two run containers: the run layout without offsets (fewer than 4 containers)"
    runs = []
    for block in (0, 1, 2, 9, 400, 65535):
        base = block << 16
        for start in range(0, 60000, 6000):
            runs.extend(range(base + start, base + start + 2500))
    yield "runs_many", runs, True, True, "run containers in 6 blocks: the run layout with offsets"
    yield "full_block", list(range(3 << 16, 4 << 16)), True, True, "a full block: one run of 65,536"
    mixed = sorted(rng.sample(range(0, 1 << 16), 500))  # array
    mixed += list(range(1 << 16, (1 << 16) + 30000, 3))  # bitset with no runs worth keeping
    mixed += list(range(2 << 16, (2 << 16) + 40000))  # run
    mixed += [(7 << 16) + 5]  # array of one
    mixed += list(range(MAX - 100, MAX + 1))  # run ending at u32::MAX
    yield "mixed", mixed, True, True, "array, bitset and run containers together, the last run ending at u32::MAX"
    yield "three_in_a_row", [10, 11, 12], True, True, \
        "an array of three consecutive ids: as small as a run, both libraries keep the array"
    yield "many_blocks", [(k << 16) | (k % 4096) for k in range(0, 65536, 13)], False, True, \
        "5,042 containers of one id each"
    yield "random_high", sorted(rng.sample(range(1 << 31, MAX + 1), 2000)), False, True, \
        "2,000 random ids above 2^31"


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = {
        "generator": "tests/data/make_portable_vectors.py",
        "pyroaring": pyroaring.__version__,
        "croaring": getattr(pyroaring, "__croaring_version__", "unknown"),
        "vectors": [],
    }
    for name, ids, optimize, same_bytes, note in vectors():
        ids = sorted(set(ids))
        bm = BitMap(ids, optimize=False)
        if optimize:
            bm.run_optimize()
        assert list(bm) == ids
        image = bm.serialize()
        assert BitMap.deserialize(image) == bm
        n, count = kinds(image)
        if not optimize:
            assert count["run"] == 0, name
        file = name + ".bin"
        with open(os.path.join(OUT, file), "wb") as f:
            f.write(image)
        entry = {
            "name": name,
            "file": file,
            "note": note,
            "run_optimized": optimize,
            "same_bytes": same_bytes,
            "bytes": len(image),
            "containers": n,
            "kinds": count,
            "cardinality": len(ids),
            "min": ids[0] if ids else None,
            "max": ids[-1] if ids else None,
            "fnv": fnv(ids),
        }
        rs = ranges(ids)
        if len(rs) <= 64:
            entry["ranges"] = rs
        else:
            entry["sample"] = [ids[i] for i in sorted(set([0, len(ids) // 3, len(ids) // 2, len(ids) - 1]))]
            probe = absent(ids)
            entry["absent"] = [next(probe) for _ in range(4)]
        manifest["vectors"].append(entry)
    # One line per vector, so a regenerated manifest diffs by vector.
    entries = manifest.pop("vectors")
    head = json.dumps(manifest)[:-1]
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        f.write(head + ', "vectors": [\n')
        f.write(",\n".join("  " + json.dumps(v) for v in entries))
        f.write("\n]}\n")
    total = sum(v["bytes"] for v in entries)
    print(f"{len(entries)} vectors, {total} bytes, in {OUT}")


def absent(ids):
    """Ids not in `ids`: gaps found from a fixed stream."""
    members = set(ids)
    rng = random.Random(41)
    while True:
        x = rng.randrange(0, MAX + 1)
        if x not in members:
            yield x


if __name__ == "__main__":
    main()
