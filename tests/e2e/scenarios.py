# scenarios.py: what the end-to-end tests do with gdb and lldb-19 against the sample program
# (tests/programs/sample.c), and the lines each debugger must print. Each scenario runs one
# debugger session on one transport and returns a harness.Checker with its verdict.
import os
import subprocess
import time

from harness import Checker, Session, TIMEOUT

HEX = r"0x[0-9a-f]+"


def where(cfg, marker):
    """`sample.c:NN` for a LINE: marker (gdb and lldb both print file:line)."""
    return rf"sample\.c:{cfg.lines[marker]}\b"


# --- group "break": breakpoints in the executable and a library, bt through libc, print,
#     next/step/finish/stepi, a software watchpoint ------------------------------------------

def break_gdb(cfg, transport):
    s = Session(cfg, "gdb", transport, "break", args=["basic", "3"]).run([
        "break sample_break_here", "break ptsample_lib_add", "break sample_compare",
        "START",
        "bt",
        "info sharedlibrary",
        "continue",
        "bt",
        "delete 3",
        "continue",
        "print *p", "print *heap_value", "print global_counter", "print global_bss_value",
        "print global_point",
        "up", "print local_value", "down",
        "next", "step", "bt 1", "finish",
        "print/x $pc", "stepi", "print/x $pc",
        "break sample_before_watch", "continue",
        "set can-use-hw-watchpoints 0",
        "watch watched_global",
        "continue",
        "delete",
        f"tbreak sample.c:{cfg.lines['fib_leaf']}",
        "continue",
        "bt",
        "continue",
    ])
    c = Checker(s)
    c.see(r"Breakpoint 2, ptsample_lib_add \(a=10, b=20\) at .*ptsample_lib\.c:\d+",
          "stopped in the shared library")
    c.see(r"#0\s+ptsample_lib_add \(a=10, b=20\)")
    c.see(r"#1\s+" + HEX + r" in run_basic \(exit_code=3\) at .*sample\.c:\d+")
    c.see(r"#2\s+" + HEX + r" in main \(")
    c.see(r"libptsample\.so", "info sharedlibrary lists libptsample.so")
    c.see(r"Breakpoint 3, sample_compare \(a=" + HEX)
    c.see(r"#0\s+sample_compare \(")
    c.see(r"#1\s+" + HEX + r" in \S+ \(.*(msort|qsort)|#1\s+" + HEX + r" in \S+ .*libc\.so",
          "frame #1 inside libc (qsort)")
    c.see(r"in run_basic \(exit_code=3\)", "bt through libc reaches run_basic")
    c.see(r"in main \(", "bt through libc reaches main")
    c.see(r"Breakpoint 1, sample_break_here \(p=" + HEX + r", heap_value=" + HEX + r"\) at .*"
          + where(cfg, "break_first"))
    c.see(r"\$1 = \{x = 10, y = 20, label = " + HEX + r" \"local\"\}", "print *p (struct)")
    c.see(r"\$2 = 777", "print *heap_value (heap)")
    c.see(r"\$3 = 42", "print global_counter (.data)")
    c.see(r"\$4 = 0", "print global_bss_value (.bss)")
    c.see(r"\$5 = \{x = 3, y = 4, label = " + HEX + r" \"global\"\}", "print global_point")
    c.see(r"#1\s+" + HEX + r" in run_basic", "up")
    c.see(r"\$6 = 1264", "print local_value (local, in frame 1)")
    c.see(rf"^{cfg.lines['break_call']}\s+doubled \+= sample_helper", "next")
    c.see(r"sample_helper \(value=20\) at .*" + where(cfg, "helper_body"), "step into")
    c.see(r"#0\s+sample_helper \(value=20\)")
    c.see(r"Run till exit|sample_break_here \(p=", "finish")
    c.see(r"Value returned is \$7 = 61", "finish value")
    pc1 = c.see(r"\$8 = (" + HEX + ")")
    pc2 = c.see(r"\$9 = (" + HEX + ")")
    if pc1 and pc2:
        c.require(int(pc2.group(1), 16) > int(pc1.group(1), 16),
                  f"stepi moved pc forward ({pc1.group(1)} -> {pc2.group(1)})")
    c.see(r"Breakpoint 4, sample_before_watch \(\)")
    c.see(r"Watchpoint 5: watched_global", "software watchpoint set")
    c.see(r"Old value = 0\s+New value = 7", "watchpoint fired on the write")
    c.see(r"run_basic \(exit_code=3\) at .*sample\.c:\d+")
    c.see(r"Temporary breakpoint 6, fib \(n=1\) at .*" + where(cfg, "fib_leaf"))
    depth = c.see(r"(?s)#0\s+fib \(n=1\).*?in run_basic")
    if depth:
        c.require(depth.group(0).count(" in fib (n=") == 9,
                  "bt at the deepest fib shows fib(10)..fib(2) above fib(1)")
    c.see(r"\[Inferior 1 \(process \d+\) exited with code 03\]", "exit code 3")
    c.see_anywhere(r"sample: fib\(10\)=55 sorted=1,3,5,9 local=1264 lib=libptsample bss=858",
                   "the program's own output")
    return c


