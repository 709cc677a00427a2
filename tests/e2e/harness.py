# harness.py: runs one debugger session (gdb or lldb-19) against a debug server (ptstub or a
# peer: gdbserver, lldb-server-19), captures the transcript and checks expected lines. Every
# process started here, and every process they leave behind, is killed by pid afterwards.
import ctypes
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

TIMEOUT = 40  # seconds, for every debugger run and every wait on a server
HERE = os.path.dirname(os.path.abspath(__file__))
PROCSTATE = os.path.join(HERE, "procstate.py")
PYTHON = "/usr/bin/python3"
GDB = "gdb"
LLDB = "lldb-19"

PEER_PATHS = {"gdbserver": "/usr/bin/gdbserver", "lldb-server": "/usr/bin/lldb-server-19"}


def become_subreaper():
    """Orphans of our children (a server a debugger left behind) come back to us."""
    PR_SET_CHILD_SUBREAPER = 36
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def children_of(pid):
    """All live descendants of pid, found by walking /proc (parents before children)."""
    parent = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        parent[int(entry)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        found.extend(kids)
        frontier.extend(kids)
    return found


def kill_descendants():
    """SIGKILL every process below this one and reap them. Returns how many there were."""
    victims = children_of(os.getpid())
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            if not children_of(os.getpid()):
                break
            time.sleep(0.05)
    return len(victims)


def source_lines(path):
    """Maps each `LINE: name` marker in a source file to its line number."""
    marks = {}
    with open(path) as f:
        for number, text in enumerate(f, 1):
            m = re.search(r"LINE: (\w+)", text)
            if m:
                marks[m.group(1)] = number
    return marks


class Config:
    """What to test: which server (kind and path), which programs, where to keep files."""

    def __init__(self, server, server_path, programs_dir, source_dir, verbose=False,
                 packets=False):
        self.server = server
        self.server_path = server_path or PEER_PATHS.get(server)
        self.sample = os.path.join(programs_dir, "sample")
        for path in (self.sample, self.server_path):
            if not path or not os.access(path, os.X_OK):
                raise SystemExit(f"e2e: {path} is missing or not executable (build first)")
        self.source_dir = source_dir
        self.lines = source_lines(os.path.join(source_dir, "sample.c"))
        self.lines.update(source_lines(os.path.join(source_dir, "ptsample_lib.c")))
        self.verbose = verbose
        self.packets = packets  # log the gdb-remote packets into the transcript
        self.workdir = tempfile.mkdtemp(prefix="ptstub-e2e-")


class Server:
    """A server process started by the harness; its output goes to a log file."""

    def __init__(self, cfg, argv, name):
        self.log_path = os.path.join(cfg.workdir, f"{name}.server.log")
        self.log = open(self.log_path, "wb")
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def output(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_port(self, fifo=None):
        """The port the server chose: from the named pipe, or 'Listening on port N'."""
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK) if fifo else None
        data = b""
        deadline = time.time() + TIMEOUT
        try:
            while time.time() < deadline:
                if fd is not None:
                    ready, _, _ = select.select([fd], [], [], 0.05)
                    if ready:
                        data += os.read(fd, 64)
                        if b"\0" in data or (data and not data[-1:].isdigit()):
                            return int(data.split(b"\0")[0].strip())
                else:
                    time.sleep(0.05)
                m = re.search(r"Listening on port (\d+)", self.output())
                if m:
                    return int(m.group(1))
                if self.proc.poll() is not None:
                    if data.strip(b"\0").strip().isdigit():
                        return int(data.strip(b"\0").strip())
                    raise RuntimeError(f"server exited ({self.proc.returncode}) before "
                                       f"listening: {' '.join(self.argv)}\n{self.output()}")
        finally:
            if fd is not None:
                os.close(fd)
        raise RuntimeError(f"server did not report a port in {TIMEOUT}s: {' '.join(self.argv)}")


class Session:
    """One debugger run. transport: gdb 'pipe'|'extended', lldb 'launch'|'remote'.
    Either args (launch the sample with them) or attach_pid (attach to that process)."""

    def __init__(self, cfg, debugger, transport, name, args=(), attach_pid=None):
        self.cfg, self.debugger, self.transport = cfg, debugger, transport
        self.name = f"{debugger}-{transport}-{name}"
        self.args, self.attach_pid = list(args), attach_pid
        self.server = None
        self.transcript = ""
        self.env = dict(os.environ)

    # --- how each transport starts or reaches the inferior -----------------------------
    def start_lines(self):
        """Debugger commands that get the inferior running (or attached), ready to be stopped
        by breakpoints set earlier in the script."""
        cfg, prog = self.cfg, self.cfg.sample
        argstr = " ".join(self.args)
        if self.debugger == "gdb":
            if self.transport == "pipe":
                if self.attach_pid:
                    return [f"target extended-remote | {cfg.server_path} --multi -",
                            f"attach {self.attach_pid}"]
                return [f"target remote | {cfg.server_path} - {prog} {argstr}", "continue"]
            self.server = Server(cfg, [cfg.server_path, "--multi", "127.0.0.1:0"], self.name)
            port = self.server.wait_port()
            lines = [f"target extended-remote 127.0.0.1:{port}"]
            if self.attach_pid:
                return lines + [f"attach {self.attach_pid}"]
            return lines + [f"set remote exec-file {prog}", f"run {argstr}"]
        if self.transport == "launch":
            self.env["LLDB_DEBUGSERVER_PATH"] = cfg.server_path
            if self.attach_pid:
                return [f"process attach -p {self.attach_pid}"]
            return [f"run {argstr}"]
        fifo = os.path.join(cfg.workdir, f"{self.name}.port")
        os.mkfifo(fifo)
        if self.attach_pid:
            argv = [cfg.server_path, "gdbserver", "--attach", str(self.attach_pid),
                    "127.0.0.1:0", "--named-pipe", fifo]
        else:
            argv = [cfg.server_path, "gdbserver", "127.0.0.1:0", "--named-pipe", fifo,
                    "--", prog] + self.args
        self.server = Server(cfg, argv, self.name)
        port = self.server.wait_port(fifo)
        lines = [f"gdb-remote 127.0.0.1:{port}"]
        return lines if self.attach_pid else lines + ["continue"]

    def preamble(self):
        if self.debugger == "gdb":
            return (["set debug remote 1"] if self.cfg.packets else []) + [
                    "set pagination off", "set confirm off", "set width 0",
                    "set breakpoint pending on", f"file {self.cfg.sample}"]
        log = os.path.join(self.cfg.workdir, f"{self.name}.packets")
        return (["settings set auto-confirm true", f"target create {self.cfg.sample}"]
                + ([f"log enable -f {log} gdb-remote packets"] if self.cfg.packets else []))

    # --- running -----------------------------------------------------------------------
    def run(self, body):
        """body: script lines; the line 'START' is replaced by start_lines()."""
        script = self.preamble()
        for line in body:
            script.extend(self.start_lines() if line == "START" else [line])
        path = os.path.join(self.cfg.workdir, f"{self.name}.script")
        with open(path, "w") as f:
            f.write("\n".join(script) + "\n")
        # Both debuggers go on after a failing command (gdb: one -ex per line; lldb: the
        # setting), so one broken step does not hide what the rest of the session shows.
        if self.debugger == "gdb":
            argv = [GDB, "-batch", "-nx"] + [a for line in script for a in ("-ex", line)]
        else:
            argv = [LLDB, "--no-lldbinit", "-O",
                    "settings set interpreter.stop-command-source-on-error false",
                    "-b", "-s", path]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=self.env, cwd=self.cfg.workdir,
                                start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=TIMEOUT)
            self.timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            self.timed_out = True
        self.transcript = out.decode(errors="replace")
        with open(os.path.join(self.cfg.workdir, f"{self.name}.transcript"), "w") as f:
            f.write(self.transcript)
        self.server_output = self.server.output() if self.server else ""
        return self


