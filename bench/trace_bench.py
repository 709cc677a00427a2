"""bench/trace_bench.py — trace capture and decoding, each number a median and each ratio
measured in this run:

  (a) software-backend capture: ptstub traces bench/programs/trace_work between its two int3
      markers (jLLDBTraceStart, then one continue) -> steps per second, against a tiny C
      stepper doing bare PTRACE_SINGLESTEP + waitpid over the same path (target >= 0.8x);
  (b) decode throughput of ptstub's decoder on a multi-MiB trace of the same workload: one
      thread (target >= 100 M insn/s) and 2 and 4 workers (target >= 1.7x from 2);
  (c) the same live trace decoded by lldb-19 on the client (`thread trace dump info`: its
      decode time) and by ptstub on the server (the first jPTStubTraceDecode reply, timed
      from the capture runs of (a): the same path gives the same bytes, checked; and the
      decoder alone on lldb's saved trace) (target >= 3x).

usage: trace_bench.py [BUILD_DIR]   (BENCH_RUNS=n, BENCH_TRACE_ROUNDS=n, BENCH_TRACE_MIB=n)"""
import glob
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
BUILD = os.path.realpath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(TOP, "build"))
PTSTUB = os.path.join(BUILD, "server", "ptstub")
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
ROUNDS = os.environ.get("BENCH_TRACE_ROUNDS", "2")  # about 37,000 instructions per round
MIB = os.environ.get("BENCH_TRACE_MIB", "4")
TRACE_SIZE = 1 << 24  # no wrap
LLDB = shutil.which("lldb-19") or "lldb"


def program(name, cflags=("-O1", "-g"), libs=()):
    """bench/programs/NAME.c compiled into BUILD/bench-programs (again when it changed)."""
    out_dir = os.path.join(BUILD, "bench-programs")
    os.makedirs(out_dir, exist_ok=True)
    src = os.path.join(HERE, "programs", name + ".c")
    exe = os.path.join(out_dir, name)
    deps = [src] + [lib for lib in libs if lib.endswith(".a")]
    if not os.path.exists(exe) or os.path.getmtime(exe) < max(map(os.path.getmtime, deps)):
        subprocess.run(["cc", *cflags, "-o", exe, src, *libs], check=True)
    return exe


def decode_program():
    libs = [os.path.join(BUILD, d, f"libptstub_{d}.a") for d in ("decoder", "collector",
                                                                 "protocol")]
    return program("trace_decode", ("-O2", "-g", "-I", TOP, "-I", BUILD),
                   libs + ["-lipt", "-lZydis", "-ldw", "-lelf", "-lyajl", "-lpthread"])


