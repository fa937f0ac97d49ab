#!/usr/bin/env python3
"""Random engines round-tripped through real ClickHouse (chDB): export, load, query, compare.

    python3 -m venv target/chdb-venv && target/chdb-venv/bin/pip install chdb
    cargo build --release --example clickhouse --example query
    target/chdb-venv/bin/python tests/clickhouse/chdb_roundtrip.py [--seed N] [--cases N] [--bench]

Per case (case seed = SEED + case number, printed on any mismatch; `--seed S --cases 1` runs
that case alone), with a seeded RNG:

1. A random engine input: a headerless PAIRS.csv of `customer_key,tag` lines (keys `c17`, a
   few `顾客7` and `k"7, q`, RFC 4180-quoted; tags from a pool with `/` hierarchies, spaces and non-ASCII; 0..5,000
   customers, some only in ATTRS) and an ATTRS.csv of `customer_key,name,value` lines
   (`age`, `balance`; i64 values with negatives, large magnitudes and the extremes; a few
   repeated key+name, the last value winning).
2. Random queries of the crate's language: tags (a bare name matches the tag and its
   descendants), `*`, `NOT x` (relative to every key of either file), `AND`, `OR`,
   parentheses, comparisons (`age >= 30`, `balance<-5`; a customer without the attribute
   matches none, `!=` included); names with non-ASCII or spaces double-quoted.
3. `target/release/examples/clickhouse PAIRS.csv OUT --attrs ATTRS.csv QUERY...` writes
   OUT/tags.bin, OUT/customers.bin, OUT/attrs.bin (RowBinary) and prints one SELECT per
   query; the files are loaded into chDB tables `tags`, `customers`, `attrs` and each
   SELECT is run as `SELECT bitmapCardinality(audience), bitmapToArray(audience) FROM (...)`.
4. Compared: the ids (mapped to keys through `customers`) and the count, against this
   script's own set model of the query and against the count printed by
   `target/release/examples/query PAIRS.csv --attrs ATTRS.csv QUERY...`. The exported tables
   are checked against the model too: `customers` is every key once, numbered 0.. in order of
   first appearance (PAIRS, then keys new in ATTRS); each `tags` row holds exactly the
   customers carrying that very tag; `attrs` the last value of each key and name.

Any mismatch prints the case seed, the query, the SQL and both sides, and exits 1. The last
line is a summary: cases, queries, and the seconds spent in chDB and in the engine.

`--bench` instead times one engine of 1M customers (`--bench-customers N` to change it): the
export (bytes written per second of the example's run, and of its run beyond a load-only
run of `query`), then every translated query answered by chDB beside the engine's `query`
example, with the counts checked equal.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import chdb
from chdb import session as chs

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

SCHEMAS = {
    "tags": "tag String, kind String, customers AggregateFunction(groupBitmap, UInt32)",
    "customers": "customer_id UInt32, key String",
    "attrs": "customer_id UInt32, name String, value Int64",
}
ORDER_BY = {"tags": "tag", "customers": "customer_id", "attrs": "(name, customer_id)"}

TAG_POOL = [
    "sports", "sports/running", "sports/running/trail", "sports/swimming",
    "vip", "churned", "高消费", "High Value", "interest/outdoor", "interest/outdoor/camping",
    "tier:gold", "a=b",
]
ATTR_NAMES = ["age", "balance"]
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1


# ---------------------------------------------------------------- random engine input

class Case:
    """One random engine input and its model: keys in registration order, tags, attributes."""

    def __init__(self, rng, max_customers=5000):
        shape = rng.random()
        if shape < 0.05:
            n = 0
        elif shape < 0.12:
            n = rng.randint(1, 3)
        elif shape < 0.5:
            n = rng.randint(4, 200)
        else:
            n = rng.randint(200, max_customers)
        def key(i):
            r = rng.random()
            return f"顾客{i}" if r < 0.04 else f'k"{i}, q' if r < 0.05 else f"c{i}"
        self.keys_all = [key(i) for i in range(n)]
        # per case, a few tags dense and most sparse; some tags of the pool unused
        weight = {t: rng.choice([0, 0.002, 0.02, 0.1, 0.3, 0.6, 0.95]) for t in TAG_POOL}
        p_untagged = rng.choice([0.0, 0.1, 0.3])
        pairs = []
        for k in self.keys_all:
            if rng.random() < p_untagged:
                continue
            for t in TAG_POOL:
                if rng.random() < weight[t]:
                    pairs.append((k, t))
                    if rng.random() < 0.01:
                        pairs.append((k, t))  # a repeated pair
        rng.shuffle(pairs)
        self.pairs = pairs
        p_attr = {a: rng.choice([0.0, 0.3, 0.8, 1.0]) for a in ATTR_NAMES}
        attrs = []
        for k in self.keys_all:
            for a in ATTR_NAMES:
                if rng.random() < p_attr[a]:
                    attrs.append((k, a, self.value(rng, a)))
                    if rng.random() < 0.02:
                        attrs.append((k, a, self.value(rng, a)))  # repeated: the last wins
        rng.shuffle(attrs)
        self.attr_rows = attrs

        # the model
        order, seen = [], set()
        for k, _ in pairs:
            if k not in seen:
                seen.add(k)
                order.append(k)
        for k, _, _ in attrs:
            if k not in seen:
                seen.add(k)
                order.append(k)
        self.order = order  # key of id i
        self.universe = frozenset(order)
        self.carriers = {}  # tag -> keys carrying exactly it
        for k, t in pairs:
            self.carriers.setdefault(t, set()).add(k)
        self.values = {}  # attr -> {key: value}, the last value of a key winning
        for k, a, v in attrs:
            self.values.setdefault(a, {})[k] = v
        # names a query may use: every tag carried and its ancestors
        names = set()
        for t in self.carriers:
            parts = t.split("/")
            for i in range(1, len(parts) + 1):
                names.add("/".join(parts[:i]))
        self.tag_names = sorted(names)
        self.attr_names = sorted(self.values)

    @staticmethod
    def value(rng, attr):
        r = rng.random()
        if attr == "age":
            return rng.randint(0, 100) if r < 0.97 else rng.choice([-1, 0, 200, I64_MAX])
        if r < 0.6:
            return rng.randint(-50, 50)
        if r < 0.9:
            return rng.choice([-1, 1]) * rng.randint(1 << 31, 1 << 62)
        return rng.choice([I64_MIN, I64_MIN + 1, I64_MAX, I64_MAX - 1, 0])

    def write(self, dir_):
        def csv_field(s):
            return '"' + s.replace('"', '""') + '"' if any(c in s for c in ',"\r\n') else s
        pairs = os.path.join(dir_, "pairs.csv")
        with open(pairs, "w", encoding="utf-8", newline="") as f:
            f.writelines(f"{csv_field(k)},{csv_field(t)}\n" for k, t in self.pairs)
        attrs = os.path.join(dir_, "attrs.csv")
        with open(attrs, "w", encoding="utf-8", newline="") as f:
            f.writelines(f"{csv_field(k)},{a},{v}\n" for k, a, v in self.attr_rows)
        return pairs, attrs

    # the model of the query language
    def tag_set(self, name):
        out = set()
        for t, ks in self.carriers.items():
            if t == name or t.startswith(name + "/"):
                out |= ks
        return out

    def cmp_set(self, name, op, lit):
        f = {"=": lambda v: v == lit, "!=": lambda v: v != lit, "<": lambda v: v < lit,
             "<=": lambda v: v <= lit, ">": lambda v: v > lit, ">=": lambda v: v >= lit}[op]
        return {k for k, v in self.values.get(name, {}).items() if f(v)}

    def eval(self, q):
        kind = q[0]
        if kind == "tag":
            return self.tag_set(q[1])
        if kind == "cmp":
            return self.cmp_set(q[1], q[2], q[3])
        if kind == "all":
            return set(self.universe)
        if kind == "not":
            return set(self.universe) - self.eval(q[1])
        sets = [self.eval(x) for x in q[1]]
        if kind == "and":
            return set.intersection(*sets)
        return set.union(*sets)


# ---------------------------------------------------------------- random queries

def quote_name(name, rng):
    plain = all(c.isascii() and c.isprintable() and not c.isspace() and c not in '()"=!<>\\' for c in name)
    plain = plain and name.upper() not in ("AND", "OR", "NOT") and name != "*"
    if plain and rng.random() < 0.85:
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def kw(word, rng):
    return rng.choice([word, word, word.lower(), word.capitalize()])


def random_query(case, rng, depth=0):
    """(tree, text); the tree is the model's: ("tag", n) ("cmp", n, op, v) ("all",) ("not", x)
    ("and", [xs]) ("or", [xs])."""
    r = rng.random()
    if depth >= 3 or r < 0.35:
        choices = []
        if case.tag_names:
            choices += ["tag"] * 6
        if case.attr_names:
            choices += ["cmp"] * 3
        choices.append("all")
        what = rng.choice(choices)
        if what == "tag":
            name = rng.choice(case.tag_names)
            return ("tag", name), quote_name(name, rng)
        if what == "cmp":
            name = rng.choice(case.attr_names)
            op = rng.choice(["=", "!=", "<", "<=", ">", ">="])
            vals = list(case.values[name].values())
            lit = rng.choice(vals) if rng.random() < 0.6 else Case.value(rng, name)
            if rng.random() < 0.05:
                lit = rng.choice([I64_MIN, I64_MAX, 0, -5])
            sp = rng.choice([" ", ""])
            return ("cmp", name, op, lit), f"{name}{sp}{op}{sp}{lit}"
        return ("all",), "*"
    if r < 0.5:
        x, t = random_query(case, rng, depth + 1)
        if x[0] in ("and", "or"):
            t = f"({t})"
        return ("not", x), f"{kw('NOT', rng)} {t}"
    op = "and" if r < 0.75 else "or"
    n = rng.choice([2, 2, 2, 3, 4])
    parts = [random_query(case, rng, depth + 1) for _ in range(n)]
    trees, texts = [], []
    for tree, text in parts:
        if tree[0] in ("and", "or") and (tree[0] != op or rng.random() < 0.5):
            text = f"({text})"
        trees.append(tree)
        texts.append(text)
    return (op, trees), f" {kw(op.upper(), rng)} ".join(texts)


# ---------------------------------------------------------------- running things

class Fail(Exception):
    pass


def run(cmd, what):
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise Fail(f"{what} exited {p.returncode}\ncommand: {cmd[:4]} ...\nstderr:\n{p.stderr.decode(errors='replace')[-4000:]}")
    return p.stdout.decode(), p.stderr.decode(errors="replace"), dt


class Chdb:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="chdb-roundtrip-")
        self.s = chs.Session(self.dir)
        self.seconds = 0.0

    def q(self, sql, fmt="JSONCompact"):
        t = time.perf_counter()
        try:
            r = self.s.query(sql, fmt)
        finally:
            self.seconds += time.perf_counter() - t
        return r

    def rows(self, sql):
        return json.loads(self.q(sql).bytes())["data"]

    def load(self, out_dir, engine="MergeTree"):
        for table, schema in SCHEMAS.items():
            path = os.path.join(out_dir, f"{table}.bin")
            self.q(f"DROP TABLE IF EXISTS {table}", "CSV")
            opts = f"ENGINE = MergeTree ORDER BY {ORDER_BY[table]}" if engine == "MergeTree" else "ENGINE = Memory"
            self.q(f"CREATE TABLE {table} ({schema}) {opts}", "CSV")
            if os.path.exists(path):
                self.q(f"INSERT INTO {table} SELECT * FROM file('{path}', RowBinary, '{schema}')", "CSV")

    def close(self):
        self.s.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def show(keys, limit=20):
    ks = sorted(keys)
    return f"{len(ks)} {ks[:limit]}{' ...' if len(ks) > limit else ''}"


def check_tables(db, case, seed):
    """The exported tables against the model; returns id -> key."""
    def fail(msg):
        raise Fail(f"case seed {seed}: exported tables: {msg}")
    rows = db.rows("SELECT customer_id, key FROM customers ORDER BY customer_id")
    ids = [r[0] for r in rows]
    keys = [r[1] for r in rows]
    if len(set(ids)) != len(ids):
        fail("customers: a customer_id twice")
    if len(set(keys)) != len(keys):
        fail("customers: a key twice")
    if set(keys) != case.universe:
        fail(f"customers: keys differ from the files' keys: extra {show(set(keys) - case.universe)}, "
             f"missing {show(case.universe - set(keys))}")
    if ids != list(range(len(ids))) or keys != case.order:
        bad = next(i for i in range(len(ids)) if ids[i] != i or keys[i] != case.order[i])
        fail(f"customers: not numbered 0.. in order of first appearance: row {bad} is "
             f"({ids[bad]}, {keys[bad]!r}), expected ({bad}, {case.order[bad]!r})")
    key_of = dict(rows)
    seen = set()
    for tag, kind, card, arr in db.rows(
            "SELECT tag, kind, bitmapCardinality(customers), bitmapToArray(customers) FROM tags ORDER BY tag"):
        if tag in seen:
            fail(f"tags: tag {tag!r} twice")
        seen.add(tag)
        if card != len(arr) or len(set(arr)) != len(arr):
            fail(f"tags: {tag!r}: cardinality {card} but bitmapToArray has {len(arr)} ids, {len(set(arr))} distinct")
        unknown = [i for i in arr if i not in key_of]
        if unknown:
            fail(f"tags: {tag!r}: ids not in customers: {unknown[:10]}")
        got, want = {key_of[i] for i in arr}, case.carriers.get(tag, set())
        if got != want:
            fail(f"tags: {tag!r} ({kind}): got {show(got)}\n  want {show(want)} (the customers carrying that very tag)")
    missing = set(case.carriers) - seen
    if missing:
        fail(f"tags: tags of PAIRS.csv without a row: {sorted(missing)}")
    got = {}
    for cid, name, value in db.rows("SELECT customer_id, name, value FROM attrs"):
        if cid not in key_of:
            fail(f"attrs: customer_id {cid} not in customers")
        if (name, key_of[cid]) in got:
            fail(f"attrs: ({key_of[cid]!r}, {name!r}) twice")
        got[(name, key_of[cid])] = value
    want = {(a, k): v for a, kv in case.values.items() for k, v in kv.items()}
    if got != want:
        diff = sorted(set(got.items()) ^ set(want.items()), key=str)[:10]
        fail(f"attrs: {len(got)} values, want {len(want)}; first differences (got or want only): {diff}")
    return key_of


def run_case(args, db, seed, stats):
    rng = random.Random(seed)
    case = Case(rng)
    queries = [random_query(case, rng) for _ in range(args.queries)]
    work = tempfile.mkdtemp(prefix=f"roundtrip-{seed}-")
    try:
        pairs, attrs = case.write(work)
        out = os.path.join(work, "out")
        os.mkdir(out)
        texts = [t for _, t in queries]
        stdout, _, dt = run([args.clickhouse, pairs, out, "--attrs", attrs, *texts], "clickhouse example")
        stats["engine"] += dt
        sqls = stdout.splitlines()
        if len(sqls) != len(texts):
            raise Fail(f"case seed {seed}: the clickhouse example printed {len(sqls)} lines for {len(texts)} queries:\n{stdout[:3000]}")
        stdout, _, dt = run([args.query, pairs, "--attrs", attrs, *texts], "query example")
        stats["engine"] += dt
        counts = stdout.splitlines()
        if len(counts) != len(texts):
            raise Fail(f"case seed {seed}: the query example printed {len(counts)} lines for {len(texts)} queries")
        db.load(out)
        key_of = check_tables(db, case, seed)
        for (tree, text), sql, line in zip(queries, sqls, counts):
            want = case.eval(tree)
            engine_count, _, echoed = line.partition("\t")

            def fail(msg):
                raise Fail(f"case seed {seed} (rerun: --seed {seed} --cases 1): {msg}\n"
                           f"query: {text}\nsql:   {sql}\nmodel: {show(want)}\n"
                           f"engine (query example): {line}")
            if echoed != text:
                fail(f"the query example echoed {echoed!r}")
            if not sql.startswith("SELECT "):
                fail(f"the clickhouse example printed no SELECT: {sql!r}")
            try:
                rows = db.rows(f"SELECT bitmapCardinality(audience), bitmapToArray(audience) FROM ({sql})")
            except Exception as e:  # chDB refused the SQL
                fail(f"chDB refused the SQL: {str(e)[:2000]}")
            if len(rows) != 1:
                fail(f"chDB returned {len(rows)} rows, not 1")
            card, arr = rows[0]
            if card != len(arr) or len(set(arr)) != len(arr):
                fail(f"chDB: cardinality {card} but bitmapToArray has {len(arr)} ids, {len(set(arr))} distinct")
            unknown = [i for i in arr if i not in key_of]
            if unknown:
                fail(f"chDB: ids not in customers: {unknown[:10]}")
            got = {key_of[i] for i in arr}
            if got != want:
                fail(f"chDB: {show(got)}\n  chDB only: {show(got - want)}\n  model only: {show(want - got)}")
            if engine_count != str(len(want)):
                fail(f"engine (query example) count {engine_count}, chDB and model {len(want)}")
            stats["queries"] += 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}", file=sys.stderr)


# ---------------------------------------------------------------- bench

BENCH_QUERIES = [
    "vip",
    "sports",
    "vip AND NOT churned",
    "sports/running AND (vip OR \"高消费\")",
    "NOT churned",
    "age >= 30 AND age < 40",
    "balance < -5 AND vip",
    "(sports OR interest/outdoor) AND NOT (churned OR age >= 60)",
    "age != 41",
    "*",
]


def bench(args):
    n = args.bench_customers
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="roundtrip-bench-")
    db = Chdb()
    try:
        pairs = os.path.join(work, "pairs.csv")
        attrs = os.path.join(work, "attrs.csv")
        weights = {"vip": 0.05, "churned": 0.2, "高消费": 0.03, "sports": 0.01, "sports/running": 0.1,
                   "sports/running/trail": 0.02, "interest/outdoor": 0.3, "tier:gold": 0.5}
        t = time.perf_counter()
        npairs = 0
        with open(pairs, "w", encoding="utf-8") as f:
            for i in range(n):
                k = f"c{i}"
                for tag, w in weights.items():
                    if rng.random() < w:
                        f.write(f"{k},{tag}\n")
                        npairs += 1
        with open(attrs, "w", encoding="utf-8") as f:
            for i in range(n):
                f.write(f"c{i},age,{rng.randint(18, 90)}\n")
                if rng.random() < 0.7:
                    f.write(f"c{i},balance,{rng.randint(-10000, 100000)}\n")
        print(f"bench: {n:,} customers, {npairs:,} pairs, generated in {time.perf_counter() - t:.1f} s")
        out = os.path.join(work, "out")
        os.mkdir(out)
        best = {}
        for rep in range(3):
            shutil.rmtree(out)
            os.mkdir(out)
            stdout, stderr_ch, dt_export = run([args.clickhouse, pairs, out, "--attrs", attrs, *BENCH_QUERIES],
                                               "clickhouse example")
            _, stderr_q, dt_load = run([args.query, pairs, "--attrs", attrs, "*"], "query example (load only)")
            best["export"] = min(best.get("export", 1e9), dt_export)
            best["load"] = min(best.get("load", 1e9), dt_load)
        sqls = stdout.splitlines()
        sizes = {t: os.path.getsize(os.path.join(out, f"{t}.bin")) for t in SCHEMAS}
        total = sum(sizes.values())
        mb = total / 1e6
        beyond = best["export"] - best["load"]
        print(f"export: {', '.join(f'{t}.bin {s / 1e6:.2f} MB' for t, s in sizes.items())}; {mb:.2f} MB in all")
        print(f"  clickhouse example (load + write + translate): {best['export']:.3f} s = {mb / best['export']:.1f} MB/s overall;"
              f" query example load-only: {best['load']:.3f} s; write ~{beyond:.3f} s beyond the load"
              f"{f' = {mb / beyond:.0f} MB/s' if beyond > 0.005 else ' (within noise)'} (best of 3)")
        for line in stderr_ch.strip().splitlines():
            if line.startswith("wrote "):
                print(f"  the example's own report of its write: {line}")

        t = time.perf_counter()
        db.load(out)
        print(f"chDB load of the three files (MergeTree): {time.perf_counter() - t:.2f} s")
        # the engine: per query, one run of `query` with the query repeated R times, less the load
        reps = args.bench_reps
        rows = []
        for text, sql in zip(BENCH_QUERIES, sqls):
            stdout, _, dt = run([args.query, pairs, "--attrs", attrs, *([text] * reps)], "query example")
            engine_count = int(stdout.splitlines()[0].split("\t")[0])
            engine_ms = max(dt - best["load"], 0) / reps * 1e3
            times = []
            for _ in range(5):
                t = time.perf_counter()
                card = db.rows(f"SELECT bitmapCardinality(audience) FROM ({sql})")[0][0]
                times.append(time.perf_counter() - t)
            times.sort()
            ok = "ok" if card == engine_count else f"MISMATCH (engine {engine_count})"
            rows.append((text, card, times[2] * 1e3, engine_ms, ok))
        w = max(len(r[0]) for r in rows)
        print(f"{'query':<{w}}  {'count':>9}  {'chDB ms':>8}  {'engine ms':>9}")
        for text, card, ch_ms, en_ms, ok in rows:
            print(f"{text:<{w}}  {card:>9}  {ch_ms:>8.2f}  {en_ms:>9.3f}  {ok}")
        print(f"(chDB: median of 5 runs of SELECT bitmapCardinality(audience) FROM (<sql>) in one session; engine: "
              f"(query example with the query {reps}x - its load-only run) / {reps}, so per-query times under "
              f"~{best['load'] * 0.02 / reps * 1e3:.2f} ms are noise)")
        return 0 if all(r[4] == "ok" for r in rows) else 1
    finally:
        db.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", type=int, default=20)
    ap.add_argument("--queries", type=int, default=30, help="queries per case")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--bench-customers", type=int, default=1_000_000)
    ap.add_argument("--bench-reps", type=int, default=1000,
                    help="times each query is repeated in one run of the query example")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "examples"),
                    help="where the clickhouse and query examples are")
    ap.add_argument("--keep", action="store_true", help="keep the case directories")
    args = ap.parse_args()
    args.clickhouse = os.path.join(args.bin, "clickhouse")
    args.query = os.path.join(args.bin, "query")
    for b in (args.clickhouse, args.query):
        if not os.path.exists(b):
            print(f"{b} missing: cargo build --release --example clickhouse --example query", file=sys.stderr)
            return 2
    try:
        if args.bench:
            return bench(args)
        stats = {"engine": 0.0, "queries": 0}
        db = Chdb()
        start = time.perf_counter()
        try:
            for i in range(args.cases):
                run_case(args, db, args.seed + i, stats)
        finally:
            db.close()
        print(f"chdb round trip: {args.cases} cases, {stats['queries']} queries, all equal "
              f"(model, chDB, engine); {db.seconds:.1f} s in chDB, {stats['engine']:.1f} s in the engine, "
              f"{time.perf_counter() - start:.1f} s in all")
        return 0
    except Fail as e:
        print(f"MISMATCH: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
