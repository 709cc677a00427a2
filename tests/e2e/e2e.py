# e2e.py: runs end-to-end scenarios (scenarios.py) with a real debugger against a debug server
# and prints a verdict per session; exit status 0 only if every session passed.
#   e2e.py --server ptstub --server-path build/server/ptstub --programs build/tests/programs \
#          --source tests/programs --debugger gdb --group break [--transport pipe] [-v]
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import scenarios  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--server", choices=["ptstub", "gdbserver", "lldb-server"], required=True)
    ap.add_argument("--server-path", help="the server binary (default: the peer's)")
    ap.add_argument("--programs", required=True, help="build dir of tests/programs")
    ap.add_argument("--source", required=True, help="source dir of tests/programs")
    ap.add_argument("--debugger", choices=["gdb", "lldb"], required=True)
    ap.add_argument("--group", choices=sorted(scenarios.GROUPS), action="append",
                    help="scenario group (repeatable; default all)")
    ap.add_argument("--transport", action="append", help="only these transports")
    ap.add_argument("--only", action="append", help="only scenarios with these names")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every transcript")
    ap.add_argument("--packets", action="store_true",
                    help="log packets (gdb: into the transcript; lldb: NAME.packets files)")
    opts = ap.parse_args()
    if opts.server == "ptstub" and not opts.server_path:
        ap.error("--server ptstub needs --server-path")

    harness.become_subreaper()
    cfg = harness.Config(opts.server, opts.server_path, opts.programs, opts.source,
                         opts.verbose, opts.packets)
    print(f"e2e: {opts.debugger} against {cfg.server} ({cfg.server_path}); files in "
          f"{cfg.workdir}")
    passed = failed = 0
    for group in opts.group or sorted(scenarios.GROUPS):
        for scenario in scenarios.GROUPS[group][opts.debugger]:
            if opts.only and not any(o in scenario.__name__ for o in opts.only):
                continue
            for transport in opts.transport or scenarios.TRANSPORTS[opts.debugger]:
                try:
                    ok = scenario(cfg, transport).report()
                except Exception as e:  # a server that never listened, a missing file
                    print(f"[FAIL] {opts.debugger}-{transport}-{scenario.__name__}: {e}")
                    ok = False
                left = harness.kill_descendants()
                if left and opts.verbose:
                    print(f"    (killed {left} leftover processes)")
                passed += ok
                failed += not ok
    print(f"e2e: {passed} passed, {failed} failed")
    if failed == 0 and not (opts.packets or opts.verbose):
        shutil.rmtree(cfg.workdir, ignore_errors=True)  # kept only when there is something to read
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
