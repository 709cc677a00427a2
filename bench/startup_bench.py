"""bench/startup_bench.py — start-up on a 200-thread process: start the server attached to it,
connect, negotiate, list the threads (qfThreadInfo/qsThreadInfo) and walk every memory region
(qMemoryRegionInfo from 0 until the end of the address space), as a scripted client. ptstub
against lldb-server-19; gdbserver (no qMemoryRegionInfo) does the attach and thread list only.

Usage: python3 bench/startup_bench.py BUILD_DIR   (BENCH_RUNS=n, BENCH_THREADS=n)"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

THREADS = int(os.environ.get("BENCH_THREADS", "200"))
SERVERS = ["ptstub", "lldb-server", "gdbserver"]


def thread_list(r):
    tids = []
    reply = r.ask("qfThreadInfo")
    while reply.startswith(b"m"):
        tids += reply[1:].split(b",")
        reply = r.ask("qsThreadInfo")
    return tids


def region_walk(r):
    """Number of regions (mapped or not) from address 0 to the top."""
    addr, n = 0, 0
    while n < 100000:
        reply = r.ask(f"qMemoryRegionInfo:{addr:x}")
        if not reply or reply.startswith(b"E"):
            break
        keys = dict(kv.split(b":", 1) for kv in reply.split(b";") if b":" in kv)
        n += 1
        end = int(keys[b"start"], 16) + int(keys[b"size"], 16)
        if int(keys[b"size"], 16) == 0 or end <= addr or end >= 1 << 64:
            break
        addr = end
    return n


def start_up(kind, pid):
    """(seconds, threads, regions) from starting the server to the end of the walk."""
    t = time.perf_counter()
    with bl.Server(kind, pid) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        r = bl.Remote(sock)
        r.start()
        r.ask("?")
        tids = thread_list(r)
        regions = region_walk(r) if kind != "gdbserver" else 0
        t = time.perf_counter() - t
        r.send("D")
        sock.close()
    return t, len(tids), regions


def main():
    prog = bl.program("threads", libs=["-pthread"])
    times = {k: [] for k in SERVERS}
    counts = {}
    with bl.Target([prog, str(THREADS)]) as target:
        for _ in range(bl.runs()):
            for kind in SERVERS:
                t, nthreads, nregions = start_up(kind, target.pid)
                times[kind].append(t)
                counts[kind] = (nthreads, nregions)

    bl.header(f"Start-up: attach + thread list + region walk, {THREADS + 1} threads, "
              f"median of {bl.runs()} runs")
    widths = (24, 10, 10, 10, 24)
    bl.row("server", "ms", "threads", "regions", "ptstub is", widths=widths)
    mine = bl.median(times["ptstub"])
    for kind in SERVERS:
        t = bl.median(times[kind])
        nthreads, nregions = counts[kind]
        bl.row(kind, f"{t * 1e3:.1f}", nthreads, nregions if nregions else "-",
               "" if kind == "ptstub" else f"{t / mine:.2f}x as fast" +
               (" (no walk)" if not nregions else ""), widths=widths)


if __name__ == "__main__":
    main()