def break_lldb(cfg, transport):
    s = Session(cfg, "lldb", transport, "break", args=["basic", "3"]).run([
        "breakpoint set -n sample_break_here", "breakpoint set -n ptsample_lib_add",
        "breakpoint set -n sample_compare",
        "START",
        "bt",
        "image list libptsample.so",
        "continue",
        "bt",
        "breakpoint delete 3",
        "continue",
        "frame variable *p", "frame variable *heap_value",
        "target variable global_counter global_bss_value global_point",
        "up", "frame variable local_value", "down",
        "next", "step", "finish",
        "register read pc", "stepi", "register read pc",
        "breakpoint set -n sample_before_watch", "continue",
        "breakpoint delete",
        f"breakpoint set -f sample.c -l {cfg.lines['fib_leaf']} -o true",
        "continue",
        "bt",
        "watchpoint set variable watched_global",
        "continue",
        # If the watchpoint did fire, go on to the exit.
        "script if lldb.process.GetState() == lldb.eStateStopped: "
        "lldb.debugger.HandleCommand('continue')",
    ])
    c = Checker(s)
    c.see(r"stop reason = breakpoint 2\.1", "stopped at the library breakpoint")
    c.see(r"frame #0: " + HEX + r" libptsample\.so`ptsample_lib_add\(a=10, b=20\)")
    c.see(r"frame #1: " + HEX + r" sample`run_basic\(exit_code=3\) at sample\.c:\d+")
    c.see(r"frame #2: " + HEX + r" sample`main\(")
    c.see(r"libptsample\.so", "image list shows libptsample.so")
    c.see(r"stop reason = breakpoint 3\.1")
    c.see(r"frame #0: " + HEX + r" sample`sample_compare\(")
    c.see(r"frame #1: " + HEX + r" libc\.so\.6`", "frame #1 inside libc (qsort)")
    c.see(r"sample`run_basic\(exit_code=3\)", "bt through libc reaches run_basic")
    c.see(r"sample`main\(", "bt through libc reaches main")
    c.see(r"stop reason = breakpoint 1\.1")
    c.see(r"sample`sample_break_here\(p=" + HEX + r", heap_value=" + HEX + r"\) at "
          + where(cfg, "break_first"))
    c.see(r"\*p = \(x = 10, y = 20, label = \"local\"\)", "struct through a pointer")
    c.see(r"\(int\) \*heap_value = 777", "heap value")
    c.see(r"\(int\) global_counter = 42", "global in .data")
    c.see(r"\(long\) global_bss_value = 0", "global in .bss")
    c.see(r"global_point = \(x = 3, y = 4, label = \"global\"\)", "global struct")
    c.see(r"frame #1: " + HEX + r" sample`run_basic", "up")
    c.see(r"\(int\) local_value = 1264", "local in frame 1")
    c.see(r"stop reason = step over")
    c.see(r"sample`sample_break_here\(.*" + where(cfg, "break_call"), "next")
    c.see(r"stop reason = step in")
    c.see(r"sample`sample_helper\(value=20\) at " + where(cfg, "helper_body"), "step into")
    c.see(r"stop reason = step out", "finish")
    c.see(r"Return value: \(int\) \$\d+ = 61", "finish value")
    pc1 = c.see(r"rip = (" + HEX + ")")
    c.see(r"stop reason = instruction step into", "stepi")
    pc2 = c.see(r"rip = (" + HEX + ")")
    if pc1 and pc2:
        c.require(int(pc2.group(1), 16) > int(pc1.group(1), 16),
                  f"stepi moved pc forward ({pc1.group(1)} -> {pc2.group(1)})")
    c.see(r"stop reason = breakpoint 4\.1")
    c.see(r"sample`sample_before_watch")
    c.see(r"stop reason = one-shot breakpoint 5")
    c.see(r"sample`fib\(n=1\) at " + where(cfg, "fib_leaf"), "one-shot breakpoint in fib")
    depth = c.see(r"(?s)frame #0: \S+ sample`fib\(n=1\).*?sample`run_basic")
    if depth:
        c.require(depth.group(0).count("sample`fib(n=") == 10,
                  "bt at the deepest fib shows fib(10)..fib(1)")
    # Watchpoints in lldb are hardware ones, which never fire in this VM: accept either a
    # watchpoint that is set (and then may or may not fire) or a clear error.
    w = c.see(r"Watchpoint created|error: .*[Ww]atchpoint.*", "watchpoint set or refused")
    if w:
        fired = "stop reason = watchpoint" in s.transcript
        print(f"    note: {s.name} on {cfg.server}: lldb watchpoint: {w.group(0).strip()}"
              f" ({'fired' if fired else 'never fired'})")
    c.see(r"Process \d+ exited with status = 3 \(0x00000003\)", "exit status 3")
    c.see_anywhere(r"sample: fib\(10\)=55 sorted=1,3,5,9 local=1264 lib=libptsample bss=858",
                   "the program's own output")
    return c


