#!/usr/bin/env python3
"""test_faults.py PTSTUB SAMPLE MANY_THREADS ALLSTOP — faults a debug server meets: clients
that vanish mid-packet and mid-reply or never read their replies, debuggees SIGKILLed while
running, stepping and traced, 200 threads created and exiting under process trace, cores saved
into a full filesystem and into a read-only directory, and the all-stop engine's corners (a
zombie leader, a thread exiting or blocking in its step off a breakpoint, an interrupted step
in a syscall). After each: the server is alive (or has exited cleanly where that is the
documented behaviour), no zombie or stopped process is left, no partial file."""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gdbclient import (Server, become_subreaper, error_message, frame, hexs,  # noqa: E402
                       kill_all_below, leftovers)

PTSTUB, SAMPLE, MANY, ALLSTOP = sys.argv[1:5]
TRACE = '{"type":"intel-pt","iptTraceSize":4096,"enableTsc":false}'


class Failed(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Failed(what)


def pid_of(c):
    return int(re.search(r"pid:([0-9a-f]+);", c.text("qProcessInfo")).group(1), 16)


def start(argv, multi=False):
    srv = Server(PTSTUB, argv, multi=multi)
    c = srv.connect()
    c.text("qSupported:swbreak+")
    c.no_ack()
    return srv, c


def no_leftovers(srv=None):
    """Nothing below us but (optionally) the server that is meant to be alive."""
    allowed = {srv.proc.pid} if srv and srv.alive() else set()
    left = leftovers(allowed=allowed)
    expect(not left, f"processes left behind (pid: state): {left}")


def ends_cleanly(srv):
    """The server without --multi exits 0 once its client is gone, the debuggee killed."""
    rc = srv.wait(10)
    expect(rc == 0, f"server exit status {rc} after the client went (log: "
                    f"{srv.log_text()[-300:]!r})")


def disconnect_mid_packet():
    srv, c = start([SAMPLE, "basic"])
    pid = pid_of(c)
    c.send_raw(b"$m" + b"0" * 100)  # no '#', no checksum
    c.close()
    ends_cleanly(srv)
    expect(not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2]
           in "ZX", "the debuggee outlived its server")
    no_leftovers()


def multi_session(argv):
    srv = Server(PTSTUB, [], multi=True)
    c = srv.connect()
    c.text("qSupported:swbreak+")
    c.no_ack()
    run = c.text("vRun;" + ";".join(hexs(a) for a in argv))
    expect(run.startswith("T"), f"vRun: {run!r}")
    return srv, c


def wait_client_gone(srv, count=1):
    """Wait until the server has let count clients go."""
    deadline = time.time() + 10
    while srv.log_text().count("client gone") < count and time.time() < deadline:
        time.sleep(0.02)


def next_client_works(srv):
    wait_client_gone(srv)
    expect(srv.alive(), "the --multi server died")
    c2 = srv.connect()
    reply = c2.text("qSupported:swbreak+")
    expect("PacketSize" in reply, f"a new client got {reply!r}")
    run = c2.text("vRun;" + hexs(SAMPLE) + ";" + hexs("basic"))
    expect(run.startswith("T"), f"a new client could not run a program: {run!r}")
    c2.text("vKill;1")
    c2.close()


def disconnect_mid_packet_multi():
    srv, c = multi_session([SAMPLE, "basic"])
    c.send_raw(b"$qXfer:features:read:target.x")
    c.close()
    next_client_works(srv)
    srv.stop()
    no_leftovers()


def disconnect_mid_reply():
    srv, c = multi_session([SAMPLE, "basic"])
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    # Replies of ~20 KiB each that are never read, then a reset (unread data + close).
    for _ in range(64):
        c.send_raw(frame("qXfer:features:read:target.xml:0,ffff"))
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    c.close()
    time.sleep(0.3)
    next_client_works(srv)
    srv.stop()
    no_leftovers()


