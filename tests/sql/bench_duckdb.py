#!/usr/bin/env python3
"""Side-by-side timing: the Rust engine's refresh vs DuckDB SQL computing the same report.

    # a big input fast (same shape as gen_transactions.py, O(n) late-arrival step)
    python3 bench_duckdb.py gen --customers 1000000 --purchases 10000000 --seed 7 \
        --start 2022-01-01 --end 2024-12-31 > tx10M.csv

    # 100M rows: a plain file written by DuckDB, loaded by DuckDB's CSV reader (untimed)
    python3 bench_duckdb.py genbig --customers 10000000 --purchases 100000000 --seed 7 --out tx100M.csv
    python3 bench_duckdb.py bench tx100M.csv --as-of 2024-06-30 --native-load --reps 3

    # interleaved runs: engine process, DuckDB threads=default, DuckDB threads=1, ...
    python3 bench_duckdb.py bench tx10M.csv --as-of 2024-06-30 \
        --rfm target/release/examples/rfm --reps 3 [--check-dir DIR]

What is timed:

- engine: the `refresh` time printed on stderr by the `rfm` example (`Engine::refresh`:
  sorting the history, summaries, scores, stages, tags, attributes). One fresh process per
  run; its load and output phases are not counted.
- DuckDB: the input is parsed by `rfm_reference.read_transactions` (same parser as the
  reference) and loaded into an in-memory table `tx (cust BIGINT, day DATE, cents BIGINT)`
  untimed. Timed: `CREATE TABLE res AS <sql>` (so the result is fully materialized) with
  - `pr`: the reference SQL with only the PERCENT_RANK-based scores (the three RANK()
    columns and the cross-check dropped) and without the final ORDER BY;
  - `ref`: `rfm_reference.REPORT_SQL` verbatim (RANK and PERCENT_RANK scores side by side,
    ORDER BY cust), for context.
  each with the default thread count and with `SET threads = 1`.

The runs are interleaved (engine, pr/default, pr/1, ref/default, ref/1, then again) and
for each one the CPU time used by *other* processes during it is estimated from
/proc/stat (system busy time minus our own CPU time), to see whether a run was disturbed.

`--check-dir DIR` also writes DIR/engine.csv (the rfm example's report) and DIR/duckdb_pr.csv
(the `pr` query's result formatted exactly like rfm_reference.py) and compares them.
"""
import argparse
import datetime as dt
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from random import Random

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# ---------------------------------------------------------------------------------------
# Timed SQL. Same CTEs as rfm_reference.REPORT_SQL; the scores use PERCENT_RANK only.
PR_SQL = """
WITH upto AS (
    SELECT cust, day, cents FROM tx WHERE day <= $d
),
purchases AS (
    SELECT cust, day,
           day - LAG(day) OVER (PARTITION BY cust ORDER BY day) AS gap
    FROM upto WHERE cents >= 0
),
per_customer AS (
    SELECT cust,
           MIN(day) AS first_day,
           MAX(day) AS last_day,
           COUNT(*) AS frequency,
           MAX(day) FILTER (WHERE gap > 180) AS comeback_day
    FROM purchases GROUP BY cust
),
money AS (
    SELECT cust, SUM(cents)::BIGINT AS monetary FROM upto GROUP BY cust
),
base AS (
    SELECT p.cust, $d - p.last_day AS recency_days, p.frequency, m.monetary,
           p.first_day, p.comeback_day
    FROM per_customer p JOIN money m USING (cust)
),
scored AS (
    SELECT *,
           1 + LEAST(4, FLOOR(5 * PERCENT_RANK() OVER (ORDER BY recency_days DESC))::BIGINT) AS r,
           1 + LEAST(4, FLOOR(5 * PERCENT_RANK() OVER (ORDER BY frequency ASC))::BIGINT)     AS f,
           1 + LEAST(4, FLOOR(5 * PERCENT_RANK() OVER (ORDER BY monetary ASC))::BIGINT)      AS m
    FROM base
)
SELECT cust, recency_days, frequency, monetary, r, f, m,
       CASE
           WHEN r <= 2 AND f <= 2            THEN 'hibernating'
           WHEN r <= 2 AND f IN (3, 4)       THEN 'at_risk'
           WHEN r <= 2 AND f = 5             THEN 'cant_lose'
           WHEN r = 3 AND f <= 2             THEN 'about_to_sleep'
           WHEN r = 3 AND f = 3              THEN 'need_attention'
           WHEN r IN (3, 4) AND f >= 4       THEN 'loyal_customers'
           WHEN r = 4 AND f = 1              THEN 'promising'
           WHEN r = 5 AND f = 1              THEN 'new_customers'
           WHEN r >= 4 AND f IN (2, 3)       THEN 'potential_loyalists'
           WHEN r = 5 AND f >= 4             THEN 'champions'
       END AS rfm_segment,
       CASE
           WHEN $d - first_day <= 30                                  THEN 'new'
           WHEN comeback_day IS NOT NULL AND $d - comeback_day <= 90  THEN 'reactivated'
           WHEN recency_days <= 90                                    THEN 'active'
           WHEN recency_days <= 180                                   THEN 'at_risk'
           ELSE 'churned'
       END AS stage
FROM scored
"""