# --- group "threads": 8 threads blocked in thread_block_here, listed, backtraced, switched --

def threads_gdb(cfg, transport):
    s = Session(cfg, "gdb", transport, "threads", args=["threads"]).run([
        "break sample_threads_ready",
        "START",
        "info threads",
        "thread apply all bt",
        "thread 3",
        "bt",
        "thread 1",
        "delete",
        "continue",
    ])
    c = Checker(s)
    c.see(r"Breakpoint 1, sample_threads_ready \(count=8\)")
    info = c.see(r"(?s)Id\s+Target Id\s+Frame.*?(?=\n[^ *\n]|\Z)", "info threads table")
    if info:
        rows = [l for l in info.group(0).splitlines()[1:] if l.strip()]
        c.require(len(rows) == 9, f"info threads lists 9 threads, saw {len(rows)}")
    indices = _thread_indices(s.transcript, r"thread_block_here \(index=(\d)\)")
    c.require(indices == set(range(8)),
              f"thread apply all bt shows thread_block_here(index=0..7), saw {sorted(indices)}")
    c.see(r"\[Switching to thread 3 ", "switch to thread 3")
    c.see(r"in thread_block_here \(index=\d\) at .*" + where(cfg, "thread_read"),
          "bt of thread 3")
    c.see(r"\[Inferior 1 \(process \d+\) exited normally\]")
    c.see_anywhere(r"sample: threads joined", "the program's own output")
    return c


def threads_lldb(cfg, transport):
    s = Session(cfg, "lldb", transport, "threads", args=["threads"]).run([
        "breakpoint set -n sample_threads_ready",
        "START",
        "thread list",
        "bt all",
        "thread select 3",
        "bt",
        "breakpoint delete",
        "continue",
    ])
    c = Checker(s)
    c.see(r"stop reason = breakpoint 1\.1")
    c.see(r"sample`sample_threads_ready\(count=8\)")
    tl = c.see(r"(?s)\(lldb\) thread list\n.*?(?=\(lldb\))", "thread list")
    if tl:
        rows = [l for l in tl.group(0).splitlines() if "thread #" in l]
        c.require(len(rows) == 9, f"thread list shows 9 threads, saw {len(rows)}")
    indices = _thread_indices(s.transcript, r"sample`thread_block_here\(index=(\d)\)")
    c.require(indices == set(range(8)),
              f"bt all shows thread_block_here(index=0..7), saw {sorted(indices)}")
    c.see(r"\(lldb\) thread select 3")
    c.see(r"^\* thread #3, name = ", "switched to thread 3")
    c.see(r"sample`thread_block_here\(index=\d\) at " + where(cfg, "thread_read"),
          "bt of thread 3")
    c.see(r"Process \d+ exited with status = 0")
    c.see_anywhere(r"sample: threads joined", "the program's own output")
    return c


def _thread_indices(text, regex):
    import re
    return {int(m.group(1)) for m in re.finditer(regex, text)}


# --- group "signals": SIGSEGV stops at the faulting line, SIGUSR1 passes to the handler,
#     exit code reported ---------------------------------------------------------------------

