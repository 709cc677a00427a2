"""bench/rtt_bench.py — packet round trip: 10,000 `p` register reads (LLDB style, with the
;thread: suffix) and 10,000 `qC` from a scripted client, over TCP and over a socketpair handed
to the server with --fd (as LLDB starts lldb-server), ptstub and lldb-server-19 attached to the
same process in turn (gdbserver over TCP for reference: it has no --fd).

Usage: python3 bench/rtt_bench.py BUILD_DIR   (BENCH_RUNS=n, BENCH_RTT_COUNT=n)"""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

COUNT = int(os.environ.get("BENCH_RTT_COUNT", "10000"))


def fd_server(kind, pid):
    """Server KIND attached to pid, talking over one end of a socketpair; returns the
    process and our end."""
    ours, theirs = socket.socketpair()
    fd = theirs.fileno()
    if kind == "ptstub":
        argv = [bl.ptstub_path(), "gdbserver", "--log-channels", "quiet", f"--fd={fd}",
                "--attach", str(pid)]
    else:
        argv = [bl.LLDB_SERVER, "gdbserver", f"--fd={fd}", "--attach", str(pid)]
    proc = subprocess.Popen(argv, pass_fds=(fd,), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    theirs.close()
    return proc, ours


def round_trips(sock, packet, count, server_pid):
    """(seconds per round trip, server CPU seconds per packet) of packet (no-ack mode: one
    packet out, one reply back)."""
    frame = bl.Remote.frame(packet)
    send, recv = sock.send, sock.recv
    cpu = bl.cpu_seconds(server_pid)
    t = time.perf_counter()
    for _ in range(count):
        send(frame)
        reply = recv(65536)
        while reply[-3:-2] != b"#":
            reply += recv(65536)
    t = time.perf_counter() - t
    return t / count, (bl.cpu_seconds(server_pid) - cpu) / count


def measure(kind, transport, pid, tid):
    """(p, qC) seconds per round trip for one fresh server."""
    if transport == "tcp":
        srv = bl.Server(kind, pid)
        sock = socket.create_connection(("127.0.0.1", srv.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        proc = srv.proc
    else:
        proc, sock = fd_server(kind, pid)
    r = bl.Remote(sock)
    r.start()
    r.ask("QThreadSuffixSupported")
    p = f"p0;thread:{tid:04x};"
    reply = r.ask(p)
    if kind == "gdbserver" and not reply:
        p_time = None  # gdbserver answers p only to clients that read its target.xml
    elif not reply or reply.startswith(b"E"):
        raise RuntimeError(f"{kind}: {p} fails")
    else:
        p_time = round_trips(sock, p, COUNT, proc.pid)
    r.ask("qC")
    result = (p_time, round_trips(sock, "qC", COUNT, proc.pid))
    r.send("D")
    sock.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return result


def main():
    heap = bl.program("heap")
    cases = [("tcp", ["ptstub", "lldb-server", "gdbserver"]),
             ("fd", ["ptstub", "lldb-server"])]
    results = {}
    with bl.Target([heap, "1"]) as target:
        for _ in range(bl.runs()):
            for transport, servers in cases:
                for kind in servers:
                    for packet, m in zip(("p", "qC"), measure(kind, transport, target.pid,
                                                              target.pid)):
                        results.setdefault((transport, kind, packet), []).append(m)

    bl.header(f"Packet round trip: {COUNT} of each, median of {bl.runs()} runs "
              "(µs; ratio = ptstub/peer, lower is better)")
    widths = (24, 10, 10, 12, 12, 10)
    bl.row("transport / server", "packet", "latency", "server CPU", "latency", "CPU",
           widths=widths)
    bl.row("", "", "µs", "µs/packet", "ratio", "ratio", widths=widths)
    for transport, servers in cases:
        for kind in servers:
            for packet in ("p", "qC"):
                ms = results[(transport, kind, packet)]
                if None in ms:
                    continue
                lat, cpu = (bl.median([m[i] for m in ms]) for i in (0, 1))
                mine = results[(transport, "ptstub", packet)]
                mlat, mcpu = (bl.median([m[i] for m in mine]) for i in (0, 1))
                ratios = ("-", "-") if kind == "ptstub" else (f"{mlat / lat:.2f}",
                                                               f"{mcpu / cpu:.2f}")
                bl.row(f"{transport} / {kind}", packet, f"{lat * 1e6:.1f}",
                       f"{cpu * 1e6:.1f}", *ratios, widths=widths)
    print("server CPU: ptstub's includes its busy polling between packets (it polls while "
          "the client answers within ~100 µs, so in this back-to-back loop it is always on "
          "a cpu); the others sleep in the kernel between packets.")


if __name__ == "__main__":
    main()