def server_unread_bytes(server_port, client_port):
    """What the server has not read yet of its client's connection (/proc/net/tcp rx_queue)."""
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        f = line.split()
        local, remote = int(f[1].split(":")[1], 16), int(f[2].split(":")[1], 16)
        if (local, remote) == (server_port, client_port):
            return int(f[4].split(":")[1], 16)
    return None


def raw_replies(c, n, timeout=60):
    """The next n reply frames, as sent ($body#cs, escapes kept: comparing is enough)."""
    deadline, data = time.time() + timeout, bytearray(c.buf)
    c.buf = b""
    while data.count(b"#") < n:
        c.sock.settimeout(max(0.1, deadline - time.time()))
        chunk = c.sock.recv(1 << 20)
        expect(chunk, "the server closed the connection")
        data += chunk
        expect(time.time() < deadline, f"{data.count(b'#')} of {n} replies in {timeout} s")
    frames = re.findall(rb"\$[^#]*#[0-9a-f]{2}", bytes(data))
    expect(len(frames) == n and sum(map(len, frames)) == len(data),
           f"{len(frames)} frames in {len(data)} bytes, {n} expected")
    return frames


def client_never_reads():
    """A client sends packets and does not read the replies: once 8 MiB of replies wait, the
    server stops reading its packets (they wait in the kernel) rather than buffering replies
    without end; when the client reads, every reply arrives, whole and in order."""
    srv, c = start([SAMPLE, "basic"])
    # 128 KiB of the loader's code per reply: ~48 MiB of replies (far over 8 MiB and the
    # socket buffers) take a few KiB of packets, all sent before any reply is read.
    pid = pid_of(c)
    text = next(line.split()[0] for line in open(f"/proc/{pid}/maps")
                if " r-xp " in line and "/ld-linux" in line)
    start_addr, end_addr = (int(x, 16) for x in text.split("-"))
    request = frame(f"x{start_addr:x},{min(end_addr - start_addr, 0x20000):x}")
    c.send_raw(request)
    first = raw_replies(c, 1)[0]
    expect(len(first) >= 0x10000, f"a 128 KiB read answered {len(first)} bytes")
    count = (48 << 20) // len(first)
    c.sock.settimeout(10)
    c.sock.sendall(request * count)
    deadline = time.time() + 3
    while time.time() < deadline and "not reading its replies" not in srv.log_text():
        time.sleep(0.05)
    # Packets sent now stay in the kernel: the server does not read them.
    more = 500
    c.sock.sendall(frame("qC") * more)
    time.sleep(0.5)
    unread = server_unread_bytes(srv.port, c.sock.getsockname()[1])
    expect(unread == len(frame("qC")) * more,
           f"the server read packets while {count} replies waited ({unread} bytes unread)")
    expect("not reading its replies" in srv.log_text(), "no log line says reading stopped")
    replies = raw_replies(c, count + more)
    bad = [i for i, r in enumerate(replies[:count]) if r != first]
    expect(not bad, f"{len(bad)} of {count} replies differ from the first, e.g. #{bad[:1]}")
    expect(all(r.startswith(b"$QC") for r in replies[count:]), "a qC went unanswered")
    expect(c.text("qC").startswith("QC"), "the session did not go on after the replies")
    expect("reading its packets again" in srv.log_text(), "no log line says reading resumed")
    c.text("vKill;1")
    c.close()
    ends_cleanly(srv)
    no_leftovers()


def reconnect_before_eof_read():
    """A client leaves and the next one connects before the server has read the first one's
    end of file: the server is stopped (SIGSTOP) while it happens, so when it goes on the new
    connection and the old end of file are ready at once, the new one listed first."""
    srv, c = multi_session([SAMPLE, "basic"])
    os.kill(srv.proc.pid, signal.SIGSTOP)
    try:
        c2 = srv.connect()
        c.close()
        time.sleep(0.2)
    finally:
        os.kill(srv.proc.pid, signal.SIGCONT)
    try:
        reply = c2.text("qSupported:swbreak+")
    except Exception as e:  # refused: the server closes the connection
        reply = repr(e)
    expect("PacketSize" in reply, f"the client that came right after got {reply!r}")
    if "PacketSize" in reply:
        run = c2.text("vRun;" + hexs(SAMPLE) + ";" + hexs("basic"))
        expect(run.startswith("T"), f"and could run a program: {run!r}")
        c2.text("vKill;1")
    c2.close()
    # A second client while the first is still there is refused, as before.
    c3 = srv.connect()
    c4 = srv.connect()
    try:
        c4.text("qSupported:swbreak+")
        refused = False
    except Exception:
        refused = True
    expect(refused, "a second client while one is connected is refused")
    expect("PacketSize" in c3.text("qSupported:swbreak+"), "the connected client goes on")
    c3.close()
    c4.close()
    srv.stop()
    no_leftovers()


