# procstate.py PID: prints "e2e-proc PID: State=X TracerPid=N" or "e2e-proc PID: gone".
# procstate.py --under PID --exe PATH [--gone]: "e2e-procs: none" or "e2e-procs: PID=STATE ..." for the
# processes running PATH below PID. Debugger scripts run it right after detach or kill, so the
# test sees the processes as they are while the debugger and server are still around.
import os
import sys
import time


def state(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return None
    return fields["State"].split()[0], fields["TracerPid"].strip()


def descendants(root):
    parent = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        parent[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
    found, frontier = [], [root]
    while frontier:
        kids = [c for c, p in parent.items() if p == frontier[-1]]
        frontier.pop()
        found.extend(kids)
        frontier.extend(kids)
    return found


def running(root, exe):
    """pid -> state of the live (not zombie) processes running exe below root."""
    live = {}
    for pid in descendants(root):
        try:
            path = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        st = state(pid)
        if path == exe and st and st[0] != "Z":
            live[pid] = st[0]
    return live


def main():
    if sys.argv[1] == "--under":
        root, exe = int(sys.argv[2]), os.path.realpath(sys.argv[4])
        deadline = time.time() + (2 if "--gone" in sys.argv else 0)
        live = running(root, exe)
        while live and time.time() < deadline:  # with --gone: give a kill time to land
            time.sleep(0.05)
            live = running(root, exe)
        listing = " ".join(f"{p}={s}" for p, s in sorted(live.items()))
        print(f"e2e-procs: {listing or 'none'}", flush=True)
        return
    pid = int(sys.argv[1])
    # A killed process may take a moment to be reaped; a detached one to be resumed.
    deadline = time.time() + 2
    st = state(pid)
    while st and st[0] in ("Z", "t", "T") and time.time() < deadline:
        time.sleep(0.05)
        st = state(pid)
    if st is None:
        print(f"e2e-proc {pid}: gone", flush=True)
    else:
        print(f"e2e-proc {pid}: State={st[0]} TracerPid={st[1]}", flush=True)


if __name__ == "__main__":
    main()
