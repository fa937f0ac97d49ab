#!/usr/bin/env python3
"""Reference RFM / lifecycle report, independent of the Rust crate.

    python3 rfm_reference.py TRANSACTIONS.csv --as-of YYYY-MM-DD > report.csv

Python only parses the input (exact decimal -> integer cents, date/RFC 3339 -> UTC
calendar day) and formats the output; every metric, score, segment and stage is computed
by the DuckDB SQL below. Output: CSV on stdout, one row per customer key in order of
first appearance in the file.
"""
import argparse
import datetime as dt
import os
import re
import sys
import tempfile

import duckdb

DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)   # ASCII: \d must not match e.g. "١"
RFC3339_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)
AMOUNT_RE = re.compile(r"(-?)(\d+)(?:\.(\d{1,2}))?", re.ASCII)
HEADER = "customer_id,date,amount"
OUT_HEADER = "customer_id,recency_days,frequency,monetary,r,f,m,rfm_segment,stage"


class InputError(Exception):
    pass


def parse_day(s):
    """`YYYY-MM-DD`, or RFC 3339 date-time converted to its UTC calendar day."""
    try:
        return _parse_day(s)
    except ValueError as e:
        raise ValueError(f"bad date {s!r}: {e}") from None


def _parse_day(s):
    m = DATE_RE.fullmatch(s)
    if m:
        return dt.date(*map(int, m.groups()))
    m = RFC3339_RE.fullmatch(s)
    if not m:
        raise ValueError("want YYYY-MM-DD or RFC 3339 like 2024-03-01T23:30:00-05:00")
    y, mo, d, hh, mi, ss, _frac, z, sign, oh, om = m.groups()
    # A leap second (:60) belongs to the same minute's day; clamp it for datetime.
    local = dt.datetime(int(y), int(mo), int(d), int(hh), int(mi), min(int(ss), 59))
    if z:
        offset = dt.timedelta(0)
    else:
        if int(oh) > 23 or int(om) > 59:
            raise ValueError("UTC offset out of range")
        offset = dt.timedelta(hours=int(oh), minutes=int(om)) * (1 if sign == "+" else -1)
    return (local - offset).date()


def parse_cents(s):
    """Exact decimal with at most two fractional digits -> integer cents."""
    m = AMOUNT_RE.fullmatch(s)
    if not m:
        raise ValueError(f"bad amount {s!r} (want e.g. 12, 12.5, 12.50, -3.50; at most 2 decimals)")
    sign, whole, frac = m.groups()
    cents = int(whole) * 100 + int((frac or "").ljust(2, "0"))
    return -cents if sign else cents


