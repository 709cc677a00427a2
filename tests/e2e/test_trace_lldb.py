# test_trace_lldb.py: lldb-19 drives ptstub's jLLDBTrace* packets (intel-pt) on the sample
# program: thread and process tracing across a continue (and single steps), the decoded
# instructions and calls of the traced path, the state LLDB parses, LLDB's errors for bad
# requests (the session goes on after each), and a process trace that follows new threads.
#   test_trace_lldb.py --server-path build/server/ptstub --programs build/tests/programs \
#                      --source tests/programs [-v]
import argparse
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402


def never(c, regex, what):
    """A failure when the debugger's output matches regex."""
    m = re.search(regex, c.s.transcript, re.M)
    c.require(not m, f"unexpected: {what}: {m.group(0)!r}" if m else "")


def raw(packet):
    """A `process plugin packet send` line. LLDB sends the text as is, so every `}` (the
    protocol's escape byte) is written escaped: `}` then `}` ^ 0x20 = `]`."""
    return "process plugin packet send '" + packet.replace("}", "}]") + "'"


def err_hex(msg):
    """LLDB prints error replies as Exx;hex(message) (error strings are on)."""
    return r"response: E[0-9a-f]{2};" + msg.encode().hex()


# The traced path from sample_break_here to sample_before_watch: a call to sample_helper,
# its body, the return, then the call of sample_before_watch from run_basic.
def check_traced_path(c):
    c.see(r"^thread #1: tid = \d+", "dump instructions header")
    c.see(r"sample`sample_before_watch", "sample_before_watch, newest first")
    c.see(r"sample`run_basic \+ \d+", "run_basic calls sample_before_watch")
    c.see(r"callq\s+0x[0-9a-f]+\s+; sample_before_watch", "the call instruction")
    c.see(r"sample`sample_helper \+ \d+ at sample\.c", "sample_helper's instructions")
    c.see(r"retq", "sample_helper's return")
    c.see(r"callq\s+0x[0-9a-f]+\s+; sample_helper", "the call of sample_helper")
    c.see(r"sample`sample_break_here \+ \d+", "instructions of sample_break_here")


