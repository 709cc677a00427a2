#!/usr/bin/env python3
"""tests/e2e/test_decode.py — server-side decoding end to end: ptstub runs decode_fib, a small
gdb-remote client stops it at the first int3 marker, starts tracing with jLLDBTraceStart, runs
to the second marker, then checks jPTStubTraceDecode / jPTStubTraceSummary replies and
`ptstub decode` (text, JSON, Chrome trace) through a relay on the same session.

usage: test_decode.py PTSTUB DECODE_FIB"""
import json
import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import threading

TIMEOUT = 60


class Client:
    """Acked gdb-remote client, enough for a handful of packets."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buf = b""

    def _read(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("the stub closed the connection")
        self.buf += data

    def packet(self, payload):
        body = bytearray()
        for ch in payload.encode():
            if ch in b"#$}*":
                body += bytes([0x7D, ch ^ 0x20])
            else:
                body.append(ch)
        body = bytes(body)
        frame = b"$" + body + b"#%02x" % (sum(body) & 0xFF)
        self.sock.sendall(frame)
        while True:
            self.buf = self.buf.lstrip(b"+")
            start = self.buf.find(b"$")
            end = self.buf.find(b"#", start + 1) if start >= 0 else -1
            if start < 0 or end < 0 or len(self.buf) < end + 3:
                self._read()
                continue
            raw = self.buf[start + 1:end]
            self.buf = self.buf[end + 3:]
            self.sock.sendall(b"+")
            out, i = bytearray(), 0
            while i < len(raw):
                if raw[i] == 0x7D:
                    out.append(raw[i + 1] ^ 0x20)
                    i += 2
                else:
                    out.append(raw[i])
                    i += 1
            reply = out.decode("utf-8", "replace")
            if reply.startswith("O") and re.fullmatch(r"O[0-9a-f]+", reply):
                continue  # inferior output
            return reply


def relay(listener, upstream):
    """Forward one client's bytes to the stub's socket and back, until it hangs up."""
    conn, _ = listener.accept()
    socks = [conn, upstream]
    try:
        while True:
            ready, _, _ = select.select(socks, [], [], TIMEOUT)
            if not ready:
                return
            for r in ready:
                data = r.recv(1 << 20)
                if not data:
                    return
                (upstream if r is conn else conn).sendall(data)
    finally:
        conn.close()


def run_cli(ptstub, client, args):
    """`ptstub decode` against the same session, through a relay socket."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    t = threading.Thread(target=relay, args=(listener, client.sock), daemon=True)
    t.start()
    p = subprocess.run([ptstub, "decode", "127.0.0.1:%d" % port] + args,
                       capture_output=True, text=True, timeout=TIMEOUT)
    t.join(TIMEOUT)
    listener.close()
    return p


def decode(client, **req):
    reply = client.packet("jPTStubTraceDecode:" + json.dumps(req))
    assert not reply.startswith("E"), reply
    return json.loads(reply)


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