def vfile_per_client():
    """Files a client opened with vFile close when it goes; another client cannot use them."""
    srv, c = multi_session([SAMPLE, "basic"])
    path = hexs(os.path.realpath(SAMPLE))
    for i in range(40):  # more than the 32 slots: each client's files must be closed
        reply = c.text(f"vFile:open:{path},0,0")
        expect(re.fullmatch(r"F[0-9a-f]+", reply), f"vFile:open: {reply!r}")
        c.close()
        wait_client_gone(srv, i + 1)
        c = srv.connect()
        c.text("qSupported:swbreak+")
        expect(c.text(f"vFile:pread:{reply[1:]},4,0") == "F-1,9",
               "a client read a file another client opened")
        c.text("vRun;" + hexs(SAMPLE) + ";" + hexs("basic"))
    c.close()
    srv.stop()
    no_leftovers()


def killed_while(mode):
    """SIGKILL the debuggee while it runs, is stepped, or runs under software trace."""
    srv, c = start([MANY, "spin"])
    pid = pid_of(c)
    if mode == "traced":
        expect(c.text("jLLDBTraceStart:" + TRACE) == "OK", "process trace did not start")
    if mode == "stepping":
        for _ in range(20):
            expect(c.text("vCont;s").startswith("T"), "a step did not stop")
        c.send_raw(frame("vCont;s"))
        os.kill(pid, signal.SIGKILL)
        stop = c.reply().decode()
        while stop.startswith("T"):  # the step finished before the kill landed
            stop = c.text("vCont;s")
    else:
        c.send_raw(frame("vCont;c"))
        time.sleep(0.5)
        os.kill(pid, signal.SIGKILL)
        stop = c.reply().decode()
    expect(stop.startswith("X09"), f"stop reply after SIGKILL: {stop!r}")
    expect(c.text("?").startswith("X09"), "? after the kill does not say X09")
    code, msg = error_message(c.text("m1000,4"))
    expect(msg is not None, "a memory read without a process is not an error")
    if mode == "traced":
        c.text('jLLDBTraceGetState:{"type":"intel-pt"}')  # any answer, no crash
    expect(srv.alive(), "the server died with its debuggee")
    c.close()
    ends_cleanly(srv)
    no_leftovers()


def trace_ring_wrap():
    """A 4 KiB trace ring wrapped many times over: the state, the bytes and the decode of what
    is left stay consistent, and an interrupt still stops the traced thread."""
    srv, c = start([MANY, "spin"])
    tid = int(re.search(r"thread:([0-9a-f]+);", c.text("?")).group(1), 16)
    expect(c.text("jLLDBTraceStart:" + TRACE) == "OK", "process trace did not start")
    c.send_raw(frame("vCont;c"))
    time.sleep(1.5)
    c.send_raw(b"\x03")
    stop = c.reply().decode()
    expect(stop.startswith("T"), f"interrupt under trace: {stop!r}")
    state = c.text('jLLDBTraceGetState:{"type":"intel-pt"}')
    size = re.search(r'"tid":%d,"binaryData":\[\{"kind":"iptTrace","size":(\d+)' % tid, state)
    expect(size and int(size.group(1)) <= 4096, f"state after wrapping: {state[:200]!r}")
    data = c.packet('jLLDBTraceGetBinaryData:{"type":"intel-pt","kind":"iptTrace","tid":%d}'
                    % tid)
    expect(len(data) == int(size.group(1)), f"{len(data)} bytes, the state said {size.group(1)}")
    summary = c.text('jPTStubTraceSummary:{"tid":%d}' % tid)
    expect(summary.startswith("{"), f"decode of a wrapped ring: {summary[:200]!r}")
    c.close()
    ends_cleanly(srv)
    no_leftovers()


