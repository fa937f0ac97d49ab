#!/usr/bin/env python3
"""Picks the inputs to keep as regression tests: from a minimized queue (afl-cmin) and its
afl-showmap traces, the files that together reach every edge the queue reaches, chosen
greedily (most new edges first, the smaller file on a tie), copied to OUT as cov000, cov001...

    keep.py MINIMIZED_QUEUE TRACES OUT [MAX_FILES MAX_BYTES]

With a budget (for targets whose inputs are files of kilobytes, each costly to check), the
greedy choice is by new edges per byte instead, and it stops before the kept files would
exceed MAX_FILES files or MAX_BYTES bytes: the edges left out are reported.
"""
import heapq
import os
import shutil
import sys

src, traces, out = sys.argv[1:4]
max_files, max_bytes = (int(sys.argv[4]), int(sys.argv[5])) if len(sys.argv) > 5 else (None, None)
edges = {}
for name in os.listdir(traces):
    with open(os.path.join(traces, name)) as f:
        edges[name] = {line.split(":")[0] for line in f if line.strip()}
size = {name: os.path.getsize(os.path.join(src, name)) for name in edges}
every = set().union(*edges.values())
reached, chosen, total = set(), [], 0
if max_bytes is None:
    while True:
        best = max(edges, key=lambda n: (len(edges[n] - reached), -size[n]))
        if not edges[best] - reached:
            break
        chosen.append(best)
        reached |= edges[best]
        total += size[best]
else:
    # Lazy greedy: a file's new edges per byte only shrink as others are kept, so a file
    # whose recomputed ratio still tops the heap is the best one.
    heap = [(-len(edges[n]) / max(size[n], 1), size[n], n) for n in edges]
    heapq.heapify(heap)
    while heap and len(chosen) < max_files:
        _, _, n = heapq.heappop(heap)
        if total + size[n] > max_bytes:
            continue
        fresh = len(edges[n] - reached)
        if fresh == 0:
            continue
        key = (-fresh / max(size[n], 1), size[n], n)
        if heap and key > heap[0]:
            heapq.heappush(heap, key)
            continue
        chosen.append(n)
        reached |= edges[n]
        total += size[n]
os.makedirs(out, exist_ok=True)
for i, name in enumerate(chosen):
    shutil.copy(os.path.join(src, name), os.path.join(out, "cov%03d" % i))
print(f"{len(chosen)} files, {total} bytes, {len(reached)} edges of the queue's {len(every)}")
