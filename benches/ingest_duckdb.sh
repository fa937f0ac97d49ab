#!/usr/bin/env bash
# Ingest end to end, side by side with DuckDB (issue 15, part 4): whole processes, timed with
# /usr/bin/time (wall seconds, peak resident memory), alternating engine and DuckDB runs.
#
#   bash benches/ingest_duckdb.sh                       # 10M and 100M purchases, 50M pairs
#   SIZES=10M PAIRS=0 ROUNDS=3 bash benches/ingest_duckdb.sh
#
# - rfm: the `rfm` example on a seeded transactions file (10M purchases of 1M customers, 100M
#   of 10M; written by tests/sql/bench_duckdb.py genbig), the whole process (read, intern,
#   refresh, write the report to a file), against DuckDB doing the same job whole
#   (benches/ingest_duckdb.py rfm: read_csv, the reference SQL, COPY TO a CSV of the same
#   rows), each at 1 thread and at the machine's thread count (the engine's loader threads
#   set with AUDIENCE_THREADS). The reports must be the same bytes (checked on every run).
# - pairs: the `query` example loading a file of 50M `customer,tag` pairs (then counting one
#   tag), against DuckDB's read_csv of the same file into a table, at both thread counts.
#
# Uses the peer harness's venv (target/peers/venv, made by benches/peers/run.sh or
# benches/describe_duckdb.sh); files go to $OUT (default target/ingest, about 3.5 GB).
# Too slow for .ci/run (about 15 minutes on 2 vCPUs).
set -euo pipefail

OUT=${OUT:-target/ingest}
PY=${PY:-target/peers/venv/bin/python}
SIZES=${SIZES:-"10M 100M"}
PAIRS=${PAIRS:-50000000}
ROUNDS=${ROUNDS:-2}
AS_OF=2024-06-30
THREADS=$(nproc)
mkdir -p "$OUT"
cargo build --release --example rfm --example query >&2

# "<wall seconds> <peak KB>" of one run of "$@" (its stdout to $RUN_OUT, stderr dropped).
timed() {
    /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$@" > "${RUN_OUT:-/dev/null}" 2> /dev/null
    cat "$OUT/time.txt"
}

# The median of column $2 of file $1.
median() { sort -n -k "$2" "$1" | awk -v c="$2" '{ v[NR] = $c } END { print v[int((NR + 1) / 2)] }'; }

# One table row: name, median wall, median peak MB, the median wall against the engine's.
row() { # name engine_wall runs_file
    printf "%-34s %9.2f %10.0f %9.2fx\n" "$1" "$(median "$3" 1)" "$(echo "$(median "$3" 2) / 1024" | bc -l)" \
        "$(echo "$(median "$3" 1) / $2" | bc -l)"
}

for size in $SIZES; do
    case $size in
        10M) customers=1000000; purchases=10000000 ;;
        100M) customers=10000000; purchases=100000000 ;;
        *) echo "SIZES: 10M or 100M, not $size" >&2; exit 2 ;;
    esac
    tx="$OUT/tx$size.csv"
    [ -f "$tx" ] || "$PY" tests/sql/bench_duckdb.py genbig --customers $customers --purchases $purchases \
        --seed 7 --start 2022-01-01 --end 2024-12-31 --out "$tx"
    : > "$OUT/engine.runs"; : > "$OUT/engineN.runs"; : > "$OUT/duck1.runs"; : > "$OUT/duckN.runs"
    for round in $(seq "$ROUNDS"); do
        RUN_OUT="$OUT/engine.csv" AUDIENCE_THREADS=1 timed target/release/examples/rfm "$tx" --as-of $AS_OF \
            >> "$OUT/engine.runs"
        RUN_OUT="$OUT/engineN.csv" AUDIENCE_THREADS=$THREADS timed target/release/examples/rfm "$tx" --as-of $AS_OF \
            >> "$OUT/engineN.runs"
        cmp -s "$OUT/engine.csv" "$OUT/engineN.csv" || { echo "rfm $size: 1 and $THREADS threads differ" >&2; exit 1; }
        timed "$PY" benches/ingest_duckdb.py rfm "$tx" --as-of $AS_OF --out "$OUT/duck.csv" --threads 1 \
            >> "$OUT/duck1.runs"
        cmp -s "$OUT/engine.csv" "$OUT/duck.csv" || { echo "rfm $size: the reports differ" >&2; exit 1; }
        timed "$PY" benches/ingest_duckdb.py rfm "$tx" --as-of $AS_OF --out "$OUT/duck.csv" --threads "$THREADS" \
            >> "$OUT/duckN.runs"
        cmp -s "$OUT/engine.csv" "$OUT/duck.csv" || { echo "rfm $size: the reports differ" >&2; exit 1; }
    done
    base=$(median "$OUT/engine.runs" 1)
    echo "== rfm end to end: $purchases purchases of $customers customers ($(du -h "$tx" | cut -f1)), $ROUNDS rounds, medians; reports identical"
    printf "%-34s %9s %10s %10s\n" "" "wall s" "peak MB" "x engine"
    row "rfm example (1 thread)" "$base" "$OUT/engine.runs"
    row "rfm example ($THREADS threads)" "$base" "$OUT/engineN.runs"
    row "DuckDB, 1 thread" "$base" "$OUT/duck1.runs"
    row "DuckDB, $THREADS threads" "$base" "$OUT/duckN.runs"
done

if [ "$PAIRS" != 0 ]; then
    pairs="$OUT/pairs$PAIRS.csv"
    [ -f "$pairs" ] || "$PY" benches/ingest_duckdb.py gen-pairs --pairs "$PAIRS" --customers 10000000 --tags 1000 \
        --seed 7 --out "$pairs"
    : > "$OUT/engine.runs"; : > "$OUT/engineN.runs"; : > "$OUT/duck1.runs"; : > "$OUT/duckN.runs"
    for round in $(seq "$ROUNDS"); do
        AUDIENCE_THREADS=1 timed target/release/examples/query "$pairs" t1 >> "$OUT/engine.runs"
        AUDIENCE_THREADS=$THREADS timed target/release/examples/query "$pairs" t1 >> "$OUT/engineN.runs"
        timed "$PY" benches/ingest_duckdb.py pairs "$pairs" --threads 1 >> "$OUT/duck1.runs"
        timed "$PY" benches/ingest_duckdb.py pairs "$pairs" --threads "$THREADS" >> "$OUT/duckN.runs"
    done
    base=$(median "$OUT/engine.runs" 1)
    echo "== loading $PAIRS pairs ($(du -h "$pairs" | cut -f1)), $ROUNDS rounds, medians"
    printf "%-34s %9s %10s %10s\n" "" "wall s" "peak MB" "x engine"
    row "query example (1 thread)" "$base" "$OUT/engine.runs"
    row "query example ($THREADS threads)" "$base" "$OUT/engineN.runs"
    row "DuckDB read_csv, 1 thread" "$base" "$OUT/duck1.runs"
    row "DuckDB read_csv, $THREADS threads" "$base" "$OUT/duckN.runs"
fi