def with_day(sql, as_of):
    """Put the as-of day in as a literal (CREATE TABLE AS takes no parameters)."""
    return sql.replace("$d", f"DATE '{as_of.isoformat()}'")


# ---------------------------------------------------------------------------------------
# gen: gen_transactions.py's generator with an O(n) late-arrival step (the original pops
# and inserts one row at a time, O(n) each, which takes tens of minutes at 10M rows).
def gen(a):
    import gen_transactions as g

    rng = Random(a.seed)
    span = (a.end - a.start).days
    n_refund_only = min(a.customers // 200, a.purchases // 100)
    n_buyers = a.customers - n_refund_only
    keys = [g.make_key(rng, i) for i in range(a.customers)]

    budget = a.purchases - n_refund_only
    counts = [1 if i < budget else 0 for i in range(n_buyers)]
    extra = budget - sum(counts)
    if extra > 0 and n_buyers > 0:
        ranks = list(range(1, n_buyers + 1))
        rng.shuffle(ranks)
        weights = [1.0 / (r + 20) ** 1.1 for r in ranks]
        for i in rng.choices(range(n_buyers), weights=weights, k=extra):
            counts[i] += 1

    rows = []
    fmt_date, fmt_amount, PRICES = g.fmt_date, g.fmt_amount, g.PRICES
    leap = dt.date(2024, 2, 29)
    leap_ok = a.start <= leap <= a.end
    td = dt.timedelta

    def emit(key, day, cents):
        rows.append((day, len(rows), key, fmt_date(rng, day), fmt_amount(rng, cents)))

    for i in range(n_buyers):   # identical to gen_transactions.main
        if counts[i] == 0:
            continue
        first = a.start + td(days=rng.randint(0, span))
        if rng.random() < 0.4:
            last = a.end
        else:
            last = min(a.end, first + td(days=int(rng.expovariate(1 / 300))))
        life = (last - first).days
        gap = None
        if life > 400 and rng.random() < 0.25:
            gg = rng.randint(181, min(400, life - 1))
            g0 = rng.randint(0, life - gg)
            gap = (g0, g0 + gg)
        bought = []
        for n in range(counts[i]):
            r = rng.random()
            if n == 0 and counts[i] > 1 and r < 0.03:
                day = max(a.start, first - td(days=rng.randint(1, 60)))
                cents = -rng.choice(PRICES)
            elif bought and r < 0.02:
                day, cents = rng.choice(bought)
            elif bought and r < 0.08:
                day, cents = rng.choice(bought)
                day = min(a.end, day + td(days=rng.randint(0, 30)))
                cents = -cents if cents > 0 else -rng.choice(PRICES)
            else:
                off = rng.randint(0, life)
                if gap and gap[0] < off < gap[1]:
                    off = gap[0] if rng.random() < 0.5 else gap[1]
                day = first + td(days=off)
                if rng.random() < 0.002 and leap_ok:
                    day = leap
                z = rng.random()
                if z < 0.01:
                    cents = 0
                elif z < 0.71:
                    cents = rng.choice(PRICES)
                else:
                    cents = rng.randint(100, 50000)
                bought.append((day, cents))
            emit(keys[i], day, cents)

    for i in range(n_buyers, a.customers):
        emit(keys[i], a.start + td(days=rng.randint(0, span)), -rng.choice(PRICES))

    rows.sort(key=lambda r: (r[0], r[1]))
    # ~3% late arrivals: take len/33 random rows out and put each back at a random place.
    n = len(rows)
    moved = set(rng.sample(range(n), n // 33))
    taken = [rows[j] for j in sorted(moved)]
    rng.shuffle(taken)
    stay = [r for j, r in enumerate(rows) if j not in moved]
    del rows
    dest = sorted((rng.randrange(len(stay) + 1), t) for t in range(len(taken)))
    out = sys.stdout.buffer
    out.write(b"customer_id,date,amount\n")
    buf, di = [], 0
    for pos in range(len(stay) + 1):
        while di < len(dest) and dest[di][0] == pos:
            r = taken[dest[di][1]]
            buf.append(f"{r[2]},{r[3]},{r[4]}\n")
            di += 1
        if pos < len(stay):
            r = stay[pos]
            buf.append(f"{r[2]},{r[3]},{r[4]}\n")
        if len(buf) >= 100_000:
            out.write("".join(buf).encode("utf-8"))
            buf.clear()
    out.write("".join(buf).encode("utf-8"))


# ---------------------------------------------------------------------------------------
# bench
CLK = os.sysconf("SC_CLK_TCK")


def busy_seconds():
    """System-wide busy CPU seconds so far (all cores)."""
    with open("/proc/stat") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    idle = f[3] + f[4]            # idle + iowait
    return (sum(f[:8]) - idle) / CLK


def self_cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def load_duckdb(path):
    import duckdb
    import tempfile
    import rfm_reference as ref

    t = time.perf_counter()
    keys, rows = ref.read_transactions(path)
    con = duckdb.connect()
    con.execute("CREATE TABLE tx (cust BIGINT, day DATE, cents BIGINT)")
    with tempfile.TemporaryDirectory() as tmp:
        staged = os.path.join(tmp, "tx.csv")
        with open(staged, "w") as fh:
            fh.writelines(f"{k},{d.isoformat()},{c}\n" for k, d, c in rows)
        con.execute(
            "INSERT INTO tx SELECT * FROM read_csv(?, auto_detect = false, header = false, "
            "delim = ',', columns = {'cust': 'BIGINT', 'day': 'DATE', 'cents': 'BIGINT'})",
            [staged],
        )
    n = len(rows)
    del rows
    assert con.execute("SELECT COUNT(*) FROM tx").fetchone()[0] == n
    print(f"# loaded {n} rows, {len(keys)} keys into DuckDB in {time.perf_counter() - t:.1f} s "
          f"(untimed)", file=sys.stderr)
    return con, keys


def genbig(a):
    """A plain transactions CSV of any size, written by DuckDB itself (seconds, not hours):
    keys `c<n>`, dates `YYYY-MM-DD`, amounts from the price list with two decimals, ~5%
    refunds. Customers are drawn with a mild skew (`n * u^1.3`). One thread and `setseed`,
    so the same --seed writes the same file."""
    import duckdb

    span = (a.end - a.start).days + 1
    prices = "[" + ", ".join(f"{p / 100:.2f}" for p in (999, 1999, 2500, 4950, 10000, 1250, 500, 7500)) + "]"
    con = duckdb.connect()
    con.execute("SET threads = 1")
    con.execute("SET preserve_insertion_order = true")
    con.execute("SELECT setseed(?)", [(a.seed % 1000) / 1000])
    con.execute(f"""
        COPY (
            SELECT 'c' || CAST(floor({a.customers} * pow(random(), 1.3)) AS BIGINT) AS customer_id,
                   strftime(DATE '{a.start.isoformat()}' + CAST(floor(random() * {span}) AS INTEGER), '%Y-%m-%d')
                       AS date,
                   CASE WHEN random() < 0.05 THEN '-' ELSE '' END
                       || printf('%.2f', list_extract({prices}, 1 + CAST(floor(random() * 8) AS INTEGER)))
                       AS amount
            FROM range({a.purchases})
        ) TO '{a.out}' (HEADER, DELIMITER ',', QUOTE '')
    """)


def load_duckdb_native(path, want_keys):
    """For plain files (`genbig`): DuckDB's own CSV reader, keys numbered in first-appearance
    order like the engine's, untimed."""
    import duckdb

    t = time.perf_counter()
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE raw AS SELECT row_number() OVER () AS rn, * FROM read_csv(?, header = true, "
        "auto_detect = false, delim = ',', columns = {'customer_id': 'VARCHAR', 'date': 'DATE', "
        "'amount': 'DECIMAL(18,2)'})",
        [path],
    )
    con.execute("CREATE TABLE keys AS SELECT customer_id, row_number() OVER (ORDER BY MIN(rn)) - 1 AS id "
                "FROM raw GROUP BY customer_id")
    con.execute("CREATE TABLE tx AS SELECT k.id AS cust, r.date AS day, CAST(r.amount * 100 AS BIGINT) AS cents "
                "FROM raw r JOIN keys k USING (customer_id)")
    con.execute("DROP TABLE raw")
    keys = [r[0] for r in con.execute("SELECT customer_id FROM keys ORDER BY id").fetchall()] if want_keys else []
    n = con.execute("SELECT COUNT(*) FROM tx").fetchone()[0]
    print(f"# loaded {n} rows natively into DuckDB in {time.perf_counter() - t:.1f} s (untimed)", file=sys.stderr)
    return con, keys


def time_duckdb(con, sql, threads):
    con.execute(f"SET threads = {threads}")
    con.execute("DROP TABLE IF EXISTS res")
    b0, c0, t0 = busy_seconds(), self_cpu(), time.perf_counter()
    con.execute(f"CREATE TABLE res AS {sql}")
    wall = time.perf_counter() - t0
    other = (busy_seconds() - b0) - (self_cpu() - c0)
    return wall, max(other, 0.0)


REFRESH_RE = re.compile(r"refresh ([0-9.]+) s")
LOAD_RE = re.compile(r"time: load ([0-9.]+) s")


def time_engine(rfm, path, as_of, out_path):
    with open(out_path or os.devnull, "wb") as out:
        b0, t0 = busy_seconds(), time.perf_counter()
        proc = subprocess.Popen([rfm, path, "--as-of", as_of.isoformat()], stdout=out,
                                stderr=subprocess.PIPE)
        err = proc.stderr.read().decode()
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        other = (busy_seconds() - b0) - (ru.ru_utime + ru.ru_stime)
    if status != 0:
        sys.exit(f"rfm failed ({status}):\n{err}")
    refresh = float(REFRESH_RE.search(err).group(1))
    load = float(LOAD_RE.search(err).group(1))
    return refresh, load, wall, max(other, 0.0)


def write_duckdb_csv(con, keys, path):
    import rfm_reference as ref

    by_cust = {row[0]: row for row in con.execute("SELECT * FROM res").fetchall()}
    out = [ref.OUT_HEADER]
    for i, key in enumerate(keys):
        row = by_cust.get(i)
        if row is None:
            out.append(f"{key},,,,,,,,prospect")
        else:
            _, rec, freq, mon, r, f, m, seg, stage = row
            out.append(f"{key},{rec},{freq},{ref.money(mon)},{r},{f},{m},{seg},{stage}")
    with open(path, "wb") as fh:
        fh.write(("\n".join(out) + "\n").encode("utf-8"))


def bench(a):
    import duckdb
    import rfm_reference as ref

    as_of = dt.date.fromisoformat(a.as_of)
    con, keys = load_duckdb_native(a.transactions, bool(a.check_dir)) if a.native_load \
        else load_duckdb(a.transactions)
    default_threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    queries = {"pr": with_day(PR_SQL, as_of), "ref": with_day(ref.REPORT_SQL, as_of)}
    print(f"# duckdb {duckdb.__version__}, default threads {default_threads}, "
          f"nproc {os.cpu_count()}, as of {as_of}", file=sys.stderr)

    if a.check_dir:
        os.makedirs(a.check_dir, exist_ok=True)
        con.execute(f"CREATE OR REPLACE TABLE res_ref AS {queries['ref']}")
        con.execute(f"CREATE OR REPLACE TABLE res AS {queries['pr']}")
        diff = con.execute("SELECT COUNT(*) FROM (SELECT * FROM res EXCEPT ALL "
                           "SELECT cust, recency_days, frequency, monetary, r, f, m, rfm_segment, "
                           "stage FROM res_ref)").fetchone()[0]
        mism = con.execute("SELECT COUNT(*) FROM res_ref WHERE pr_mismatch").fetchone()[0]
        n_pr, n_ref = (con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("res", "res_ref"))
        print(f"# check: pr rows {n_pr}, ref rows {n_ref}, pr rows not in ref {diff}, "
              f"RANK/PERCENT_RANK mismatches in ref {mism}", file=sys.stderr)
        con.execute("DROP TABLE res_ref")
        write_duckdb_csv(con, keys, os.path.join(a.check_dir, "duckdb_pr.csv"))

    runs = {k: [] for k in ("engine", "pr/default", "pr/1", "ref/default", "ref/1")}
    print("rep  run          ms      other_cpu_s  note", file=sys.stderr)
    for rep in range(a.reps):
        eng_out = os.path.join(a.check_dir, "engine.csv") if (a.check_dir and rep == 0) else None
        refresh, load, wall, other = time_engine(a.rfm, a.transactions, as_of, eng_out)
        runs["engine"].append(refresh * 1000)
        print(f"{rep:<4} engine   {refresh * 1000:9.0f}   {other:8.2f}     "
              f"(whole process: load {load:.2f} s, wall {wall:.2f} s)",
              file=sys.stderr)
        for q in ("pr", "ref"):
            for th in (default_threads, 1):
                wall, other = time_duckdb(con, queries[q], th)
                name = f"{q}/{'default' if th == default_threads else 1}"
                runs[name].append(wall * 1000)
                print(f"{rep:<4} {name:<11} {wall * 1000:7.0f}   {other:8.2f}", file=sys.stderr)
    con.execute(f"SET threads = {default_threads}")

    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f"\nmedian of {a.reps} (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in med.items()))
    print("all runs (ms): " + "; ".join(f"{k} " + " ".join(f"{x:.0f}" for x in v)
                                        for k, v in runs.items()))
    e = med["engine"] or float("nan")   # the rfm example prints whole milliseconds
    print(f"ratio duckdb/engine: pr/default {med['pr/default'] / e:.2f}, pr/1 {med['pr/1'] / e:.2f}, "
          f"ref/default {med['ref/default'] / e:.2f}, ref/1 {med['ref/1'] / e:.2f}")

    if a.check_dir:
        same = open(os.path.join(a.check_dir, "engine.csv"), "rb").read() == \
            open(os.path.join(a.check_dir, "duckdb_pr.csv"), "rb").read()
        print(f"check: engine.csv {'==' if same else '!='} duckdb_pr.csv")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--customers", type=int, required=True)
    g.add_argument("--purchases", type=int, required=True)
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2022, 1, 1))
    g.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2024, 12, 31))
    gb = sub.add_parser("genbig", help="a plain CSV of any size, written by DuckDB (for 100M rows)")
    gb.add_argument("--customers", type=int, required=True)
    gb.add_argument("--purchases", type=int, required=True)
    gb.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2022, 1, 1))
    gb.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2024, 12, 31))
    gb.add_argument("--seed", type=int, default=7)
    gb.add_argument("--out", required=True)
    b = sub.add_parser("bench")
    b.add_argument("transactions")
    b.add_argument("--as-of", required=True)
    b.add_argument("--rfm", default="target/release/examples/rfm")
    b.add_argument("--reps", type=int, default=3)
    b.add_argument("--check-dir")
    b.add_argument("--native-load", action="store_true",
                   help="load with DuckDB's CSV reader (plain files from genbig); default: the reference parser")
    a = ap.parse_args()
    if a.cmd == "gen":
        if a.customers < 1 or a.purchases < 1 or a.start > a.end:
            ap.error("need --customers >= 1, --purchases >= 1, --start <= --end")
        gen(a)
    elif a.cmd == "genbig":
        genbig(a)
    else:
        bench(a)


if __name__ == "__main__":
    main()
