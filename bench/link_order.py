#!/usr/bin/env python3
"""The link order of vipd's functions (packaging/link-order.txt) from callgrind profiles.

Reads callgrind output files (run with --demangle=no) and prints, one per line, every function of
the object whose path ends with OBJ that ran, hottest (self cost) first; a function that ran
counts even at cost 0. Recursion marks ("'2") are dropped and duplicates removed. The names are
the executable's own symbol names, as lld's --symbol-ordering-file takes them (build.rs).

Usage: link_order.py OBJ CALLGRIND_FILE... > packaging/link-order.txt
"""
import collections
import re
import sys

REF = re.compile(r"\((\d+)\)(?: (.*))?")


def functions(obj, paths):
    cost = collections.Counter()
    for path in paths:
        fns, obs = {}, {}
        ob = fn = None
        call_line = False
        with open(path, errors="replace") as f:
            for line in f:
                key, eq, val = line.rstrip("\n").partition("=")
                if eq and key in ("ob", "cob", "fn", "cfn"):
                    table = obs if key in ("ob", "cob") else fns
                    m = REF.match(val)
                    if m:
                        if m.group(2):
                            table[m.group(1)] = m.group(2)
                        val = table.get(m.group(1))
                    if key == "ob":
                        ob = val
                    elif key == "fn":
                        fn = re.sub(r"'\d+$", "", val or "")
                        if ob and ob.endswith(obj) and fn:
                            cost[fn] += 0
                    continue
                if eq and key == "calls":
                    call_line = True  # the next cost line is the call's inclusive cost
                    continue
                if line[:1].isdigit() or line[:1] in "+-*":
                    if call_line:
                        call_line = False
                        continue
                    parts = line.split()
                    if len(parts) >= 2 and ob and ob.endswith(obj) and fn:
                        try:
                            cost[fn] += int(parts[1])
                        except ValueError:
                            pass
    return [n for n, _ in sorted(cost.items(), key=lambda kv: (-kv[1], kv[0]))]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    names = functions(sys.argv[1], sys.argv[2:])
    for n in names:
        print(n)
    print(f"link_order: {len(names)} functions", file=sys.stderr)


if __name__ == "__main__":
    main()
