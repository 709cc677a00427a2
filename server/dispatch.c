/* server/dispatch.c — the packet table: name → handler. A name marked exact must be the
 * whole packet; otherwise it is a prefix and the handler gets what follows. Longer names are
 * tried before shorter ones that share a first letter, so "qC" never shadows "qCRC". Unknown
 * packets get the empty reply, the protocol's "not supported". */
#include "server/dispatch.h"

#include <stdbool.h>
#include <string.h>

#include "server/handlers/handlers.h"

struct packet_entry {
	const char *name;
	bool exact;
	handler_fn *fn;
};

static const struct packet_entry table[] = {
	/* negotiation and host/process facts */
	{"qSupported", false, handle_qSupported},
	{"QStartNoAckMode", true, handle_QStartNoAckMode},
	{"QThreadSuffixSupported", true, handle_QThreadSuffixSupported},
	{"QListThreadsInStopReply", true, handle_QListThreadsInStopReply},
	{"QEnableErrorStrings", true, handle_QEnableErrorStrings},
	{"qHostInfo", true, handle_qHostInfo},
	{"qProcessInfo", true, handle_qProcessInfo},
	{"qC", true, handle_qC},
	{"qfThreadInfo", true, handle_qfThreadInfo},
	{"qsThreadInfo", true, handle_qsThreadInfo},
	{"qAttached", false, handle_qAttached},
	{"qSymbol:", false, handle_qSymbol},
	{"qWatchpointSupportInfo", false, handle_qWatchpointSupportInfo},
	{"QPassSignals", false, handle_QPassSignals},
	{"QProgramSignals", false, handle_QProgramSignals},
	{"qGetWorkingDir", true, handle_qGetWorkingDir},
	{"qFileLoadAddress", false, handle_qFileLoadAddress},
	{"QSetDetachOnError", false, handle_ok_packet},
	{"QLaunchArch", false, handle_ok_packet},
	{"qThreadStopInfo", false, handle_qThreadStopInfo},
	{"jThreadsInfo", true, handle_jThreadsInfo},
	{"qRegisterInfo", false, handle_qRegisterInfo},
	{"qXfer", false, handle_qXfer},
	{"qMemoryRegionInfo", false, handle_qMemoryRegionInfo},
	{"qLaunchSuccess", true, handle_qLaunchSuccess},
	{"qSaveCore", false, handle_qSaveCore},
	{"QSaveRegisterState", false, handle_QSaveRegisterState},
	{"QRestoreRegisterState", false, handle_QRestoreRegisterState},
	/* launch settings */
	{"QEnvironmentHexEncoded", false, handle_QEnvironmentHexEncoded},
	{"QEnvironmentUnset", false, handle_QEnvironmentUnset},
	{"QEnvironmentReset", true, handle_QEnvironmentReset},
	{"QEnvironment", false, handle_QEnvironment},
	{"QSetWorkingDir", false, handle_QSetWorkingDir},
	{"QSetDisableASLR", false, handle_QSetDisableASLR},
	{"QDisableRandomization", false, handle_QDisableRandomization},
	{"QSetSTDIN", false, handle_QSetSTDIN},
	{"QSetSTDOUT", false, handle_QSetSTDOUT},
	{"QSetSTDERR", false, handle_QSetSTDERR},
	/* server-side decoding */
	{"jPTStubTraceDecode", false, handle_jPTStubTraceDecode},
	{"jPTStubTraceSummary", false, handle_jPTStubTraceSummary},
	/* trace: LLDB intel-pt, GDB btrace pt and bts */
	{"jLLDBTraceSupported", true, handle_jLLDBTraceSupported},
	{"jLLDBTraceStart", false, handle_jLLDBTraceStart},
	{"jLLDBTraceStop", false, handle_jLLDBTraceStop},
	{"jLLDBTraceGetState", false, handle_jLLDBTraceGetState},
	{"jLLDBTraceGetBinaryData", false, handle_jLLDBTraceGetBinaryData},
	{"Qbtrace:pt", true, handle_Qbtrace_pt},
	{"Qbtrace:bts", true, handle_Qbtrace_bts},
	{"Qbtrace:off", true, handle_Qbtrace_off},
	{"Qbtrace-conf:pt:size=", false, handle_Qbtrace_conf_pt_size},
	{"Qbtrace-conf:bts:size=", false, handle_Qbtrace_conf_bts_size},
	/* v packets */
	{"vCont", false, handle_vCont},
	{"vRun", false, handle_vRun},
	{"vAttach", false, handle_vAttach},
	{"vKill", false, handle_vKill},
	{"vFile", false, handle_vFile},
	/* single letters: run control, registers, memory, threads */
	{"?", true, handle_question},
	{"!", true, handle_extended},
	{"c", false, handle_c},
	{"C", false, handle_C},
	{"s", false, handle_s},
	{"S", false, handle_S},
	{"k", true, handle_k},
	{"D", false, handle_D},
	{"A", false, handle_A},
	{"H", false, handle_H},
	{"T", false, handle_T},
	{"g", false, handle_g},
	{"G", false, handle_G},
	{"p", false, handle_p},
	{"P", false, handle_P},
	{"m", false, handle_m},
	{"M", false, handle_M},
	{"x", false, handle_x},
	{"X", false, handle_X},
	{"Z", false, handle_Z},
	{"z", false, handle_z},
};

static bool matches(const struct packet_entry *e, const char *payload, size_t len)
{
	size_t n = strlen(e->name);
	if (len < n || memcmp(payload, e->name, n) != 0)
		return false;
	return !e->exact || len == n;
}

enum handler_result dispatch_packet(struct session *s, const char *payload, size_t len)
{
	const struct packet_entry *best = NULL;
	size_t best_len = 0;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		/* The first letter rules out most names without measuring them. */
		if (!len || table[i].name[0] != payload[0])
			continue;
		size_t n = strlen(table[i].name);
		if (n > best_len && matches(&table[i], payload, len)) {
			best = &table[i];
			best_len = n;
		}
	}
	buf_reset(&s->reply);
	if (!best)
		return HANDLER_REPLY; /* empty: not supported */
	/* A single-letter name followed by letters is some other, unknown packet
	 * (e.g. "qOffsets" must not reach a "q" handler; "vMustReplyEmpty" stays empty). */
	return best->fn(s, payload + best_len, len - best_len);
}
