#!/usr/bin/env python3
"""tests/e2e/test_recorded.py — recorded targets end to end: `ptstub record` runs
recorded_crash (SIGSEGV through a bad pointer) under the software trace, the bundle's files are
checked, `ptstub serve` serves it to gdb (stdio) and lldb-19 (TCP) which must show the crash
frame, the locals, the signal and the last traced instructions ending at the faulting one;
changes get "recorded target: read only"; a bundle whose image was deleted and one with a
truncated trace give the documented diagnostics.

usage: test_recorded.py PTSTUB RECORDED_CRASH RECORDED_CRASH_SOURCE [SAMPLE]"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

TIMEOUT = 60
failures = []


def check(cond, what, detail=""):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
        if detail:
            print("     " + detail.replace("\n", "\n     ")[-3000:])


def build_id(path):
    """The GNU build-id of an ELF file, from its SHT_NOTE sections (hex)."""
    data = open(path, "rb").read()
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    for i in range(shnum):
        sh_type, = struct.unpack_from("<I", data, shoff + i * shentsize + 4)
        off, size = struct.unpack_from("<QQ", data, shoff + i * shentsize + 0x18)
        pos = off
        while sh_type == 7 and pos + 12 <= off + size:
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            name_end = pos + 12 + ((namesz + 3) & ~3)
            if ntype == 3 and data[pos + 12:pos + 15] == b"GNU":
                return data[name_end:name_end + descsz].hex()
            pos = name_end + ((descsz + 3) & ~3)
    return None


def crash_line(source):
    for n, line in enumerate(open(source), 1):
        if "LINE: crash" in line:
            return n
    raise SystemExit("no crash marker in " + source)


def record(ptstub, bundle, prog, *opts):
    r = subprocess.run([ptstub, "record", "-o", bundle, *opts, "--", prog],
                       capture_output=True, text=True, timeout=TIMEOUT)
    return r


class Served:
    """`ptstub serve DIR 127.0.0.1:0 --multi` in the background; port from its stderr."""

    def __init__(self, ptstub, bundle):
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([ptstub, "serve", bundle, "127.0.0.1:0", "--multi"],
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        self.port = None
        for _ in range(200):
            m = re.search(r"Listening on port (\d+)", self.stderr())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                break
            subprocess.run(["sleep", "0.05"])

    def stderr(self):
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        alive = self.proc.poll() is None
        self.proc.terminate()
        self.proc.wait(TIMEOUT)
        return alive


def query(ptstub, port, *packets):
    r = subprocess.run([ptstub, "query", "127.0.0.1:%d" % port, *packets],
                       capture_output=True, text=True, timeout=TIMEOUT)
    return r.stdout + r.stderr


def check_bundle(bundle, prog, rec):
    check(rec.returncode == 128 + 11, "record exits 128+SIGSEGV",
          "rc=%d\n%s" % (rec.returncode, rec.stderr))
    check("bundle written to " + bundle in rec.stderr, "record says where the bundle went",
          rec.stderr)
    status = json.load(open(os.path.join(bundle, "status.json")))
    check(status["trigger"] == "crash" and status["signal"] == 11 and
          status["signal_name"] == "SIGSEGV", "status.json: crash trigger, SIGSEGV", str(status))
    check(status["outcome"] == {"signal": 11, "signal_name": "SIGSEGV"},
          "status.json: the program then died of SIGSEGV", str(status))
    threads = status["threads"]
    check(len(threads) == 1 and threads[0]["tid"] == status["pid"] == status["tid"],
          "status.json: one traced thread, the crashing one", str(threads))
    pt = os.path.join(bundle, threads[0]["trace"])
    check(os.path.getsize(pt) == threads[0]["bytes"] > 0,
          "trace file holds the recorded bytes", "%s %d" % (pt, os.path.getsize(pt)))
    pt_bytes = open(pt, "rb").read()
    check(pt_bytes.startswith(b"\x02\x82" * 8), "trace starts with a PSB", pt_bytes[:16].hex())
    cpuinfo = open(os.path.join(bundle, "cpuinfo")).read()
    check("vendor_id" in cpuinfo and "cpu family" in cpuinfo, "cpuinfo is /proc/cpuinfo-shaped")
    images = json.load(open(os.path.join(bundle, "images.json")))["images"]
    exe = [i for i in images if i["path"] == prog]
    check(len(exe) == 1 and exe[0]["build_id"] == build_id(prog) and "main" in exe[0]["flags"],
          "images.json: the executable with its build-id", str(images))
    check(any("libc.so" in i["path"] for i in images), "images.json: libc", str(images))
    trace = json.load(open(os.path.join(bundle, "trace.json")))
    proc = trace["processes"][0]
    mods = {m["systemPath"]: m for m in proc["modules"]}
    check(trace["type"] == "intel-pt" and trace["cpuInfo"]["vendor"] == "GenuineIntel" and
          proc["pid"] == status["pid"] and
          proc["threads"] == [{"tid": status["tid"], "iptTrace": threads[0]["trace"]}] and
          prog in mods and int(mods[prog]["loadAddress"], 16) == int(exe[0]["load_address"], 16)
          and mods[prog]["uuid"] == build_id(prog),
          "trace.json follows LLDB's intel-pt bundle schema", json.dumps(trace)[:2000])
    return status


def trace_load(bundle, served_out):
    """LLDB's own `trace load` of trace.json: lldb-19 parses the bundle schema (and reports
    errors in it) before it crashes on any bundle; lldb-22 ($LLDB22 or in PATH), where there is
    one, must list the same newest instructions as the served session."""
    r = subprocess.run(["lldb-19", "-b", "-o", "trace load " + os.path.join(bundle, "trace.json")],
                       capture_output=True, text=True, timeout=TIMEOUT)
    out = r.stdout + r.stderr
    check("error:" not in out, "lldb-19 trace load: trace.json passes LLDB's schema", out[-1500:])
    lldb22 = os.environ.get("LLDB22") or shutil.which("lldb-22")
    if not lldb22:
        print("skip lldb-22 trace load (no lldb-22 in PATH or $LLDB22)")
        return
    r = subprocess.run([lldb22, "-b", "-o", "trace load " + os.path.join(bundle, "trace.json"),
                        "-o", "thread trace dump instructions -c 3"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    want = re.findall(r"^\s+\d+: (0x[0-9a-f]+)\s", served_out, re.M)
    have = re.findall(r"^\s+\d+: (0x[0-9a-f]+)\s", r.stdout, re.M)
    check(want and have == want, "lldb-22 trace load: the same instructions as served",
          r.stdout + r.stderr)


def run_gdb(ptstub, bundle, prog, line):
    script = ["set confirm off", "set pagination off", "set sysroot /",
              "target remote | %s serve %s -" % (ptstub, bundle),
              "bt", "info locals", "up", "info locals", "print $_siginfo.si_signo",
              "print $_siginfo._sifields._sigfault.si_addr",
              "print/x $rip", "down", "print/x $pc",
              "record btrace", "record instruction-history", "continue", "bt 1",
              "print value", "set var value = 1"]
    args = ["gdb", "-nx", "-batch"]
    for cmd in script:
        args += ["-ex", cmd]
    r = subprocess.run(args + [prog], capture_output=True, text=True, timeout=TIMEOUT)
    out = r.stdout + r.stderr
    check(re.search(r"#0 .* store_value \(rec=0x[0-9a-f]+, value=45\) at .*recorded_crash.c:%d"
                    % line, out), "gdb: crash frame store_value at the crash line", out)
    check(re.search(r"#2 .* main \(", out), "gdb: the stack reaches main", out)
    check("doubled = 90" in out, "gdb: locals of the crash frame", out)
    check("value = 45" in out, "gdb: locals of the caller", out)
    check(re.search(r"\$1 = 11\b", out), "gdb: $_siginfo says SIGSEGV", out)
    check(re.search(r"\$2 = \(void \*\) 0x10\b", out), "gdb: $_siginfo has the bad address",
          out)
    pcs = re.findall(r"\$\d+ = (0x[0-9a-f]+)", out)
    hist = re.findall(r"^\d+\s+(0x[0-9a-f]+) <([^>]+)>:\s+(.*)$", out, re.M)
    check(hist and hist[-1][1].startswith("store_value+"),
          "gdb btrace: the history ends in store_value", out)
    if hist and len(pcs) >= 2:
        # The faulting instruction did not complete: the trace ends right before it.
        last, fault = int(hist[-1][0], 16), int(pcs[-1], 16)
        check(0 < fault - last <= 15, "gdb btrace: the last instruction precedes the fault pc",
              "last %#x fault %#x" % (last, fault))
    check("Remote failure reply: E1e" in out and "recorded target: read only" in out,
          "gdb: continue gets the read-only error", out)
    check(len(re.findall(r"#0 .* store_value \(", out)) >= 2,
          "gdb: the session goes on after continue", out)
    check(out.count("recorded target: read only") >= 2, "gdb: writing a variable is refused",
          out)


def lldb_commands(cmds):
    """Run LLDB commands one by one through its Python module (going on after errors)."""
    # Debian installs LLDB's Python module under llvm-19's tree; lldb-19 -P says where.
    sys.path.insert(0, subprocess.run(["lldb-19", "-P"], capture_output=True,
                                      text=True).stdout.strip())
    import lldb
    dbg = lldb.SBDebugger.Create()
    dbg.SetAsync(False)
    interp, out = dbg.GetCommandInterpreter(), []
    for cmd in cmds:
        res = lldb.SBCommandReturnObject()
        interp.HandleCommand(cmd, res)
        out.append("(lldb) %s\n%s%s" % (cmd, res.GetOutput() or "", res.GetError() or ""))
    lldb.SBDebugger.Destroy(dbg)
    return "".join(out)


def run_lldb(ptstub, bundle, prog, line):
    served = Served(ptstub, bundle)
    check(served.port is not None, "serve listens on TCP", served.stderr())
    if served.port is None:
        served.stop()
        return
    cmds = ["target create " + prog, "gdb-remote %d" % served.port, "bt", "frame variable",
            "up", "frame variable value", "down", "register read rip", "memory region $sp",
            "process trace start", "thread trace dump instructions -c 3",
            "memory write $sp 1", "thread list", "continue", "frame variable value"]
    out = lldb_commands(cmds)
    check("stop reason = signal SIGSEGV" in out, "lldb: stop reason signal SIGSEGV", out)
    check(re.search(r"frame #0: .* recorded_crash`store_value\(rec=0x[0-9a-f]+, value=45\) at "
                    r"recorded_crash.c:%d" % line, out), "lldb: crash frame at the crash line", out)
    check("(int) doubled = 90" in out and "(int) value = 45" in out, "lldb: locals", out)
    check(re.search(r"Dirty pages: 0x[0-9a-f]+", out), "lldb: memory region has dirty pages",
          out)
    rip = re.search(r"rip = (0x[0-9a-f]+)", out)
    insns = re.findall(r"^\s+(\d+): (0x[0-9a-f]+)\s", out, re.M)
    check(insns and rip, "lldb: thread trace dump instructions shows the trace", out)
    if insns and rip:
        newest = max(insns, key=lambda i: int(i[0]))
        check(0 < int(rip.group(1), 16) - int(newest[1], 16) <= 15,
              "lldb: the newest traced instruction precedes the fault pc", out)
    check("Memory write to" in out and "failed" in out and
          re.search(r"cannot access memory at 0x[0-9a-f]+: recorded target: read only",
                    served.stderr()), "lldb: memory write is refused with the reason",
          out + served.stderr())
    check("stop reason = recorded target: read only" in out,
          "lldb: continue is refused, shown as the stop reason", out)
    check(out.count("(int) value = 45") >= 2, "lldb: the session goes on after continue", out)
    check(served.stop(), "serve is still up after lldb's session", served.stderr())
    trace_load(bundle, out[out.find("thread trace dump"):])


def run_decode(ptstub, bundle, tid):
    """The decode packet through `ptstub decode` on a served bundle."""
    served = Served(ptstub, bundle)
    r = subprocess.run([ptstub, "decode", "127.0.0.1:%d" % served.port, "--tid", str(tid),
                        "--calls"], capture_output=True, text=True, timeout=TIMEOUT)
    calls = [re.match(r"\[\d+\](\s+)(\S+) ", ln) for ln in r.stdout.splitlines()]
    calls = [(len(m.group(1)), m.group(2)) for m in calls if m]
    names = [c[1] for c in calls]
    depth = dict((n, d) for d, n in calls)
    check("main" in names and "sum_to" in names and "scale" in names and
          calls and calls[-1][1] == "store_value" and
          depth["process"] < depth["store_value"] and "truncated" in r.stdout.splitlines()[-1],
          "decode: the call tree ends inside store_value, called by process", r.stdout + r.stderr)
    served.stop()
    offline = subprocess.run([ptstub, "decode", bundle, "--calls"], capture_output=True,
                             text=True, timeout=TIMEOUT)
    check(offline.returncode == 0 and offline.stdout == r.stdout,
          "decode DIR: offline, the same call tree (tid defaults to the crashing thread)",
          offline.stdout[-2000:] + offline.stderr)


def clean_region(ptstub, port, path, addr):
    """Start of a mapping of path with no modified page, walking up from addr."""
    for _ in range(64):
        info = query(ptstub, port, "qMemoryRegionInfo:%x" % addr)
        start = int(re.search(r"start:([0-9a-f]+)", info).group(1), 16)
        size = int(re.search(r"size:([0-9a-f]+)", info).group(1), 16)
        name = re.search(r"name:([0-9a-f]+)", info)
        if name and bytes.fromhex(name.group(1)).decode() == path and "dirty-pages:;" in info:
            return start
        addr = start + size
    return None


def deleted_image(ptstub, prog, tmp):
    copy = os.path.join(tmp, "crash_copy")
    shutil.copy(prog, copy)
    plain, copied = os.path.join(tmp, "plain"), os.path.join(tmp, "copied")
    record(ptstub, plain, copy)
    record(ptstub, copied, copy, "--copy-images")
    check(os.path.exists(os.path.join(copied, "images") + copy),
          "--copy-images puts the executable at its path below images/")
    shutil.copy("/bin/true", copy)  # another ELF at the recorded path
    served = Served(ptstub, plain)
    clean = None
    if served.port:
        clean = clean_region(ptstub, served.port, copy, 0x555555554000)
        out = query(ptstub, served.port, "m%x,4" % clean) if clean else "no clean region"
        check(re.search(r"E[0-9a-f]{2}", out), "changed image: its clean pages are not read",
              out)
    served.stop()
    want = "serve: warning: image %s: build-id mismatch: the file on disk has %s, the recorded " \
        "process had %s" % (copy, build_id(copy), build_id(prog))
    check(want in served.stderr(), "changed image: the documented diagnostic",
          want + "\n" + served.stderr())
    os.unlink(copy)
    served = Served(ptstub, plain)
    rip = None
    if served.port:
        stop = query(ptstub, served.port, "?")
        m = re.search(r";10:([0-9a-f]{16});", stop)
        rip = struct.unpack("<Q", bytes.fromhex(m.group(1)))[0] if m else None
        clean = clean_region(ptstub, served.port, copy, rip & ~0xFFFFF) if rip else None
        out = query(ptstub, served.port, "m%x,4" % clean) if clean else "no clean region"
        sp = re.search(r";07:([0-9a-f]{16});", stop)
        stack = query(ptstub, served.port,
                      "m%x,8" % struct.unpack("<Q", bytes.fromhex(sp.group(1)))[0]) if sp else ""
        check(stop.startswith("T0b"), "deleted image: the crash is still served", stop)
        check(re.search(r"E[0-9a-f]{2}", out), "deleted image: its clean pages are unavailable",
              out)
        check(re.fullmatch(r"[0-9a-f]{16}\s*", stack), "deleted image: the stack still reads",
              stack)
    served.stop()
    err = served.stderr()
    check("serve: warning: image %s: missing (No such file or directory)" % copy in err,
          "deleted image: the documented diagnostic", err)
    served = Served(ptstub, copied)
    if served.port and rip:
        clean = clean_region(ptstub, served.port, copy, rip & ~0xFFFFF)
        out = query(ptstub, served.port, "m%x,4" % clean) if clean else "no clean region"
        check(re.fullmatch(r"[0-9a-f]{8}\s*", out), "copied image: clean pages read from the copy",
              out)
    served.stop()
    check("missing" not in served.stderr(), "copied image: no diagnostic", served.stderr())
    images = os.path.join(copied, "images")
    out = subprocess.run(["gdb", "-nx", "-batch", "-ex", "set sysroot " + images, "-ex",
                          "target remote | %s serve %s -" % (ptstub, copied), "-ex",
                          "info sharedlibrary", "-ex", "bt", images + copy],
                         capture_output=True, text=True, timeout=TIMEOUT).stdout
    check(re.search(r"Yes\s+%s/lib.*/libc\.so\.6" % re.escape(images), out) and
          re.search(r"#0 .* store_value \(", out),
          "copied images: gdb with sysroot DIR/images debugs without the originals", out)


def other_triggers(ptstub, prog, tmp):
    """--on-exit keeps the exit status; --at stops in the function; unknown functions fail."""
    ex = os.path.join(tmp, "exit")
    r = subprocess.run([ptstub, "record", "-o", ex, "--on-exit", "--", prog, "exit", "3"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    st = json.load(open(os.path.join(ex, "status.json"))) if os.path.exists(ex) else {}
    check(r.returncode == 3 and st.get("trigger") == "exit" and
          st.get("outcome") == {"exit_status": 3}, "--on-exit: bundle at _exit, status kept",
          r.stderr + str(st))
    at = os.path.join(tmp, "at")
    r = record(ptstub, at, prog, "--at", "scale")
    check(r.returncode == 139 and "reached scale: bundle written to " + at in r.stderr,
          "--at scale: bundle written, then the program crashes as before", r.stderr)
    out = subprocess.run(["gdb", "-nx", "-batch", "-ex", "set sysroot /", "-ex",
                          "target remote | %s serve %s -" % (ptstub, at), "-ex", "bt", prog],
                         capture_output=True, text=True, timeout=TIMEOUT).stdout
    check(re.search(r"#0\s+scale \(v=\d+\) .*\n#1 .* sum_to \(n=5\)", out),
          "--at scale: served stopped at the first call of scale", out)
    handled = os.path.join(tmp, "handled")
    r = subprocess.run([ptstub, "record", "-o", handled, "--", prog, "handled"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    check(r.returncode == 0 and not os.path.exists(handled) and
          "exited with status 0 before the trigger; no bundle written" in r.stderr,
          "a SIGSEGV the program handles is passed on, not recorded", r.stderr)
    r = record(ptstub, os.path.join(tmp, "none"), prog, "--at", "no_such_function")
    check(r.returncode == 2 and "no_such_function: no such function" in r.stderr,
          "--at an unknown function fails", r.stderr)


def threads(ptstub, sample, tmp):
    """Threads created after the start are traced from their first instruction; the step
    traps of threads blocked in read() when tracing stops do not kill the program."""
    bundle = os.path.join(tmp, "threads")
    r = subprocess.run([ptstub, "record", "-o", bundle, "--at", "sample_threads_ready", "--",
                        sample, "threads"], capture_output=True, text=True, timeout=TIMEOUT)
    st = json.load(open(os.path.join(bundle, "status.json"))) if os.path.isdir(bundle) else {}
    traced = st.get("threads", [])
    check(r.returncode == 0 and st.get("outcome") == {"exit_status": 0},
          "threads: the program still ends normally", r.stderr + str(st.get("outcome")))
    check(len(traced) == 9 and all(t["bytes"] > 0 for t in traced),
          "threads: all 9 threads have a trace", str(traced))
    out = subprocess.run(["gdb", "-nx", "-batch", "-ex", "set sysroot /", "-ex",
                          "target remote | %s serve %s -" % (ptstub, bundle), "-ex",
                          "info threads", sample], capture_output=True, text=True,
                         timeout=TIMEOUT).stdout
    check(len(re.findall(r"^\*?\s+\d+\s+Thread ", out, re.M)) == 9 and
          "sample_threads_ready" in out, "threads: gdb sees the 9 recorded threads", out)


def thread_crash(ptstub, prog, tmp):
    """A crash in a second thread: both debuggers start on that thread, the other one (stopped
    for the recording) shows no signal of its own."""
    bundle = os.path.join(tmp, "thread")
    r = subprocess.run([ptstub, "record", "-o", bundle, "--", prog, "thread"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    st = json.load(open(os.path.join(bundle, "status.json"))) if os.path.isdir(bundle) else {}
    check(r.returncode == 139 and st.get("tid") and st["tid"] != st["pid"],
          "thread crash: recorded in the second thread", r.stderr + str(st))
    out = subprocess.run(["gdb", "-nx", "-batch", "-ex", "set sysroot /", "-ex",
                          "target remote | %s serve %s -" % (ptstub, bundle), "-ex",
                          "info threads", prog], capture_output=True, text=True,
                         timeout=TIMEOUT).stdout
    check(re.search(r"^\*\s+\d+\s+Thread \d+\.%d .* store_value " % st.get("tid", 0), out,
                    re.M), "thread crash: gdb starts on the crashing thread", out)
    served = Served(ptstub, bundle)
    out = lldb_commands(["target create " + prog, "gdb-remote %d" % served.port, "thread list"])
    served.stop()
    listed = re.findall(r"^(\*?)\s+thread #\d+: tid = (\d+),.*?(stop reason = .*)?$", out, re.M)
    check(sorted(listed) == sorted([("*", str(st.get("tid")), "stop reason = signal SIGSEGV"),
                                    ("", str(st.get("pid")), "")]),
          "thread crash: lldb selects it, the other thread has no stop reason", out)


def truncated_trace(ptstub, bundle, status, tmp):
    cut = os.path.join(tmp, "cut")
    shutil.copytree(bundle, cut)
    th = status["threads"][0]
    path = os.path.join(cut, th["trace"])
    keep = th["bytes"] // 2
    os.truncate(path, keep)
    served = Served(ptstub, cut)
    state = query(ptstub, served.port, 'jLLDBTraceGetState:{"type":"intel-pt"}') \
        if served.port else ""
    served.stop()
    err = served.stderr()
    want = "serve: warning: %s: truncated: %d of the %d bytes recorded for thread %d" % (
        th["trace"], keep, th["bytes"], th["tid"])
    check(want in err, "truncated trace: the documented diagnostic", err)
    check('"size": %d' % keep in state and "truncated" in state,
          "truncated trace: GetState serves what is left and warns", state)


def main():
    ptstub, prog, source = sys.argv[1], os.path.realpath(sys.argv[2]), sys.argv[3]
    sample = sys.argv[4] if len(sys.argv) > 4 else None
    line = crash_line(source)
    tmp = tempfile.mkdtemp(prefix="ptstub-recorded-")
    try:
        bundle = os.path.join(tmp, "bundle")
        rec = record(ptstub, bundle, prog)
        status = check_bundle(bundle, prog, rec)
        run_gdb(ptstub, bundle, prog, line)
        run_lldb(ptstub, bundle, prog, line)
        run_decode(ptstub, bundle, status["tid"])
        deleted_image(ptstub, prog, tmp)
        truncated_trace(ptstub, bundle, status, tmp)
        other_triggers(ptstub, prog, tmp)
        thread_crash(ptstub, prog, tmp)
        if sample:
            threads(ptstub, sample, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
