#!/usr/bin/env python3
"""Figures of one handover trial: PINGS (pinger.py output: '<receive epoch> <seq> <send epoch>'
per reply, '- <seq> <send epoch>' per ping without one), PERIOD (the ping period, s) and HTTP
(httpclient.py output).
Prints '<longest gap between replies, ms> | <lost pings> | <failed new connections> |
<requests broken in flight> | <requests> | <longest reply time, ms> | <longest pause of the
pinger between two sends, ms>'. A gap with no ping lost and a long reply time is the address
answering late; a gap as long as the pinger's own pause is the measuring client, not the
address."""
import sys

pings, period, http = sys.argv[1], float(sys.argv[2]), sys.argv[3]
rows, sends = [], []
for l in open(pings):
    p = l.split()
    if len(p) == 3 and p[0] == "-":
        sends.append((float(p[2]), int(p[1])))
    elif len(p) == 3:
        rows.append((float(p[0]), int(p[1]), float(p[2])))
        sends.append((float(p[2]), int(p[1])))
rows.sort()
sends.sort()
gap = max((b[0] - a[0] for a, b in zip(rows, rows[1:])), default=float("nan"))
rtt = max((r - s for r, _, s in rows), default=float("nan"))
pause = max((b[0] - a[0] for a, b in zip(sends, sends[1:])), default=float("nan"))
lost = len(sends) - len(rows) if sends else -1
ok, connect, inflight = 0, 0, 0
for l in open(http):
    if l.startswith("ok "):
        ok = int(l.split()[1])
    elif l.startswith("fail connect"):
        connect += 1
    elif l.startswith("fail"):
        inflight += 1
print("%.1f | %d | %d | %d | %d | %.1f | %.1f" % (
    gap * 1000, lost, connect, inflight, ok + connect + inflight, rtt * 1000, pause * 1000))
