#!/bin/bash
# tests/unit/test_query.sh — `ptstub query` against real gdbserver (TCP, ack and no-ack modes,
# error replies, binary hex dumps) and against a scripted stub on a unix socket (NACK
# retransmission, escaped JSON pretty-printing). Usage: test_query.sh PTSTUB [ARGS-BEFORE-query]
set -u
PTSTUB=$1
shift
QUERY=("$PTSTUB" "$@" query)
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$TMP"' EXIT
fail=0

check() { # check DESCRIPTION COMMAND...
	if ! "${@:2}"; then
		echo "FAIL: $1" >&2
		fail=1
	fi
}

# Start gdbserver on a free port; sets PORT.
start_gdbserver() {
	gdbserver --once 127.0.0.1:0 /bin/true 2>"$TMP/gs.err" >/dev/null &
	PORT=
	for _ in $(seq 100); do
		PORT=$(sed -n 's/.*Listening on port \([0-9]*\).*/\1/p' "$TMP/gs.err")
		[ -n "$PORT" ] && return 0
		sleep 0.05
	done
	echo "FAIL: gdbserver did not start" >&2
	exit 1
}

start_gdbserver
"${QUERY[@]}" --timeout 5 127.0.0.1:$PORT qSupported '?' >"$TMP/out" 2>"$TMP/err"
check "qSupported exits 0" [ $? -eq 0 ]
check "qSupported reply printed" grep -q 'PacketSize=' "$TMP/out"
check "stop reply printed" grep -q '^T05' "$TMP/out"
wait

start_gdbserver
"${QUERY[@]}" --no-ack 127.0.0.1:$PORT qSupported '?' 'qXfer:auxv:read::0,40' m0,4 >"$TMP/out" 2>"$TMP/err"
check "E01 reply exits 1" [ $? -eq 1 ]
check "E01 explained" grep -q 'm0,4: error 0x01' "$TMP/err"
check "binary auxv as hex dump" grep -q '^00000000  6d 21 00' "$TMP/out"
wait

start_gdbserver
"${QUERY[@]}" --raw 127.0.0.1:$PORT 'qXfer:features:read:target.xml:0,fff' >"$TMP/out"
check "--raw prints the payload exactly" grep -q '^l<target><architecture>i386:x86-64' "$TMP/out"
check "--raw adds no newline" [ "$(tail -c 1 "$TMP/out" | od -An -c | tr -d ' ')" = ">" ]
wait

# A scripted stub: NACKs the first copy of each packet, then answers with escaped JSON or an
# error with a hex message.
python3 - "$TMP/sock" <<'PY' &
import socket, sys
def frame(p):
    e = b"".join(b"}" + bytes([c ^ 0x20]) if c in b"#$}*" else bytes([c]) for c in p)
    return b"$" + e + b"#%02x" % (sum(e) & 0xff)
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(1)
c, _ = s.accept()
data, nacked = b"", set()
while True:
    chunk = c.recv(4096)
    if not chunk:
        break
    data += chunk
    while b"#" in data and b"$" in data:
        start = data.index(b"$"); end = data.index(b"#", start)
        if len(data) < end + 3:
            break
        pkt, data = data[start + 1:end], data[end + 3:]
        if pkt not in nacked:
            nacked.add(pkt); c.sendall(b"-"); continue
        c.sendall(b"+")
        if pkt == b"jInfo":
            c.sendall(frame(b'{"name":"a*b}c","list":[1,18446744073709551615,true]}'))
        else:
            c.sendall(frame(b"E16;" + b"bad thing".hex().encode()))
PY
for _ in $(seq 100); do [ -S "$TMP/sock" ] && break; sleep 0.05; done
"${QUERY[@]}" unix:"$TMP/sock" jInfo jOther >"$TMP/out" 2>"$TMP/err"
check "hex error message exits 1" [ $? -eq 1 ]
check "JSON pretty-printed, unescaped" grep -q '^  "name": "a\*b}c",$' "$TMP/out"
check "big numbers kept exactly" grep -q '18446744073709551615' "$TMP/out"
check "hex error message decoded" grep -q 'jOther: error 0x16: bad thing' "$TMP/err"
wait

"${QUERY[@]}" >/dev/null 2>&1
check "no arguments is a usage error" [ $? -eq 2 ]
"${QUERY[@]}" --timeout 2 127.0.0.1:1 qC >/dev/null 2>"$TMP/err"
check "refused connection exits 2" [ $? -eq 2 ]
check "refused connection explained" grep -q 'cannot connect' "$TMP/err"
"${QUERY[@]}" nocolon qC >/dev/null 2>&1
check "bad address exits 2" [ $? -eq 2 ]
exit $fail
