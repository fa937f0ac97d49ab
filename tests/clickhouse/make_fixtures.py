#!/usr/bin/env python3
"""Writes the ClickHouse import fixtures of tests/data/clickhouse/ with chDB (ClickHouse in process).

    python3 -m venv target/chdb-venv
    target/chdb-venv/bin/pip install chdb
    target/chdb-venv/bin/python tests/clickhouse/make_fixtures.py

Every bitmap is built by ClickHouse itself with `groupBitmapState` (or `bitmapAnd` of such
states) and written with `FORMAT RowBinary`; nothing here encodes a bitmap by hand. The
expected ids in the JSON files are ClickHouse's own answer: the .bin file is read back
through the `file()` table function and `arraySort(bitmapToArray(customers))` is taken per
row (sorted, because `bitmapToArray` of a small state lists the ids in insertion order).

Files:
  tags_from_chdb.bin           rows (tag String, kind String, customers AggregateFunction(groupBitmap, UInt32))
  tags_from_chdb.json          {"rows": [{"tag", "kind", ...the ids...}, ...]} in row order
  tag_customers_from_chdb.bin  rows (tag String, customers AggregateFunction(groupBitmap, UInt32)),
                               the output of a `SELECT tag, groupBitmapState(id) ... GROUP BY tag`
  tag_customers_from_chdb.json {"rows": [{"tag", ...the ids...}, ...]} in row order

The ids of a row are described as tests/data/portable/manifest.json describes a vector (the
70,000-id range alone would be ~0.5 MB as a list): "cardinality", "min", "max" (null when
empty), "fnv" (the ids ascending folded FNV-1a style over 64 bits: h = 0xcbf29ce484222325,
for each id h = ((h ^ id) * 0x100000001b3) mod 2^64), then "ranges", the ids as inclusive
[lo, hi] ranges, when there are at most 64 of them, otherwise "sample" (64 members, min and
max among them) and "absent" (64 non-members between min and max, or beside them).

"state" is which encoding ClickHouse chose ("small": kind byte 0, varuint count, UInt32 LE
ids in insertion order; "roaring": kind byte 1, varuint length, portable Roaring), and
"state_bytes" the state's length including its kind byte. Deterministic: max_threads = 1,
so the states' insertion order, and so the bytes, are the same on every run with the same
chDB version (the JSON records the version under "chdb").
"""

import hashlib
import json
import os
import random
import sys

import chdb

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "clickhouse")
SETTINGS = " SETTINGS max_threads = 1"
U32 = "toUInt32"

# (tag, kind, SQL that yields one column `customers` of one row; every SELECT aggregates, so
# it returns exactly one row even over zero input rows)
TAGS = [
    # zero rows in: an empty small state (00 00)
    ("empty", "custom", "SELECT groupBitmapState(toUInt32(number)) FROM numbers(0)"),
    # one id
    ("vip", "value", "SELECT groupBitmapState(toUInt32(42)) FROM numbers(1)"),
    # 32 ids, the largest small state; inserted in a scrambled order, which the state keeps
    ("behavior/bought_twice", "behavior",
     "SELECT groupBitmapState(toUInt32((number * 7919) % 32 * 1000 + 3)) FROM numbers(32)"),
    # 33 ids: the first roaring state (one array container)
    ("高消费", "value", "SELECT groupBitmapState(toUInt32(number * 3 + 1)) FROM numbers(33)"),
    # 70,000 consecutive ids: two run containers, 27 bytes of state
    ("lifecycle/active", "lifecycle", "SELECT groupBitmapState(toUInt32(100000 + number)) FROM numbers(70000)"),
    # 3,000 hashed ids over the whole u32 range (many blocks, array containers), plus a
    # bitmap container: 6,000 ids, every 7th, in block 5
    ("interest/sports/running", "interest",
     "SELECT groupBitmapState(id) FROM (SELECT toUInt32(intHash32(number)) AS id FROM numbers(3000)"
     " UNION ALL SELECT toUInt32(5 * 65536 + number * 7) FROM numbers(6000))"),
    # run-heavy: 60 runs of 100 ids, 5,000 apart, across five blocks (a run-container state
    # of 4 or more containers carries the offset header)
    ("interest/outdoor", "interest",
     "SELECT groupBitmapState(toUInt32(intDiv(number, 100) * 5000 + number % 100 + 30000)) FROM numbers(6000)"),
    # the extremes in a small state
    ("attribute/edge ids", "attribute",
     "SELECT groupBitmapState(x) FROM (SELECT arrayJoin([toUInt32(4294967295), 0, 65535, 65536, 4294967294, 1]) AS x)"),
    # the extremes in a roaring state (the last block, key 0xFFFF, and id 0)
    ("churned", "lifecycle",
     "SELECT groupBitmapState(x) FROM (SELECT toUInt32(4294967295 - number * 5) AS x FROM numbers(40)"
     " UNION ALL SELECT toUInt32(0))"),
    # a roaring state with only 2 ids, as ClickHouse makes for bitmapAnd of two large states
    ("tier:overlap", "custom",
     "SELECT bitmapAnd((SELECT groupBitmapState(toUInt32(number)) FROM numbers(100)),"
     " (SELECT groupBitmapState(toUInt32(number + 98)) FROM numbers(100)))"),
]

