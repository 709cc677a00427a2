#!/usr/bin/env python3
"""capture_corpus.py PTSTUB SAMPLE_DIR OUT_DIR — records real GDB and LLDB sessions against
ptstub (packets logged by the server with --log-channels packets) and writes the fuzz seed
corpora from what the clients sent:
  dispatch/<session>       the client's packets re-framed as one stream ($..#cs and + acks)
  framer/<session>-<n>     the same streams cut into 4 KiB pieces
  trace_json/<packet>-<n>  JSON bodies of the trace packets (first byte picks the packet)
  parsers/<n>              packet arguments (numbers, thread ids, hex strings, JSON)
Packets that start or attach to processes or write files (vRun, A, vAttach, qSaveCore) are
left out of the dispatch streams, as the dispatcher harness refuses them."""
import glob
import hashlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hardening"))
from gdbclient import frame  # noqa: E402

PTSTUB, PROGRAMS, OUT = sys.argv[1:4]
SAMPLE = os.path.join(PROGRAMS, "sample")
FORBIDDEN = ("vRun", "vAttach", "A", "qSaveCore")
TRACE_PACKETS = ["jLLDBTraceStart:", "jLLDBTraceStop:", "jLLDBTraceGetState:",
                 "jLLDBTraceGetBinaryData:", "jPTStubTraceDecode:", "jPTStubTraceSummary:"]


def unescape(text):
    return re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes([int(m.group(1), 16)]), text)


def client_packets(log_path):
    """Payloads the client sent, from the server's packet log (truncated ones dropped)."""
    out = []
    with open(log_path, "rb") as f:
        for line in f:
            m = re.match(rb"ptstub: packet -> (.*)\n?$", line)
            if m and not re.search(rb"\.\.\. \(\d+ bytes\)$", m.group(1)):
                out.append(unescape(m.group(1)))
    return out


