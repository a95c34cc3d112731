#!/usr/bin/env python3
"""A new HTTP GET to http://HOST:PORT/PATH every PERIOD seconds (each on its own connection,
TIMEOUT s limit) until FILE exists. Prints 'ok N', then one line per failed request:
'fail connect <epoch> <error>' when no connection could be opened (nobody reachable at the
address), 'fail inflight <epoch> <error>' when an opened connection broke (the address moved
while the request was in flight: that connection was to the old holder)."""
import http.client, os, sys, time

host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
period, timeout, stop = float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
ok, fails = 0, []
nxt = time.time()
while not os.path.exists(stop):
    t = time.time()
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    phase = "connect"
    try:
        c.connect()
        phase = "inflight"
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        if r.status != 200:
            raise OSError("HTTP status %d" % r.status)
        ok += 1
    except OSError as e:
        fails.append("fail %s %.6f %s" % (phase, t, e))
    finally:
        c.close()
    nxt += period
    time.sleep(max(0.0, nxt - time.time()))
print("ok %d" % ok)
print("\n".join(fails))
