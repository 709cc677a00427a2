#!/usr/bin/env python3
"""LLDB's `trace save` of a trace ptstub served: lldb-19 traces the sample program between two
breakpoints through LLDB_DEBUGSERVER_PATH=ptstub, saves the bundle, and asks the server for
jLLDBTraceGetState. The saved thread trace must be exactly the size the server announced,
start at a PSB, and (where lldb-22 is present: $LLDB22, lldb-22 in PATH, /opt/lldb22) reload
with `trace load` into the same instructions LLDB showed live.
Usage: test_trace_save.py PTSTUB SAMPLE_PROGRAM"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ptstub, prog = sys.argv[1], sys.argv[2]
failures = []
PSB = bytes([0x02, 0x82] * 8)


def check(cond, what, detail=""):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
        if detail:
            print(detail[-3000:])


def lldb(exe, cmds, env=None):
    args = [exe, "-b"]
    for c in cmds:
        args += ["-o", c]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env,
                       stdin=subprocess.DEVNULL)
    return r.stdout + r.stderr


def dumped_addresses(out):
    return re.findall(r"^\s+\d+: (0x[0-9a-f]+)\s", out, re.M)


def find_lldb22():
    for cand in (os.environ.get("LLDB22"), shutil.which("lldb-22"), "/opt/lldb22/usr/bin/lldb-22"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


with tempfile.TemporaryDirectory() as d:
    save = os.path.join(d, "save")
    env = dict(os.environ, LLDB_DEBUGSERVER_PATH=ptstub)
    out = lldb("lldb-19", [f"target create {prog}", "b sample_break_here", "run",
                           "thread trace start", "b sample_before_watch", "continue",
                           "thread trace dump instructions -c 40", f"trace save {save}",
                           # `packet send` sends the text as is: the JSON's last } goes
                           # out escaped (}] is } on the wire), as the protocol wants.
                           "process plugin packet send 'jLLDBTraceGetState:{\"type\":\"intel-pt\"}]'",
                           "kill"], env)
    live = dumped_addresses(out)
    check(len(live) >= 20, f"lldb-19 dumped the live trace ({len(live)} instructions)", out)
    m = re.search(r"response: (\[|\{.*)", out)
    state = json.loads(m.group(1)) if m else {}
    sizes = {t["tid"]: b["size"] for t in state.get("tracedThreads", [])
             for b in t.get("binaryData", []) if b.get("kind") == "iptTrace"}
    check(len(sizes) == 1, f"GetState lists the traced thread: {sizes}", out)
    bundle_json = os.path.join(save, "trace.json")
    check(os.path.exists(bundle_json), "trace save wrote trace.json", out)
    if os.path.exists(bundle_json) and sizes:
        with open(bundle_json) as f:
            desc = json.load(f)
        threads = desc["processes"][0]["threads"]
        check(len(threads) == 1, "the bundle holds one traced thread")
        path = os.path.join(save, threads[0]["iptTrace"])
        with open(path, "rb") as f:
            data = f.read()
        tid = threads[0]["tid"]
        check(len(data) == sizes.get(tid), f"saved trace is the served size ({len(data)} bytes)")
        check(data.startswith(PSB), "saved trace starts at a PSB")
        check(desc["cpuInfo"]["vendor"] == "GenuineIntel", "cpu info in the bundle")
        lldb22 = find_lldb22()
        if not lldb22:
            print("skip lldb-22 trace load (no lldb-22: see README)")
        else:
            again = lldb(lldb22, [f"trace load {bundle_json}",
                                  "thread trace dump instructions -c 40"])
            check(dumped_addresses(again) == live, "lldb-22 trace load: the same instructions",
                  again)

print("trace_save: " + ("all checks passed" if not failures else f"{len(failures)} failed"))
sys.exit(1 if failures else 0)