def segv_gdb(cfg, transport):
    s = Session(cfg, "gdb", transport, "segv", args=["segv"]).run(["START", "bt", "kill"])
    c = Checker(s)
    c.see(r"Program received signal SIGSEGV, Segmentation fault\.")
    c.see(r"sample_segv_inner \(bad=0x10\) at .*" + where(cfg, "segv"), "faulting function")
    c.see(rf"^{cfg.lines['segv']}\s+\*bad = 13;", "faulting line")
    c.see(r"#1\s+" + HEX + r" in sample_segv_middle \(bad=0x10\)")
    c.see(r"#2\s+" + HEX + r" in sample_segv_outer \(\)")
    c.see(r"#3\s+" + HEX + r" in main \(")
    return c


def segv_lldb(cfg, transport):
    s = Session(cfg, "lldb", transport, "segv", args=["segv"]).run(
        ["START", "bt", "process kill"])
    c = Checker(s)
    c.see(r"stop reason = signal SIGSEGV")
    c.see(r"sample`sample_segv_inner\(bad=0x0*10\) at " + where(cfg, "segv"))
    c.see(r"->\s+" + str(cfg.lines["segv"]) + r"\s+\*bad = 13;", "faulting line")
    c.see(r"frame #1: " + HEX + r" sample`sample_segv_middle\(bad=0x0*10\)")
    c.see(r"frame #2: " + HEX + r" sample`sample_segv_outer")
    c.see(r"frame #3: " + HEX + r" sample`main\(")
    return c


# The short signal scenarios differ only in arguments, commands and expected lines:
# name -> (sample args, {debugger: (commands after START, lines in order)}, line anywhere);
# commands that name START themselves run their first lines (breakpoints) before it.
SHORT_SCENARIOS = {
    "usr1": (["signal"], {
        "gdb": (["continue"], [r"Program received signal SIGUSR1, User defined signal 1\.",
                               r"\[Inferior 1 \(process \d+\) exited normally\]"]),
        "lldb": (["continue"], [r"stop reason = signal SIGUSR1",
                                r"Process \d+ exited with status = 0 "]),
    }, r"sample: SIGUSR1 handled"),
    # A vfork child runs through a breakpoint in the memory it shares with the debugged
    # parent: it must not die of the int3 (it is not followed), and the parent's breakpoints
    # must be back once it is gone.
    "vfork": (["vfork"], {
        "gdb": (["break sample_vfork_child_work", "break sample_after_vfork", "START",
                 "print status", "continue"],
                [r"Breakpoint 2, sample_after_vfork \(status=1792\)",
                 r"\[Inferior 1 \(process \d+\) exited normally\]"]),
        "lldb": (["breakpoint set -n sample_vfork_child_work",
                  "breakpoint set -n sample_after_vfork", "START", "frame variable status",
                  "continue"],
                 [r"stop reason = breakpoint 2\.1",
                  r"\(int\) status = 1792",
                  r"Process \d+ exited with status = 0 "]),
    }, r"sample: vfork child exited with 7"),
    "exit": (["exit", "5"], {
        "gdb": ([], [r"\[Inferior 1 \(process \d+\) exited with code 05\]"]),
        "lldb": ([], [r"Process \d+ exited with status = 5 \(0x00000005\)"]),
    }, r"sample: exiting"),
}


def short_scenario(name, debugger):
    """A scenario function for SHORT_SCENARIOS[name] with one debugger."""
    args, by_debugger, anywhere = SHORT_SCENARIOS[name]
    commands, ordered = by_debugger[debugger]

    def scenario(cfg, transport):
        script = commands if "START" in commands else ["START"] + commands
        s = Session(cfg, debugger, transport, name, args=args).run(script)
        c = Checker(s)
        for regex in ordered:
            c.see(regex)
        c.see_anywhere(anywhere, "the program's own line")
        return c
    scenario.__name__ = f"{name}_{debugger}"
    return scenario


# --- group "process": attach to a sleeping process, inspect, detach (it keeps running);
#     kill ---------------------------------------------------------------------------------

def start_sleeper(cfg):
    """Starts `sample sleep` and waits until it has printed its pid line."""
    log = os.path.join(cfg.workdir, f"sleeper-{time.time_ns()}.log")
    out = open(log, "wb")
    proc = subprocess.Popen([cfg.sample, "sleep"], stdin=subprocess.DEVNULL, stdout=out,
                            stderr=subprocess.STDOUT)
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        with open(log) as f:
            if "mode sleep" in f.read():
                break
        time.sleep(0.02)
    time.sleep(0.1)  # into sample_sleep_loop
    return proc


