#!/usr/bin/env python3
"""Where a process's resident memory is: /proc/PID/status (VmRSS, RssAnon, RssFile, RssShmem,
VmHWM, Threads), the thread names, and /proc/PID/smaps grouped into the executable's own pages,
shared libraries, the main heap ([heap], glibc's main arena), glibc's per-thread malloc arenas
(64 MiB reserved regions), thread stacks (an rw region right after a 4 KiB guard page), the main
stack and other anonymous mappings. Used by bench/mem.sh; prints one `key value` per line (kB).

Usage: smaps.py PID   (SMAPS_DETAIL=1: also one `map` line per mapping with resident pages)
"""
import os
import sys


def kb(v):
    return int(v.split()[0])


def main(pid):
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            status[k] = v.strip()
    exe = os.readlink(f"/proc/{pid}/exe")
    maps = []  # (start, end, perms, path, rss_kb)
    with open(f"/proc/{pid}/smaps") as f:
        cur = None
        for line in f:
            parts = line.split()
            if not parts:
                continue
            if "-" in parts[0] and not parts[0].endswith(":"):
                a, b = parts[0].split("-")
                path = parts[5] if len(parts) > 5 else ""
                cur = [int(a, 16), int(b, 16), parts[1], path, 0]
                maps.append(cur)
            elif parts[0] == "Rss:" and cur is not None:
                cur[4] = int(parts[1])
    cats = {}
    detail = os.environ.get("SMAPS_DETAIL") == "1"
    cur_map = None

    def add(k, v):
        cats[k] = cats.get(k, 0) + v
        if detail and v:
            s, e, _, pth, _ = cur_map
            print(f"map {k}: {pth or '-'} {(e - s) >> 10} kB mapped, {v} kB resident")

    for i, (start, end, perms, path, rss) in enumerate(maps):
        cur_map = maps[i]
        if path == exe or path.endswith(" (deleted)") and path.startswith(exe):
            add("binary", rss)
        elif path == "[heap]":
            add("heap (main arena)", rss)
        elif path == "[stack]":
            add("main stack", rss)
        elif path.startswith("["):
            add("kernel ([vdso] ...)", rss)
        elif path:
            add("libraries", rss)
        else:
            prev = maps[i - 1] if i else None
            nxt = maps[i + 1] if i + 1 < len(maps) else None
            if perms.startswith("---"):
                add("anon guard/reserved", rss)
            elif prev and prev[1] == start and prev[2].startswith("---") and not prev[3] \
                    and prev[1] - prev[0] == 4096:
                add("thread stacks", rss)
            elif nxt and nxt[0] == end and nxt[2].startswith("---") and not nxt[3] \
                    and nxt[1] - start == 64 << 20:
                add("malloc arenas (threads)", rss)
            elif end - start == 64 << 20 and start % (64 << 20) == 0:
                add("malloc arenas (threads)", rss)
            else:
                add("anon other", rss)
    for k in ["VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM", "Threads"]:
        print(f"{k} {kb(status[k]) if k != 'Threads' else status[k]}")
    for k in sorted(cats):
        print(f"smaps:{k} {cats[k]}")
    names = []
    for t in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
        try:
            with open(f"/proc/{pid}/task/{t}/comm") as f:
                names.append(f.read().strip())
        except OSError:
            pass
    print("threads " + ",".join(names))


if __name__ == "__main__":
    main(sys.argv[1])
