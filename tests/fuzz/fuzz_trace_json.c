/* tests/fuzz/fuzz_trace_json.c — libFuzzer harness for the JSON requests of the trace packets.
 * The first input byte picks the packet (jLLDBTraceStart/Stop/GetState/GetBinaryData,
 * jPTStubTraceDecode/Summary) and whether a trace is started and run first; the rest is its
 * JSON. The session then resumes and asks for the state, so a request that was accepted is
 * followed through. */
#include <string.h>

#include "protocol/buf.h"
#include "protocol/packet.h"
#include "tests/fuzz/fuzz_session.h"

static const char *const packets[] = {
	"jLLDBTraceStart:",	    "jLLDBTraceStop:",	   "jLLDBTraceGetState:",
	"jLLDBTraceGetBinaryData:", "jPTStubTraceDecode:", "jPTStubTraceSummary:",
};
#define NPACKETS (sizeof(packets) / sizeof(packets[0]))

static void put_packet(struct buf *stream, const char *text)
{
	pkt_write(stream, text, strlen(text));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > FUZZ_STREAM_MAX / 4)
		return -1;
	unsigned pick = data[0] % NPACKETS, flags = data[0] / NPACKETS;
	struct buf stream = BUF_INIT, req = BUF_INIT;
	put_packet(&stream, "QStartNoAckMode");
	put_packet(&stream, "QEnableErrorStrings");
	if (flags & 1) {
		put_packet(&stream, "jLLDBTraceStart:{\"type\":\"intel-pt\",\"iptTraceSize\":4096,"
				    "\"enableTsc\":false}");
		put_packet(&stream, "vCont;s");
	}
	buf_puts(&req, packets[pick]);
	buf_append(&req, data + 1, size - 1);
	pkt_write(&stream, req.data, req.len);
	put_packet(&stream, (flags & 2) ? "vCont;c" : "vCont;s");
	put_packet(&stream, "jLLDBTraceGetState:{\"type\":\"intel-pt\"}");
	if (flags & 4)
		pkt_write(&stream, req.data, req.len);
	int rc = fuzz_session_run((const uint8_t *)stream.data, stream.len);
	buf_fini(&req);
	buf_fini(&stream);
	return rc;
}