def thread_trace(cfg):
    s = harness.Session(cfg, "lldb", "launch", "thread-trace", args=["basic"])
    s.run([
        "breakpoint set -n sample_break_here",
        "START",
        "register read pc",
        raw("jLLDBTraceSupported"),
        "thread trace start",
        "breakpoint set -n sample_before_watch",
        "continue",
        "thread trace dump instructions -f -c 1",
        "register read pc",
        "thread trace dump instructions -c 100",
        "thread trace dump function-calls",
        "thread trace dump info",
        raw('jLLDBTraceGetState:{"type":"intel-pt"}'),
        # Bad requests: each gets LLDB's error and the session goes on.
        raw('jLLDBTraceStart:{"enableTsc":false,"iptTraceSize":4096,"tids":null,'
            '"type":"magic-trace"}'),
        raw('jLLDBTraceStart:{"enableTsc":false,"iptTraceSize":5000,"psbPeriod":null,'
            '"tids":null,"type":"intel-pt"}'),
        raw('jLLDBTraceStop:{"tids":[1],"type":"intel-pt"}'),
        raw('jLLDBTraceGetBinaryData:{"cpuId":null,"kind":"nonsense","tid":null,'
            '"type":"intel-pt"}'),
        # Single steps from the breakpoint are traced, the instruction at it first.
        "thread step-inst",
        "thread step-inst",
        "thread trace dump instructions -c 2",
        "thread trace start",
        "thread trace stop",
        "next",
        "process kill",
    ])
    c = harness.Checker(s)
    first_pc = c.see(r"^\s+rip = 0x0*([0-9a-f]+)\s+sample`sample_break_here", "the pc at bp 1")
    c.see(r'response: \{"description":"Intel Processor Trace","name":"intel-pt"\}',
          "jLLDBTraceSupported")
    c.see(r"stop reason = breakpoint 2", "stopped at sample_before_watch")
    # The resume at breakpoint 1 starts the trace with the instruction at the breakpoint.
    c.see(r"\(lldb\) thread trace dump instructions -f -c 1")
    oldest = c.see(r"^\s+\d+: 0x0*([0-9a-f]+)\s", "the oldest traced instruction")
    c.require(first_pc and oldest and oldest.group(1) == first_pc.group(1),
              "the oldest traced instruction is breakpoint 1's address (%s, saw %s)"
              % (first_pc and first_pc.group(1), oldest and oldest.group(1)))
    bp2_pc = c.see(r"^\s+rip = 0x0*([0-9a-f]+)\s+sample`sample_before_watch", "the pc at bp 2")
    c.see(r"\(lldb\) thread trace dump instructions -c 100")
    check_traced_path(c)
    c.see(r"\(lldb\) thread trace dump function-calls")
    c.see(r"sample`sample_break_here", "call tree: caller")
    c.see(r"^\s+sample`sample_helper at sample\.c", "call tree: the callee nested")
    c.see(r"sample`sample_before_watch at sample\.c", "call tree: the later call")
    c.see(r"\(lldb\) thread trace dump info")
    c.see(r"Trace technology: intel-pt")
    c.see(r"Total number of trace items: \d+")
    c.see(r"Number of fatal errors: 0")
    c.see(r'"tracedThreads":\[\{"tid":\d+,"binaryData":\[\{"kind":"iptTrace","size":\d+\}\]\}\]',
          "GetState: one traced thread with its iptTrace size")
    c.see(r'"processBinaryData":\[\{"kind":"procfsCpuInfo","size":\d+\}\]')
    c.see(r'"usingCgroupFiltering":false')
    c.see(err_hex("Unsupported tracing type 'magic-trace'"))
    c.see(err_hex("The intel pt trace size must be a power of 2 greater than or equal to "
                  "4096 (2^12) bytes. It was 5000."))
    c.see(err_hex("Thread 1 not currently traced"))
    c.see(err_hex("Unsupported data kind 'nonsense' for the 'intel-pt' tracing technology"))
    c.see(r"\(lldb\) thread trace dump instructions -c 2")
    steps = c.see(r"^\s+\d+: 0x0*([0-9a-f]+)\s.*\n(?:.*\n)*?\s+\d+: 0x0*([0-9a-f]+)\s",
                  "the two stepped instructions, newest first")
    c.require(bp2_pc and steps and steps.group(2) == bp2_pc.group(1),
              "the first stepped instruction is breakpoint 2's address (%s, saw %s)"
              % (bp2_pc and bp2_pc.group(1), steps and steps.group(2)))
    c.see(r"\(lldb\) thread trace start\s*\n.*error: Thread \d+ already traced",
          "tracing the thread twice")
    c.see(r"\(lldb\) next")
    c.see(r"stop reason = step over", "the session goes on")
    never(c, r"Got incomplete live trace data", "size mismatch between GetState and data")
    never(c, r"unknown cpu", "LLDB refused the cpu")
    return c


def process_trace(cfg):
    s = harness.Session(cfg, "lldb", "launch", "process-trace", args=["basic"])
    s.run([
        "breakpoint set -n sample_break_here",
        "START",
        "process trace start -c",
        raw('jLLDBTraceStart:{"disableCgroupTracing":false,"enableTsc":false,'
            '"iptTraceSize":8192,"perCpuTracing":false,"processBufferSizeLimit":4096,'
            '"psbPeriod":null,"tids":null,"type":"intel-pt"}'),
        "process trace start",
        "process trace start",
        "breakpoint set -n sample_before_watch",
        "continue",
        "thread trace dump instructions -c 100",
        "thread trace dump info",
        "process trace stop",
        raw('jLLDBTraceGetState:{"type":"intel-pt"}'),
        raw('jLLDBTraceStop:{"tids":null,"type":"intel-pt"}'),
        "process kill",
    ])
    c = harness.Checker(s)
    c.see(r"\(lldb\) process trace start -c\s*\n.*error: Per-cpu tracing needs the intel_pt "
          r"PMU", "per-cpu tracing refused by the software backend")
    c.see(err_hex("The process can't be traced because the process trace size limit has been "
                  "reached. Consider retracing with a higher limit."),
          "over the process buffer limit")
    c.see(r"\(lldb\) process trace start\s*\n\(lldb\) process trace start\s*\n"
          r".*error: Process currently traced\. Stop process tracing first",
          "a second process trace is refused")
    c.see(r"stop reason = breakpoint 2", "stopped at sample_before_watch")
    c.see(r"\(lldb\) thread trace dump instructions -c 100")
    check_traced_path(c)
    c.see(r"\(lldb\) thread trace dump info")
    c.see(r"Trace technology: intel-pt")
    c.see(r'response: \{"tracedThreads":\[\],', "after the stop no thread is traced")
    c.see(r"response: OK", "stopping everything when nothing is traced is fine")
    never(c, r"Got incomplete live trace data", "size mismatch between GetState and data")
    return c


