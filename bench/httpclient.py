#!/usr/bin/env python3
"""A new HTTP GET to URL every PERIOD seconds (each on its own connection, TIMEOUT s limit)
until FILE exists. Prints 'ok N' and one 'fail <epoch> <error>' line per failed request."""
import os, socket, sys, time, urllib.request

url, period, timeout, stop = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
ok, fails = 0, []
nxt = time.time()
while not os.path.exists(stop):
    t = time.time()
    try:
        with opener.open(url, timeout=timeout) as r:
            r.read()
        ok += 1
    except (OSError, socket.timeout) as e:
        fails.append("fail %.6f %s" % (t, e))
    nxt += period
    time.sleep(max(0.0, nxt - time.time()))
print("ok %d" % ok)
print("\n".join(fails))
