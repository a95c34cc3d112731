#!/usr/bin/env python3
"""ICMP echo to ADDR every PERIOD seconds for DURATION seconds over a raw socket (root).
Prints one line per reply: '<receive time, epoch seconds> <seq>'."""
import os, select, socket, struct, sys, time

addr, period, duration = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.setblocking(False)
ident = os.getpid() & 0xFFFF

def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xFFFF)
    t += t >> 16
    return ~t & 0xFFFF

out = []
start = time.time()
end = start + duration
nxt = start
seq = 0
while True:
    now = time.time()
    if now >= end:
        break
    if now >= nxt:
        hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq & 0xFFFF)
        pl = b"vb" * 8
        pkt = struct.pack("!BBHHH", 8, 0, csum(hdr + pl), ident, seq & 0xFFFF) + pl
        try:
            s.sendto(pkt, (addr, 0))
        except OSError:
            pass
        seq += 1
        nxt += period
        if nxt < now:
            nxt = now + period
    r, _, _ = select.select([s], [], [], max(0.0, min(nxt, end) - time.time()))
    if r:
        while True:
            try:
                data, src = s.recvfrom(2048)
            except BlockingIOError:
                break
            t = time.time()
            ihl = (data[0] & 0x0F) * 4
            if src[0] != addr or len(data) < ihl + 8:
                continue
            typ, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if typ == 0 and rid == ident:
                out.append("%.6f %d" % (t, rseq))
sys.stdout.write("\n".join(out) + "\n")