def threads_200_traced():
    srv, c = start([MANY, "200"])
    expect(c.text("jLLDBTraceStart:" + TRACE) == "OK", "process trace did not start")
    stop = c.text("vCont;c", timeout=240)
    while stop.startswith("T"):  # a trace event (a thread the limit could not cover)
        stop = c.text("vCont;c", timeout=240)
    expect(stop.startswith("W00"), f"200 traced threads did not end in W00: {stop!r}")
    expect(srv.alive(), "the server died")
    c.close()
    ends_cleanly(srv)
    no_leftovers()


def mount_tmpfs(path, options):
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", path],
                          capture_output=True).returncode == 0


def save_core_fails(c, directory, why):
    path = os.path.join(directory, "core")
    reply = c.text(f"qSaveCore;path-hint:{hexs(path)};style:full", timeout=60)
    code, msg = error_message(reply)
    expect(msg is not None and re.search(why, msg, re.I),
           f"qSaveCore into {directory}: {reply[:200]!r} ({msg!r})")
    expect(os.listdir(directory) == [], f"files left in {directory}: {os.listdir(directory)}")


def save_core_full_and_read_only():
    srv, c = start([SAMPLE, "basic"])
    c.text("QEnableErrorStrings")
    top = tempfile.mkdtemp(prefix="ptstub-cores-")
    full, ro, good = (os.path.join(top, d) for d in ("full", "ro", "good"))
    for d in (full, ro, good):
        os.mkdir(d)
    mounted = []
    try:
        if not (mount_tmpfs(full, "size=16k") and mounted.append(full) is None and
                mount_tmpfs(ro, "size=1m,ro") and mounted.append(ro) is None):
            print("skip: cannot mount a tmpfs here (needs root)")
            return "skip"
        save_core_fails(c, full, "disk is full|no space left")
        save_core_fails(c, ro, "read-only")
        reply = c.text(f"qSaveCore;path-hint:{hexs(os.path.join(good, 'core'))}", timeout=60)
        expect(reply.startswith("core-path:"), f"a good save failed: {reply!r}")
        with open(os.path.join(good, "core"), "rb") as f:
            expect(f.read(4) == b"\x7fELF", "the saved core is not an ELF file")
        expect(os.listdir(good) == ["core"], f"extra files: {os.listdir(good)}")
    finally:
        for m in mounted:
            subprocess.run(["umount", m])
        subprocess.run(["rm", "-rf", top])
    c.close()
    ends_cleanly(srv)
    no_leftovers()


def listen_address(port):
    """The IPv4 address a listening socket on port is bound to, from /proc/net/tcp."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, p = local.split(":")
            if int(p, 16) == port and state == "0A":  # TCP_LISTEN
                return socket.inet_ntoa(bytes.fromhex(addr)[::-1])
    return None


def listen_defaults():
    srv = Server(PTSTUB, [SAMPLE, "basic"])
    expect(listen_address(srv.port) == "127.0.0.1",
           f"default listen address {listen_address(srv.port)}")
    expect("warning" not in srv.log_text(), "a warning for a loopback listener")
    srv.stop()
    srv = Server(PTSTUB, [SAMPLE, "basic"], options=["--listen-all"])
    expect(listen_address(srv.port) == "0.0.0.0",
           f"--listen-all address {listen_address(srv.port)}")
    time.sleep(0.2)
    expect(re.search(r"warning: listening on 0\.0\.0\.0", srv.log_text()),
           f"no warning for --listen-all: {srv.log_text()!r}")
    srv.stop()
    no_leftovers()


def symbol_address(c, path, name):
    """The run-time address of a function of the debuggee's executable (nm + /proc maps)."""
    out = subprocess.run(["nm", path], capture_output=True, text=True, check=True).stdout
    off = int(re.search(r"^([0-9a-f]+) T %s$" % name, out, re.M).group(1), 16)
    real = os.path.realpath(path)
    with open("/proc/%d/maps" % pid_of(c)) as f:
        for line in f:
            fields = line.split()
            if fields[-1] == real and int(fields[2], 16) == 0:
                return int(fields[0].split("-")[0], 16) + off
    raise Failed(f"{path} is not mapped")


