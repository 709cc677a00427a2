# test_trace_gdb.py: gdb drives ptstub's branch trace packets in the pt format on the sample
# program: `record btrace pt`, a continue over a call, then the instruction and function-call
# histories, `info record`, replay (reverse-stepi, record goto), `record stop`, and the
# gdbserver-style errors for bad requests (the session goes on after each).
#   test_trace_gdb.py --server-path build/server/ptstub --programs build/tests/programs \
#                     --source tests/programs [-v]
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

from test_trace_lldb import never, run_all  # noqa: E402


def check_histories(c):
    """The instruction and function-call histories of the path from sample_break_here to
    sample_before_watch, oldest first (one listing of each, in that order)."""
    c.see(r"<sample_break_here\+\d+>:\s+call\s+0x[0-9a-f]+ <sample_helper>", "the call")
    c.see(r"<sample_helper\+0>:\s+push\s+%rbp", "sample_helper's first instruction")
    c.see(r"<sample_helper\+\d+>:\s+ret", "sample_helper's return")
    c.see(r"<sample_break_here\+\d+>:\s+ret", "sample_break_here returns")
    c.see(r"<run_basic\+\d+>:\s+call\s+0x[0-9a-f]+ <sample_before_watch>", "the next call")
    c.see(r"<sample_before_watch\+1>:\s+mov\s+%rsp,%rbp", "up to the breakpoint")
    c.see(r"^1\s+sample_break_here$", "call history: sample_break_here")
    c.see(r"^2\s+sample_helper$", "call history: sample_helper")
    c.see(r"^3\s+sample_break_here$", "call history: back in sample_break_here")
    c.see(r"^4\s+run_basic$", "call history: run_basic")
    c.see(r"^5\s+sample_before_watch$", "call history: sample_before_watch")


def record_pt(cfg, transport):
    s = harness.Session(cfg, "gdb", transport, "btrace-pt", args=["basic"])
    s.run([
        "break sample_break_here",
        "START",
        "maint packet Qbtrace:off",
        "maint packet Qbtrace-conf:pt:size=zz",
        "record btrace pt",
        "maint packet Qbtrace:pt",
        "maint packet qXfer:btrace:read:sideways:0,100",
        "maint packet qXfer:btrace-conf:read::0,fff",
        "break sample_before_watch",
        "continue",
        "info record",
        "record instruction-history 1,40",
        "record function-call-history",
        "reverse-stepi",
        "info record",
        "record goto end",
        "stepi",
        "stepi",
        "stepi",
        "info record",
        "tbreak sample.c:%d" % cfg.lines["watch_write"],
        "continue",
        "info record",
        "record function-call-history",
        "record stop",
        "maint packet qXfer:btrace:read:all:0,fff",
        "next",
        "kill",
    ])
    c = harness.Checker(s)
    c.see(r"Breakpoint 1, sample_break_here", "stopped in sample_break_here")
    c.see(r'received: "E\.Branch tracing not enabled\."', "Qbtrace:off before any trace")
    c.see(r'received: "E\.Bad size value\."', "a bad buffer size")
    c.see(r'received: "E\.Btrace already enabled\."', "enabling twice")
    c.see(r'received: "E\.Bad annex\."', "an unknown annex")
    c.see(r'received: "l<!DOCTYPE btrace-conf SYSTEM "btrace-conf\.dtd">\\x0a'
          r'<btrace-conf version="1\.0"><pt size="0x4000"/></btrace-conf>\\x0a"',
          "btrace-conf: pt with GDB's 16 KiB")
    c.see(r"Breakpoint 2, sample_before_watch", "stopped in sample_before_watch")
    c.see(r"Recording format: Intel Processor Trace\.")
    c.see(r"Buffer size: 16kB\.")
    first = c.see(r"Recorded (\d+) instructions in (\d+) functions \(0 gaps\)", "no gaps")
    # The traced path, oldest first.
    c.see(r"<sample_break_here\+\d+>:", "instructions of sample_break_here")
    check_histories(c)
    body = cfg.lines["before_watch_body"]
    c.see(r"\(gdb\) |0x[0-9a-f]+\s+%d\s+\{" % (body - 1), "reverse-stepi into replay")
    c.see(r"Replay in progress", "info record while replaying")
    c.see(r"^%d\s+global_counter\+\+;" % body, "record goto end: back to the live position")
    # Single steps are traced like hardware PT would: each stepi adds one instruction, and
    # the trace goes on where it stopped (the instruction at the breakpoint included).
    stepped = c.see(r"Recorded (\d+) instructions in \d+ functions \(0 gaps\)",
                    "the trace after stepi x3, no gap")
    c.require(first and stepped and int(stepped.group(1)) == int(first.group(1)) + 3,
              "stepi x3 adds exactly three instructions (%s -> %s)"
              % (first and first.group(1), stepped and stepped.group(1)))
    c.see(r"Temporary breakpoint 3, run_basic", "a second continue under trace")
    more = c.see(r"Recorded (\d+) instructions in \d+ functions \(0 gaps\)",
                 "the trace after it, no gap (delta refused, GDB reads it anew)")
    c.require(stepped and more and int(more.group(1)) > int(stepped.group(1)),
              "the trace grew with the continue")
    c.see(r"^5\s+sample_before_watch$(?=\n.*Process record is stopped)",
          "call history read again from the start, ends in sample_before_watch (its ret "
          "lands on the breakpoint in run_basic)")
    c.see(r"Process record is stopped and all execution logs are deleted\.")
    c.see(r'received: "E\.Btrace not enabled\."', "reading after record stop")
    c.see(r"^%d\s+printf" % cfg.lines["report"], "next steps on after the trace")
    never(c, r"Non-contiguous trace", "a gap in the trace (a resume lost an instruction)")
    never(c, r"Failed to configure the Intel Processor Trace decoder", "GDB refused the cpu")
    never(c, r"Could not enable branch tracing", "Qbtrace:pt failed")
    return c


if __name__ == "__main__":
    sys.exit(run_all(__doc__, [(f"gdb-{tr}-btrace-pt", lambda cfg, tr=tr: record_pt(cfg, tr))
                               for tr in ("pipe", "extended")]))
