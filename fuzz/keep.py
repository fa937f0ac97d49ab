#!/usr/bin/env python3
"""Picks the inputs to keep as regression tests: from a minimized queue (afl-cmin) and its
afl-showmap traces, the files that together reach every edge the queue reaches, chosen
greedily (most new edges first, the smaller file on a tie), copied to OUT as cov000, cov001...

    keep.py MINIMIZED_QUEUE TRACES OUT
"""
import os
import shutil
import sys

src, traces, out = sys.argv[1:4]
edges = {}
for name in os.listdir(traces):
    with open(os.path.join(traces, name)) as f:
        edges[name] = {line.split(":")[0] for line in f if line.strip()}
size = {name: os.path.getsize(os.path.join(src, name)) for name in edges}
reached, chosen = set(), []
while True:
    best = max(edges, key=lambda n: (len(edges[n] - reached), -size[n]))
    if not edges[best] - reached:
        break
    chosen.append(best)
    reached |= edges[best]
os.makedirs(out, exist_ok=True)
for i, name in enumerate(chosen):
    shutil.copy(os.path.join(src, name), os.path.join(out, "cov%03d" % i))
print(f"{len(chosen)} files, {sum(size[n] for n in chosen)} bytes, {len(reached)} edges")
