#!/usr/bin/env python3
"""--core-on-crash: a program that dies of SIGSEGV under ptstub (driven by gdb) leaves a skinny
core in the directory given, before the crash is reported; gdb and lldb-19 open that core and
show the faulting frame. Usage: test_core_on_crash.py PTSTUB SAMPLE_PROGRAM"""
import glob
import os
import subprocess
import sys
import tempfile

ptstub, prog = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(cmd, timeout=90):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


with tempfile.TemporaryDirectory() as d:
    live = run(["gdb", "-batch", "-nx",
                "-ex", f"target remote | {ptstub} --core-on-crash {d} - {prog} segv",
                "-ex", "continue", "-ex", "kill"])
    check("SIGSEGV" in live.stdout, "gdb saw the SIGSEGV through ptstub")
    cores = glob.glob(os.path.join(d, "core.*.SEGV"))
    check(len(cores) == 1, f"one core written in the crash directory: {os.listdir(d)}")
    if cores:
        core = cores[0]
        with open(core, "rb") as f:
            check(f.read(4) == b"\x7fELF", "the core is an ELF file")
        g = run(["gdb", "-batch", "-nx", prog, core, "-ex", "bt", "-ex", "print global_counter"])
        check("Program terminated with signal SIGSEGV" in g.stdout, "gdb: terminated with SIGSEGV")
        check("sample_segv_inner (bad=0x10)" in g.stdout, "gdb: faulting frame and its argument")
        check("sample_segv_middle" in g.stdout, "gdb: caller frame")
        l = run(["lldb-19", "-b", "-c", core, prog, "-o", "bt"])
        check("sample_segv_inner" in l.stdout, "lldb-19: faulting frame")
        check("SIGSEGV" in l.stdout, "lldb-19: stop reason SIGSEGV")

print("core_on_crash: " + ("all checks passed" if not failures else f"{len(failures)} checks failed"))
sys.exit(1 if failures else 0)
