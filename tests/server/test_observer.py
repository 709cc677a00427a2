#!/usr/bin/env python3
"""Read-only observer connections: while a debugger holds the session, further connections
(up to 4) are observers that read the same process and trace but change nothing.

1. lldb-19 (SB API) connects to `ptstub gdbserver` over TCP, traces decode_fib from its first
   int3 to its second and stays connected; `ptstub decode 127.0.0.1:PORT` (the real CLI) must
   then print the same instructions that ptstub's decode gives over LLDB's own connection
   and that LLDB itself decodes, and the calls of fib(10). A raw observer reads what LLDB
   reads (pc, memory, summary) and is refused writes, resumes, kill, breakpoints, trace
   changes, launches; LLDB then steps and runs to the end as if nothing happened, and the
   observers still connected are closed when the process is gone.
2. A raw controller (--multi): an observer's reads wait for the process to stop, its
   interrupt is ignored, it leaving mid-packet or sending garbage disturbs nothing, and a
   detach, a kill or the controller leaving closes it. With no process, a second connection
   is refused as before.
3. The limit: a fifth observer is refused (so is `ptstub decode`), a freed slot is reused.
Server logs are checked for sanitizer reports (ASan builds).
Usage: test_observer.py PTSTUB DECODE_FIB SAMPLE"""
import json
import os
import re
import socket
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "hardening"))
from gdbclient import Server, error_message, frame, hexs, kill_all_below  # noqa: E402

PTSTUB, DECODE_FIB, SAMPLE = sys.argv[1:4]
TIMEOUT = 60
TRACE_SIZE = 1 << 20  # the whole path stays in the buffer
PAGE = 1500           # instructions per jPTStubTraceDecode page through LLDB
REFUSED = "read-only observer connection: %s is refused while another client controls the process"
BUSY = "needs the process stopped, and the controlling client has it running"
failures = []


def check(cond, what, detail=""):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)
        if detail:
            print(str(detail)[-3000:])
    return cond


def closed(client, wait=10):
    """True once the server has closed client's connection."""
    client.sock.settimeout(wait)
    try:
        while True:
            if not client.sock.recv(4096):
                return True
    except OSError:
        return False


