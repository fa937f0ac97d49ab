#!/usr/bin/env bash
# How the engine's cost grows with customers and tags, beside CRoaring (pyroaring), on the
# peer harness (benches/peers): 1M and 10M customers x 100, 1,000 and 10,000 tags, the
# harness's 25 query shapes, best of ROUNDS rounds per peer and query. Prints the table the
# README's "Performance" section shows (and writes it to $PEERS_WORK/results/scaling.md).
#
#   bash benches/peers_scaling.sh                  # ~6-8 min on the project's 2-vCPU machine
#   SIZES="1000000" TAGS="100 1000" bash benches/peers_scaling.sh
#
# With fewer than 1,000 tags the queries' rare tags (t100, t300, t600-t604, t700-t709,
# t800-t819, t900) do not exist: tag k >= T is read as T - 1 - (k - T) mod (T/2), a tag of the
# smaller pool's rare half, distinct for the distinct tags of any one query (t100 becomes t99
# beside t50 in q22; t800-t819 become t99-t80). With 1,000 and 10,000 tags the queries are
# the harness's own. "Behind" in the table means more than 1.1x pyroaring's time.
set -euo pipefail

HARNESS=${PEERS:-benches/peers}
export PEERS_WORK=${PEERS_WORK:-target/peers}
W=$PEERS_WORK
SIZES=${SIZES:-"1000000 10000000"}
TAGS=${TAGS:-"100 1000 10000"}
ROUNDS=${ROUNDS:-3}
PY=$W/venv/bin/python

if [ ! -x "$PY" ]; then
    python3 -m venv "$W/venv"
    "$W/venv/bin/pip" install -q -r "$HARNESS/requirements.txt"
fi
cargo build --release --example bench_peers
mkdir -p "$W/scaling" "$W/results"

label() { # 1000000 -> 1M
    local n=$1
    if [ $((n % 1000000)) -eq 0 ]; then echo "$((n / 1000000))M"; else echo "$((n / 1000))K"; fi
}

runs=()
for n in $SIZES; do
    for t in $TAGS; do
        name="n$(label "$n")-t$t"
        data="$W/data/scale-$name"
        if [ ! -f "$data/manifest.json" ]; then
            "$PY" "$HARNESS/gen.py" --customers "$n" --tags "$t" --seed 42 --out "$data" >/dev/null
        fi
        queries="$W/scaling/queries-t$t.txt"
        "$PY" - "$HARNESS/queries.txt" "$t" >"$queries" <<'EOF'
import re, sys
src, t = sys.argv[1], int(sys.argv[2])
half = t // 2
def tag(m):
    k = int(m.group(1))
    return f"t{k if k < t else t - 1 - (k - t) % half}"
for line in open(src):
    head, sep, expr = line.partition(":")
    if line.lstrip().startswith("#") or not sep:
        sys.stdout.write(line)
    else:
        sys.stdout.write(head + sep + re.sub(r"\bt(\d+)\b", tag, expr))
EOF
        out="$W/results/scale-$name"
        echo "== $name" >&2
        "$PY" "$HARNESS/bench.py" --data "$data" --queries "$queries" --peers pyroaring \
            --engine "target/release/examples/bench_peers" --rounds "$ROUNDS" --out "$out" >/dev/null
        runs+=("$out")
    done
done

"$PY" - "${runs[@]}" <<'EOF' | tee "$W/results/scaling.md"
import json, math, os, sys

def geo(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs))

print("| customers | tags | pairs | serialized MB | engine RSS MB | pyroaring RSS MB "
      "| engine build s | pyroaring build s | engine geomean ms | engine/pyroaring geomean | min | max "
      "| queries over 1.1x pyroaring |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for out in sys.argv[1:]:
    res = json.load(open(os.path.join(out, "results.json")))
    m = res["manifest"]
    e = json.load(open(os.path.join(out, "engine.json")))
    p = json.load(open(os.path.join(out, "pyroaring.json")))
    eq = {q["id"]: q["median_ms"] for q in e["queries"]}
    pq = {q["id"]: q["median_ms"] for q in p["queries"]}
    ratios = [eq[k] / pq[k] for k in eq if pq.get(k)]
    behind = [k for k in eq if pq.get(k) and eq[k] > pq[k] * 1.1]
    el, pl = e["load"], p["load"]
    print(f"| {m['customers']:,} | {m['tags']:,} | {m['pairs']:,} | {el['serialized_mb']:.1f} "
          f"| {el['rss_delta_mb']:.0f} | {pl.get('rss_delta_mb', float('nan')):.0f} "
          f"| {el['build_s']:.2f} | {pl.get('build_s', float('nan')):.2f} "
          f"| {geo(list(eq.values())):.4f} | {geo(ratios):.2f}x | {min(ratios):.2f}x | {max(ratios):.2f}x "
          f"| {' '.join(sorted(behind)) or 'none'} |")
EOF
