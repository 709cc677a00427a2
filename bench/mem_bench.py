"""bench/mem_bench.py — bulk memory read: 64 MiB of a target's heap read by GDB
(`dump binary memory`) and by LLDB (`memory read --binary --force -o FILE`) through ptstub,
gdbserver and lldb-server-19, every server attached to the same process in turn. Only the
read itself is timed (inside the debugger); the dumps are checked to be identical.

Usage: python3 bench/mem_bench.py BUILD_DIR   (BENCH_RUNS=n for more or fewer runs)"""
import filecmp
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

MIB = int(os.environ.get("BENCH_MEM_MIB", "64"))
PEERS = {"gdb": ["ptstub", "gdbserver", "lldb-server"],
         "lldb": ["ptstub", "gdbserver", "lldb-server"]}


def gdb_read(port, addr, size, out):
    cmd = (f"python import time; t = time.monotonic(); c = time.process_time(); "
           f"gdb.execute('dump binary memory {out} {addr:#x} {addr + size:#x}'); "
           f"print('ELAPSED', time.monotonic() - t, time.process_time() - c)")
    return subprocess.run(["gdb", "-nx", "-batch", "-ex", "set pagination off", "-ex", "set sysroot /",
                           "-ex", f"target remote 127.0.0.1:{port}", "-ex", cmd,
                           "-ex", "detach"], capture_output=True, text=True, timeout=600)


def lldb_read(port, addr, size, out):
    return subprocess.run(["lldb-19", "-b", "-o", f"gdb-remote 127.0.0.1:{port}",
                           "-o", "script import time; t = time.monotonic(); "
                                 "c = time.process_time()",
                           "-o", f"memory read --binary --force -o {out} {addr:#x} "
                                 f"{addr + size:#x}",
                           "-o", "script print('ELAPSED', time.monotonic() - t, "
                                 "time.process_time() - c)",
                           "-o", "process detach"],
                          capture_output=True, text=True, timeout=600)


def elapsed(proc, field=1):
    """The debugger's ELAPSED line: field 1 is wall seconds (field 2, where printed, its
    own CPU seconds)."""
    for line in proc.stdout.splitlines():
        if line.startswith("ELAPSED"):
            return float(line.split()[field])
    raise RuntimeError("no timing in the debugger's output:\n" + proc.stdout[-2000:] +
                       proc.stderr[-2000:])


def main():
    heap = bl.program("heap")
    work = tempfile.mkdtemp(prefix="ptstub-mem-bench.")
    results = {}
    with bl.Target([heap, str(MIB)]) as target:
        addr, size = int(target.line[1], 16), int(target.line[2])
        for debugger, servers in PEERS.items():
            read = gdb_read if debugger == "gdb" else lldb_read
            times = {s: [] for s in servers}
            cpu = {s: [] for s in servers}
            for i in range(bl.runs()):
                for server in servers:
                    out = os.path.join(work, f"{debugger}-{server}.bin")
                    with bl.Server(server, target.pid) as srv:
                        proc = read(srv.port, addr, size, out)
                    try:
                        times[server].append(elapsed(proc))
                        cpu[server].append(elapsed(proc, 2))
                    except RuntimeError as e:
                        if server == "ptstub":
                            raise
                        err = [x for x in e.args[0].splitlines() if "rror" in x]
                        print(f"  ({debugger} through {server} fails: "
                              f"{err[0] if err else 'no timing'})")
                        times[server] = None
                        servers = [s for s in servers if s != server]
                        continue
                    if os.path.getsize(out) != size or (
                            server != "ptstub" and
                            not filecmp.cmp(out, os.path.join(work, f"{debugger}-ptstub.bin"),
                                            shallow=False)):
                        raise RuntimeError(f"{debugger} through {server}: wrong dump")
                    os.unlink(out) if server != "ptstub" else None
            results[debugger] = (times, cpu)
    subprocess.run(["rm", "-rf", work])

    bl.header(f"Bulk memory read: {MIB} MiB of heap, median of {bl.runs()} runs")
    widths = (24, 10, 10, 20, 14, 18)
    bl.row("client / server", "seconds", "MiB/s", "ptstub is", "client CPU s",
           "ratio ceiling", widths=widths)
    for debugger, (times, cpu) in results.items():
        mine = bl.median(times["ptstub"])
        mine_cpu = bl.median(cpu["ptstub"])
        for server, ts in times.items():
            if ts is None:
                bl.row(f"{debugger} / {server}", "fails", "-", "-", widths=widths)
                continue
            t = bl.median(ts)
            bl.row(f"{debugger} / {server}", f"{t:.3f}", f"{MIB / t:.0f}",
                   "-" if server == "ptstub" else bl.fmt_ratio(t / mine) + " as fast",
                   f"{bl.median(cpu[server]):.3f}",
                   "-" if server == "ptstub" else bl.fmt_ratio(t / mine_cpu), widths=widths)
    print("client CPU: the debugger's own CPU time during the read (its process_time()). "
          "ratio ceiling: the peer's time over the debugger's own CPU time with ptstub, the "
          "ratio a server that took no time at all would reach.")


if __name__ == "__main__":
    main()
