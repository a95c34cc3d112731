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
            if len(p) == 3 and p[0] != "-":  # pinger.py: '<recv> <seq> <sent>'
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

def takeover(capture, t_fail, kind, bound_ms):
    """Prints the takeover's overshoot on the wire for one trial, ms (or 'NA'): r2's first
    advert after the reference, minus the reference, minus the RFC bound. The reference is
    r1's last advert before the failure (link down; bound Master_Down_Interval) or r1's first
    priority-0 advert (SIGTERM; bound Skew_Time). Unlike the client's view (failover), this is
    defined for a make-before-break handover too, where the client sees no gap at the bound."""
    adv = adverts(capture)
    t_fail = float(t_fail)
    r1 = [a for a in adv if a[1] == "10.99.0.11"]
    if kind == "sigterm":
        ref = min((a[0] for a in r1 if a[3] == 0 and a[0] >= t_fail - 0.01), default=None)
    else:
        ref = max((a[0] for a in r1 if a[3] > 0 and a[0] <= t_fail + 0.05), default=None)
    if ref is None:
        print("NA")
        print(f"no reference advert from r1 ({kind})", file=sys.stderr)
        return
    first = min((a[0] for a in adv if a[1] == "10.99.0.12" and a[0] > ref), default=None)
    if first is None:
        print("NA")
        print("no advert from r2 after the reference", file=sys.stderr)
        return
    print("%.1f" % ((first - ref - float(bound_ms) / 1000) * 1000))

def summary(*vals):
    """median (min-max), n for numeric values; 'NA' skipped."""
    v = sorted(float(x) for x in vals if x != "NA")
    if not v:
        print("no data")
        return
    print("%.1f (%.1f to %.1f), n=%d" % (statistics.median(v), v[0], v[-1], len(v)))

def rhythm(capture, src, interval_ms, t0, t1, stalls=None):
    """Adverts from src in [t0,t1]: 'per_s max_gap_ms late_gaps spurious vrids worst_vrid
    explained' where late_gaps counts per-VRID gaps > 1.5 x interval, spurious counts adverts
    from anyone else, and explained counts the late gaps during which the control probe (probe.py,
    its stalls in the file `stalls`) was itself stalled: the advert was overdue while the machine
    ran nothing on time."""
    windows = []
    if stalls:
        with open(stalls) as f:
            for line in f:
                a, late = map(float, line.split())
                windows.append((a, a + late))
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
    late = explained = 0
    worst = None
    for vrid, ts in per.items():
        for a, b in zip(ts, ts[1:]):
            g = b - a
            if g > maxgap:
                maxgap, worst = g, vrid
            if g > 1.5 * iv:
                late += 1
                # overdue from a + iv until b; a probe stall overlapping that span explains it
                if any(s < b and e > a + iv for s, e in windows):
                    explained += 1
    print("%.0f %.1f %d %d %d %s %d" % (n / (t1 - t0), maxgap * 1000, late, spurious, len(per), worst, explained))

def lateness(before, after):
    """From two /metrics scrapes: 'N2 / N10 of TOTAL', the engine timers handled between them
    more than 2 ms and more than 10 ms after their deadline."""
    def read(path):
        le, total = {}, 0
        with open(path) as f:
            for line in f:
                m = re.match(r'vipd_engine_timer_lateness_seconds_bucket\{le="([^"]+)"\} (\d+)', line)
                if m:
                    le[m.group(1)] = int(m.group(2))
                m = re.match(r"vipd_engine_timer_lateness_seconds_count (\d+)", line)
                if m:
                    total = int(m.group(1))
        return le, total
    (l0, n0), (l1, n1) = read(before), read(after)
    total = n1 - n0
    if not total:
        print("no data")
        return
    d = lambda b: l1.get(b, 0) - l0.get(b, 0)
    print("%d / %d of %d" % (total - d("0.002"), total - d("0.01"), total))

def stalls(path, t0, t1):
    """Probe stalls (probe.py's files, concatenated) that began in [t0, t1]:
    'N / worst_ms' with N the wake-ups more than 10 ms late."""
    t0, t1 = float(t0), float(t1)
    n, worst = 0, 0.0
    with open(path) as f:
        for line in f:
            t, late = map(float, line.split())
            if t0 <= t <= t1:
                worst = max(worst, late)
                if late > 0.010:
                    n += 1
    print("%d / %.1f" % (n, worst * 1000))

if __name__ == "__main__":
    {"failover": failover, "takeover": takeover, "summary": summary, "rhythm": rhythm, "lateness": lateness, "stalls": stalls}[sys.argv[1]](*sys.argv[2:])
