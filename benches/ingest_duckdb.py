#!/usr/bin/env python3
"""DuckDB doing the `rfm` example's whole job, or loading the `query` example's pairs file:
the DuckDB side of `benches/ingest_duckdb.sh` (which times both sides as whole processes).

    ingest_duckdb.py rfm TRANSACTIONS.csv --as-of YYYY-MM-DD --out OUT.csv [--threads N]
    ingest_duckdb.py pairs PAIRS.csv [--threads N]
    ingest_duckdb.py gen-pairs --pairs N --customers C --tags T --seed S --out PAIRS.csv

`rfm`: `read_csv` of the file (header `customer_id,date,amount`, plain fields as
`tests/sql/bench_duckdb.py genbig` writes them), keys numbered in order of first appearance
as the example numbers them, the reference SQL (`tests/sql/rfm_reference.py`, the exact
RANK() scores), then `COPY ... TO` a CSV of the same rows the example prints, prospects
(customers without a purchase on or before the day) included, in the same order.
`pairs`: `read_csv` of `customer,tag` lines into a table (what the `query` example's load
does: every pair kept). `gen-pairs`: a seeded pairs file written by DuckDB.
"""
import argparse
import os
import sys

import duckdb

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "sql"))
import rfm_reference as ref  # noqa: E402


def rfm(a):
    con = duckdb.connect()
    con.execute(f"SET threads = {a.threads}")
    con.execute("SET preserve_insertion_order = true")
    con.execute(
        "CREATE TABLE raw AS SELECT row_number() OVER () AS rn, * FROM read_csv(?, header = true, "
        "auto_detect = false, delim = ',', quote = '', columns = {'customer_id': 'VARCHAR', 'date': 'DATE', "
        "'amount': 'DECIMAL(18,2)'})",
        [a.transactions],
    )
    con.execute(
        "CREATE TABLE keys AS SELECT customer_id, row_number() OVER (ORDER BY MIN(rn)) - 1 AS id "
        "FROM raw GROUP BY customer_id"
    )
    con.execute(
        "CREATE TABLE tx AS SELECT k.id AS cust, r.date AS day, CAST(r.amount * 100 AS BIGINT) AS cents "
        "FROM raw r JOIN keys k USING (customer_id)"
    )
    con.execute("DROP TABLE raw")
    report = ref.REPORT_SQL.replace("$d", f"DATE '{a.as_of}'").rsplit("ORDER BY", 1)[0]
    money = (
        "CASE WHEN s.monetary < 0 THEN '-' ELSE '' END || (abs(s.monetary) // 100)::VARCHAR || '.' "
        "|| lpad((abs(s.monetary) % 100)::VARCHAR, 2, '0')"
    )
    con.execute(f"""
        COPY (
            WITH s AS ({report})
            SELECT k.customer_id, s.recency_days, s.frequency, {money} AS monetary, s.r, s.f, s.m,
                   s.rfm_segment, coalesce(s.stage, 'prospect') AS stage
            FROM keys k LEFT JOIN s ON s.cust = k.id
            ORDER BY k.id
        ) TO '{a.out}' (HEADER, DELIMITER ',', QUOTE '')
    """)


def pairs(a):
    con = duckdb.connect()
    con.execute(f"SET threads = {a.threads}")
    con.execute(
        "CREATE TABLE pairs AS SELECT * FROM read_csv(?, header = false, auto_detect = false, delim = ',', "
        "columns = {'customer': 'VARCHAR', 'tag': 'VARCHAR'})",
        [a.pairs],
    )
    n = con.execute("SELECT count(*) FROM pairs").fetchone()[0]
    print(f"duckdb: {n} pairs", file=sys.stderr)


def gen_pairs(a):
    con = duckdb.connect()
    con.execute("SET threads = 1")
    con.execute("SET preserve_insertion_order = true")
    con.execute("SELECT setseed(?)", [(a.seed % 1000) / 1000])
    # Tags with a skew (a few big, many small), customers uniform.
    con.execute(f"""
        COPY (
            SELECT 'customer-' || CAST(floor(random() * {a.customers}) AS BIGINT) || '@example.com',
                   't' || CAST(floor({a.tags} * pow(random(), 2)) AS BIGINT)
            FROM range({a.pairs})
        ) TO '{a.out}' (HEADER false, DELIMITER ',', QUOTE '')
    """)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("rfm")
    r.add_argument("transactions")
    r.add_argument("--as-of", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--threads", type=int, default=os.cpu_count())
    p = sub.add_parser("pairs")
    p.add_argument("pairs")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    g = sub.add_parser("gen-pairs")
    g.add_argument("--pairs", type=int, required=True)
    g.add_argument("--customers", type=int, required=True)
    g.add_argument("--tags", type=int, default=1000)
    g.add_argument("--seed", type=int, default=7)
    g.add_argument("--out", required=True)
    a = ap.parse_args()
    {"rfm": rfm, "pairs": pairs, "gen-pairs": gen_pairs}[a.cmd](a)


if __name__ == "__main__":
    main()
