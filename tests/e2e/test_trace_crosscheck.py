# test_trace_crosscheck.py: one traced path, five views that must agree instruction for
# instruction. The path is decode_fib from its first int3 marker to its second (fib(10), a loop
# with calls through a function pointer, getpid through the PLT with lazy binding in ld.so).
#   1. the single-step PC log: this script steps the program with raw ptrace, no debug server;
#   2. lldb-19's own decode (`thread trace dump instructions`) of the trace ptstub served;
#   3. ptstub's decode of that same trace (jPTStubTraceDecode, sent through lldb);
#   4. gdb's own decode with libipt (`record btrace pt`, `record instruction-history`);
#   5. gdb's history from the blocks ptstub decoded (`record btrace bts`).
# Addresses are compared (ASLR is off in every run, so they are the same in each); repeated
# PCs of the step log (a rep-prefixed string instruction steps once per iteration) count once.
#   test_trace_crosscheck.py --server-path build/server/ptstub --programs build/tests/programs \
#                            --source tests/programs [-v]
import ctypes
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

from test_trace_lldb import run_all  # noqa: E402

PAGE = 1500  # instructions per jPTStubTraceDecode page: well inside one packet
MAX_PAGES = 20
TRACE_SIZE = 1 << 20  # no wrap: the whole path stays in the buffer

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
PTRACE_TRACEME, PTRACE_PEEKTEXT, PTRACE_CONT, PTRACE_SINGLESTEP, PTRACE_GETREGS = 0, 1, 7, 9, 12
ADDR_NO_RANDOMIZE = 0x0040000
USER_REGS_RIP = 16  # index of rip in struct user_regs_struct


def step_log(program):
    """PCs the program executes from just after its first int3 to its second int3 (included),
    by PTRACE_SINGLESTEP."""
    pid = os.fork()
    if pid == 0:
        try:
            libc.personality(ADDR_NO_RANDOMIZE)
            libc.ptrace(PTRACE_TRACEME, 0, None, None)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.execv(program, [program])
        finally:
            os._exit(127)
    regs = (ctypes.c_ulonglong * 27)()
    pcs = []
    try:
        os.waitpid(pid, 0)  # the exec stop
        libc.ptrace(PTRACE_CONT, pid, None, None)
        _, status = os.waitpid(pid, 0)  # the first marker
        while os.WIFSTOPPED(status) and len(pcs) < 1000000:
            libc.ptrace(PTRACE_GETREGS, pid, None, ctypes.byref(regs))
            pc = regs[USER_REGS_RIP]
            word = libc.ptrace(PTRACE_PEEKTEXT, pid, ctypes.c_void_p(pc), None)
            if not pcs or pcs[-1] != pc:
                pcs.append(pc)
            if word & 0xFF == 0xCC:
                break
            libc.ptrace(PTRACE_SINGLESTEP, pid, None, None)
            _, status = os.waitpid(pid, 0)
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    return pcs


def config(cfg):
    cfg.sample = os.path.join(os.path.dirname(cfg.sample), "decode_fib")
    return cfg


def decode_pages(command):
    """Lines that ask ptstub for the whole decode, page by page (addresses only). Both
    debuggers send the text as is, so `}` (the protocol's escape byte) is written escaped."""
    packet = 'jPTStubTraceDecode:{"offset":%d,"count":%d,"symbols":false,"disassembly":false}'
    return [command + packet.replace("}", "}]") % (i * PAGE, PAGE) for i in range(MAX_PAGES)]


def unescape(text):
    """gdb's `maint packet` prints replies as they came, with `}` escapes."""
    return re.sub(r"\}(.)", lambda m: chr(ord(m.group(1)) ^ 0x20), text, flags=re.S)