def free_port_server(log, args):
    fifo = tempfile.mktemp(prefix="ptstub-port-")
    os.mkfifo(fifo)
    srv = subprocess.Popen([PTSTUB, "gdbserver", "--log-file", log, "--log-channels", "packets",
                            "127.0.0.1:0", "--named-pipe", fifo, "--"] + args,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(fifo, "rb") as f:
        port = int(f.read().rstrip(b"\0"))
    os.unlink(fifo)
    return srv, port


def run_gdb(log, mode, commands):
    cmd = ["gdb", "-nx", "-batch", "-ex", "set confirm off",
           "-ex", f"target remote | {PTSTUB} --log-file {log} --log-channels packets - "
                  f"{SAMPLE} {mode}"]
    for c in commands:
        cmd += ["-ex", c]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


def run_gdb_extended(log, commands):
    srv, port = free_port_server(log, [])
    srv.kill()
    srv.wait()
    srv = subprocess.Popen([PTSTUB, "--multi", "--once", "--log-file", log, "--log-channels",
                            "packets", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    cmd = ["gdb", "-nx", "-batch", "-ex", "set confirm off",
           "-ex", f"target extended-remote 127.0.0.1:{port}",
           "-ex", f"set remote exec-file {SAMPLE}", "-ex", f"file {SAMPLE}"]
    for c in commands:
        cmd += ["-ex", c]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    srv.kill()
    srv.wait()


def run_lldb(log, mode, commands):
    srv, port = free_port_server(log, [SAMPLE, mode])
    cmd = ["lldb-19", "-b", "-o", f"target create {SAMPLE}", "-o", f"gdb-remote {port}"]
    for c in commands:
        cmd += ["-o", c]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=180)
    srv.kill()
    srv.wait()


def run_query(log, packets):
    """`ptstub query` sending packets in one connection to a server running decode_fib."""
    srv, port = free_port_server(log, [os.path.join(PROGRAMS, "decode_fib")])
    subprocess.run([PTSTUB, "query", f"127.0.0.1:{port}"] + packets,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    srv.kill()
    srv.wait()


START = '{"type":"intel-pt","iptTraceSize":8192,"enableTsc":false}'
SESSIONS = {
    "gdb-break": lambda log: run_gdb(log, "basic", [
        "break sample_break_here", "continue", "bt", "info registers rip", "p *p",
        "p global_point", "x/8xb &global_counter", "set var global_counter = 5", "next",
        "step", "finish", "stepi", "info frame", "watch global_bss_value", "delete",
        "info sharedlibrary", "kill"]),
    "gdb-threads": lambda log: run_gdb(log, "threads", [
        "break sample_threads_ready", "continue", "info threads", "thread 3", "bt",
        "thread apply all bt 1", "kill"]),
    "gdb-signals": lambda log: run_gdb(log, "segv", ["continue", "bt", "p $_siginfo", "kill"]),
    "gdb-extended": lambda log: run_gdb_extended(log, [
        "break fib", "run basic", "bt", "delete", "continue"]),
    "lldb-break": lambda log: run_lldb(log, "basic", [
        "breakpoint set -n sample_break_here", "continue", "bt", "register read",
        "frame variable", "memory read &global_counter", "expression global_counter = 7",
        "thread step-over", "thread step-inst", "image list", "memory region $pc",
        "process kill"]),
    "lldb-trace": lambda log: run_lldb(log, "basic", [
        "breakpoint set -n sample_helper", "continue", "process trace start",
        "thread step-over", "thread step-over", "thread trace dump instructions -c 20",
        "thread trace dump info", "process trace stop", "thread trace start",
        "thread step-inst", "thread trace stop", "process kill"]),
    "lldb-threads": lambda log: run_lldb(log, "threads", [
        "breakpoint set -n sample_threads_ready", "continue", "thread list",
        "thread backtrace all", "thread select 2", "register read rip", "process kill"]),
    "gdb-btrace": lambda log: run_gdb(log, "basic", [
        "break sample_helper", "continue", "record btrace pt", "stepi", "stepi", "next",
        "info record", "record instruction-history", "record function-call-history",
        "record stop", "kill"]),
    "query-decode": lambda log: run_query(log, [
        "qSupported:multiprocess+;swbreak+", "?", "jLLDBTraceStart:" + START,
        "vCont;s", "vCont;s", "vCont;s", "vCont;s",
        'jPTStubTraceDecode:{"view":"instructions","count":10,"symbols":true,'
        '"disassembly":true,"syntax":"intel"}',
        'jPTStubTraceDecode:{"view":"blocks","offset":1,"fromNewest":true}',
        'jPTStubTraceDecode:{"view":"calls","source":true,"timestamps":false}',
        "jPTStubTraceSummary", 'jPTStubTraceSummary:{"tid":1}',
        'jLLDBTraceGetState:{"type":"intel-pt"}',
        'jLLDBTraceStop:{"type":"intel-pt","tids":null}', "k"]),
}


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def main():
    work = tempfile.mkdtemp(prefix="ptstub-corpus-")
    parsers = set()
    for name, run in SESSIONS.items():
        log = os.path.join(work, name + ".log")
        try:
            run(log)
        except subprocess.TimeoutExpired:
            print(f"capture: {name} timed out; keeping what was logged")
        pkts = client_packets(log) if os.path.exists(log) else []
        kept = [p for p in pkts if not p.startswith(tuple(x.encode() for x in FORBIDDEN))]
        stream = b"".join(b"+" + frame(p) for p in kept)
        print(f"capture: {name}: {len(pkts)} packets, {len(kept)} kept, {len(stream)} bytes")
        if not kept:
            continue
        write(os.path.join(OUT, "dispatch", name), stream[:65536])
        for i in range(0, min(len(stream), 65536), 4096):
            write(os.path.join(OUT, "framer", f"{name}-{i // 4096}"), b"\0\0" + stream[i:i + 4096])
        for p in pkts:
            for k, prefix in enumerate(TRACE_PACKETS):
                if p.startswith(prefix.encode()):
                    body = p[len(prefix):]
                    digest = hashlib.sha1(body).hexdigest()[:12]
                    write(os.path.join(OUT, "trace_json", f"{prefix[:-1]}-{digest}"),
                          bytes([k]) + body)
            m = re.match(rb"^[A-Za-z?!]+[:;]?(.*)$", p)
            if m and m.group(1):
                parsers.add(m.group(1)[:512])
    for arg in sorted(parsers):
        write(os.path.join(OUT, "parsers", hashlib.sha1(arg).hexdigest()[:12]), arg)
    print(f"capture: {len(parsers)} parser seeds; logs in {work}")


if __name__ == "__main__":
    main()
