#!/usr/bin/env python3
"""ICMP echo to ADDR every PERIOD seconds for DURATION seconds over a raw socket (root).
Prints one line per reply: '<receive time, epoch seconds> <seq> <send time>', then one line
per ping sent without a reply: '- <seq> <send time>'. The receive time is the kernel's
(SO_TIMESTAMPNS), so a pause of this process does not make a reply look late; the send time is
taken just before sendto."""
import os, select, socket, struct, sys, time

addr, period, duration = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.setblocking(False)
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
ident = os.getpid() & 0xFFFF

def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xFFFF)
    t += t >> 16
    return ~t & 0xFFFF

out = []
sent = {}
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
        sent[seq & 0xFFFF] = time.time()
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
                data, anc, _, src = s.recvmsg(2048, socket.CMSG_SPACE(16))
            except BlockingIOError:
                break
            t = time.time()
            for lvl, typ, cd in anc:
                if lvl == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS and len(cd) >= 16:
                    sec, ns = struct.unpack("qq", cd[:16])
                    t = sec + ns / 1e9
            ihl = (data[0] & 0x0F) * 4
            if src[0] != addr or len(data) < ihl + 8:
                continue
            typ, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if typ == 0 and rid == ident and rseq in sent:
                out.append("%.6f %d %.6f" % (t, rseq, sent.pop(rseq)))
out += ["- %d %.6f" % (q, t) for q, t in sorted(sent.items())]
sys.stdout.write("\n".join(out) + "\n")
