#!/usr/bin/env python3
# tests/unit/test_core_debuggers.py — opens the cores test_core saved of core_threads (stopped
# at a breakpoint, 3 threads) in gdb and lldb-19 and checks frames, locals, globals in dirty and
# clean pages, a heap value and a shared-library value against what the program holds.
import os
import shutil
import subprocess
import sys
import tempfile

FAILS = []


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=120)
    return p.stdout


def expect(what, out, needles):
    for n in needles:
        if n not in out:
            FAILS.append(f'{what}: "{n}" not in output')
    if any(f.startswith(what) for f in FAILS):
        print(f'--- {what} output ---\n{out}\n---')


def gdb_checks(prog, core, style):
    out = run(['gdb', '-nx', '-batch', prog, core,
               '-ex', 'thread apply all bt full',
               '-ex', 'print/x core_dirty_global', '-ex', 'print/x core_clean_global',
               '-ex', 'print/x core_heap->magic', '-ex', 'print ptsample_lib_calls'])
    needles = ['core_stop_here', 'in main', 'core_spin', 'core_worker', 'main_local = 4242',
               'spin_local = 1001', 'spin_local = 1002', 'worker_id = 2', '= 0x5ca1ab1e']
    if style != 'stacks':
        needles += ['= 0xfeedface', '= 0xabcdef12', '$4 = 7']
    expect(f'gdb {style}', out, needles)


def lldb_checks(prog, core, style):
    out = run(['lldb-19', '-b', '-c', core, prog,
               '-o', 'thread backtrace all',
               '-o', 'thread select 1', '-o', 'frame select 1', '-o', 'frame variable main_local',
               '-o', 'thread select 2', '-o', 'frame variable spin_local',
               '-o', 'target variable core_dirty_global core_clean_global ptsample_lib_calls',
               '-o', 'expression -f x -- core_heap->magic'])
    needles = ['core_stop_here', 'main', 'core_spin', 'core_worker', 'main_local = 4242',
               'spin_local = 100']
    if style != 'stacks':
        needles += ['core_dirty_global = 4277009102', 'core_clean_global = 1554098974',
                    'ptsample_lib_calls = 7', 'abcdef12']
    expect(f'lldb {style}', out, needles)


def main():
    helper, prog = sys.argv[1], sys.argv[2]
    if not shutil.which('gdb') or not shutil.which('lldb-19'):
        print('gdb or lldb-19 missing: skipped')
        return 77
    outdir = tempfile.mkdtemp(prefix='ptstub-core-')
    try:
        saved = subprocess.run([helper, prog, outdir], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=120)
        print(saved.stdout)
        if saved.returncode:
            print('test_core failed; no debugger checks')
            return 1
        for style in ('modified-memory', 'stacks', 'full'):
            core = os.path.join(outdir, 'core.' + style)
            gdb_checks(prog, core, style)
            lldb_checks(prog, core, style)
        # 33000 modified runs: more than 65535 program headers, so PN_XNUM.
        saved = subprocess.run([helper, prog, outdir, '33000'], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=120)
        print(saved.stdout)
        if saved.returncode:
            FAILS.append('test_core with PN_XNUM failed')
        else:
            core = os.path.join(outdir, 'core.sparse')
            gdb_checks(prog, core, 'sparse')
            lldb_checks(prog, core, 'sparse')
    finally:
        shutil.rmtree(outdir, ignore_errors=True)
    for f in FAILS:
        print('FAIL', f)
    return 1 if FAILS else 0


if __name__ == '__main__':
    sys.exit(main())