def read_transactions(path):
    """-> (keys in first-appearance order, rows as (key_index, day, cents))."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        # Split on \n only (str.splitlines would also split on U+2028 etc. inside keys).
        lines = [line.removesuffix("\r") for line in fh.read().split("\n")]
    if not lines or lines[0] != HEADER:
        raise InputError(f"{path}: first line must be exactly {HEADER!r}")
    index, keys, rows = {}, [], []
    for lineno, line in enumerate(lines[1:], start=2):
        if line == "":
            continue
        fields = line.split(",")
        if len(fields) != 3:
            raise InputError(f"{path}:{lineno}: want 3 fields, got {len(fields)}")
        key, date_s, amount_s = fields
        if key == "":
            raise InputError(f"{path}:{lineno}: empty customer_id")
        try:
            day, cents = parse_day(date_s), parse_cents(amount_s)
        except ValueError as e:
            raise InputError(f"{path}:{lineno}: {e}") from None
        if key not in index:
            index[key] = len(keys)
            keys.append(key)
        rows.append((index[key], day, cents))
    return keys, rows


# $d is the as-of date. Windows: new 30, active 90, churn 180 days.
REPORT_SQL = """
WITH upto AS (                       -- everything that happened on or before D
    SELECT cust, day, cents FROM tx WHERE day <= $d
),
purchases AS (                       -- amount >= 0 is a purchase (zero included)
    SELECT cust, day,
           day - LAG(day) OVER (PARTITION BY cust ORDER BY day) AS gap
    FROM upto WHERE cents >= 0
),
per_customer AS (
    SELECT cust,
           MIN(day) AS first_day,
           MAX(day) AS last_day,
           COUNT(*) AS frequency,
           MAX(day) FILTER (WHERE gap > 180) AS comeback_day   -- most recent comeback
    FROM purchases GROUP BY cust
),
money AS (                           -- refunds included
    SELECT cust, SUM(cents)::BIGINT AS monetary FROM upto GROUP BY cust
),
base AS (                            -- only customers with a purchase on or before D
    SELECT p.cust, $d - p.last_day AS recency_days, p.frequency, m.monetary,
           p.first_day, p.comeback_day
    FROM per_customer p JOIN money m USING (cust)
),
ranked AS (                          -- "worse" sorts first, so RANK()-1 = below(x)
    SELECT *,
           COUNT(*) OVER () AS n,
           RANK() OVER (ORDER BY recency_days DESC) AS r_rank,
           RANK() OVER (ORDER BY frequency ASC)     AS f_rank,
           RANK() OVER (ORDER BY monetary ASC)      AS m_rank,
           PERCENT_RANK() OVER (ORDER BY recency_days DESC) AS r_pr,
           PERCENT_RANK() OVER (ORDER BY frequency ASC)     AS f_pr,
           PERCENT_RANK() OVER (ORDER BY monetary ASC)      AS m_pr
    FROM base
),
scored AS (
    SELECT *,
           -- exact integer form: 1 + min(4, floor(5 * below / (N - 1))), 1 when N = 1
           CASE WHEN n = 1 THEN 1 ELSE 1 + LEAST(4, (5 * (r_rank - 1)) // (n - 1)) END AS r,
           CASE WHEN n = 1 THEN 1 ELSE 1 + LEAST(4, (5 * (f_rank - 1)) // (n - 1)) END AS f,
           CASE WHEN n = 1 THEN 1 ELSE 1 + LEAST(4, (5 * (m_rank - 1)) // (n - 1)) END AS m,
           -- the same with PERCENT_RANK (floating point), for the cross-check
           1 + LEAST(4, FLOOR(5 * r_pr)::BIGINT) AS r_pr_score,
           1 + LEAST(4, FLOOR(5 * f_pr)::BIGINT) AS f_pr_score,
           1 + LEAST(4, FLOOR(5 * m_pr)::BIGINT) AS m_pr_score
    FROM ranked
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
       CASE                                   -- first that holds wins
           WHEN $d - first_day <= 30                                  THEN 'new'
           WHEN comeback_day IS NOT NULL AND $d - comeback_day <= 90  THEN 'reactivated'
           WHEN recency_days <= 90                                    THEN 'active'
           WHEN recency_days <= 180                                   THEN 'at_risk'
           ELSE 'churned'
       END AS stage,
       (r <> r_pr_score OR f <> f_pr_score OR m <> m_pr_score) AS pr_mismatch
FROM scored
ORDER BY cust
"""


def money(cents):
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("transactions")
    ap.add_argument("--as-of", required=True, help="YYYY-MM-DD")
    args = ap.parse_args()
    if not DATE_RE.fullmatch(args.as_of):
        ap.error("--as-of must be YYYY-MM-DD")
    try:
        as_of = parse_day(args.as_of)
        keys, rows = read_transactions(args.transactions)
    except (InputError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    con = duckdb.connect()
    con.execute("CREATE TABLE tx (cust BIGINT, day DATE, cents BIGINT)")
    with tempfile.TemporaryDirectory() as tmp:
        # Hand DuckDB only integers and ISO dates; the keys stay in Python.
        staged = os.path.join(tmp, "tx.csv")
        with open(staged, "w") as fh:
            fh.writelines(f"{k},{d.isoformat()},{c}\n" for k, d, c in rows)
        if rows:
            con.execute(
                "INSERT INTO tx SELECT * FROM read_csv(?, auto_detect = false, header = false, "
                "delim = ',', columns = {'cust': 'BIGINT', 'day': 'DATE', 'cents': 'BIGINT'})",
                [staged],
            )
    assert con.execute("SELECT COUNT(*) FROM tx").fetchone()[0] == len(rows)
    result = con.execute(REPORT_SQL, {"d": as_of}).fetchall()

    mismatches = [keys[row[0]] for row in result if row[-1]]
    if mismatches:
        print(f"warning: PERCENT_RANK scores differ from the exact integer scores for "
              f"{len(mismatches)} customers (e.g. {mismatches[:3]}); printing the exact ones",
              file=sys.stderr)
    assert all(row[7] is not None for row in result), "segment table not exhaustive"

    by_cust = {row[0]: row for row in result}
    out = [OUT_HEADER]
    for i, key in enumerate(keys):
        row = by_cust.get(i)
        if row is None:
            out.append(f"{key},,,,,,,,prospect")
        else:
            _, rec, freq, mon, r, f, m, seg, stage, _ = row
            out.append(f"{key},{rec},{freq},{money(mon)},{r},{f},{m},{seg},{stage}")
    sys.stdout.buffer.write(("\n".join(out) + "\n").encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
