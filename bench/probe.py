#!/usr/bin/env python3
"""A control for the scale benchmark: a trivial timer loop that wakes every 5 ms for a while and
records how late each wake-up was. It shares the machine (and its scheduler and hypervisor) with
the routers, so a stall it sees is a stall of the machine, not of the router.

    probe.py SECONDS STALLS_FILE

Prints 'wakeups late>2ms late>10ms max_ms' and writes each wake-up later than 5 ms as
'expected_unix_time lateness_s' to STALLS_FILE."""
import sys, time

def main(seconds, out):
    step = 0.005
    t0 = time.time()
    n = late2 = late10 = 0
    worst = 0.0
    stalls = []
    k = 1
    while True:
        target = t0 + k * step
        d = target - time.time()
        if d > 0:
            time.sleep(d)
        now = time.time()
        late = now - target
        n += 1
        if late > 0.002:
            late2 += 1
        if late > 0.010:
            late10 += 1
        if late > 0.005:
            stalls.append((target, late))
        worst = max(worst, late)
        if now - t0 >= seconds:
            break
        # after a stall, continue from the next slot in the future (no catch-up burst)
        k = max(k + 1, int((now - t0) / step) + 1)
    with open(out, "w") as f:
        for t, l in stalls:
            f.write("%.6f %.6f\n" % (t, l))
    print("%d %d %d %.1f" % (n, late2, late10, worst * 1000))

if __name__ == "__main__":
    main(float(sys.argv[1]), sys.argv[2])
