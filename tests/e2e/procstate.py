# procstate.py PID: prints "e2e-proc PID: State=X TracerPid=N" or "e2e-proc PID: gone".
# Debugger scripts run it (gdb `shell`, lldb `script`) right after detach or kill, so the test
# sees the process as it is while the debugger and server are still around.
import sys
import time


def state(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return None
    return fields["State"].split()[0], fields["TracerPid"].strip()


def main():
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
