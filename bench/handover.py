#!/usr/bin/env python3
"""Figures of one handover trial: PINGS (pinger.py output: '<epoch> <seq>' per reply),
PERIOD (the ping period, s) and HTTP (httpclient.py output).
Prints '<longest gap between replies, ms> <lost pings> <failed new connections>
<requests broken in flight> <requests>'."""
import sys

pings, period, http = sys.argv[1], float(sys.argv[2]), sys.argv[3]
rows = []
for l in open(pings):
    p = l.split()
    if len(p) == 2:
        rows.append((float(p[0]), int(p[1])))
rows.sort()
gap = max((b[0] - a[0] for a, b in zip(rows, rows[1:])), default=float("nan"))
seqs = {s for _, s in rows}
lost = (max(seqs) + 1 - len(seqs)) if seqs else -1
ok, connect, inflight = 0, 0, 0
for l in open(http):
    if l.startswith("ok "):
        ok = int(l.split()[1])
    elif l.startswith("fail connect"):
        connect += 1
    elif l.startswith("fail"):
        inflight += 1
print("%.1f | %d | %d | %d | %d" % (gap * 1000, lost, connect, inflight, ok + connect + inflight))