def process_trace_threads(cfg):
    """Process tracing follows the threads created after it started: each is traced from its
    first instruction and listed by GetState."""
    s = harness.Session(cfg, "lldb", "launch", "process-trace-threads", args=["threads"])
    s.run([
        "breakpoint set -n run_threads",
        "START",
        "process trace start",
        "breakpoint set -n sample_threads_ready",
        "continue",
        "thread list",
        raw('jLLDBTraceGetState:{"type":"intel-pt"}'),
        "thread trace dump info 5",
        "thread trace dump function-calls 5",
        "process kill",
    ])
    c = harness.Checker(s)
    c.see(r"stop reason = breakpoint 2", "stopped in sample_threads_ready")
    tl = c.see(r"(?s)\(lldb\) thread list\n.*?(?=\(lldb\))", "thread list")
    listed = set(re.findall(r"thread #\d+: tid = (\d+)", tl.group(0))) if tl else set()
    c.require(len(listed) == 9, f"9 threads listed, saw {len(listed)}")
    state = c.see(r'response: \{"tracedThreads":\[.*', "GetState")
    traced = set(re.findall(r'"tid":(\d+)', state.group(0))) if state else set()
    c.require(traced == listed, f"every thread is traced: listed {sorted(listed)}, "
              f"traced {sorted(traced)}")
    c.see(r"\(lldb\) thread trace dump info 5")
    c.see(r"Total number of trace items: [1-9]\d*", "a new thread's trace decodes")
    c.see(r"Number of fatal errors: 0")
    c.see(r"\(lldb\) thread trace dump function-calls 5")
    c.see(r"^\[call tree #0\]\n\S+`__clone3? \+ \d+",
          "traced from its first instruction, in clone after the syscall")
    c.see(r"^\s+sample`thread_main at sample\.c", "then its start routine")
    c.see(r"^\s+sample`thread_block_here at sample\.c", "... calling thread_block_here")
    c.see(r"Process \d+ exited with status = 9", "killed (every thread reaped)")
    never(c, r"Got incomplete live trace data", "size mismatch between GetState and data")
    return c


def run_all(doc, scenarios):
    """Command line, then each (name, function of cfg returning a Checker); exit status."""
    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--server-path", required=True)
    ap.add_argument("--programs", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("-v", "--verbose", action="store_true")
    opts = ap.parse_args()
    harness.become_subreaper()
    cfg = harness.Config("ptstub", opts.server_path, opts.programs, opts.source, opts.verbose)
    failed = 0
    for name, scenario in scenarios:
        try:
            ok = scenario(cfg).report()
        except Exception as e:  # a server that never listened, a missing file
            print(f"[FAIL] {name}: {e}")
            ok = False
        harness.kill_descendants()
        failed += not ok
    if not failed and not opts.verbose:
        shutil.rmtree(cfg.workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run_all(__doc__, [("lldb-thread-trace", thread_trace),
                               ("lldb-process-trace", process_trace),
                               ("lldb-process-trace-threads", process_trace_threads)]))
