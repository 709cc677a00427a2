#!/usr/bin/env python3
"""--trace-backend: forcing the hardware backend on a machine without the intel_pt PMU gives
LLDB the clear error (and the session goes on); forcing the software one traces. LLDB passes
the option through LLDB_DEBUGSERVER_EXTRA_ARG_1, as it does for lldb-server.
Usage: test_trace_backend.py PTSTUB SAMPLE_PROGRAM"""
import os
import subprocess
import sys
import tempfile

ptstub, prog = sys.argv[1], sys.argv[2]
failures = []
has_pmu = os.path.exists("/sys/bus/event_source/devices/intel_pt")


def check(cond, what, detail=""):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
        print(detail[-2000:])


def lldb_with(backend):
    env = dict(os.environ, LLDB_DEBUGSERVER_PATH=ptstub,
               LLDB_DEBUGSERVER_EXTRA_ARG_1="--trace-backend=" + backend)
    # A sourced script with stop-on-error off goes on after the refused command, as a
    # person at the prompt would.
    with tempfile.NamedTemporaryFile("w", suffix=".lldb") as script:
        script.write("\n".join(["b sample_break_here", "run", "thread trace start", "next",
                                "thread trace dump instructions -c 3",
                                "frame variable doubled", "kill"]) + "\n")
        script.flush()
        args = ["lldb-19", "-b", "-o", "settings set interpreter.stop-command-source-on-error false",
                "-o", "command source -s 0 " + script.name, prog]
        r = subprocess.run(args, capture_output=True, text=True, timeout=90, env=env,
                           stdin=subprocess.DEVNULL)
    return r.stdout + r.stderr


if has_pmu:
    print("skip the hardware-refusal check: this machine has an intel_pt PMU")
else:
    out = lldb_with("hw")
    check("intel_pt PMU not found" in out and "use the software backend" in out,
          "hw forced without a PMU: LLDB shows the reason", out)
    check("(int) doubled =" in out, "the session goes on after the refusal", out)
out = lldb_with("sw")
check("error:" not in out.split("thread trace start", 1)[1].split("\n(lldb)", 1)[0],
      "sw forced: tracing starts", out)
check("sample`sample_break_here" in out and "no more data" not in out.split("dump instructions")[1][:40],
      "sw forced: the traced instructions are dumped", out)
print("trace_backend: " + ("all checks passed" if not failures else f"{len(failures)} failed"))
sys.exit(1 if failures else 0)