def stop_thread(stop):
    m = re.search(r"thread:(?:p[0-9a-f]+\.)?([0-9a-f]+);", stop)
    expect(stop.startswith("T") and m, f"not a thread stop: {stop!r}")
    return int(m.group(1), 16)


def zombie_leader():
    """The main thread pthread_exits while another runs: the leader is a zombie that can no
    longer stop. An interrupt, a breakpoint hit and a detach must not wait for it."""
    srv, c = start([ALLSTOP, "zombie"])
    pid = pid_of(c)
    marker = symbol_address(c, ALLSTOP, "allstop_marker")  # a zombie's maps are empty
    c.send_raw(frame("vCont;c"))
    time.sleep(0.5)
    c.send_raw(b"\x03")
    stop = c.reply(timeout=5).decode()
    expect(stop_thread(stop) != pid, f"interrupt reported on the zombie leader: {stop!r}")
    expect(c.text("Z0,%x,1" % marker) == "OK", "breakpoint not inserted")
    for _ in range(3):
        stop = c.text("vCont;c", timeout=5)
        expect(stop_thread(stop) != pid and "swbreak" in stop, f"breakpoint stop: {stop!r}")
    expect(c.text("z0,%x,1" % marker) == "OK", "breakpoint not removed")
    c.send_raw(frame("vCont;c"))
    time.sleep(0.2)
    c.send_raw(b"\x03")
    stop_thread(c.reply(timeout=5).decode())
    expect(c.text("D", timeout=5) == "OK", "detach failed")
    os.kill(pid, signal.SIGKILL)
    c.close()
    ends_cleanly(srv)
    no_leftovers()


def exit_in_step_over():
    """A thread stopped at a breakpoint on its exit syscall: the continue steps it off the
    breakpoint alone, and it exits in that step. The others must run on (it hung)."""
    srv, c = start([ALLSTOP, "exitbp"])
    pid = pid_of(c)
    insn = symbol_address(c, ALLSTOP, "allstop_exit_insn")
    expect(c.text("Z0,%x,1" % insn) == "OK", "breakpoint not inserted")
    stop = c.text("vCont;c", timeout=5)
    expect(stop_thread(stop) != pid and "swbreak" in stop, f"breakpoint stop: {stop!r}")
    stop = c.text("vCont;c", timeout=5)
    expect(stop == "W05", f"after the exit in the step over: {stop!r} (W05 expected)")
    c.close()
    ends_cleanly(srv)
    no_leftovers()


def at_sleep_breakpoint():
    """allstop sleepbp stopped at the breakpoint on its blocking nanosleep syscall."""
    srv, c = start([ALLSTOP, "sleepbp"])
    pid = pid_of(c)
    insn = symbol_address(c, ALLSTOP, "allstop_sleep_insn")
    expect(c.text("Z0,%x,1" % insn) == "OK", "breakpoint not inserted")
    stop = c.text("vCont;c", timeout=5)
    expect(stop_thread(stop) == pid and "swbreak" in stop, f"breakpoint stop: {stop!r}")
    return srv, c, pid, insn