def sanitizer_clean(log, what):
    bad = re.search(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error", log)
    check(not bad, f"{what}: no sanitizer report in the server log", log[-4000:])


def observe(srv):
    o = srv.connect()
    reply = o.text("qSupported:swbreak+")
    return o, reply


def decode_cli(port, tid, *args):
    return subprocess.run([PTSTUB, "decode", f"127.0.0.1:{port}", "--tid", str(tid)] +
                          list(args), capture_output=True, text=True, timeout=TIMEOUT)


# ---- 1. lldb-19 controls, observers read ----

def import_lldb():
    path = subprocess.run(["lldb-19", "-P"], capture_output=True, text=True).stdout.strip()
    sys.path.insert(0, path)
    import lldb  # noqa: E402
    return lldb


class Lldb:
    def __init__(self, lldb, port):
        self.lldb = lldb
        self.dbg = lldb.SBDebugger.Create()
        self.dbg.SetAsync(False)
        self.target = self.dbg.CreateTarget(DECODE_FIB)
        err = lldb.SBError()
        self.process = self.target.ConnectRemote(self.dbg.GetListener(),
                                                 f"connect://127.0.0.1:{port}", "gdb-remote", err)
        # (Its state reads "unloaded" until the first resume: no stop event was fetched.)
        self.ok = err.Success() and self.process.IsValid() and self.process.GetProcessID() > 0
        self.error = str(err)

    def cmd(self, line):
        r = self.lldb.SBCommandReturnObject()
        self.dbg.GetCommandInterpreter().HandleCommand(line, r)
        return r.GetOutput() + r.GetError()

    def packet(self, payload):
        """`process plugin packet send`: the text goes out as is, so `}` is written escaped."""
        out = self.cmd("process plugin packet send '" + payload.replace("}", "}]") + "'")
        m = re.search(r"^response: (.*)$", out, re.M)
        return m.group(1) if m else out

    def pc(self):
        return self.process.GetSelectedThread().GetFrameAtIndex(0).GetPC()

    def read(self, addr, n):
        err = self.lldb.SBError()
        data = self.process.ReadMemory(addr, n, err)
        return data if err.Success() else None

    def close(self):
        self.lldb.SBDebugger.Destroy(self.dbg)


def lldb_decode_ips(dbg):
    """ptstub's decode over LLDB's own connection, paged: the instruction addresses."""
    ips, total = [], None
    for k in range(40):
        page = json.loads(dbg.packet('jPTStubTraceDecode:{"offset":%d,"count":%d,'
                                     '"symbols":false,"disassembly":false}' % (k * PAGE, PAGE)))
        total = page["total"]
        ips += [i["ip"] for i in page["items"] if i.get("kind") == "insn"]
        if page["next"] is None:
            break
    return ips, total


def observer_reads(srv, dbg, tid):
    """A raw observer reads what LLDB reads."""
    o, reply = observe(srv)
    check("PacketSize" in reply, f"observer negotiates: {reply!r}")
    stop = o.text("?")
    check(re.match(r"T05thread:%x;" % tid, stop) is not None, f"observer's ?: {stop[:60]!r}")
    check(o.text("qC") == "QC%x" % tid, "observer's qC")
    check(o.text("qfThreadInfo") == "m%x" % tid, "observer's qfThreadInfo")
    check(o.text("Hg%x" % tid) == "OK", "observer selects the thread (Hg)")
    pc = dbg.pc()
    rip = o.text("p10")
    check(int.from_bytes(bytes.fromhex(rip), "little") == pc,
          f"observer's rip (p10) is LLDB's pc {pc:#x}: {rip!r}")
    check(len(o.text("g")) >= 2 * 8 * 17, "observer's g")
    mem = o.text("m%x,20" % pc)
    check(mem == dbg.read(pc, 0x20).hex(), f"observer's m at the pc is LLDB's read: {mem!r}")
    check(o.packet("x%x,20" % pc) == dbg.read(pc, 0x20), "observer's x at the pc")
    check(json.loads(o.text("jThreadsInfo"))[0]["tid"] == tid, "observer's jThreadsInfo")
    check(o.text("qXfer:features:read:target.xml:0,fff").startswith(("m<?xml", "l<?xml")),
          "observer's qXfer:features")
    check(o.text("qXfer:exec-file:read::0,fff").endswith("decode_fib"),
          "observer's qXfer:exec-file")
    check(o.packet("qXfer:auxv:read::0,fff")[:1] in (b"l", b"m"), "observer's qXfer:auxv")
    check("<library-list-svr4" in o.text("qXfer:libraries-svr4:read::0,ffff"),
          "observer's qXfer:libraries-svr4")
    check("permissions:rx" in o.text("qMemoryRegionInfo:%x" % pc), "observer's qMemoryRegionInfo")
    check("pid:" in o.text("qProcessInfo") and "triple" in o.text("qHostInfo"),
          "observer's qProcessInfo and qHostInfo")
    summary = '{"tid":%d}' % tid
    mine = o.text("jPTStubTraceSummary:" + summary)
    check(mine == dbg.packet("jPTStubTraceSummary:" + summary),
          "observer's jPTStubTraceSummary is LLDB's", mine[:300])
    state = o.text('jLLDBTraceGetState:{"type":"intel-pt"}')
    check(state == dbg.packet('jLLDBTraceGetState:{"type":"intel-pt"}'),
          "observer's jLLDBTraceGetState is LLDB's", state[:300])
    size = json.loads(mine)["threads"][0]["traceBytes"]
    data = o.packet('jLLDBTraceGetBinaryData:{"type":"intel-pt","kind":"iptTrace","tid":%d}'
                    % tid)
    check(len(data) == size and data[:2] == b"\x02\x82",
          f"observer's jLLDBTraceGetBinaryData: {len(data)} bytes of {size}")
    check(o.text("vCont?").startswith("vCont;c"), "observer's vCont?")
    check(o.text("qNoSuchThing") == "", "an unknown packet still gets the empty reply")
    return o


def observer_refusals(srv, dbg, tid, pid):
    """Everything that would change the process, the trace or the session is refused."""
    o, _ = observe(srv)
    pc = dbg.pc()
    before = dbg.read(pc, 0x40)
    summary = dbg.packet('jPTStubTraceSummary:{"tid":%d}' % tid)
    regs = o.text("g")
    attempts = [
        ("M", "M%x,1:cc" % pc), ("X", "X%x,1:\xcc" % pc), ("vCont", "vCont;c"),
        ("vCont", "vCont;s:%x" % tid), ("c", "c"), ("s", "s"), ("C", "C09"), ("k", "k"),
        ("vKill", "vKill;%x" % pid), ("D", "D"), ("Z", "Z0,%x,1" % pc), ("z", "z0,%x,1" % pc),
        ("P", "P10=0000000000000000"), ("G", "G" + "00" * 64),
        ("jLLDBTraceStop", 'jLLDBTraceStop:{"type":"intel-pt"}'),
        ("jLLDBTraceStart", 'jLLDBTraceStart:{"type":"intel-pt","iptTraceSize":4096,'
                            '"enableTsc":false}'),
        ("Qbtrace:off", "Qbtrace:off"), ("Qbtrace:pt", "Qbtrace:pt"),
        ("QPassSignals", "QPassSignals:9"), ("vRun", "vRun;" + hexs(DECODE_FIB)),
        ("vAttach", "vAttach;%x" % pid), ("A", "A"), ("qSaveCore", "qSaveCore"),
        ("vFile", "vFile:open:" + hexs(DECODE_FIB) + ",0,0"), ("!", "!"),
        ("QSaveRegisterState", "QSaveRegisterState"), ("QEnvironment", "QEnvironment:A=1"),
    ]
    wrong = [(p, r) for name, p in attempts
             if (r := o.text(p)) != "E." + REFUSED % name]
    check(not wrong, f"{len(attempts)} changing packets refused with the read-only message",
          wrong)
    check(o.text("QEnableErrorStrings") == "OK", "observer enables error strings")
    num, msg = error_message(o.text("vCont;c"))
    check(num is not None and msg == REFUSED % "vCont",
          f"with error strings the refusal is Exx;hex(message): {num} {msg!r}")
    # The observer's interrupt is ignored (the process is stopped anyway, it must stay so).
    o.send_raw(b"\x03")
    check(o.text("qC") == "QC%x" % tid, "observer goes on after an interrupt byte")
    # Nothing changed: memory, registers, trace, the process.
    check(dbg.read(pc, 0x40) == before, "memory at the pc unchanged (no write, no breakpoint)")
    fresh, _ = observe(srv)  # negotiated as o was before its error strings (LLDB's g differs)
    check(fresh.text("g") == regs, "registers unchanged")
    fresh.close()
    check(dbg.packet('jPTStubTraceSummary:{"tid":%d}' % tid) == summary, "trace unchanged")
    check(dbg.process.GetState() == dbg.lldb.eStateStopped and dbg.pc() == pc,
          "LLDB's process still stopped at the same pc")
    check(os.path.exists(f"/proc/{pid}"), "the process is alive")
    o.close()


def observer_garbage(srv, dbg):
    """Observers that misbehave: gone mid-packet, bad checksums, an oversize packet."""
    o, _ = observe(srv)
    o.send_raw(b"$m%x,40" % dbg.pc())
    o.close()
    o, _ = observe(srv)
    o.send_raw(b"$qC#00")                       # bad checksum
    o.send_raw(b"$" + b"A" * 200000 + b"#00")   # longer than PacketSize
    o.send_raw(frame(b"}") + frame(b"*") + frame(b"m") + frame(b"p" + b"f" * 40))
    o.send_raw(b"\x00\xff$#00")
    o.close()
    o, _ = observe(srv)
    o.send_raw(frame("jPTStubTraceDecode:{\"count\":1}")[:-3])  # gone mid-packet
    o.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    o.close()                                                   # with a reset
    time.sleep(0.3)
    check(srv.alive(), "the server survives misbehaving observers")


def limit(srv, port, tid):
    """Four observers at a time; a fifth (or `ptstub decode`) is refused; a slot comes back."""
    obs = [observe(srv) for _ in range(4)]
    check(all("PacketSize" in r for _, r in obs), "four observers connected at once")
    fifth = srv.connect()
    check(closed(fifth), "a fifth observer is refused (connection closed)")
    p = decode_cli(port, tid, "--count", "5")
    check(p.returncode == 2 and "read-only connection" in p.stderr,
          f"ptstub decode is refused too while four observe, and says why: rc {p.returncode}",
          p.stderr)
    obs[0][0].close()
    time.sleep(0.3)
    again, reply = observe(srv)
    check("PacketSize" in reply, "a slot freed by a leaving observer is taken again")
    for o, _ in obs[1:]:
        o.close()
    again.close()
    time.sleep(0.3)


def lldb_part(lldb):
    srv = Server(PTSTUB, [DECODE_FIB])
    dbg = Lldb(lldb, srv.port)
    if not check(dbg.ok, f"lldb-19 connected over gdb-remote: {dbg.error}"):
        srv.stop()
        return
    pid = dbg.process.GetProcessID()
    dbg.process.Continue()
    check(dbg.process.GetSelectedThread().GetStopDescription(100) == "signal SIGTRAP",
          "lldb stopped at the first marker")
    out = dbg.cmd(f"thread trace start -s {TRACE_SIZE}")
    check("error" not in out, f"thread trace start: {out!r}")
    dbg.process.Continue()
    check(dbg.process.GetSelectedThread().GetStopDescription(100) == "signal SIGTRAP",
          "lldb stopped at the second marker")
    tid = dbg.process.GetSelectedThread().GetThreadID()

    # `ptstub decode` on its own connection while LLDB holds the session.
    p = decode_cli(srv.port, tid, "--json")
    check(p.returncode == 0, f"ptstub decode --json while lldb is attached: rc {p.returncode}",
          p.stderr)
    cli = json.loads(p.stdout) if p.returncode == 0 else {"items": [], "total": 0}
    cli_ips = [i["ip"] for i in cli["items"] if i.get("kind") == "insn"]
    over_lldb, total = lldb_decode_ips(dbg)
    check(total and total > 1000 and len(over_lldb) == total,
          f"ptstub's decode over LLDB's connection: {len(over_lldb)} of {total} instructions")
    check(cli["total"] == total and cli_ips == over_lldb,
          f"the CLI's {len(cli_ips)} instructions are those over LLDB's connection")
    dump = dbg.cmd("thread trace dump instructions -f -r -c 100000")
    lldb_ips = [int(m, 16) for m in re.findall(r"^\s+\d+: 0x([0-9a-f]+)\s*$", dump, re.M)]
    check(lldb_ips == cli_ips, f"and those LLDB decodes itself ({len(lldb_ips)})", dump[-500:])
    p = decode_cli(srv.port, tid, "--calls")
    fibs = re.findall(r"^\[\d+\] +fib \(entry", p.stdout, re.M)
    check(p.returncode == 0 and len(fibs) == 177, f"ptstub decode --calls: {len(fibs)} fib calls",
          p.stderr)
    p = decode_cli(srv.port, tid, "--insns", "--count", "200")
    lines = [ln for ln in p.stdout.splitlines() if re.match(r"\s+\[\d+\] 0x", ln)]
    check(len(lines) == 200 and re.search(r"^  (main|loop|fib) \+ \d+", p.stdout, re.M),
          f"ptstub decode --insns --count 200: {len(lines)} lines with function headers")
    for name in ("main", "fib", "loop", "twice", "plus_one"):
        check(any(name == i.get("function") for i in cli["items"]),
              f"{name} on the path the CLI printed")

    o = observer_reads(srv, dbg, tid)
    o.close()
    observer_refusals(srv, dbg, tid, pid)
    observer_garbage(srv, dbg)
    limit(srv, srv.port, tid)

    # LLDB carries on: a step, then to the end, with an observer connected meanwhile.
    pc = dbg.pc()
    dbg.cmd("thread step-inst")
    check(dbg.process.GetState() == lldb.eStateStopped and dbg.pc() != pc,
          f"lldb steps after the observers: pc {pc:#x} -> {dbg.pc():#x}")
    watcher, _ = observe(srv)
    dbg.process.Continue()
    check(dbg.process.GetState() == lldb.eStateExited and dbg.process.GetExitStatus() == 0,
          f"lldb runs decode_fib to its end: exit {dbg.process.GetExitStatus()}")
    check(closed(watcher), "the observer is closed once the process is gone")
    dbg.close()
    rc = srv.wait(TIMEOUT)
    check(rc == 0, f"the server exits 0 after lldb leaves: {rc}")
    log = srv.log_text()
    check("observer connected (read-only)" in log and "observer gone" in log,
          "log: observer connected (read-only), observer gone")
    check("closing an observer connection: the process it observed is gone" in log,
          "log: the observer was closed because the process went")
    sanitizer_clean(log, "lldb part")
    srv.stop()


# ---- 2. a raw controller ----

def controller(srv):
    c = srv.connect()
    c.text("qSupported:swbreak+")
    c.no_ack()
    return c


def run_sample(c):
    stop = c.text("vRun;" + hexs(SAMPLE) + ";" + hexs("sleep"))
    check(stop.startswith("T"), f"controller runs sample sleep: {stop[:40]!r}")
    return int(re.search(r"pid:([0-9a-f]+);", c.text("qProcessInfo")).group(1), 16)


def raw_part():
    srv = Server(PTSTUB, [], multi=True)
    c = controller(srv)
    nobody = srv.connect()
    check(closed(nobody), "with no process, a second client is refused as before")
    pid = run_sample(c)
    o, reply = observe(srv)
    check("PacketSize" in reply, "observer of a raw controller")
    check(o.text("Hg%x" % pid) == "OK" and len(o.text("g")) > 100, "observer reads while stopped")

    check(c.text("Qbtrace:pt") == "OK", "the controller enables GDB's btrace")
    c.send_raw(frame("vCont;c"))
    time.sleep(0.2)
    for name, packet in (("m", "m%x,8" % 0x400000), ("g", "g"), ("p", "p10"), ("?", "?"),
                         ("jThreadsInfo", "jThreadsInfo"),
                         ("jPTStubTraceSummary", "jPTStubTraceSummary")):
        r = o.text(packet)
        check(r == "E.read-only observer connection: %s %s" % (name, BUSY),
              f"observer's {packet} while the process runs: {r!r}")
    check(o.text("qC") == "QC%x" % pid, "observer's qC while the process runs")
    o.send_raw(b"\x03")
    check(c.quiet(0.5), "an observer's interrupt does not stop the process")
    check(o.text("k").startswith("E.read-only"), "observer's k refused while running")
    half = srv.connect()
    half.text("qSupported")
    half.send_raw(b"$vCont;t#")  # gone mid-packet while the process runs
    half.close()
    c.send_raw(b"\x03")
    stop = c.reply()
    check(stop.startswith(b"T"), f"the controller's interrupt stops it: {stop[:30]!r}")
    rip = o.text("p10")
    check(re.fullmatch(r"[0-9a-f]{16}", rip) is not None, f"observer reads again once stopped: {rip!r}")
    conf = o.text("qXfer:btrace-conf:read::0,fff")
    check("<pt size=" in conf, f"observer's qXfer:btrace-conf: {conf!r}")
    doc = o.text("qXfer:btrace:read:new:0,1ffff")
    check("<raw>" in doc, "observer's qXfer:btrace:read:new has the trace")
    doc = c.text("qXfer:btrace:read:new:0,1ffff")
    check("<raw>" in doc, "and the controller's own read point did not move: its `new` has it too")
    check(c.text("qXfer:btrace:read:new:0,1ffff") == "l<!DOCTYPE btrace SYSTEM \"btrace.dtd\">\n"
          "<btrace version=\"1.0\">\n</btrace>\n", "(its second `new` is empty)")
    check(c.text("s").startswith("T"), "the controller steps")

    c.text("D")
    check(closed(o), "a detach closes the observer")
    os.kill(pid, 9)
    pid = run_sample(c)
    o, _ = observe(srv)
    check(c.text("vKill;%x" % pid) == "OK", "the controller kills the process")
    check(closed(o), "a kill closes the observer")
    pid = run_sample(c)
    o, _ = observe(srv)
    o2, _ = observe(srv)
    c.close()
    check(closed(o) and closed(o2), "the controller leaving closes its observers")
    time.sleep(0.3)
    check(srv.alive(), "the --multi server stays up")
    c = controller(srv)
    pid = run_sample(c)
    o, reply = observe(srv)
    check("PacketSize" in reply, "and can have observers of its own")
    o.close()
    c.text("vKill;%x" % pid)
    c.close()
    sanitizer_clean(srv.log_text(), "raw part")
    srv.stop()

    # Without --multi the server ends with its controller, observers and all.
    srv = Server(PTSTUB, [SAMPLE, "sleep"])
    c = controller(srv)
    obs = [observe(srv)[0] for _ in range(3)]
    c.close()
    check(all(closed(x) for x in obs), "observers closed when the controller leaves")
    rc = srv.wait(TIMEOUT)
    check(rc == 0, f"the server exits 0: {rc}")
    sanitizer_clean(srv.log_text(), "server end with observers")
    srv.stop()


def main():
    for name, part in (("lldb part", lambda: lldb_part(import_lldb())), ("raw part", raw_part)):
        try:
            part()
        except Exception as e:  # noqa: BLE001  (the test reports it, where, and fails)
            check(False, f"{name} raised {e!r}")
            print(traceback.format_exc())
    kill_all_below()
    print("observer: " + ("all checks passed" if not failures else f"{len(failures)} failed"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
