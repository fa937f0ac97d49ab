#!/usr/bin/env python3
"""Generate a messy-but-valid transactions CSV (header customer_id,date,amount) on stdout.

    python3 gen_transactions.py --customers 20000 --purchases 100000 --seed 7 \
        --start 2022-01-01 --end 2024-12-31 > tx.csv

Deterministic for a given seed (only `random.Random(seed)`, no set/hash ordering).
`--purchases` is the exact number of data rows (purchases, refunds and zero amounts).
What it puts in: Zipf-ish purchase counts per customer; amounts mostly from a small price
list (so frequency/monetary ties are common) written as `12.50`, `12.5` or `12`; ~1% zero
amounts; ~5% refunds (negative, usually mirroring an earlier purchase); ~2% same-day
duplicate rows; ~20% RFC 3339 timestamps (Z and offsets, some near midnight so the UTC day
differs from the local one); customers that churn, customers that come back after a long
gap, customers that start late (only after a typical --as-of); customers with only refunds;
refunds dated before a customer's first purchase; rows on the leap day 2024-02-29 (when in range); rows mostly in time order with ~3% late
arrivals; ASCII and Unicode keys (no comma, quote or emoji).
"""
import argparse
import datetime as dt
import sys
from random import Random

PRICES = [999, 1999, 2500, 4950, 10000, 1250, 500, 7500]   # cents
OFFSETS = ["-05:00", "+08:00", "+05:30", "-08:00", "+01:00", "+00:00"]


def make_key(rng, i):
    style = rng.random()
    if style < 0.15:
        return f"客户_{i}"
    if style < 0.20:
        return f"Kunde_Müller_{i}"
    if style < 0.25:
        return f"клиент_{i}"
    if style < 0.45:
        return f"user{i}@example.com"
    if style < 0.65:
        return f"cust-{i:06d}"
    return f"C{i}"


def fmt_amount(rng, cents):
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    style = rng.random()
    if frac == 0 and style < 0.3:
        return f"{sign}{whole}"                    # 12
    if frac % 10 == 0 and style < 0.6:
        return f"{sign}{whole}.{frac // 10}"       # 12.5
    return f"{sign}{whole}.{frac:02d}"             # 12.50


def fmt_date(rng, day):
    """Plain date, or an RFC 3339 timestamp whose *local* date is `day`."""
    x = rng.random()
    if x < 0.80:
        return day.isoformat()
    if x < 0.85:   # near midnight with a negative offset: UTC day is the next day
        t = dt.time(rng.randint(20, 23), rng.randint(0, 59), rng.randint(0, 59))
        off = rng.choice(["-05:00", "-08:00"])
    elif x < 0.90:  # just after midnight with a positive offset: UTC day is the day before
        t = dt.time(rng.randint(0, 3), rng.randint(0, 59), rng.randint(0, 59))
        off = rng.choice(["+08:00", "+05:30"])
    else:
        t = dt.time(rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59))
        off = rng.choice(OFFSETS + ["Z"])
    frac = f".{rng.randint(0, 999):03d}" if rng.random() < 0.2 else ""
    return f"{day.isoformat()}T{t.isoformat()}{frac}{off}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, required=True)
    ap.add_argument("--purchases", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2022, 1, 1))
    ap.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2024, 12, 31))
    a = ap.parse_args()
    rng = Random(a.seed)
    span = (a.end - a.start).days
    if a.customers < 1 or a.purchases < 1 or span < 0:
        ap.error("need --customers >= 1, --purchases >= 1, --start <= --end")

    # Customers: a few have only refunds; the rest buy.
    n_refund_only = min(a.customers // 200, a.purchases // 100)
    n_buyers = a.customers - n_refund_only
    keys = [make_key(rng, i) for i in range(a.customers)]

    # Zipf-ish counts: every buyer gets one row (if the budget allows), the rest by 1/rank^1.1.
    budget = a.purchases - n_refund_only
    counts = [1 if i < budget else 0 for i in range(n_buyers)]
    extra = budget - sum(counts)
    if extra > 0 and n_buyers > 0:
        ranks = list(range(1, n_buyers + 1))
        rng.shuffle(ranks)
        weights = [1.0 / (r + 20) ** 1.1 for r in ranks]
        for i in rng.choices(range(n_buyers), weights=weights, k=extra):
            counts[i] += 1

    rows = []   # (day, seq, key, date_text, amount_text)

    def emit(key, day, cents):
        rows.append((day, len(rows), key, fmt_date(rng, day), fmt_amount(rng, cents)))

    for i in range(n_buyers):
        if counts[i] == 0:
            continue
        first = a.start + dt.timedelta(days=rng.randint(0, span))
        if rng.random() < 0.4:       # still around at the end
            last = a.end
        else:                        # churns some time after the first purchase
            last = min(a.end, first + dt.timedelta(days=int(rng.expovariate(1 / 300))))
        life = (last - first).days
        gap = None
        if life > 400 and rng.random() < 0.25:   # dormant for 181..400 days, then comes back
            g = rng.randint(181, min(400, life - 1))
            g0 = rng.randint(0, life - g)
            gap = (g0, g0 + g)
        bought = []
        for n in range(counts[i]):
            r = rng.random()
            if n == 0 and counts[i] > 1 and r < 0.03:      # refund of a purchase older than the file
                day = max(a.start, first - dt.timedelta(days=rng.randint(1, 60)))
                cents = -rng.choice(PRICES)
            elif bought and r < 0.02:                        # exact same-day duplicate
                day, cents = rng.choice(bought)
            elif bought and r < 0.08:                        # refund of an earlier purchase
                day, cents = rng.choice(bought)
                day = min(a.end, day + dt.timedelta(days=rng.randint(0, 30)))
                cents = -cents if cents > 0 else -rng.choice(PRICES)
            else:
                off = rng.randint(0, life)
                if gap and gap[0] < off < gap[1]:
                    off = gap[0] if rng.random() < 0.5 else gap[1]
                day = first + dt.timedelta(days=off)
                if rng.random() < 0.002 and a.start <= dt.date(2024, 2, 29) <= a.end:
                    day = dt.date(2024, 2, 29)
                z = rng.random()
                if z < 0.01:
                    cents = 0
                elif z < 0.71:
                    cents = rng.choice(PRICES)
                else:
                    cents = rng.randint(100, 50000)
                bought.append((day, cents))
            emit(keys[i], day, cents)

    for i in range(n_buyers, a.customers):   # refund-only customers, one row each
        emit(keys[i], a.start + dt.timedelta(days=rng.randint(0, span)), -rng.choice(PRICES))

    # Mostly chronological (by local day), with ~3% late-arriving rows moved elsewhere.
    rows.sort(key=lambda r: (r[0], r[1]))
    for _ in range(len(rows) // 33):
        j = rng.randrange(len(rows))
        rows.insert(rng.randrange(len(rows)), rows.pop(j))

    out = ["customer_id,date,amount"] + [f"{k},{d},{m}" for _, _, k, d, m in rows]
    sys.stdout.buffer.write(("\n".join(out) + "\n").encode("utf-8"))


if __name__ == "__main__":
    main()