def attach_gdb(cfg, transport):
    sleeper = start_sleeper(cfg)
    pid = sleeper.pid
    s = Session(cfg, "gdb", transport, "attach", attach_pid=pid).run([
        "START", "info inferiors", "bt", "print global_counter > 42", "print sample_sleep_loop",
        "detach", f"shell {_procstate(pid)}",
    ])
    c = Checker(s)
    c.see(rf"^\*\s+1\s+process {pid}\b", "attached (info inferiors)")
    c.see(r"in sample_sleep_loop \(\) at .*" + where(cfg, "sleep_call"),
          "bt shows the sleeping loop")
    c.see(r"in main \(")
    c.see(r"\$1 = 1", "global_counter has been counting")
    c.see(r"\$2 = \{void \(void\)\} " + HEX + r" <sample_sleep_loop>")
    c.see(rf"\[Inferior 1 \(process {pid}\) detached\]", "detach")
    c.see(rf"e2e-proc {pid}: State=[SR] TracerPid=0", "still running, untraced, after detach")
    c.require(sleeper.poll() is None, "the sleeper is still alive after the session")
    sleeper.kill()
    sleeper.wait()
    return c


def attach_lldb(cfg, transport):
    sleeper = start_sleeper(cfg)
    pid = sleeper.pid
    s = Session(cfg, "lldb", transport, "attach", attach_pid=pid).run([
        "START", "bt", "target variable global_counter", "process detach",
        f"platform shell {_procstate(pid)}",
    ])
    c = Checker(s)
    c.see(rf"Process {pid} stopped", "attached")
    c.see(r"sample`sample_sleep_loop at " + where(cfg, "sleep_call"),
          "bt shows the sleeping loop")
    c.see(r"sample`main\(")
    m = c.see(r"\(int\) global_counter = (\d+)")
    if m:
        c.require(int(m.group(1)) > 42, "global_counter has been counting")
    c.see(rf"Process {pid} detached", "detach")
    c.see(rf"e2e-proc {pid}: State=[SR] TracerPid=0", "still running, untraced, after detach")
    c.require(sleeper.poll() is None, "the sleeper is still alive after the session")
    sleeper.kill()
    sleeper.wait()
    return c


def kill_gdb(cfg, transport):
    s = Session(cfg, "gdb", transport, "kill", args=["basic"]).run([
        "break sample_break_here", "START", f"shell {_procstate_all(cfg)}", "kill",
        f"shell {_procstate_all(cfg)} --gone"])
    c = Checker(s)
    c.see(r"Breakpoint 1, sample_break_here \(")
    c.see(r"e2e-procs: \d+=t$", "the stopped inferior, before kill")
    c.see(r"\[Inferior 1 \(process \d+\) killed\]", "killed (gdb names the process)")
    c.see(r"e2e-procs: none", "no sample process left after kill")
    return c


def kill_lldb(cfg, transport):
    s = Session(cfg, "lldb", transport, "kill", args=["basic"]).run([
        "breakpoint set -n sample_break_here", "START",
        f"platform shell {_procstate_all(cfg)}", "process kill",
        f"platform shell {_procstate_all(cfg)} --gone"])
    c = Checker(s)
    c.see(r"stop reason = breakpoint 1\.1")
    c.see(r"e2e-procs: \d+=t$", "the stopped inferior, before kill")
    c.see(r"Process \d+ exited with status = 9 \(0x00000009\)", "killed")
    c.see(r"e2e-procs: none", "no sample process left after kill")
    return c


def _procstate(pid):
    from harness import PROCSTATE, PYTHON
    return f"{PYTHON} {PROCSTATE} {pid}"


def _procstate_all(cfg):
    """A shell command listing the sample processes below this harness."""
    from harness import PROCSTATE, PYTHON
    return f"{PYTHON} {PROCSTATE} --under {os.getpid()} --exe {cfg.sample}"


GROUPS = {
    "break": {"gdb": [break_gdb], "lldb": [break_lldb]},
    "threads": {"gdb": [threads_gdb], "lldb": [threads_lldb]},
    "signals": {d: [segv_gdb if d == "gdb" else segv_lldb, short_scenario("usr1", d),
                    short_scenario("exit", d), short_scenario("vfork", d)]
                for d in ("gdb", "lldb")},
    "process": {"gdb": [attach_gdb, kill_gdb], "lldb": [attach_lldb, kill_lldb]},
}
TRANSPORTS = {"gdb": ["pipe", "extended"], "lldb": ["launch", "remote"]}
