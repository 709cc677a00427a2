#!/usr/bin/env python3
"""test_valgrind.py PTSTUB PROGRAMS_DIR SOURCE_DIR — one scenario per feature with ptstub
under valgrind (memcheck, full leak check), each must end with no error and no lost byte:
  gdb      real gdb 13: breakpoints, backtraces, stepping, kill (e2e scenario break, pipe)
  lldb     real lldb-19: the same over gdb-remote (e2e scenario break, remote)
  threads  real gdb 13 with 8 threads (e2e scenario threads, pipe)
  trace    jLLDBTrace* (software PT), server-side decoding, GDB btrace pt
  core     qSaveCore in two styles, then `ptstub core-info` on the result
  access   memory, registers, breakpoints, regions, qXfer objects, vFile
The debuggers and the e2e scenarios start a small wrapper (valgrind + ptstub) in place of
ptstub; every valgrind log it leaves is checked."""
import glob
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gdbclient import Server, become_subreaper, hexs, kill_all_below  # noqa: E402

PTSTUB, PROGRAMS, SOURCE = (os.path.abspath(a) for a in sys.argv[1:4])
SAMPLE = os.path.join(PROGRAMS, "sample")
WORK = tempfile.mkdtemp(prefix="ptstub-valgrind-")
VALGRIND = ["valgrind", "--quiet", "--leak-check=full", "--show-leak-kinds=definite,indirect,possible",
            "--errors-for-leak-kinds=definite,indirect,possible", "--track-origins=no",
            "--child-silent-after-fork=yes"]
TRACE = '{"type":"intel-pt","iptTraceSize":8192,"enableTsc":false}'


def wrapper(name):
    """An executable that runs ptstub under valgrind, logging to WORK/name.<pid>.vg."""
    path = os.path.join(WORK, f"ptstub-{name}")
    with open(path, "w") as f:
        f.write("#!/bin/sh\nexec " + " ".join(VALGRIND) +
                f" --log-file={WORK}/{name}.%p.vg {PTSTUB} \"$@\"\n")
    os.chmod(path, 0o755)
    return path


def e2e(name, debugger, group, transport):
    r = subprocess.run([sys.executable, os.path.join(HERE, "..", "e2e", "e2e.py"),
                        "--server", "ptstub", "--server-path", wrapper(name),
                        "--programs", PROGRAMS, "--source", SOURCE, "--debugger", debugger,
                        "--group", group, "--transport", transport],
                       capture_output=True, text=True, timeout=600)
    return r.returncode == 0, r.stdout[-600:]


def gdb(name, mode, commands, want):
    """Real gdb 13 starting the valgrind-ed server over stdio (a long remotetimeout: valgrind
    is slow to answer the first packets); want: regexes its output must show."""
    argv = ["gdb", "-nx", "-batch", "-ex", "set remotetimeout 120", "-ex", "set pagination off",
            "-ex", "set confirm off", "-ex", f"file {SAMPLE}",
            "-ex", f"target remote | {wrapper(name)} - {SAMPLE} {mode}"]
    for c in commands + ["kill"]:
        argv += ["-ex", c]
    out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=600).stdout
    missing = [w for w in want if not re.search(w, out)]
    return not missing, f"missing {missing} in: {out[-800:]}"


def raw(name, packets_fn):
    """packets_fn(client, server) drives a valgrind-ed `ptstub gdbserver` with a raw client."""
    srv = Server(wrapper(name), [SAMPLE, "basic"])
    c = srv.connect()
    c.text("qSupported:swbreak+;multiprocess+")
    c.no_ack()
    c.text("QEnableErrorStrings")
    try:
        problems = packets_fn(c)
    finally:
        c.close()
        srv.wait(60)
        srv.stop()
    return not problems, "; ".join(problems)


def expect_all(c, checks):
    problems = []
    for packet, pattern in checks:
        reply = c.text(packet, timeout=120)
        if not re.match(pattern, reply, re.S):
            problems.append(f"{packet[:40]} -> {reply[:80]!r}")
    return problems


def trace(c):
    tid = int(re.search(r"thread:p[0-9a-f]+\.([0-9a-f]+);", c.text("?")).group(1), 16)
    steps = [("vCont;s", "T")] * 6
    return expect_all(c, [("jLLDBTraceStart:" + TRACE, "OK")] + steps + [
        ('jLLDBTraceGetState:{"type":"intel-pt"}', r"\{"),
        ('jLLDBTraceGetBinaryData:{"type":"intel-pt","kind":"iptTrace","tid":%d}' % tid, "."),
        ('jPTStubTraceDecode:{"view":"instructions","symbols":true,"disassembly":true}', r"\{"),
        ('jPTStubTraceDecode:{"view":"blocks"}', r"\{"),
        ('jPTStubTraceDecode:{"view":"calls","source":true}', r"\{"),
        ("jPTStubTraceSummary", r"\{"),
        ('jLLDBTraceStop:{"type":"intel-pt"}', "OK"),
        ("Qbtrace:pt", "OK")] + steps + [
        ("qXfer:btrace:read:all:0,ffff", "[lm]"),
        ("qXfer:btrace-conf:read::0,ffff", "[lm]"),
        ("Qbtrace:off", "OK"), ("k", "X")])


