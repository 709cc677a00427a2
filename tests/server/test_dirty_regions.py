#!/usr/bin/env python3
"""Dirty pages as LLDB 19 sees them through ptstub: the program writes a known set of pages
(3 of 8 in a small mapping, 100,000 scattered pages in a 4 GiB mapping) and reads others;
SBMemoryRegionInfo's dirty-page lists must hold exactly the written pages, and every reply
must stay bounded (a large mapping comes back as several adjacent regions).
Usage: test_dirty_regions.py PTSTUB DIRTY_PAGES_PROGRAM"""
import os
import re
import subprocess
import sys

# Debian installs LLDB's Python module under llvm-19's own tree; lldb-19 -P says where.
sys.path.insert(0, subprocess.run(["lldb-19", "-P"], capture_output=True, text=True).stdout.strip())
import lldb  # noqa: E402

ptstub, prog = sys.argv[1], sys.argv[2]
os.environ["LLDB_DEBUGSERVER_PATH"] = ptstub
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def dirty_pages_in(process, start, end):
    """Walk the regions covering [start, end); return (dirty pages, number of regions)."""
    pages, regions, addr = [], 0, start
    while addr < end:
        info = lldb.SBMemoryRegionInfo()
        err = process.GetMemoryRegionInfo(addr, info)
        if err.Fail():
            raise RuntimeError(f"region at {addr:#x}: {err}")
        regions += 1
        n = info.GetNumDirtyPages()
        pages += [info.GetDirtyPageAddressAtIndex(i) for i in range(n)]
        addr = info.GetRegionEnd()
    return pages, regions


lldb.SBDebugger.Initialize()
dbg = lldb.SBDebugger.Create()
dbg.SetAsync(False)
target = dbg.CreateTarget(prog)
target.BreakpointCreateByName("dirty_ready")
out_path = f"/tmp/dirty_pages_out.{os.getpid()}"
launch = lldb.SBLaunchInfo([])
launch.AddOpenFileAction(1, out_path, False, True)
err = lldb.SBError()
process = target.Launch(launch, err)
check(err.Success() and process.GetState() == lldb.eStateStopped, f"stopped at dirty_ready ({err})")
with open(out_path) as f:
    m = re.search(r"small (0x[0-9a-f]+) big (0x[0-9a-f]+) page (\d+)", f.read())
os.unlink(out_path)
small, big, page = int(m.group(1), 16), int(m.group(2), 16), int(m.group(3))

info = lldb.SBMemoryRegionInfo()
process.GetMemoryRegionInfo(small, info)
# The kernel may merge the 8-page mapping with a neighbour: look at its own pages only.
got = [info.GetDirtyPageAddressAtIndex(i) for i in range(info.GetNumDirtyPages())]
got = [a for a in got if small <= a < small + 8 * page]
want = [small + k * page for k in (1, 3, 4)]
check(info.GetPageSize() == page, f"page size from qHostInfo: {info.GetPageSize()}")
check(got == want, f"small mapping: written pages exactly ({[hex(a) for a in got]})")

got, regions = dirty_pages_in(process, big, big + (4 << 30))
want = [big + i * 10 * page for i in range(100000)]
check(len(got) == len(want), f"4 GiB mapping: {len(got)} dirty pages, want {len(want)}")
check(got == want, "4 GiB mapping: the written pages exactly, in order")
check(regions > 1, f"4 GiB mapping reported in {regions} bounded pieces")

stack = process.GetSelectedThread().GetFrameAtIndex(0).GetSP()
process.GetMemoryRegionInfo(stack, info)
check(info.GetNumDirtyPages() > 0, "the stack has dirty pages")
process.Kill()
lldb.SBDebugger.Terminate()
print("dirty_regions: " + ("all checks passed" if not failures else f"{len(failures)} failed"))
sys.exit(1 if failures else 0)
