# test_trace_bts.py: gdb's `record btrace bts` against ptstub on the sample program. ptstub
# captures with PT (the software backend here: no BTS, no PT hardware) and serves the blocks it
# decodes itself, so gdb needs no libipt. Checked: qSupported, btrace-conf <bts size>, the
# instruction and function-call histories over a call, delta reads that gdb stitches (the
# oldest block begins at 0x0), replay, stepping and a second continue under trace, a refused
# delta after the pc moved untraced (gdb reads `new`), and that the bts instruction history
# equals the pt one for the same path.
#   test_trace_bts.py --server-path build/server/ptstub --programs build/tests/programs \
#                     --source tests/programs [-v]
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

from test_trace_gdb import check_histories  # noqa: E402
from test_trace_lldb import never, run_all  # noqa: E402

HISTORY = re.compile(r"^(\d+)\s+0x([0-9a-f]+) <([\w.@]+)\+(\d+)>:", re.M)


def history(c, start):
    """The addresses of the `record instruction-history` listing after transcript position
    start, in order (the lines numbered 1, 2, ... up to the first break in numbering)."""
    out, expect = [], 1
    for m in HISTORY.finditer(c.s.transcript, start):
        if int(m.group(1)) != expect:
            break
        out.append(int(m.group(2), 16))
        expect += 1
    return out


def logged(c, regex, what):
    """regex anywhere in the transcript."""
    c.require(re.search(regex, c.s.transcript, re.M), f"missing: {what}  [/{regex}/]")


def traced_path(cfg, fmt, extra):
    """Break in sample_break_here, `record btrace FMT`, continue to sample_before_watch, then
    the histories; extra lines follow. Returns the Checker and the instruction addresses."""
    s = harness.Session(cfg, "gdb", "extended", f"btrace-{fmt}", args=["basic"])
    s.run([
        "break sample_break_here",
        "START",
        "maint packet qSupported",
        f"record btrace {fmt}",
        "maint packet qXfer:btrace-conf:read::0,fff",
        "break sample_before_watch",
        "set debug remote 1",
        "continue",
        "info record",
        "set debug remote 0",
        "echo HISTORY-BEGIN\\n",
        "record instruction-history 1,200",
        "echo HISTORY-END\\n",
        "record function-call-history",
    ] + extra)
    c = harness.Checker(s)
    m = re.search(r"^HISTORY-BEGIN$", s.transcript, re.M)
    insns = history(c, m.end()) if m else []
    return c, insns


