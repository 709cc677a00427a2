"""bench/step_bench.py — stepping: 5,000 `stepi` through GDB (ptstub, gdbserver) and 5,000
instruction steps through LLDB (ptstub, lldb-server-19), against the raw ptrace single-step
rate of a tiny C program (bench/programs/rawstep.c) measured in the same run. Only the steps
are timed, inside the debugger.

Usage: python3 bench/step_bench.py BUILD_DIR   (BENCH_RUNS=n, BENCH_STEPS=n)"""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
from mem_bench import elapsed  # noqa: E402

STEPS = int(os.environ.get("BENCH_STEPS", "5000"))
CASES = [("gdb", "ptstub"), ("gdb", "gdbserver"), ("lldb", "ptstub"), ("lldb", "lldb-server"),
         ("lldb-count", "ptstub"), ("lldb-count", "lldb-server"),
         ("script", "ptstub"), ("script", "gdbserver"), ("script", "lldb-server")]


def gdb_steps(port):
    cmd = (f"python import time; t = time.monotonic(); c = time.process_time(); "
           f"gdb.execute('stepi {STEPS}', to_string=True); "
           f"print('ELAPSED', time.monotonic() - t, time.process_time() - c)")
    return subprocess.run(["gdb", "-nx", "-batch", "-ex", "set sysroot /",
                           "-ex", f"target remote 127.0.0.1:{port}", "-ex", cmd,
                           "-ex", "detach"], capture_output=True, text=True, timeout=600)


def lldb_steps(port, counted=False):
    """STEPS steps, each a public stop (SBThread.StepInstruction, as `si` typed STEPS times),
    or counted: one `thread step-inst -c STEPS`, whose steps in between are private stops
    (as GDB's `stepi N`)."""
    steps = (f"lldb.debugger.HandleCommand('thread step-inst -c {STEPS}')" if counted else
             f"[th.StepInstruction(False) for _ in range({STEPS})]")
    cmd = ("script import time; th = lldb.process.GetSelectedThread(); "
           f"t = time.monotonic(); c = time.process_time(); {steps}; "
           "print('ELAPSED', time.monotonic() - t, time.process_time() - c)")
    return subprocess.run(["lldb-19", "-b", "-o", f"gdb-remote 127.0.0.1:{port}", "-o", cmd,
                           "-o", "process detach"], capture_output=True, text=True,
                          timeout=600)


def script_steps(port, tid):
    """The server alone: vCont;s and its stop reply, STEPS times, from a scripted client."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    r = bl.Remote(sock)
    r.start()
    r.ask("?")
    step = f"vCont;s:p{tid:x}.{tid:x}"
    t = time.monotonic()
    for _ in range(STEPS):
        reply = r.ask(step)
        if not reply.startswith(b"T05"):
            raise RuntimeError(f"step: {reply[:40]!r}")
    t = time.monotonic() - t
    r.send("D")
    sock.close()
    return t


def main():
    spin = bl.program("spin")
    raw = bl.program("rawstep")
    times = {c: [] for c in CASES}
    client_cpu = {c: [] for c in CASES}
    raw_times = []
    with bl.Target([spin]) as target:
        for _ in range(bl.runs()):
            raw_times.append(float(subprocess.run([raw, str(STEPS)], capture_output=True,
                                                  text=True, check=True).stdout))
            for debugger, server in CASES:
                with bl.Server(server, target.pid) as srv:
                    if debugger == "script":
                        times[(debugger, server)].append(script_steps(srv.port, target.pid))
                        continue
                    if debugger == "gdb":
                        proc = gdb_steps(srv.port)
                    else:
                        proc = lldb_steps(srv.port, counted=debugger == "lldb-count")
                times[(debugger, server)].append(elapsed(proc))
                client_cpu[(debugger, server)].append(elapsed(proc, 2))

    raw_rate = STEPS / bl.median(raw_times)
    bl.header(f"Stepping: {STEPS} single steps, median of {bl.runs()} runs")
    widths = (24, 12, 14, 14, 20, 22)
    bl.row("client / server", "steps/s", "µs/step", "of raw rate", "ptstub is",
           "client CPU µs/step", widths=widths)
    bl.row("raw ptrace", f"{raw_rate:.0f}", f"{1e6 / raw_rate:.1f}", "1.00", "", "",
           widths=widths)
    for debugger, server in CASES:
        rate = STEPS / bl.median(times[(debugger, server)])
        mine = STEPS / bl.median(times[(debugger, "ptstub")])
        bl.row(f"{debugger} / {server}", f"{rate:.0f}", f"{1e6 / rate:.1f}",
               f"{rate / raw_rate:.2f}",
               "" if server == "ptstub" else f"{mine / rate:.2f}x as fast",
               f"{1e6 * bl.median(client_cpu[(debugger, server)]) / STEPS:.1f}"
               if client_cpu[(debugger, server)] else "", widths=widths)
    print("client CPU: the debugger's own CPU time while it steps (its process_time()); "
          "a client that spends more than 1/0.9 of a raw step per step cannot reach 0.9 of "
          "the raw rate whatever the server does.")


if __name__ == "__main__":
    main()
