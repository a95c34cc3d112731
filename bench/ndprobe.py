#!/usr/bin/env python3
"""IPv6 neighbour solicitations for ADDR on IFACE every PERIOD seconds until FILE exists
(root, AF_PACKET): the IPv6 twin of arpprobe.py.

Each probe comes from SENDER (an address nobody uses) with its own source link-layer address
option (02:99:00:SS:SS:SS, SS = probe number). The holder of ADDR takes that MAC for SENDER
and sends its neighbour advertisement to it, so a capture pairs every solicitation with its
answers: a solicitation no advertisement is addressed to was a moment when nobody answered
for ADDR. Prints the number of probes sent on exit."""
import os, socket, struct, sys, time

iface, addr, sender, period, stop = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0x86DD))
tgt = socket.inet_pton(socket.AF_INET6, addr)
src = socket.inet_pton(socket.AF_INET6, sender)
# The solicited-node multicast group of ADDR, and its Ethernet address.
dst = bytes.fromhex("ff0200000000000000000001ff") + tgt[13:]
dst_mac = b"\x33\x33" + dst[12:]


def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xFFFF) + (t >> 16)
    return ~t & 0xFFFF


n = 0
nxt = time.time()
while not os.path.exists(stop):
    mac = bytes([0x02, 0x99, 0x00, (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF])
    icmp = struct.pack("!BBHI16sBB6s", 135, 0, 0, 0, tgt, 1, 1, mac)
    pseudo = src + dst + struct.pack("!I3xB", len(icmp), 58)
    icmp = icmp[:2] + struct.pack("!H", csum(pseudo + icmp)) + icmp[4:]
    ip6 = struct.pack("!IHBB16s16s", 0x60000000, len(icmp), 58, 255, src, dst)
    s.send(dst_mac + mac + b"\x86\xdd" + ip6 + icmp)
    n += 1
    nxt += period
    time.sleep(max(0.0, nxt - time.time()))
print(n)
