#!/usr/bin/env python3
"""Figures of one handover trial: PINGS (pinger.py output: '<receive epoch> <seq> <send epoch>'
per reply, '- <seq> <send epoch>' per ping without one), PERIOD (the ping period, s) and HTTP
(httpclient.py output).
Prints '<longest gap between replies, ms> | <lost pings> | <failed new connections> |
<requests broken in flight> | <requests> | <longest wait for an answer, ms> | <longest pause
of the pinger between two sends, ms>'.

The wait for an answer of a ping sent at s is the time from s to the first reply, to that ping
or a later one, that the kernel received (its timestamp): how long the client, asking, had no
working address. Unlike the gap between replies it does not grow when the measuring client
itself is paused (it then sends nothing, and a reply waiting in its socket carries the kernel's
time); a gap as long as the pinger's own pause is the client, not the address."""
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
# Longest wait for an answer: walk the sends backwards, keeping the earliest reply time among
# the pings sent at or after each one.
replied = {q: r for r, q, _ in rows}
wait, first = float("nan"), float("inf")
for s_at, q in reversed(sends):
    first = min(first, replied.get(q, float("inf")))
    if first != float("inf"):
        w = first - s_at
        wait = w if wait != wait else max(wait, w)
pause = max((b[0] - a[0] for a, b in zip(sends, sends[1:])), default=float("nan"))
# Lost: pings without a reply sent before the last answered one (the last few sent as the
# pinger stopped had no time to be answered).
last = max(replied, default=-1)
lost = sum(1 for _, q in sends if q < last and q not in replied) if rows else -1
ok, connect, inflight = 0, 0, 0
for l in open(http):
    if l.startswith("ok "):
        ok = int(l.split()[1])
    elif l.startswith("fail connect"):
        connect += 1
    elif l.startswith("fail"):
        inflight += 1
print("%.1f | %d | %d | %d | %d | %.1f | %.1f" % (
    gap * 1000, lost, connect, inflight, ok + connect + inflight, wait * 1000, pause * 1000))
