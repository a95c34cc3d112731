#!/usr/bin/env python3
"""ARP requests for ADDR on IFACE every PERIOD seconds until FILE exists (root, AF_PACKET).

Each probe has its own sender MAC (02:99:00:SS:SS:SS, SS = probe number) and the sender
address SENDER (an address nobody else uses, so no real neighbour entry is disturbed), so a
capture can pair every request with its replies: a request no reply names was a moment when
nobody answered for ADDR. Prints the number of probes sent on exit."""
import os, socket, struct, sys, time

iface, addr, sender, period, stop = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0x0806))
tip, sip = socket.inet_aton(addr), socket.inet_aton(sender)
n = 0
nxt = time.time()
while not os.path.exists(stop):
    mac = bytes([0x02, 0x99, 0x00, (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF])
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, sip, b"\0" * 6, tip)
    s.send(b"\xff" * 6 + mac + b"\x08\x06" + arp)
    n += 1
    nxt += period
    time.sleep(max(0.0, nxt - time.time()))
print(n)