def record_bts(cfg):
    c, insns = traced_path(cfg, "bts", [
        "maint packet qXfer:btrace:read:all:0,fff",
        "maint packet qXfer:btrace:read:delta:0,fff",
        "maint packet qXfer:btrace-conf:read::0,fff",
        "reverse-stepi",
        "info record",
        "record goto end",
        "set debug remote 1",
        "stepi",
        "stepi",
        "info record",
        "set debug remote 0",
        "record instruction-history -3",
        "tbreak sample.c:%d" % cfg.lines["watch_write"],
        "continue",
        "info record",
        "record function-call-history",
        # The pc moves without trace: the delta is refused, gdb reads `new` instead.
        "set debug remote 1",
        "set $pc = sample_before_watch",
        "info record",
        "set debug remote 0",
        "record stop",
        "kill",
    ])
    c.see(r"Qbtrace:bts\+;.*Qbtrace-conf:bts:size\+", "qSupported lists bts")
    c.see(r'received: "l<!DOCTYPE btrace-conf SYSTEM "btrace-conf\.dtd">\\x0a'
          r'<btrace-conf version="1\.0"><bts size="0x10000"/></btrace-conf>\\x0a"',
          "btrace-conf: bts with GDB's 64 KiB")
    c.see(r"Breakpoint 2, sample_before_watch", "stopped in sample_before_watch")
    # gdb's packet log goes to stderr, unbuffered, so it is searched apart from the order of
    # stdout; and gdb shortens long packets there: the stitching block is seen after stepi.
    logged(c, r"Sending packet: \$qXfer:btrace:read:delta:0,1000#22\n.*Packet received: "
           r'l<!DOCTYPE btrace SYSTEM "btrace\.dtd">\\n<btrace version="1\.0">'
           r'\\n<block begin="0x[0-9a-f]+" end="0x[0-9a-f]+"/>', "gdb reads a delta: blocks")
    logged(c, r'Packet received: l<!DOCTYPE btrace SYSTEM "btrace\.dtd">\\n<btrace '
           r'version="1\.0">\\n<block begin="0x0" end="0x[0-9a-f]+"/>\\n</btrace>',
           "stepi under trace: a delta of one block that gdb stitches on")
    c.see(r"Recording format: Branch Trace Store\.")
    c.see(r"Buffer size: 64kB\.")
    c.see(r"Recorded (\d+) instructions in 5 functions \(0 gaps\)", "no gaps")
    check_histories(c)
    c.see(r'received: "l<!DOCTYPE btrace SYSTEM "btrace\.dtd">\\x0a<btrace version="1\.0">'
          r'\\x0a<block begin="0x[0-9a-f]+" end="0x[0-9a-f]+"/>',
          "a full read by hand: blocks")
    c.see(r'received: "l<!DOCTYPE btrace SYSTEM "btrace\.dtd">\\x0a<btrace version="1\.0">'
          r'\\x0a</btrace>\\x0a"', "then a delta: nothing new")
    c.see(r'<btrace-conf version="1\.0"><bts size="0x10000"/>', "the buffer size, not the bytes")
    c.see(r"Replay in progress", "reverse-stepi replays")
    c.see(r"Recorded \d+ instructions in 5 functions \(0 gaps\)", "two more instructions")
    c.see(r"Temporary breakpoint 3, run_basic", "a second continue under trace")
    c.see(r"Recorded \d+ instructions in 5 functions \(0 gaps\)", "the trace after it")
    c.see(r"^5\s+sample_before_watch$", "call history still from the start")
    c.see(r"Process record is stopped and all execution logs are deleted\.")
    counts = [int(m.group(1)) for m in
              re.finditer(r"Recorded (\d+) instructions", c.s.transcript)]
    c.require(len(counts) >= 4 and counts[0] == counts[1] and
              counts[2] == counts[0] + 2 and counts[3] > counts[2],
              f"instruction counts: first continue, replay, two stepi, continue: {counts}")
    logged(c, r"Packet received: E\.Overflow\.\n.*Sending packet: \$qXfer:btrace:read:new:0,"
           r".*\n.*Packet received: [lm]<!DOCTYPE btrace SYSTEM.*<block begin=",
           "a moved pc: the delta refused, then a full read")
    errors = re.findall(r"Packet received: E\.", c.s.transcript)
    c.require(len(errors) == 1, f"error replies: {len(errors)}, expected the one refused delta")
    never(c, r"Could not enable branch tracing", "Qbtrace:bts failed")
    never(c, r"Error while trying to read delta trace", "gdb could not stitch a delta")
    never(c, r"may be (corrupted|incomplete)", "gdb found a bad block")
    return c, insns


def compare(cfg):
    """The bts and pt histories of the same path list the same instructions."""
    bts, bts_insns = record_bts(cfg)
    ok = bts.report()
    harness.kill_descendants()
    pt, pt_insns = traced_path(cfg, "pt", ["record stop", "kill"])
    pt.see(r"Recording format: Intel Processor Trace\.")
    pt.require(len(pt_insns) > 20, f"pt history: {len(pt_insns)} instructions")
    pt.require(bts_insns == pt_insns,
               "bts and pt instruction histories differ:\n      bts %s\n      pt  %s"
               % (" ".join(hex(a) for a in bts_insns), " ".join(hex(a) for a in pt_insns)))
    if not ok:
        pt.require(False, "the bts session failed (above)")
    return pt


if __name__ == "__main__":
    sys.exit(run_all(__doc__, [("gdb-btrace-bts-and-pt", compare)]))
