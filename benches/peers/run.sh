#!/usr/bin/env bash
# Peer benchmark harness, end to end: venv, data, memory bandwidth, then every peer per scale.
# Run it from your project root (README.md beside this file has the details):
#   bash benches/peers/run.sh                                    # 1M and 10M, ~11-13 min
#   SCALES=n1M bash benches/peers/run.sh                         # one scale, ~3-4 min
#   ENGINE="target/release/examples/bench_peers" SCALES=n1M bash benches/peers/run.sh
# Environment:
#   PEERS_WORK  the one folder the harness writes to (default ./target/peers): venv/, data/<scale>/,
#               results/, membw, cargo/ (roaring-rs-peer builds). Nothing is written beside this file.
#   SCALES      space-separated data sets, n<digits>[K|M] customers (default "n1M n10M")
#   ENGINE      external engine command, joins both steps as the column "engine"
#   ROUNDS      rounds of step 2, best round per peer and query kept (default 3)
#   MEMBW=0     skip the memory-bandwidth test
#   PYTHON      interpreter that creates the venv (default python3)
set -euo pipefail
HERE="$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
W="${PEERS_WORK:-target/peers}"
case "$W" in /*) ;; *) W="$(pwd -P)/$W" ;; esac
W="$(realpath -m "$W")"
case "$W/" in
  "$HERE"/*) echo "run.sh: PEERS_WORK=$W is inside the harness folder; run from your project" \
                  "root or set PEERS_WORK to a folder outside $HERE" >&2; exit 2 ;;
esac
export PEERS_WORK="$W"
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ beside the scripts
SCALES=${SCALES:-"n1M n10M"}
ROUNDS=${ROUNDS:-3}

customers() {  # n1M -> 1000000, n10M -> 10000000, n100K -> 100000
  if [[ "$1" =~ ^n([0-9]+)([KM]?)$ ]]; then
    local mult=1
    case "${BASH_REMATCH[2]}" in K) mult=1000 ;; M) mult=1000000 ;; esac
    echo $((10#${BASH_REMATCH[1]} * mult))
  else
    echo "run.sh: scale '$1' is not n<digits>[K|M] (e.g. n1M, n10M, n100K)" >&2
    return 1
  fi
}
for s in $SCALES; do customers "$s" >/dev/null; done
mkdir -p "$W/data" "$W/results"

t_start=$SECONDS
VENV="$W/venv"
PY="$VENV/bin/python"
if [ ! -x "$PY" ] || ! cmp -s "$HERE/requirements.txt" "$VENV/requirements.txt"; then
  echo "[run.sh] venv in $VENV" >&2
  "${PYTHON:-python3}" -m venv "$VENV"
  "$PY" -m pip install -q --upgrade pip
  "$PY" -m pip install -q -r "$HERE/requirements.txt"
  cat "$HERE/requirements.txt" > "$VENV/requirements.txt"  # what is installed, for the check above
fi

for s in $SCALES; do
  [ -f "$W/data/$s/manifest.json" ] ||
    "$PY" "$HERE/gen.py" --customers "$(customers "$s")" --tags 1000 --seed 42 --out "$W/data/$s"
done

if [ "${MEMBW:-1}" != 0 ] && command -v gcc >/dev/null; then
  gcc -O3 -march=native -fopenmp "$HERE/membw.c" -o "$W/membw"
  "$W/membw" | tee "$W/results/membw.txt"
fi

extra=()
[ -n "${ENGINE:-}" ] && extra+=(--engine "$ENGINE")
bitmaps=pyroaring,numpy
command -v cargo >/dev/null && bitmaps=pyroaring,roaring-rs,roaring-rs-native,numpy
for s in $SCALES; do
  # 1) every peer once, counts only: the DuckDB / SQLite columns (and the engine, if given).
  "$PY" "$HERE/bench.py" --data "$W/data/$s" --out "$W/results/$s" ${extra[@]+"${extra[@]}"}
  # 2) bitmap peers (and the engine), best of ROUNDS rounds, with id-list timing: the CRoaring /
  #    roaring-rs / dense anchors. A noisy host can put one round off by 2x.
  "$PY" "$HERE/bench.py" --data "$W/data/$s" --peers "$bitmaps" --rounds "$ROUNDS" --ids \
    --out "$W/results/$s-bitmaps" ${extra[@]+"${extra[@]}"}
done
echo "[run.sh] done in $((SECONDS - t_start))s; tables in $W/results/<scale>{,-bitmaps}/results.md" >&2