def server_decode(c, prefix):
    """The addresses of ptstub's decode, from the page replies after each prefix."""
    out, total = [], None
    for m in re.finditer(prefix + r'(\{"tid".*\}.?)"?$', c.s.transcript, re.M):
        page = json.loads(unescape(m.group(1)) if prefix.startswith("^received") else
                          m.group(1).rstrip('"'))
        total = page["total"]
        if page["first"] != len(out):
            break
        out += [item["ip"] for item in page["items"] if item.get("kind") == "insn"]
    c.require(total is not None and len(out) == total,
              f"ptstub's decode read whole: {len(out)} of {total} instructions")
    return out


def agree(c, name, got, want, want_name):
    if got == want:
        return
    i = next((k for k in range(min(len(got), len(want))) if got[k] != want[k]),
             min(len(got), len(want)))
    c.require(False, f"{name} ({len(got)} instructions) differs from {want_name} "
                     f"({len(want)}) at instruction {i}: "
                     f"{[hex(a) for a in got[max(0, i - 2):i + 3]]} vs "
                     f"{[hex(a) for a in want[max(0, i - 2):i + 3]]}")


def lldb_views(cfg):
    s = harness.Session(cfg, "lldb", "launch", "crosscheck")
    s.run(["START",
           f"thread trace start -s {TRACE_SIZE}",
           "continue",
           "thread trace dump instructions -f -r -c 100000"] +
          [line + "'" for line in decode_pages("process plugin packet send '")] +
          ["process kill"])
    c = harness.Checker(s)
    c.see(r"stop reason = signal SIGTRAP", "stopped at the first marker")
    c.see(r"stop reason = signal SIGTRAP", "stopped at the second marker")
    lldb = [int(m.group(1), 16) for m in
            re.finditer(r"^\s+\d+: 0x([0-9a-f]+)\s*$", s.transcript, re.M)]
    c.require(not re.search(r"^\s+\d+: (error|\(error\))", s.transcript, re.M),
              "lldb found a decode error")
    return c, lldb, server_decode(c, r"^response: ")


def gdb_history(cfg, fmt):
    s = harness.Session(cfg, "gdb", "extended", f"crosscheck-{fmt}")
    lines = ["START", f"set record btrace {fmt} buffer-size {TRACE_SIZE}",
             f"record btrace {fmt}", "continue", "info record",
             "record instruction-history /r 1,100000"]
    if fmt == "pt":
        lines += decode_pages("maint packet ")
    s.run(lines + ["record stop", "kill"])
    c = harness.Checker(s)
    c.see(r"Program received signal SIGTRAP", "stopped at the first marker")
    c.see(r"Program received signal SIGTRAP", "stopped at the second marker")
    c.see(r"Recorded \d+ instructions in \d+ functions \(0 gaps\)", f"{fmt}: no gaps")
    hist = [int(m.group(1), 16) for m in
            re.finditer(r"^\d+\s+(?:=> )?0x([0-9a-f]+)(?: <|:)", s.transcript, re.M)]
    server = server_decode(c, r'^received: "') if fmt == "pt" else None
    return c, hist, server


def crosscheck(cfg):
    cfg = config(cfg)
    truth = step_log(cfg.sample)
    lc, lldb, server = lldb_views(cfg)
    ok = lc.report()
    harness.kill_descendants()
    gc, gdb_pt, server_gdb = gdb_history(cfg, "pt")
    ok &= gc.report()
    harness.kill_descendants()
    c, gdb_bts, _ = gdb_history(cfg, "bts")
    c.require(len(truth) > 1000, f"the step log: {len(truth)} instructions")
    agree(c, "ptstub's decode (lldb session)", server, truth, "the single-step PC log")
    agree(c, "lldb-19's `thread trace dump instructions`", lldb, server, "ptstub's decode")
    agree(c, "ptstub's decode (gdb session)", server_gdb, truth, "the single-step PC log")
    agree(c, "gdb's pt `record instruction-history`", gdb_pt, server_gdb, "ptstub's decode")
    agree(c, "gdb's bts `record instruction-history`", gdb_bts, truth, "the single-step PC log")
    c.require(ok, "the lldb or gdb pt session failed (above)")
    return c


if __name__ == "__main__":
    sys.exit(run_all(__doc__, [("crosscheck", crosscheck)]))
