#!/usr/bin/env python3
"""test_bad_input.py PTSTUB SAMPLE — the bad-input catalogue: a raw gdb-remote client sends a
live `ptstub gdbserver` (debugging the real `sample` program) broken framing, malformed
arguments, absurd sizes and addresses, unknown threads and malformed JSON. Each case checks the
reply (or the nack, or the silence) and then that the session still answers good packets: the
current thread and the ELF magic read from the program's first mapping."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gdbclient import Server, error_message, frame, hexs, kill_all_below, become_subreaper  # noqa

EINVAL, ESRCH, E2BIG, ENOENT, EOPNOTSUPP = 0x16, 0x03, 0x07, 0x02, 0x5F
BIG = "ffffffffffffffff"
START = 'jLLDBTraceStart:{"type":"intel-pt","iptTraceSize":4096,"enableTsc":false'


def err(code, words):
    """Expect an error reply with this errno (None: any) whose message matches words."""
    return ("err", code, words)


def exact(text):
    return ("re", re.escape(text))


def regex(text):
    return ("re", text)


SILENT = ("silent",)  # no reply at all (the packet is dropped)


def cases(base, tid, exe):
    """(name, bytes to send or payload str, expectation, acks expected or None)."""
    b = f"{base:x}"
    big_pkt = "m" + "0" * 0x20010
    return [
        # --- framing ---
        ("bad checksum", b"$qC#00", SILENT, b"-"),
        ("non-hex checksum", b"$qC#zz", SILENT, b"-"),
        ("missing # (next packet resynchronises)", b"$qC$qC#b4", exact(f"QC{tid:x}"), b"+"),
        ("truncated escape at the end", b"$m}#00", SILENT, None),
        ("escape of the checksum char", b"$qC}", SILENT, None),
        ("overlong packet", frame(big_pkt), SILENT, b"-"),
        ("run-length with nothing before it", frame("*") , exact(""), b"+"),
        ("run-length count below the minimum (ignored)", b"$q*\x10C#" + b"%02x" % ((ord("q") + ord("*") + 0x10 + ord("C")) & 0xFF), exact(f"QC{tid:x}"), b"+"),
        ("interrupt byte while stopped", b"\x03", SILENT, b""),
        ("garbage between packets", b"hello world\r\n", SILENT, b""),
        ("NUL bytes in a payload", frame(b"q\0\0C"), exact(""), b"+"),
        ("one byte per write", [bytes([c]) for c in frame("qC")], exact(f"QC{tid:x}"), b"+"),
        ("empty packet", frame(""), exact(""), b"+"),
        # --- memory ---
        ("m without arguments", "m", err(EINVAL, "address"), None),
        ("m with odd hex", "mzz,4", err(EINVAL, "address"), None),
        ("m without a length", f"m{b}", err(EINVAL, "address"), None),
        ("m with trailing junk", f"m{b},4junk", err(EINVAL, "address"), None),
        ("m at address 0", "m0,4", err(None, "cannot access memory at 0x0"), None),
        ("m at the last address", f"m{BIG},10", err(None, "cannot access memory"), None),
        ("m with a 17-digit address", "m10000000000000000,1", err(EINVAL, "address"), None),
        ("m with a negative address", "m-1,4", err(EINVAL, "address"), None),
        ("m with a huge length (capped)", f"m{b},{BIG}", regex("7f454c46([0-9a-f]{2})+"), None),
        ("x with a huge length (capped)", f"x{b},{BIG}", regex("(?s)\x7fELF.+"), None),
        ("x probe", "x0,0", exact("OK"), None),
        ("M with non-hex data", f"M{b},4:zzzzzzzz", err(EINVAL, "hex"), None),
        ("M with too little data", f"M{b},4:00", err(EINVAL, "expected M"), None),
        ("M with an overflowing length", f"M{b},{BIG[:-1]}1:00", err(EINVAL, "expected M"), None),
        ("M with a 2^63 length", f"M{b},8000000000000001:00", err(EINVAL, "M"), None),
        ("M into unmapped memory", "M0,1:00", err(None, "cannot access memory"), None),
        ("X with a length mismatch", f"X{b},{BIG}:", err(EINVAL, "expected X"), None),
        ("X with bad hex address", "Xzz,1:a", err(EINVAL, "expected X"), None),
        # --- registers ---
        ("p without a number", "p", err(EINVAL, "no such register"), None),
        ("p of a register that does not exist", "p1000", err(EINVAL, "no such register"), None),
        ("p with a huge number", f"p{BIG}", err(EINVAL, "no such register"), None),
        ("P with non-hex value", "P0=zzzzzzzzzzzzzzzz", err(EINVAL, "hex"), None),
        ("P with a short value", "P0=00", err(EINVAL, "expected 8 hex bytes"), None),
        ("P without =", "P0", err(EINVAL, "expected"), None),
        ("G with an odd hex length", "G0", err(EINVAL, "G"), None),
        ("G longer than the register file", "G" + "00" * 4096, err(EINVAL, "G"), None),
        ("g of an unknown thread", "g;thread:7ffffff0;", err(None, "thread"), None),
        # --- threads ---
        ("Hg of an unknown thread", "Hg7ffffff0", err(ESRCH, "no such thread"), None),
        ("H with a bad kind", "Hx1", err(EINVAL, "H"), None),
        ("Hg with a bad thread id", "Hgzz", err(EINVAL, "thread id"), None),
        ("Hg with thread -2", "Hg-2", err(EINVAL, "thread id"), None),
        ("T of an unknown thread", "T7ffffff0", err(ESRCH, "no such thread"), None),
        ("qThreadStopInfo of an unknown thread", "qThreadStopInfo7ffffff0", err(None, "thread"), None),
        ("vCont for an unknown thread", "vCont;s:7ffffff0", err(None, ""), None),
        ("vCont with an unknown action", "vCont;x", err(None, "vCont"), None),
        ("vCont;C without a signal", "vCont;C", err(EINVAL, "vCont"), None),
        ("vCont without actions", "vCont", err(EINVAL, "vCont"), None),
        ("vCont with 65 actions", "vCont" + ";s:1" * 65, err(E2BIG, "VCONT_MAX_ACTIONS"), None),
        ("C with a bad signal", "Czz", err(EINVAL, "signal"), None),
        ("c at an address", "c1234", err(EINVAL, "address"), None),
        # --- qXfer ---
        ("qXfer with a huge length (capped)", f"qXfer:features:read:target.xml:0,{BIG}", regex("(?s)l<\\?xml.*</target>\n"), None),
        ("qXfer with a huge offset", f"qXfer:features:read:target.xml:{BIG},10", exact("l"), None),
        ("qXfer of an unknown annex", "qXfer:features:read:nope.xml:0,10", err(ENOENT, "features"), None),
        ("qXfer of an unknown object", "qXfer:nope:read::0,10", exact(""), None),
        ("qXfer without offset", "qXfer:features:read:target.xml", err(EINVAL, "qXfer"), None),
        ("qXfer with a long object name", "qXfer:" + "o" * 100 + ":read::0,1", err(EINVAL, "qXfer"), None),
        ("qXfer with a long annex", "qXfer:features:read:" + "a" * 300 + ":0,1", err(EINVAL, "qXfer"), None),
        ("qXfer write", "qXfer:auxv:write::0:00", exact(""), None),
        ("qXfer with odd hex offset", "qXfer:auxv:read::zz,10", err(EINVAL, "qXfer"), None),
        # --- breakpoints ---
        ("Z of an unknown type", "Z9,0,1", err(EINVAL, "expected Z"), None),
        ("Z0 at an unmapped address", "Z0,0,1", err(None, "cannot insert breakpoint"), None),
        ("Z0 with bad hex", "Z0,zz,1", err(EINVAL, "expected Z"), None),
        ("Z0 with a kind over 32 bits", f"Z0,{b},100000001", err(EINVAL, "expected Z"), None),
        ("z0 where nothing is inserted", f"z0,{b},1", err(None, "cannot remove"), None),
        ("Z2 with an absurd length", f"Z2,{b},ffffffff", err(EINVAL, "watchpoint"), None),
        # --- host I/O ---
        ("vFile:open with odd hex", "vFile:open:zz,0,0", exact("F-1,16"), None),
        ("vFile:open outside the allowed files", f"vFile:open:{hexs('/etc/shadow')},0,0", exact("F-1,d"), None),
        ("vFile:open for writing", f"vFile:open:{hexs(exe)},1,1a4", exact("F-1,1e"), None),
        ("vFile:pread of a bad fd", "vFile:pread:1f,10,0", exact("F-1,9"), None),
        ("vFile:pread of an fd out of range", f"vFile:pread:{BIG},10,0", exact("F-1,9"), None),
        ("vFile:close of a bad fd", "vFile:close:99", exact("F-1,9"), None),
        ("vFile:size outside the allowed files", f"vFile:size:{hexs('/etc/shadow')}", exact("F-1,d"), None),
        # --- regions ---
        ("qMemoryRegionInfo without address", "qMemoryRegionInfo", err(EINVAL, "qMemoryRegionInfo"), None),
        ("qMemoryRegionInfo with bad hex", "qMemoryRegionInfo:zz", err(EINVAL, "qMemoryRegionInfo"), None),
        ("qMemoryRegionInfo at the top", f"qMemoryRegionInfo:{BIG}", regex("start:[0-9a-f]+;size:[0-9a-f]+;"), None),
        # --- launch settings and lifecycle ---
        ("QEnvironmentHexEncoded with odd hex", "QEnvironmentHexEncoded:zz", err(EINVAL, "hex"), None),
        ("QEnvironmentHexEncoded without =", f"QEnvironmentHexEncoded:{hexs('NOVALUE')}", err(EINVAL, "NAME=VALUE"), None),
        ("QEnvironment beyond LAUNCH_MAX_ENV", [f"QEnvironment:V{i}=x" for i in range(4100)],
         err(E2BIG, "LAUNCH_MAX_ENV"), None),
        ("QEnvironmentReset after it", "QEnvironmentReset", exact("OK"), None),
        ("QSetWorkingDir with odd hex", "QSetWorkingDir:zzz", err(EINVAL, "hex"), None),
        ("QSetDisableASLR:2", "QSetDisableASLR:2", err(EINVAL, ":0 or :1"), None),
        ("QPassSignals with bad hex", "QPassSignals:zz", err(EINVAL, "signal"), None),
        ("vRun with odd hex", "vRun;zz", err(None, "hex"), None),
        ("vRun while a process is debugged", f"vRun;{hexs(exe)}", err(None, "already being debugged"), None),
        ("vAttach to pid 0", "vAttach;0", err(None, "vAttach"), None),
        ("vAttach with bad hex", "vAttach;zz", err(None, "vAttach"), None),
        ("A with a bad length", "A99999,0,00", err(EINVAL, "A:"), None),
        ("qSaveCore without a path", "qSaveCore", err(EINVAL, "path-hint"), None),
        ("qSaveCore with odd hex", "qSaveCore;path-hint:zzz", err(EINVAL, "path-hint"), None),
        ("qSaveCore with an unknown style", f"qSaveCore;path-hint:{hexs('/tmp/x')};style:nope", err(EINVAL, "style"), None),
        ("qSaveCore with an unknown option", "qSaveCore;foo:1", err(EINVAL, "option"), None),
        # --- JSON and trace requests ---
        ("jLLDBTraceStart with broken JSON", "jLLDBTraceStart:{", err(EINVAL, "invalid trace request"), None),
        ("jLLDBTraceStart with an array", "jLLDBTraceStart:[]", err(EINVAL, "not a JSON object"), None),
        ("jLLDBTraceStart with a number for type", 'jLLDBTraceStart:{"type":5}', err(EINVAL, "type"), None),
        ("jLLDBTraceStart of an unknown type", 'jLLDBTraceStart:{"type":"bogus"}', err(None, "Unsupported tracing type"), None),
        ("jLLDBTraceStart with a tiny trace size", START.replace("4096", "1") + "}", err(EINVAL, ""), None),
        ("jLLDBTraceStart with an absurd trace size", START.replace("4096", "18446744073709551615") + "}", err(EINVAL, ""), None),
        ("jLLDBTraceStart with a 2^62 trace size", START.replace("4096", str(1 << 62)) + ',"tids":[%d]}' % tid, err(EINVAL, "COL_MAX_TRACE_SIZE"), None),
        ("jLLDBTraceStart with a negative size", START.replace("4096", "-4096") + "}", err(EINVAL, "iptTraceSize"), None),
        ("jLLDBTraceStart with a string size", START.replace("4096", '"4096"') + "}", err(EINVAL, "iptTraceSize"), None),
        ("jLLDBTraceStart with tids not an array", START + ',"tids":"x"}', err(EINVAL, "tids"), None),
        ("jLLDBTraceStart with a negative tid", START + ',"tids":[-1]}', err(EINVAL, "tids"), None),
        ("jLLDBTraceStart with an absurd psbPeriod", START + ',"psbPeriod":99}', err(EINVAL, "psb"), None),
        ("jLLDBTraceStart with an unbounded process limit", START + ',"processBufferSizeLimit":18446744073709551615}', exact("OK"), None),
        ("jLLDBTraceStart when already tracing", START + "}", err(None, "currently traced"), None),
        ("jLLDBTraceStop of an untraced thread", 'jLLDBTraceStop:{"type":"intel-pt","tids":[2147483647]}', err(ENOENT, "not currently traced"), None),
        ("jLLDBTraceGetBinaryData of an unknown thread", 'jLLDBTraceGetBinaryData:{"type":"intel-pt","kind":"iptTrace","tid":2147483647}', err(None, ""), None),
        ("jLLDBTraceGetBinaryData of an unknown kind", 'jLLDBTraceGetBinaryData:{"type":"intel-pt","kind":"nope","tid":1}', err(None, ""), None),
        ("jPTStubTraceDecode with broken JSON", "jPTStubTraceDecode:{not json", err(EINVAL, ""), None),
        ("jPTStubTraceDecode with a string tid", 'jPTStubTraceDecode:{"tid":"x"}', err(EINVAL, "tid"), None),
        ("jPTStubTraceDecode with an absurd count (capped)", 'jPTStubTraceDecode:{"count":18446744073709551615}', regex('\\{"tid":.*"count":[0-9]{1,6},.*'), None),
        ("Qbtrace-conf with an absurd size", f"Qbtrace-conf:pt:size={BIG}", err(None, "size"), None),
        ("jLLDBTraceStop of the process", 'jLLDBTraceStop:{"type":"intel-pt"}', exact("OK"), None),
        ("Qbtrace-conf with a 2^62 size", "Qbtrace-conf:pt:size=0x4000000000000000", exact("OK"), None),
        ("Qbtrace:pt beyond the trace size limit", "Qbtrace:pt", err(None, "COL_MAX_TRACE_SIZE"), None),
        ("Qbtrace-conf back to 16 KiB", "Qbtrace-conf:pt:size=0x4000", exact("OK"), None),
        ("Qbtrace-conf with bad hex", "Qbtrace-conf:pt:size=zz", err(None, "size"), None),
        # --- unknown ---
        ("unknown q packet", "qFooBar", exact(""), None),
        ("vMustReplyEmpty", "vMustReplyEmpty", exact(""), None),
    ]


def check_reply(reply, expect):
    if expect is None:
        return True, "any reply"
    if expect[0] == "re":
        return re.fullmatch(expect[1], reply) is not None, f"reply matching {expect[1][:60]!r}"
    if expect[0] == "err":
        code, msg = error_message(reply)
        if msg is None:
            return False, "an error reply"
        ok = (expect[1] is None or code == expect[1]) and expect[2].lower() in msg.lower()
        return ok, f"error {expect[1]} containing {expect[2]!r}"
    return False, "?"


def main():
    ptstub, sample = sys.argv[1], sys.argv[2]
    become_subreaper()
    srv = Server(ptstub, [sample, "basic"])
    c = srv.connect(ack=True)
    failed = 0
    try:
        c.text("qSupported:swbreak+;xmlRegisters=i386")
        c.text("QEnableErrorStrings")
        stop = c.text("?")
        tid = int(re.search(r"thread:([0-9a-f]+);", stop).group(1), 16)
        pid = int(re.search(r"pid:([0-9a-f]+);", c.text("qProcessInfo")).group(1), 16)
        exe = os.path.realpath(sample)
        with open(f"/proc/{pid}/maps") as f:
            base = next(int(line.split("-")[0], 16) for line in f if line.rstrip().endswith(exe))
        all_cases = cases(base, tid, exe)
        for name, send, expect, acks in all_cases:
            print(f"-- {name}", flush=True) if os.environ.get("HARD_VERBOSE") else None
            c.acks = b""
            if isinstance(send, list) and isinstance(send[0], str):
                # Packets that fill a limit, sent at once; their replies are read and dropped.
                c.send_raw(b"".join(frame(p) for p in send[:-1]))
                for _ in send[:-1]:
                    c.reply()
                c.send_raw(frame(send[-1]))
            elif isinstance(send, list):
                for piece in send:
                    c.send_raw(piece)
            else:
                c.send_raw(send if isinstance(send, bytes) else frame(send))
            if expect == SILENT:
                ok, what = c.quiet(), "no reply"
                reply = "(none)"
            else:
                reply = c.reply().decode("latin-1")
                ok, what = check_reply(reply, expect)
            if acks is not None and not c.acks.startswith(acks):
                ok, what = False, f"acks {acks!r} (got {c.acks!r})"
            # The session must still answer good packets, with the right answers.
            alive = (c.text("qC") == f"QC{tid:x}" and c.text(f"m{base:x},4") == "7f454c46")
            if not alive:
                ok, what = False, what + ", then good packets answered"
            failed += not ok
            print(f"[{'ok' if ok else 'FAIL'}] {name}" +
                  ("" if ok else f": expected {what}, got {reply[:120]!r}"))
        if not srv.alive():
            print("[FAIL] the server died")
            failed += 1
        print(f"bad-input: {len(all_cases) - failed} of {len(all_cases)} cases passed")
    finally:
        c.close()
        srv.stop()
        kill_all_below()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