def main():
    ptstub, program = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="ptstub-decode-")
    fifo = os.path.join(tmp, "port")
    os.mkfifo(fifo)
    log = open(os.path.join(tmp, "server.log"), "w+")
    server = subprocess.Popen([ptstub, "gdbserver", "127.0.0.1:0", "--named-pipe", fifo,
                               "--", program], stdout=subprocess.DEVNULL, stderr=log)
    ok = False
    try:
        with open(fifo, "rb") as f:
            port = int(f.read().rstrip(b"\0"))
        c = Client(port)
        c.packet("qSupported:multiprocess+;swbreak+")
        stop = c.packet("?")
        tid = int(re.search(r"thread:(?:p[0-9a-f]+\.)?([0-9a-f]+);", stop).group(1), 16)

        # Errors before tracing: no trace, bad key, bad type.
        r = c.packet('jPTStubTraceDecode:{"tid":%d}' % tid)
        check(r.startswith("E"), "decode without a trace is an error: " + r)
        r = c.packet('jPTStubTraceDecode:{"tid":%d,"bogus":1}' % tid)
        check(r.startswith("E") and "bogus" in r, "unknown key named: " + r)
        r = c.packet('jPTStubTraceDecode:{"tid":"x"}')
        check(r.startswith("E") and "tid" in r, "bad type named: " + r)
        r = c.packet('jPTStubTraceDecode:{"view":"nope"}')
        check(r.startswith("E"), "bad view rejected: " + r)
        r = c.packet('jPTStubTraceDecode:{not json')
        check(r.startswith("E"), "bad JSON rejected: " + r)

        stop = c.packet("c")  # to the first int3
        check(stop.startswith("T05"), "stopped at the first marker: " + stop)
        r = c.packet('jLLDBTraceStart:{"type":"intel-pt","tids":[%d],"iptTraceSize":%d,"enableTsc":true}'
                     % (tid, 1 << 22))
        check(r == "OK", "trace started: " + r)
        stop = c.packet("c")  # to the second int3
        check(stop.startswith("T05"), "stopped at the second marker: " + stop)

        # Instructions: the path through main, fib, loop, twice/plus_one, getpid.
        first = decode(c, tid=tid, view="instructions", offset=0, count=3000)
        total = first["total"]
        check(total > 1000, "instructions traced: %d" % total)
        check(first["count"] > 0 and first["first"] == 0, "first page from the oldest")
        names, items, off = set(), [], 0
        while True:
            page = decode(c, tid=tid, offset=off, count=100000)
            items += page["items"]
            names |= {i.get("function") for i in page["items"] if i.get("kind") == "insn"}
            if page["next"] is None:
                break
            check(page["next"] == off + page["count"], "cursor continues the page")
            off = page["next"]
        insns = [i for i in items if i["kind"] == "insn"]
        check(len(insns) == total, "all %d instructions paged" % total)
        check([i["index"] for i in insns] == list(range(total)), "indices in order")
        for fn in ("main", "fib", "loop", "twice", "plus_one"):
            check(fn in names, "function %s on the traced path" % fn)
        check(any(i.get("text") for i in insns), "disassembly present")
        newest = decode(c, tid=tid, offset=0, count=5, fromNewest=True)
        check(newest["count"] == 5 and newest["first"] == total - 5, "newest page")
        check([i["index"] for i in newest["items"] if i["kind"] == "insn"]
              == list(range(total - 5, total)), "newest items")
        intel = decode(c, tid=tid, offset=0, count=50, syntax="intel")
        raw = c.packet('jPTStubTraceDecode:{"tid":%d,"count":100000,"source":true}' % tid)
        big = json.loads(raw)
        check(0 < big["count"] < total and big["next"] == big["count"] and len(raw) < 0x20000,
              "page bounded by the packet size: %d of %d" % (big["count"], total))
        timed = decode(c, tid=tid, offset=0, count=20, timestamps=True)
        check(all("tsc" in i for i in timed["items"] if i["kind"] == "insn"), "timestamps")
        check(intel["count"] == 50, "intel syntax page")

        # Blocks view.
        blocks = decode(c, tid=tid, view="blocks", offset=0, count=100000)
        check(blocks["total"] > 0 and any(b["kind"] == "block" for b in blocks["items"]),
              "blocks view")

        # Calls: fib(10) makes 177 calls to fib (1 from main + 176 recursive).
        calls = []
        off = 0
        while True:
            page = decode(c, tid=tid, view="calls", offset=off, count=100000)
            calls += page["items"]
            if page["next"] is None:
                break
            off = page["next"]
        fib = [k for k in calls if k.get("function") == "fib"]
        check(len(fib) == 177, "fib called 177 times (got %d)" % len(fib))
        depths = [k["depth"] for k in fib]
        check(max(depths) - min(depths) == 9, "fib recursion 10 deep")
        ops = [k for k in calls if k.get("function") in ("twice", "plus_one")]
        check(len(ops) == 33, "calls through the pointer: 33 (got %d)" % len(ops))

        # Summary.
        r = c.packet('jPTStubTraceSummary:{"tid":%d}' % tid)
        summ = json.loads(r)
        t0 = summ["threads"][0]
        check(t0["tid"] == tid and t0["summary"]["instructions"] == total, "summary count")
        tops = [f.get("function") for f in t0["summary"]["top_functions"]]
        check("fib" in tops, "fib among the top functions: %s" % tops)
        check(t0["summary"].get("tsc_last", 0) >= t0["summary"].get("tsc_first", 1) > 0,
              "summary time span")
        summ_all = json.loads(c.packet("jPTStubTraceSummary"))
        check(len(summ_all["threads"]) >= 1, "summary of all traced threads")

        # The CLI on the same session.
        p = run_cli(ptstub, c, ["--tid", str(tid), "--insns", "--count", "200"])
        check(p.returncode == 0, "ptstub decode --insns: rc %d %s" % (p.returncode, p.stderr))
        lines = [l for l in p.stdout.splitlines() if re.match(r"\s+\[\d+\] 0x", l)]
        check(len(lines) == 200, "200 instruction lines (got %d)" % len(lines))
        check(re.search(r"^\s+\[%d\] 0x[0-9a-f]+ <\+\d+>: \S" % (total - 1), p.stdout, re.M),
              "LLDB-shaped newest line")
        check(re.search(r"^  main \+ \d+", p.stdout, re.M), "function header for main")

        p = run_cli(ptstub, c, ["--tid", str(tid), "--calls"])
        check(p.returncode == 0, "ptstub decode --calls")
        check(len(re.findall(r"^\[\d+\] +fib \(entry", p.stdout, re.M)) == 177,
              "177 fib lines in the calls text")

        p = run_cli(ptstub, c, ["--tid", str(tid), "--calls", "--json"])
        doc = json.loads(p.stdout)
        check(sum(1 for k in doc["items"] if k.get("function") == "fib") == 177,
              "JSON calls from the CLI")

        chrome = os.path.join(tmp, "calls.json")
        p = run_cli(ptstub, c, ["--tid", str(tid), "--chrome-trace", chrome])
        check(p.returncode == 0, "--chrome-trace: %s" % p.stderr)
        with open(chrome) as f:
            trace = json.load(f)
        ev = trace["traceEvents"]
        fibs = [e for e in ev if e["name"] == "fib"]
        check(len(fibs) == 177 and all(e["ph"] == "X" for e in ev), "chrome events")
        # Nesting: every fib event lies inside the outermost fib event.
        outer = min(fibs, key=lambda e: e["args"]["depth"])
        check(all(outer["ts"] <= e["ts"] and e["ts"] + e["dur"] <= outer["ts"] + outer["dur"]
                  for e in fibs), "fib events nest inside the first call")

        p = run_cli(ptstub, c, ["--tid", "999999", "--insns"])
        check(p.returncode == 1 and p.stderr, "CLI reports a thread without trace")

        c.sock.close()
        server.wait(TIMEOUT)  # the launched process is killed with the session
        log.seek(0)
        text = log.read()
        # Memory errors and UB fail the test (sanitized builds); leak reports do not.
        check("runtime error" not in text and "ERROR: AddressSanitizer" not in text,
              "no sanitizer errors in the server")
        ok = True
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        if not ok:
            log.seek(0)
            sys.stderr.write(log.read())
        log.close()
        try:
            os.unlink(fifo)
            for f in os.listdir(tmp):
                os.unlink(os.path.join(tmp, f))
            os.rmdir(tmp)
        except OSError:
            pass
    print("PASS")


if __name__ == "__main__":
    main()
