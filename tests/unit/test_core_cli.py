#!/usr/bin/env python3
# tests/unit/test_core_cli.py — `ptstub save-core` on a running copy of core_threads, then
# `ptstub core-info`: the image list and build-ids match the files, and once the executable on
# disk is replaced, core-info warns that it no longer matches.
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    ptstub, prog = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix='ptstub-core-cli-')
    exe = os.path.join(work, 'core_threads')
    shutil.copy(prog, exe)
    child = subprocess.Popen([exe], stdout=subprocess.PIPE, text=True)
    fails = []
    try:
        if not child.stdout.readline().startswith('ready'):
            fails.append('core_threads did not start')
            return 1
        core = os.path.join(work, 'core')
        p = subprocess.run([ptstub, 'save-core', '--pid', str(child.pid), '--style', 'stacks',
                            '-o', core], stderr=subprocess.PIPE, text=True, timeout=60)
        if p.returncode or not os.path.exists(core):
            fails.append(f'save-core failed: {p.stderr}')
            return 1
        bad = subprocess.run([ptstub, 'save-core', '--pid', str(child.pid), '--style', 'x',
                              '-o', core + '2'], stderr=subprocess.PIPE, text=True)
        if bad.returncode == 0 or 'unknown style' not in bad.stderr:
            fails.append('an unknown style was accepted')
        info = subprocess.run([ptstub, 'core-info', core], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        print(info.stdout, info.stderr)
        lines = info.stdout.splitlines()
        if sum(1 for ln in lines if ln.startswith('thread ')) != 3:
            fails.append('core-info does not list 3 threads')
        main_line = [ln for ln in lines if ln.endswith(' ' + exe)]
        if not main_line or ' M--X ' not in main_line[0]:
            fails.append('the executable is not listed as main and executing')
        if not any('libptsample.so' in ln for ln in lines):
            fails.append('libptsample.so is not listed')
        if 'warning' in info.stderr:
            fails.append('core-info warned about unchanged files')
        os.unlink(exe)
        shutil.copy('/bin/true', exe)
        info = subprocess.run([ptstub, 'core-info', core], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        if f'warning: {exe} no longer matches' not in info.stderr:
            fails.append(f'no warning for the replaced executable: {info.stderr}')
    finally:
        child.kill()
        child.wait()
        shutil.rmtree(work, ignore_errors=True)
        for f in fails:
            print('FAIL', f)
    return 1 if fails else 0


if __name__ == '__main__':
    sys.exit(main())
