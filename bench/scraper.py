#!/usr/bin/env python3
"""Scrapes a /metrics URL RATE times per second over one keep-alive connection (as Prometheus
does) until SECONDS have passed.

    scraper.py HOST PORT RATE SECONDS

Prints 'scrapes failures bytes_per_scrape mean_ms max_ms'."""
import http.client, sys, time

def main(host, port, rate, seconds):
    rate, seconds = float(rate), float(seconds)
    conn = None
    n = fail = size = 0
    took = []
    t0 = time.time()
    k = 0
    while time.time() - t0 < seconds:
        start = time.time()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, int(port), timeout=5)
            conn.request("GET", "/metrics", headers={"Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"})
            r = conn.getresponse()
            body = r.read()
            if r.status != 200:
                fail += 1
            size = len(body)
            n += 1
        except (OSError, http.client.HTTPException):
            fail += 1
            conn = None
        took.append(time.time() - start)
        k += 1
        d = t0 + k / rate - time.time()
        if d > 0:
            time.sleep(d)
    mean = sum(took) / len(took) if took else 0
    print("%d %d %d %.1f %.1f" % (n, fail, size, mean * 1000, max(took, default=0) * 1000))

if __name__ == "__main__":
    main(*sys.argv[1:])
