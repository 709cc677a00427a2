"""gdbclient.py — a raw gdb-remote client for the hardening tests: frames packets itself (so
tests can also send broken framing), handles acks, reads replies with a deadline; plus a
ptstub server started on a free port and helpers to check for leftover processes."""
import ctypes
import os
import re
import signal
import socket
import subprocess
import tempfile
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import procstate  # noqa: E402  (the e2e tests' /proc walker)

TIMEOUT = 20


class ProtocolError(Exception):
    pass


def checksum(data):
    return b"%02x" % (sum(data) & 0xFF)


def escape(payload):
    out = bytearray()
    for b in payload:
        if b in b"#$}*":
            out += bytes([0x7D, b ^ 0x20])
        else:
            out.append(b)
    return bytes(out)


def frame(payload):
    if isinstance(payload, str):
        payload = payload.encode("latin-1")
    body = escape(payload)
    return b"$" + body + b"#" + checksum(body)


def hexs(text):
    return text.encode().hex()


def become_subreaper():
    """Orphans (a debuggee a dead server left) are re-parented to us, so we can see them."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


class Client:
    def __init__(self, port, ack=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buf = b""
        self.ack = ack
        self.acks = b""  # '+'/'-' bytes the server sent, in order

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.time()
        if left <= 0:
            raise socket.timeout("no reply")
        self.sock.settimeout(left)
        data = self.sock.recv(1 << 20)
        if not data:
            raise ProtocolError("server closed the connection")
        self.buf += data

    def reply(self, timeout=TIMEOUT, skip_output=True):
        """The next reply payload (bytes, escapes and run-lengths undone)."""
        deadline = time.time() + timeout
        while True:
            while self.buf[:1] in (b"+", b"-"):
                self.acks += self.buf[:1]
                self.buf = self.buf[1:]
            m = re.match(rb"\$([^#]*)#([0-9a-f]{2})", self.buf, re.S)
            if not m:
                if self.buf and self.buf[:1] != b"$":
                    raise ProtocolError(f"garbage from server: {self.buf[:40]!r}")
                self._fill(deadline)
                continue
            body, cs = m.group(1), m.group(2)
            self.buf = self.buf[m.end():]
            if checksum(body) != cs:
                raise ProtocolError(f"bad checksum from server on {body[:40]!r}")
            if self.ack:
                self.sock.sendall(b"+")
            payload = self.unescape(body)
            if skip_output and re.fullmatch(rb"O[0-9a-f]+", payload):
                continue
            return payload

    @staticmethod
    def unescape(body):
        out, i = bytearray(), 0
        while i < len(body):
            c = body[i]
            if c == 0x7D:
                out.append(body[i + 1] ^ 0x20)
                i += 2
            elif c == 0x2A:
                out += bytes([out[-1]]) * (body[i + 1] - 29)
                i += 2
            else:
                out.append(c)
                i += 1
        return bytes(out)

    def quiet(self, wait=0.3):
        """True if nothing but acks arrives within wait seconds."""
        try:
            self.reply(timeout=wait)
        except socket.timeout:
            return True
        return False

    def packet(self, payload, timeout=TIMEOUT):
        self.send_raw(frame(payload))
        return self.reply(timeout)

    def text(self, payload, timeout=TIMEOUT):
        return self.packet(payload, timeout).decode("latin-1")

    def no_ack(self):
        assert self.text("QStartNoAckMode") == "OK"
        self.ack = False


def error_message(reply):
    """'Exx;hex' -> (xx, message); 'E.msg' -> (None, msg); 'Exx' -> (xx, '')."""
    m = re.fullmatch(r"E([0-9a-fA-F]{2})(?:;([0-9a-fA-F]*))?", reply)
    if m:
        return int(m.group(1), 16), bytes.fromhex(m.group(2) or "").decode("latin-1")
    if reply.startswith("E."):
        return None, reply[2:]
    return None, None


class Server:
    """`ptstub gdbserver 127.0.0.1:0 [OPTIONS] -- PROGRAM ARGS` with its port and log."""
    started = []  # every server started, for a test to show the logs of those that failed

    def __init__(self, ptstub, program_argv, options=(), multi=False):
        Server.started.append(self)
        self.dir = tempfile.mkdtemp(prefix="ptstub-hard-")
        fifo = os.path.join(self.dir, "port")
        os.mkfifo(fifo)
        self.log_path = os.path.join(self.dir, "server.log")
        self.log = open(self.log_path, "wb")
        argv = [ptstub, "gdbserver"] + list(options) + ["127.0.0.1:0", "--named-pipe", fifo]
        if multi:
            argv.insert(2, "--multi")
        if program_argv:
            argv += ["--"] + list(program_argv)
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        with open(fifo, "rb") as f:
            self.port = int(f.read().rstrip(b"\0"))

    def connect(self, ack=True):
        return Client(self.port, ack)

    def alive(self):
        return self.proc.poll() is None

    def wait(self, timeout=TIMEOUT):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        self.log.close()

    def log_text(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("latin-1")


def descendants(root=None):
    """pid -> state letter of every process below root (default: us)."""
    found = {}
    for pid in procstate.descendants(root or os.getpid()):
        st = procstate.state(pid)
        if st:
            found[pid] = st[0]
    return found


def reap():
    """Collect exited children (ours and adopted orphans)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def leftovers(wait=5.0, allowed=()):
    """Processes still below us after reaping (zombies and stopped ones included), giving
    kills wait seconds to land; allowed pids are not counted."""
    deadline = time.time() + wait
    while True:
        reap()
        left = {p: s for p, s in descendants().items() if p not in allowed}
        if not left or time.time() > deadline:
            return left
        time.sleep(0.05)


def kill_all_below():
    for pid in descendants():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(0.1)
    reap()
