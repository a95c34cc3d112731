#!/usr/bin/env python3
"""What the instance labels cost in a /metrics scrape: reads an exposition (a file saved from
/metrics) and prints its bytes and sample lines, the bytes of the instance labels other than
`vr` (`vrid`, `interface`, `family`, `group`), and the size the same samples would have with
only `vr` on each plus one `vrrp_instance_info{vr,vrid,interface,family,group} 1` line per
instance (the usual info-metric layout). Used for docs/benchmarks.md; changes nothing.

Usage: metrics_labels.py FILE
"""
import re
import sys

LABEL = re.compile(r',?(vrid|interface|family|group)="(?:[^"\\]|\\.)*"')


def main(path):
    text = open(path).read()
    samples = [l for l in text.splitlines() if l and not l.startswith("#")]
    instances = set()
    saved = 0
    for l in samples:
        if 'vr="' not in l:
            continue
        m = re.search(r'vr="((?:[^"\\]|\\.)*)"', l)
        stripped = LABEL.sub("", l)
        saved += len(l) - len(stripped)
        if m:
            instances.add(m.group(1))
    info = sum(len(f'vrrp_instance_info{{vr="{v}",vrid="123",interface="eth0",family="ipv4",group="10.99.1.123"}} 1\n')
               for v in instances)
    print(f"bytes {len(text)} samples {len(samples)} instances {len(instances)}")
    print(f"instance labels other than vr: {saved} bytes ({100 * saved / len(text):.0f} %)")
    print(f"with vr only plus one info line per instance: {len(text) - saved + info} bytes")


if __name__ == "__main__":
    main(sys.argv[1])
