#!/usr/bin/env python3
"""Run every peer on one data set, check that their counts agree, print the table.

From the project root, with W=target/peers (the work folder, $PEERS_WORK) and H=benches/peers:

    $W/venv/bin/python $H/bench.py --data $W/data/n10M   # pyroaring, roaring-rs (x2), numpy, duckdb
    $W/venv/bin/python $H/bench.py --data $W/data/n1M    # + sqlite (N <= 2M)
    $W/venv/bin/python $H/bench.py --data $W/data/n1M --engine "target/release/examples/bench_peers"

Each peer runs in its own process (peers.py) so load time and RSS are its own. An external
engine (the Rust crate's bench binary) joins the same run with --engine CMD: the harness
calls `CMD --data DIR --queries FILE --out JSON --repeat R` and reads the report schema
documented in peers.py / README.md. Counts must agree across all peers or the run fails
(exit 1) after writing the reports.

Writes only under the work folder ($PEERS_WORK, default ./target/peers): by default
results/<data-name>/{<peer>.json, results.json, results.md}, and the roaring-rs peer's cargo
builds in cargo/. The table goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # the harness folder may be read-only: no __pycache__ there
sys.path.insert(0, HERE)
import common  # noqa: E402


def fmt_ms(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.4f}".rstrip("0") if x >= 0.001 else f"{x:.5f}"


def fmt_ratio(r: float) -> str:
    if r < 0.1:
        return f"{r:.2g}x"  # e.g. 0.0025x, not 0.00x
    return f"{r:.0f}x" if r >= 100 else f"{r:.1f}x" if r >= 10 else f"{r:.2f}x"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b <= 0:
        return "-"
    return fmt_ratio(a / b)


def geomean(xs: list[float]) -> float | None:
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


RS_DIR = os.path.join(HERE, "roaring-rs-peer")


def build_rs(native: bool) -> str:
    """Build the roaring-rs peer (cargo, release) unless the binary is newer than its source.

    The cargo target folders are in the work folder (cargo/roaring-rs-peer/target and
    target-native), never beside the sources. native: a second build with
    RUSTFLAGS=-C target-cpu=native (the default x86-64 target has no popcnt, which costs
    roaring-rs 2-3x on bitset containers)."""
    target = os.path.join(common.work_dir(), "cargo", "roaring-rs-peer",
                          "target-native" if native else "target")
    binary = os.path.join(target, "release", "roaring-rs-peer")
    srcs = [os.path.join(RS_DIR, f) for f in ("src/main.rs", "Cargo.toml", "Cargo.lock")]
    if os.path.exists(binary) and all(os.path.getmtime(binary) >= os.path.getmtime(f) for f in srcs):
        return binary
    env = dict(os.environ)
    for k in ("CARGO_ENCODED_RUSTFLAGS", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET"):
        env.pop(k, None)
    # RUSTFLAGS set (even empty) wins over any rustflags in a cargo config: the default build
    # must be the default target, whatever the caller has set.
    env["RUSTFLAGS"] = "-C target-cpu=native" if native else ""
    print(f"[roaring-rs] cargo build --release{' (target-cpu=native)' if native else ''} "
          f"--target-dir {target}", file=sys.stderr, flush=True)
    # --locked: never rewrite Cargo.lock (the harness folder may be read-only).
    subprocess.run(["cargo", "build", "--release", "--quiet", "--locked",
                    "--manifest-path", os.path.join(RS_DIR, "Cargo.toml"), "--target-dir", target],
                   cwd=RS_DIR, check=True, env=env)
    return binary


def run_peer(cmd: list[str], log_prefix: str, timeout: int) -> None:
    print(f"[{log_prefix}] {' '.join(shlex.quote(c) for c in cmd)}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"[{log_prefix}] failed with exit code {proc.returncode}")
    print(f"[{log_prefix}] done in {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)


def run_one(p: str, a, out: str, rnd: int) -> dict:
    """Run peer p once (one process) and return its report."""
    path = os.path.join(out, f"{p}.json" if rnd == 0 else f"{p}.round{rnd + 1}.json")
    if a.engine and p == a.engine_name:
        cmd = shlex.split(a.engine) + ["--data", a.data, "--queries", a.queries, "--out", path,
                                       "--repeat", str(a.repeat)]
        run_peer(cmd, p, a.timeout)
        with open(path) as f:
            return json.load(f)
    if p in ("roaring-rs", "roaring-rs-native"):
        binary = build_rs(native=p.endswith("native"))
        cmd = [binary, "--data", a.data, "--queries", a.queries, "--out", path,
               "--repeat", str(a.repeat)] + (["--ids"] if a.ids else [])
        run_peer(cmd, p, a.timeout)
        with open(path) as f:
            return json.load(f)
    cmd = [sys.executable, os.path.join(HERE, "peers.py"), "--peer", p, "--data", a.data,
           "--queries", a.queries, "--out", path, "--prune", str(a.prune)]
    if p == "sqlite":  # slow baseline: fewer runs
        cmd += ["--repeat", "3", "--cap", "1.5"]
    else:
        cmd += ["--repeat", str(a.repeat)]
    if a.ids and p != "sqlite":
        cmd.append("--ids")
    if p == "duckdb" and a.threads:
        cmd += ["--threads", str(a.threads)]
    run_peer(cmd, p, a.timeout)
    with open(path) as f:
        return json.load(f)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--queries", default=os.path.join(HERE, "queries.txt"))
    ap.add_argument("--peers", default="auto",
                    help="comma list from pyroaring,roaring-rs,roaring-rs-native,numpy,duckdb,"
                         "sqlite; auto = all but sqlite (the roaring-rs builds when cargo is "
                         "there), sqlite too when customers <= 2,000,000")
    ap.add_argument("--engine", default="", help="external engine command (see module doc)")
    ap.add_argument("--engine-name", default="engine")
    ap.add_argument("--out", default="",
                    help="results folder (default $PEERS_WORK/results/<data name>, "
                         "PEERS_WORK defaulting to ./target/peers)")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--ids", action="store_true", help="also time id-list materialization")
    ap.add_argument("--threads", type=int, default=0, help="duckdb threads (default all cores)")
    ap.add_argument("--prune", type=float, default=2.0, help="see peers.py --prune")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per peer")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run the peer sequence this many times and keep, per peer and query, "
                         "the round with the lowest median (damps a noisy host)")
    a = ap.parse_args()
    a.data, a.queries = os.path.abspath(a.data), os.path.abspath(a.queries)  # as the engine sees them

    manifest = common.read_manifest(a.data)
    n = manifest["customers"]
    data_name = os.path.basename(os.path.normpath(a.data))
    out = os.path.abspath(a.out or os.path.join(common.work_dir(), "results", data_name))
    os.makedirs(out, exist_ok=True)
    if a.peers == "auto":
        rs = ["roaring-rs", "roaring-rs-native"] if shutil.which("cargo") else []
        peers = ["pyroaring"] + rs + ["numpy", "duckdb"] + (["sqlite"] if n <= 2_000_000 else [])
    else:
        peers = [p for p in a.peers.split(",") if p]

    if a.engine:
        peers = [a.engine_name] + peers
    t_start = time.perf_counter()
    reports = {}
    for rnd in range(a.rounds):
        for p in peers:
            rep = run_one(p, a, out, rnd)
            if p not in reports:
                reports[p] = rep
                for q in rep["queries"]:
                    q["round_medians_ms"] = [q["median_ms"]]
                continue
            best = {q["id"]: q for q in reports[p]["queries"]}
            merged = []
            for q in rep["queries"]:  # keep, per query, the round with the lowest median
                old = best[q["id"]]
                if q["count"] != old["count"]:
                    raise SystemExit(f"{p} {q['id']}: count changed between rounds")
                hist = old["round_medians_ms"] + [q["median_ms"]]
                keep = q if q["median_ms"] < old["median_ms"] else old
                keep["round_medians_ms"] = hist
                merged.append(keep)
            reports[p]["queries"] = merged
    wall = time.perf_counter() - t_start


    # ------------------------------------------------------------------ agreement
    names = list(reports)
    qids = [q["id"] for q in reports[names[0]]["queries"]]
    by = {p: {q["id"]: q for q in r["queries"]} for p, r in reports.items()}
    mismatches = []
    for qid in qids:
        counts = {p: by[p][qid]["count"] for p in names if qid in by[p]}
        if len(set(counts.values())) != 1:
            mismatches.append((qid, counts))

    # ------------------------------------------------------------------ tables
    engine = a.engine_name if a.engine else None
    known = ("pyroaring", "roaring-rs", "roaring-rs-native", "numpy", "duckdb", "sqlite")
    order = ([engine] if engine else []) + [p for p in known if p in names] + [
        p for p in names if p != engine and p not in known]
    pairs = [(x, y) for x, y in ((engine, "pyroaring"), (engine, "roaring-rs-native"), (engine, "numpy"),
                                 ("duckdb", engine), ("roaring-rs", "pyroaring"),
                                 ("roaring-rs-native", "pyroaring"), ("duckdb", "pyroaring"))
             if x in names and y in names]
    lines = []
    lines.append(f"## {data_name}: {n:,} customers, {manifest['tags']} tags, "
                 f"{manifest['pairs']:,} pairs (seed {manifest['seed']})\n")
    head = ["query", "shape", "count"]
    for p in order:
        head.append(f"{p} ms")
        if p == "duckdb":
            head.append("duckdb form")
    head += [f"{x}/{y}" for x, y in pairs]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join("---" for _ in head) + "|")
    ratios = {f"{x}/{y}": [] for x, y in pairs}
    ratios_min = {f"{x}/{y}": [] for x, y in pairs}
    shapes = {q.qid: q.shape for q in common.load_queries(a.queries)}  # an engine need not echo it
    for qid in qids:
        row0 = by[names[0]][qid]
        med = {p: by[p][qid]["median_ms"] if qid in by[p] else None for p in names}
        cells = [qid, row0.get("shape") or shapes.get(qid, "-"), f"{row0['count']:,}"]
        for p in order:
            cells.append(fmt_ms(med[p]))
            if p == "duckdb":
                cells.append(by["duckdb"][qid].get("formulation", "-"))
        for x, y in pairs:
            cells.append(ratio(med[x], med[y]))
            if med[x] and med[y]:
                ratios[f"{x}/{y}"].append(med[x] / med[y])
                mx, my = by[x][qid].get("min_ms"), by[y][qid].get("min_ms")  # optional for an engine
                if mx and my:
                    ratios_min[f"{x}/{y}"].append(mx / my)
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for key, xs in ratios.items():
        g = geomean(xs)
        if g:
            gmin = geomean(ratios_min[key])
            lines.append(f"- geometric mean {key}: {fmt_ratio(g)} over {len(xs)} queries "
                         f"(min {fmt_ratio(min(xs))}, max {fmt_ratio(max(xs))})"
                         + (f"; on fastest runs instead of medians: {fmt_ratio(gmin)}" if gmin else ""))
    if a.ids:
        lines.append("")
        lines.append("Id-list materialization (median ms, result ids copied out to the caller):\n")
        idpeers = [p for p in names if any("ids_median_ms" in q for q in reports[p]["queries"])]
        lines.append("| query | count | " + " | ".join(f"{p} ids ms" for p in idpeers) + " |")
        lines.append("|---|---|" + "|".join("---" for _ in idpeers) + "|")
        for qid in qids:
            lines.append(f"| {qid} | {by[names[0]][qid]['count']:,} | " + " | ".join(
                fmt_ms(by[p][qid].get("ids_median_ms")) for p in idpeers) + " |")
    lines.append("")
    lines.append("Load (read files + build the peer's structures) and memory:\n")
    lines.append("| peer | version | threads | read s | build s | RSS after load - before, MB | peak RSS MB | notes |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for p, r in reports.items():
        ld = r["load"]
        notes = []
        if "serialized_mb" in ld:
            notes.append(f"portable serialized {ld['serialized_mb']:.1f} MB")
            if "n_array_containers" in ld:
                notes[-1] += (f"; containers {ld['n_array_containers']} array / "
                              f"{ld.get('n_bitset_containers', '-')} bitset / "
                              f"{ld.get('n_run_containers', '-')} run")
        if "duckdb_memory_mb" in ld:
            notes.append(f"duckdb_memory() {ld['duckdb_memory_mb']:.1f} MB")
        if "tags_built" in ld:
            notes.append(f"{ld['tags_built']} referenced tags x {ld['bytes_per_tag'] / 2**20:.2f} MB")
        lines.append(f"| {p} | {r.get('version', '-')} | {r.get('threads', '-')} | {ld['read_s']:.2f} | "
                     f"{ld['build_s']:.2f} | {ld['rss_delta_mb']:.0f} | {ld['peak_rss_mb']:.0f} | "
                     f"{'; '.join(notes)} |")
    lines.append("")
    rounds = f", best of {a.rounds} rounds" if a.rounds > 1 else ""
    lines.append(f"Harness wall time: {wall:.0f}s. Times are medians of >= {a.repeat} runs after a "
                 f"warm-up (sqlite: >= 3){rounds}; counts agree across {', '.join(names)}"
                 + ("." if not mismatches else ": NO, see below."))
    for qid, counts in mismatches:
        lines.append(f"- COUNT MISMATCH {qid}: {counts}")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"manifest": manifest, "wall_s": wall, "reports": reports,
                   "mismatches": mismatches}, f, indent=1)
    if mismatches:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