class Checker:
    """Checks a session's transcript: `see` in order through the debugger's output,
    `see_anywhere` in the debugger's and the server's output (the inferior's own lines land
    in either, depending on the transport)."""

    def __init__(self, session):
        self.s = session
        self.pos = 0
        self.failures = []
        if session.timed_out:
            self.failures.append(f"debugger timed out after {TIMEOUT}s")

    def see(self, regex, what=None):
        m = re.compile(regex, re.M).search(self.s.transcript, self.pos)
        if not m:
            self.failures.append(f"missing (in order): {what or regex!r}  [/{regex}/]")
            return None
        self.pos = m.end()
        return m

    def see_anywhere(self, regex, what=None):
        text = self.s.transcript + "\n" + self.s.server_output
        m = re.compile(regex, re.M).search(text)
        if not m:
            self.failures.append(f"missing: {what or regex!r}  [/{regex}/]")
        return m

    def require(self, cond, what):
        if not cond:
            self.failures.append(what)

    def report(self, out=sys.stdout):
        s = self.s
        status = "PASS" if not self.failures else "FAIL"
        print(f"[{status}] {s.name} ({s.cfg.server})", file=out)
        for f in self.failures:
            print(f"    - {f}", file=out)
        if self.failures or s.cfg.verbose:
            print(f"    --- transcript of {s.name} ---", file=out)
            for line in s.transcript.splitlines()[-200:]:
                print(f"    | {line}", file=out)
            if s.server_output:
                print("    --- server output ---", file=out)
                for line in s.server_output.splitlines()[-40:]:
                    print(f"    > {line}", file=out)
        return not self.failures
