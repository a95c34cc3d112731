#!/usr/bin/env python3
"""Reads captures (as `tcpdump -tt -n -r` text) and pinger output for bench/run.sh."""
import re, statistics, sys

ADV = re.compile(r"^(\d+\.\d+) IP (\S+) > 224\.0\.0\.18: VRRPv\d, Advertisement, vrid (\d+), prio (\d+)")

def adverts(path):
    rows = []
    with open(path) as f:
        for line in f:
            m = ADV.match(line)
            if m:
                rows.append((float(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))))
    return rows

def failover(capture, pings, t_fail, bound_ms):
    """Prints 'outage_ms overshoot_ms' for one trial (or 'NA NA' with a reason on stderr)."""
    adv = [a for a in adverts(capture) if a[1] == "10.99.0.11"]
    last = max((a[0] for a in adv if a[0] <= float(t_fail) + 0.05), default=None)
    rep = []
    with open(pings) as f:
        for line in f:
            p = line.split()
            if len(p) == 2:
                rep.append(float(p[0]))
    rep.sort()
    t_fail = float(t_fail)
    before = [t for t in rep if t < t_fail]
    after = [t for t in rep if t >= t_fail]
    if last is None or not before or not after:
        print("NA NA")
        print(f"no data: adverts={len(adv)} replies before={len(before)} after={len(after)}", file=sys.stderr)
        return
    seq = [before[-1]] + after
    gap, i = max((seq[k + 1] - seq[k], k + 1) for k in range(len(seq) - 1))
    first = seq[i]
    print("%.1f %.1f" % (gap * 1000, (first - (last + float(bound_ms) / 1000)) * 1000))

def summary(*vals):
    """median (min-max), n for numeric values; 'NA' skipped."""
    v = sorted(float(x) for x in vals if x != "NA")
    if not v:
        print("no data")
        return
    print("%.1f (%.1f to %.1f), n=%d" % (statistics.median(v), v[0], v[-1], len(v)))

def rhythm(capture, src, interval_ms, t0, t1):
    """Adverts from src in [t0,t1]: 'per_s max_gap_ms late_gaps spurious' where late_gaps counts
    per-VRID gaps > 1.5 x interval and spurious counts adverts from anyone else."""
    t0, t1, iv = float(t0), float(t1), float(interval_ms) / 1000
    per = {}
    n = spurious = 0
    for t, s, vrid, prio in adverts(capture):
        if not (t0 <= t <= t1):
            continue
        if s == src:
            n += 1
            per.setdefault(vrid, []).append(t)
        else:
            spurious += 1
    maxgap = 0.0
    late = 0
    worst = None
    for vrid, ts in per.items():
        # include the window edges so an instance that stopped altogether shows
        for a, b in zip(ts, ts[1:]):
            g = b - a
            if g > maxgap:
                maxgap, worst = g, vrid
            if g > 1.5 * iv:
                late += 1
    print("%.0f %.1f %d %d %d %s" % (n / (t1 - t0), maxgap * 1000, late, spurious, len(per), worst))

if __name__ == "__main__":
    {"failover": failover, "summary": summary, "rhythm": rhythm}[sys.argv[1]](*sys.argv[2:])