def interrupt_in_step_over():
    """A breakpoint on a syscall that blocks (a 60 s nanosleep): the continue steps off it
    alone and the step blocks. An interrupt must stop it (it was ignored: no reply for 60 s).
    The syscall restarts at the next continue: the breakpoint is hit there again."""
    srv, c, pid, insn = at_sleep_breakpoint()
    c.send_raw(frame("vCont;c"))
    time.sleep(0.3)
    c.send_raw(b"\x03")
    stop = c.reply(timeout=5).decode()
    expect(stop_thread(stop) == pid, f"interrupt during the step over: {stop!r}")
    stop = c.text("vCont;c", timeout=5)
    expect(stop_thread(stop) == pid and "swbreak" in stop, f"the restarted syscall: {stop!r}")
    expect(c.text("m%x,1" % insn) == "0f", "the int3 shows in memory")
    c.send_raw(frame("vCont;c"))
    time.sleep(0.3)
    c.send_raw(b"\x03")
    expect(stop_thread(c.reply(timeout=5).decode()) == pid, "second interrupt")
    c.close()
    ends_cleanly(srv)
    no_leftovers()


def interrupt_in_step_syscall():
    """The client single-steps a syscall that blocks and interrupts the step. The step's trap
    comes at the syscall's exit with TRAP_BRKPT: the next continue must not report it as a
    SIGTRAP (it did, at once: a stop for a step the client no longer asked for)."""
    srv, c, pid, insn = at_sleep_breakpoint()
    expect(c.text("z0,%x,1" % insn) == "OK", "breakpoint not removed")
    for resume in ("vCont;s:%x" % pid, "vCont;c"):
        c.send_raw(frame(resume))
        time.sleep(0.3)
        c.send_raw(b"\x03")
        stop = c.reply(timeout=5).decode()
        expect(stop.startswith("T02") and stop_thread(stop) == pid,
               f"{resume} then an interrupt: {stop!r} (T02 expected)")
    c.close()
    ends_cleanly(srv)
    no_leftovers()


SCENARIOS = [
    ("listens on 127.0.0.1 by default; --listen-all warns", listen_defaults),
    ("client disconnects mid-packet (server exits, debuggee killed)", disconnect_mid_packet),
    ("client disconnects mid-packet (--multi server stays up)", disconnect_mid_packet_multi),
    ("client disconnects mid-reply (--multi server stays up)", disconnect_mid_reply),
    ("a client that never reads its replies: the server stops reading it", client_never_reads),
    ("vFile descriptors die with their client (--multi)", vfile_per_client),
    ("a client reconnects before its end of file was read (--multi)",
     reconnect_before_eof_read),
    ("debuggee SIGKILLed while running", lambda: killed_while("running")),
    ("debuggee SIGKILLed while stepping", lambda: killed_while("stepping")),
    ("debuggee SIGKILLed while traced", lambda: killed_while("traced")),
    ("4 KiB trace ring wrapped, then interrupted, read and decoded", trace_ring_wrap),
    ("200 threads created and exiting under process trace", threads_200_traced),
    ("save-core into a full tmpfs and a read-only directory", save_core_full_and_read_only),
    ("a zombie leader: interrupt, breakpoints and detach do not wait for it", zombie_leader),
    ("a thread exits while it steps over a breakpoint", exit_in_step_over),
    ("an interrupt while a step over a breakpoint blocks in a syscall", interrupt_in_step_over),
    ("a single step interrupted in a syscall: no SIGTRAP at the next continue",
     interrupt_in_step_syscall),
]


def main():
    become_subreaper()
    only = os.environ.get("HARD_ONLY")
    failed = ran = 0
    for name, fn in SCENARIOS:
        if only and only not in name:
            continue
        ran += 1
        t0 = time.time()
        Server.started.clear()
        try:
            verdict = fn() or "ok"
        except Exception as e:  # Failed, timeouts, a server that closed on us
            verdict = f"FAIL: {type(e).__name__}: {e}"
            failed += 1
            for srv in Server.started:  # what the servers said (a sanitizer report, say)
                print(f"--- the end of the log of server {srv.proc.pid} ---")
                print("\n".join("    " + line for line in srv.log_text()[-4000:].splitlines()))
        kill_all_below()
        print(f"[{verdict}] {name} ({time.time() - t0:.1f} s)", flush=True)
    print(f"faults: {ran - failed} of {ran} passed")
    if not ran:
        print(f"faults: no scenario matches HARD_ONLY={only!r}")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