# An event log made in SQL, grouped by tag: the nightly-job shape of the import.
TAG_CUSTOMERS_SQL = """
SELECT tag, groupBitmapState(customer) AS customers
FROM (
    SELECT toUInt32(intHash32(number) % 50000) AS customer,
           ['behavior/bought', 'behavior/returned', 'interest/outdoor', '高消费', 'vip'][1 + intHash32(number + 7) % 5] AS tag
    FROM numbers(40000)
    UNION ALL
    SELECT toUInt32(number * 1000) AS customer, 'rare' AS tag FROM numbers(20)
    UNION ALL
    SELECT toUInt32(4294967295 - number) AS customer, 'top/ids' AS tag FROM numbers(50)
)
GROUP BY tag
ORDER BY tag
"""


def run(sql, fmt):
    return chdb.query(sql + SETTINGS, fmt)


def varuint(data, pos):
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, pos


def split_rows(data, n_strings):
    """(strings, state kind, state bytes incl. kind byte) per row, by walking RowBinary."""
    rows, pos = [], 0
    while pos < len(data):
        strings = []
        for _ in range(n_strings):
            n, pos = varuint(data, pos)
            strings.append(data[pos:pos + n].decode())
            pos += n
        start = pos
        kind = data[pos]
        pos += 1
        n, pos = varuint(data, pos)
        if kind == 0:
            pos += 4 * n
        elif kind == 1:
            pos += n
        else:
            raise SystemExit(f"unknown state kind {kind}")
        rows.append((strings, "small" if kind == 0 else "roaring", pos - start))
    return rows


def read_back(path, schema, cols):
    sql = (f"SELECT {cols}, arraySort(bitmapToArray(customers)), bitmapCardinality(customers)"
           f" FROM file('{path}', RowBinary, '{schema}')")
    return json.loads(run(sql, "JSONCompact").bytes())["data"]


def describe(ids):
    """The portable manifest's description of a sorted id list."""
    h = 0xCBF29CE484222325
    for i in ids:
        h = ((h ^ i) * 0x100000001B3) % (1 << 64)
    d = {"cardinality": len(ids), "min": ids[0] if ids else None, "max": ids[-1] if ids else None, "fnv": h}
    ranges = []
    for i in ids:
        if ranges and ranges[-1][1] + 1 == i:
            ranges[-1][1] = i
        else:
            ranges.append([i, i])
    if len(ranges) <= 64:
        d["ranges"] = ranges
        return d
    rng = random.Random(len(ids) * 1000003 + h % 1000003)
    d["sample"] = sorted(set([ids[0], ids[-1]] + rng.sample(ids, 62)))
    members, absent = set(ids), set()
    for lo, hi in ranges[:3] + ranges[-3:]:
        absent.update(x for x in (lo - 1, hi + 1) if 0 <= x < 1 << 32 and x not in members)
    while len(absent) < 64:
        x = rng.randint(ids[0], ids[-1])
        if x not in members:
            absent.add(x)
    d["absent"] = sorted(absent)[:64]
    return d


def write(name, data, rows):
    with open(os.path.join(OUT, name + ".bin"), "wb") as f:
        f.write(data)
    with open(os.path.join(OUT, name + ".json"), "w", encoding="utf-8") as f:
        doc = {"chdb": chdb.__version__, "clickhouse": str(chdb.query("SELECT version()", "TSVRaw")).strip(),
               "bin_sha256": hashlib.sha256(data).hexdigest(), "rows": rows}
        f.write("{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in doc.items() if k != "rows"))
        f.write(', "rows": [\n')
        f.write(",\n".join("  " + json.dumps(r, ensure_ascii=False) for r in rows))
        f.write("\n]}\n")
    print(f"{name}.bin: {len(data)} bytes, {len(rows)} rows")


def main():
    os.makedirs(OUT, exist_ok=True)

    # tags_from_chdb: one RowBinary query per row, concatenated (RowBinary has no header or
    # row separator, so the concatenation is the output of the UNION of the rows, in order).
    data = b""
    for tag, kind, sql in TAGS:
        esc = lambda s: s.replace("\\", "\\\\").replace("'", "\\'")
        data += run(f"SELECT '{esc(tag)}' AS tag, '{esc(kind)}' AS kind, ({sql}) AS customers", "RowBinary").bytes()
    path = os.path.join(OUT, "tags_from_chdb.bin")
    with open(path, "wb") as f:
        f.write(data)
    back = read_back(path, "tag String, kind String, customers AggregateFunction(groupBitmap, UInt32)", "tag, kind")
    split = split_rows(data, 2)
    assert len(back) == len(split) == len(TAGS)
    rows = []
    for (tag, kind, _), (t, k, ids, card), ((t2, k2), state, nbytes) in zip(TAGS, back, split):
        assert (tag, kind) == (t, k) == (t2, k2), (tag, t, t2)
        assert card == len(ids) == len(set(ids)), tag
        rows.append({"tag": tag, "kind": kind, "state": state, "state_bytes": nbytes, **describe(ids)})
    write("tags_from_chdb", data, rows)

    data = run(TAG_CUSTOMERS_SQL + " FORMAT RowBinary", "RowBinary").bytes()
    path = os.path.join(OUT, "tag_customers_from_chdb.bin")
    with open(path, "wb") as f:
        f.write(data)
    back = read_back(path, "tag String, customers AggregateFunction(groupBitmap, UInt32)", "tag")
    split = split_rows(data, 1)
    assert len(back) == len(split)
    rows = []
    for (t, ids, card), ((t2,), state, nbytes) in zip(back, split):
        assert t == t2 and card == len(ids) == len(set(ids)), t
        rows.append({"tag": t, "state": state, "state_bytes": nbytes, **describe(ids)})
    write("tag_customers_from_chdb", data, rows)


if __name__ == "__main__":
    sys.exit(main())
