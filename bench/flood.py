#!/usr/bin/env python3
"""Sends about RATE malformed VRRP (IP protocol 112) packets per second to 224.0.0.18 from SRC
for DURATION seconds: random bytes, bad checksums, wrong versions, truncated, and 1 in 10 a
plausible header for VRID with a wrong checksum. Prints 'start end sent'."""
import os, random, socket, sys, time

src, vrid, rate, duration = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
pool = []
for n in range(4096):
    if n % 10 == 0:
        p = bytes([0x31, vrid, 200, 1, 0, 10, 0xDE, 0xAD]) + os.urandom(4)
    else:
        p = os.urandom(random.randint(0, 60))
        if len(p) > 1 and p[1] == vrid:
            p = p[:1] + bytes([(vrid + 1) % 256]) + p[2:]
    pool.append(p)
start = time.time()
end = start + duration
sent = 0
batch = max(1, rate // 1000)
i = 0
while True:
    now = time.time()
    if now >= end:
        break
    due = int((now - start) * rate)
    while sent < due:
        for _ in range(batch):
            try:
                s.sendto(pool[i & 4095], ("224.0.0.18", 0))
            except OSError:
                pass
            i += 1
            sent += 1
    time.sleep(0.0005)
print("%.6f %.6f %d" % (start, time.time(), sent))