class Remote:
    """A gdb-remote client for a few packets (acked; `}` escapes both ways)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms acks
        self.buf = b""

    def ask(self, payload):
        return self.ask_bytes(payload).decode(errors="replace")

    def ask_bytes(self, payload):
        body = payload.encode().replace(b"}", b"}]")
        self.sock.sendall(b"$" + body + b"#%02x" % (sum(body) & 0xFF))
        while True:
            self.buf = self.buf.lstrip(b"+")
            start = self.buf.find(b"$")
            end = self.buf.find(b"#", start + 1) if start >= 0 else -1
            if start >= 0 and end >= 0 and len(self.buf) >= end + 3:
                raw, self.buf = self.buf[start + 1:end], self.buf[end + 3:]
                self.sock.sendall(b"+")
                return re.sub(rb"\}(.)", lambda m: bytes([m.group(1)[0] ^ 0x20]), raw,
                              flags=re.S)
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("ptstub closed the connection")
            self.buf += chunk


def ptstub_capture(work):
    """One traced continue from marker to marker: (instructions, seconds, seconds of the
    first jPTStubTraceDecode reply (the decode), the trace bytes)."""
    tmp = tempfile.mkdtemp(prefix="trace-bench-")
    fifo = os.path.join(tmp, "port")
    os.mkfifo(fifo)
    srv = subprocess.Popen([PTSTUB, "gdbserver", "--log-channels", "quiet", "127.0.0.1:0",
                            "--named-pipe", fifo, "--", work, ROUNDS],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        with open(fifo, "rb") as f:
            port = int(f.read().rstrip(b"\0"))
        r = Remote(port)
        stop = r.ask("?")
        tid = int(re.search(r"thread:(?:p[0-9a-f]+\.)?([0-9a-f]+);", stop).group(1), 16)
        r.ask("vCont;c")  # the first marker
        reply = r.ask('jLLDBTraceStart:{"type":"intel-pt","iptTraceSize":%d,'
                      '"enableTsc":false,"tids":[%d]}' % (TRACE_SIZE, tid))
        if reply != "OK":
            raise RuntimeError(f"jLLDBTraceStart: {reply}")
        t0 = time.perf_counter()
        r.ask("vCont;c")  # the second marker
        seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        page = json.loads(r.ask('jPTStubTraceDecode:{"count":1,"symbols":false,'
                                '"disassembly":false}'))
        reply = time.perf_counter() - t0
        trace = r.ask_bytes('jLLDBTraceGetBinaryData:{"cpuId":null,"kind":"iptTrace",'
                            '"tid":%d,"type":"intel-pt"}' % tid)
        return page["total"], seconds, reply, trace
    finally:
        srv.kill()
        srv.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def raw_steps(stepper, work):
    """(steps, seconds) of bare single steps over the same path."""
    out = subprocess.run([stepper, work, ROUNDS], capture_output=True, text=True,
                         check=True).stdout.split()
    return int(out[1]), float(out[3])


def decode_numbers(argv):
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()
    return dict(zip(out[0::2], [float(v) for v in out[1::2]]))


def lldb_session(work, tmp):
    """lldb-19 traces the same path; returns (lldb decode s, items, bundle trace file, maps
    file)."""
    maps = os.path.join(tmp, "maps")
    bundle = os.path.join(tmp, "bundle")
    script = os.path.join(tmp, "lldb.script")
    with open(script, "w") as f:
        f.write("\n".join([
            "settings set auto-confirm true",
            f"target create {work}",
            f"process launch -- {ROUNDS}",
            f"thread trace start -s {TRACE_SIZE}",
            "continue",
            "thread trace dump info",
            f"script open('{maps}', 'w').write(open('/proc/%d/maps' % "
            "lldb.process.GetProcessID()).read())",
            f"trace save {bundle}",
            "process kill", ""]))
    env = dict(os.environ, LLDB_DEBUGSERVER_PATH=PTSTUB)
    out = subprocess.run([LLDB, "--no-lldbinit", "-b", "-s", script], capture_output=True,
                         text=True, env=env, timeout=600).stdout
    lldb_s = re.search(r"Decoding instructions: ([\d.]+)s", out)
    items = re.search(r"Total number of trace items: (\d+)", out)
    traces = glob.glob(os.path.join(bundle, "**", "*.intelpt_trace"), recursive=True)
    if not (lldb_s and items and traces):
        raise RuntimeError("lldb session:\n" + out[-3000:])
    return float(lldb_s.group(1)), int(items.group(1)), traces[0], maps


def row(*cols):
    print(f"{cols[0]:<52}" + "".join(f"{c:>16}" for c in cols[1:]))


def main():
    work = program("trace_work")
    stepper = program("trace_stepper", ("-O2",))
    decoder = decode_program()
    with open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                   "?")
    print(f"# trace bench: {cpu}, {os.cpu_count()} cpus; medians of {RUNS} runs")

    # (a) capture
    raw, soft, replies, insns, trace = [], [], [], 0, b""
    for _ in range(RUNS):
        steps, s = raw_steps(stepper, work)
        raw.append(steps / s)
        insns, s, reply, trace = ptstub_capture(work)
        soft.append(insns / s)
        replies.append(reply)
    raw_rate, soft_rate = statistics.median(raw), statistics.median(soft)
    print(f"\n## capture: trace_work {ROUNDS} rounds, {insns} instructions")
    row("", "steps/s", "vs raw")
    row("raw PTRACE_SINGLESTEP + waitpid (C stepper)", f"{raw_rate:,.0f}", "1.00x")
    row("ptstub software backend (traced continue)", f"{soft_rate:,.0f}",
        f"{soft_rate / raw_rate:.2f}x")

    # (b) decode throughput
    d = decode_numbers([decoder, "synth", work, MIB])
    print(f"\n## decode: {d['bytes'] / 2**20:.1f} MiB synthesized trace, "
          f"{d['insns'] / 1e6:.1f} M instructions in {d['records'] / 1e6:.2f} M blocks")
    row("", "M insn/s", "vs 1 thread")
    for k in ("1", "2", "4"):
        t = d["t" + k]
        row(f"ptstub decoder, {k} thread{'s' if k != '1' else ''}",
            f"{d['insns'] / t / 1e6:.1f}", f"{d['t1'] / t:.2f}x")

    # (c) the same live trace: lldb-19 on the client, ptstub on the server
    lldb, server, same = [], [], True
    tmp = tempfile.mkdtemp(prefix="trace-bench-lldb-")
    try:
        for i in range(RUNS):
            run_dir = os.path.join(tmp, str(i))
            os.makedirs(run_dir)
            lldb_s, items, bundle_trace, maps = lldb_session(work, run_dir)
            lldb.append(lldb_s)
            server.append(decode_numbers([decoder, "file", bundle_trace, maps]))
            with open(bundle_trace, "rb") as f:
                same &= f.read() == trace
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lldb_s, reply_s = statistics.median(lldb), statistics.median(replies)
    one = statistics.median(s["t1"] for s in server)
    n = server[0]["insns"]
    print(f"\n## the same live trace: {n:.0f} instructions ({items} lldb trace items), "
          f"{server[0]['bytes'] / 1024:.0f} KiB; lldb's bundle and ptstub's capture "
          f"{'are byte for byte the same' if same else 'DIFFER'}")
    row("", "seconds", "M insn/s", "vs lldb-19")
    row("lldb-19 client decode (`thread trace dump info`)", f"{lldb_s:.3f}",
        f"{n / lldb_s / 1e6:.1f}" if lldb_s else "-", "1.00x")
    row("ptstub: first jPTStubTraceDecode reply", f"{reply_s:.4f}",
        f"{n / reply_s / 1e6:.1f}", f"{lldb_s / reply_s:.2f}x")
    row("ptstub decoder alone, 1 thread", f"{one:.4f}", f"{n / one / 1e6:.1f}",
        f"{lldb_s / one:.2f}x")


if __name__ == "__main__":
    main()