def core(c):
    out = os.path.join(WORK, "cores")
    os.makedirs(out, exist_ok=True)
    problems = expect_all(c, [
        ("qSaveCore;path-hint:" + hexs(os.path.join(out, "mm.core")), "core-path:"),
        ("qSaveCore;path-hint:" + hexs(os.path.join(out, "st.core")) + ";style:stacks",
         "core-path:")])
    r = subprocess.run(VALGRIND + [f"--log-file={WORK}/core-info.%p.vg", PTSTUB, "core-info",
                                   os.path.join(out, "mm.core")], capture_output=True, text=True)
    if r.returncode != 0 or "sample" not in r.stdout:
        problems.append(f"core-info: {r.returncode} {r.stdout[-200:]!r}")
    return problems


def access(c):
    pid = int(re.search(r"pid:([0-9a-f]+);", c.text("qProcessInfo")).group(1), 16)
    exe = os.path.realpath(SAMPLE)
    with open(f"/proc/{pid}/maps") as f:
        base = next(int(line.split("-")[0], 16) for line in f if line.rstrip().endswith(exe))
    b = f"{base:x}"
    return expect_all(c, [
        (f"m{b},100", "7f454c46"), (f"x{b},100", "\x7fELF"), ("g", "[0-9a-f]+"), ("p10", "[0-9a-f]{16}"),
        ("qXfer:features:read:target.xml:0,ffff", "[lm]<"),
        ("qXfer:libraries-svr4:read::0,ffff", "[lm]<"), ("qXfer:auxv:read::0,ffff", "[lm]"),
        ("qXfer:threads:read::0,ffff", "[lm]<"), ("qXfer:exec-file:read::0,ffff", "[lm]/"),
        (f"qMemoryRegionInfo:{b}", "start:"), ("qMemoryRegionInfo:0", "start:0"),
        ("jThreadsInfo", r"\["), ("qfThreadInfo", "m"),
        (f"Z0,{base + 0x1000:x},1", "OK|E"), (f"z0,{base + 0x1000:x},1", "OK|E"),
        (f"vFile:open:{hexs(exe)},0,0", "F0"), ("vFile:pread:0,40,0", "F40;"),
        ("vFile:fstat:0", "F40;"), ("vFile:close:0", "F0"),
        (f"vFile:open:{hexs(exe)},0,0", "F0"),  # left open: closed with the session
        ("m0,8", "E"), ("vCont;c", "W00"), ("?", "W00")])


SCENARIOS = [
    ("gdb", lambda: gdb("gdb", "basic", [
        "break sample_break_here", "continue", "bt", "print *p", "next", "step", "finish",
        "info registers rip", "x/4xb &global_counter", "info sharedlibrary"],
        [r"Breakpoint 1, sample_break_here", r"#1 .* run_basic", r"= \{x = 10, y = 20",
         r"Value returned is \$\d+ = 61", r"libptsample"])),
    ("lldb", lambda: e2e("lldb", "lldb", "break", "remote")),
    ("threads", lambda: gdb("threads", "threads", [
        "break sample_threads_ready", "continue", "info threads", "thread apply all bt 3"],
        [r"Breakpoint 1, sample_threads_ready", r"\n\s+9\s+Thread", r"thread_block_here"])),
    ("trace", lambda: raw("trace", trace)),
    ("core", lambda: raw("core", core)),
    ("access", lambda: raw("access", access)),
]


def check_logs(name):
    logs = glob.glob(os.path.join(WORK, f"{name}.*.vg"))
    if name == "core":
        logs += glob.glob(os.path.join(WORK, "core-info.*.vg"))
    if not logs:
        return [f"no valgrind log for {name}"]
    bad = []
    for log in logs:
        text = open(log).read()
        if text.strip():  # --quiet: only errors and leaks are printed
            bad.append(f"{os.path.basename(log)}:\n{text[:3000]}")
    return bad


def main():
    become_subreaper()
    failed = 0
    for name, run in SCENARIOS:
        ok, detail = run()
        bad = check_logs(name)
        kill_all_below()
        verdict = "ok" if ok and not bad else "FAIL"
        failed += verdict != "ok"
        print(f"[{verdict}] {name}" + ("" if ok else f": scenario failed: {detail}"))
        for b in bad:
            print("    " + b.replace("\n", "\n    "))
    print(f"valgrind: {len(SCENARIOS) - failed} of {len(SCENARIOS)} scenarios clean; logs in {WORK}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
