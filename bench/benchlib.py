"""bench/benchlib.py — what the benchmark scripts share: building the small targets in
bench/programs, starting a target and a debug server (ptstub, gdbserver, lldb-server-19)
attached to it, a minimal gdb-remote client, medians and the ratio lines.

Machines here are noisy: every number printed is a median of several runs, and every ratio
compares servers measured in the same run, turn about."""
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LLDB_SERVER = shutil.which("lldb-server-19") or "lldb-server"


def build_dir():
    return os.path.realpath(sys.argv[1] if len(sys.argv) > 1 else "build")


def ptstub_path():
    return os.path.join(build_dir(), "server", "ptstub")


def program(name, libs=()):
    """Compile bench/programs/NAME.c (once per build dir) and return the executable."""
    out_dir = os.path.join(build_dir(), "bench-programs")
    os.makedirs(out_dir, exist_ok=True)
    src = os.path.join(HERE, "programs", name + ".c")
    exe = os.path.join(out_dir, name)
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
        subprocess.run(["cc", "-O1", "-g", "-o", exe, src, *libs], check=True)
    return exe


class Target:
    """A running bench program; .line is its "ready ..." line split into words."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        self.line = self.proc.stdout.readline().split()
        if not self.line or self.line[0] != "ready":
            raise RuntimeError(f"{argv[0]} did not start")
        self.pid = self.proc.pid

    def close(self):
        self.proc.kill()
        self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_argv(kind, port, pid):
    """Command line attaching server KIND to pid, listening on 127.0.0.1:port."""
    addr = f"127.0.0.1:{port}"
    if kind == "ptstub":
        return [ptstub_path(), "gdbserver", "--once", "--log-channels", "quiet",
                "--attach", str(pid), addr]
    if kind == "gdbserver":
        return ["gdbserver", "--once", "--attach", addr, str(pid)]
    if kind == "lldb-server":
        return [LLDB_SERVER, "gdbserver", addr, "--attach", str(pid)]
    raise ValueError(kind)


class Server:
    """A debug server attached to pid, listening on a free port (waits until it listens)."""

    def __init__(self, kind, pid):
        self.kind = kind
        self.port = free_port()
        self.proc = subprocess.Popen(server_argv(kind, self.port, pid),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_listening(self.port, self.proc)

    def close(self, timeout=10):
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.close(0.5 if exc_type else 10)


def wait_listening(port, proc, timeout=20):
    """Wait until something listens on port, any address (reading /proc/net/tcp{,6} makes
    no connection: servers that serve one connection are not used up)."""
    want = f":{port:04X}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as f:
                for line in f:
                    w = line.split()
                    if len(w) > 3 and w[1].endswith(want) and w[3] == "0A":
                        return
        time.sleep(0.005)
    raise RuntimeError("server does not listen")


class Remote:
    """A tiny gdb-remote client over a connected socket: no-ack mode after start()."""

    def __init__(self, sock):
        self.sock = sock
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            # An ack and the next packet are two small writes: without this, Nagle holds
            # the second until the server's delayed ack (40 ms).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.ack = True

    @staticmethod
    def frame(payload):
        data = payload.encode() if isinstance(payload, str) else payload
        return b"$" + data + b"#%02x" % (sum(data) & 0xff)

    def send(self, payload):
        self.sock.sendall(self.frame(payload))

    def recv(self):
        while True:
            start = self.buf.find(b"$")
            if start >= 0:
                end = self.buf.find(b"#", start)
                if end >= 0 and len(self.buf) >= end + 3:
                    body = self.buf[start + 1:end]
                    self.buf = self.buf[end + 3:]
                    if self.ack:
                        self.sock.sendall(b"+")
                    return body
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("server closed the connection")
            self.buf += chunk

    def ask(self, payload):
        self.send(payload)
        return self.recv()

    def start(self, features="qSupported:multiprocess+;swbreak+;xmlRegisters=i386"):
        self.ask(features)
        self.ask("QStartNoAckMode")
        self.ack = False
        self.buf = self.buf.replace(b"+", b"", 1) if self.buf.startswith(b"+") else self.buf


def cpu_seconds(pid):
    """CPU time a process has used so far, all threads (scheduler nanoseconds)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / 1e9


def median(xs):
    return statistics.median(xs)


def header(title):
    print()
    print(f"## {title}")
    print(f"({time.strftime('%Y-%m-%d %H:%M')}, {machine()})")


def row(*cols, widths=(34, 12, 12, 12)):
    print("".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                  for i, (c, w) in enumerate(zip(cols, widths))))


def fmt_ratio(x):
    return f"{x:.2f}x"


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} cpus, kernel {os.uname().release}"


def runs():
    return int(os.environ.get("BENCH_RUNS", "5"))
