#!/usr/bin/env bash
# `describe` of a 10% audience over the peer data's 1,000 tags, side by side with DuckDB
# computing the same table (the pairs joined to the audience and grouped by tag, the totals
# per tag, the lift, the order, the top 20) in one run: both times, the ratio, and a check
# that both give the same 20 rows. What is timed: benches/describe_duckdb.py's docstring.
#
#   bash benches/describe_duckdb.sh                 # n1M and n10M (~2-3 min on 2 vCPUs)
#   SCALES=n1M bash benches/describe_duckdb.sh      # 1M only
#   ROUNDS=3 RUNS=7 ENGINE_RUNS=25 THREADS=1 OUT=target/describe bash benches/describe_duckdb.sh
#
# ROUNDS rounds (default 2) of the engine then DuckDB, the round with the lowest median kept
# per side; RUNS timed runs per DuckDB formulation (default 5), ENGINE_RUNS of describe
# (default 15); THREADS for DuckDB (default all cores); reports in $OUT/<scale> (default
# $PEERS_WORK/describe).
# Uses the peer harness's venv and data under $PEERS_WORK (default target/peers): made as
# benches/peers/run.sh makes them when missing (venv from benches/peers/requirements.txt,
# data from gen.py with seed 42). Too slow for .ci/run.
set -euo pipefail

HARNESS=${PEERS:-benches/peers}
export PEERS_WORK=${PEERS_WORK:-target/peers}
W=$PEERS_WORK
SCALES=${SCALES:-"n1M n10M"}
PY=$W/venv/bin/python

if [ ! -x "$PY" ]; then
    python3 -m venv "$W/venv"
    "$W/venv/bin/pip" install -q -r "$HARNESS/requirements.txt"
fi
cargo build --release --example bench_describe

customers() { # n1M -> 1000000, n100K -> 100000
    local digits=${1#n}
    case $digits in
        *M) echo $((${digits%M} * 1000000)) ;;
        *K) echo $((${digits%K} * 1000)) ;;
        *) echo "$digits" ;;
    esac
}

for scale in $SCALES; do
    data="$W/data/$scale"
    if [ ! -f "$data/manifest.json" ]; then
        "$PY" "$HARNESS/gen.py" --customers "$(customers "$scale")" --tags 1000 --seed 42 --out "$data" >/dev/null
    fi
    "$PY" benches/describe_duckdb.py --data "$data" --engine target/release/examples/bench_describe \
        --rounds "${ROUNDS:-2}" --runs "${RUNS:-5}" --engine-runs "${ENGINE_RUNS:-15}" --threads "${THREADS:-0}" \
        --out "${OUT:-$W/describe}/$scale"
done
