/* server/dispatch.c — the packet table: name → handler. A name marked exact must be the
 * whole packet; otherwise it is a prefix and the handler gets what follows. Longer names are
 * tried before shorter ones that share a first letter, so "qC" never shadows "qCRC". Unknown
 * packets get the empty reply, the protocol's "not supported". Each name also says what a
 * read-only observer connection may do with it: most packets are refused to observers. */
#include "server/dispatch.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "server/handlers/handlers.h"

/* What a read-only observer connection (session.h) may send. */
enum observe {
	OBSERVE_NEVER,	 /* changes the process, the trace or the server: refused */
	OBSERVE_ANY,	 /* negotiation, facts, thread lists: always */
	OBSERVE_STOPPED, /* reads registers, memory, stop state or trace: while stopped */
};

struct packet_entry {
	const char *name;
	bool exact;
	handler_fn *fn;
	enum observe observe; /* left out: OBSERVE_NEVER */
};

static const struct packet_entry table[] = {
	/* negotiation and host/process facts */
	{"qSupported", false, handle_qSupported, OBSERVE_ANY},
	{"QStartNoAckMode", true, handle_QStartNoAckMode, OBSERVE_ANY},
	{"QThreadSuffixSupported", true, handle_QThreadSuffixSupported, OBSERVE_ANY},
	{"QListThreadsInStopReply", true, handle_QListThreadsInStopReply, OBSERVE_ANY},
	{"QEnableErrorStrings", true, handle_QEnableErrorStrings, OBSERVE_ANY},
	{"qHostInfo", true, handle_qHostInfo, OBSERVE_ANY},
	{"qProcessInfo", true, handle_qProcessInfo, OBSERVE_ANY},
	{"qC", true, handle_qC, OBSERVE_ANY},
	{"qfThreadInfo", true, handle_qfThreadInfo, OBSERVE_ANY},
	{"qsThreadInfo", true, handle_qsThreadInfo, OBSERVE_ANY},
	{"qAttached", false, handle_qAttached, OBSERVE_ANY},
	{"qSymbol:", false, handle_qSymbol, OBSERVE_ANY},
	{"qWatchpointSupportInfo", false, handle_qWatchpointSupportInfo, OBSERVE_ANY},
	{"QPassSignals", false, handle_QPassSignals},
	{"QProgramSignals", false, handle_QProgramSignals},
	{"qGetWorkingDir", true, handle_qGetWorkingDir, OBSERVE_ANY},
	{"qFileLoadAddress", false, handle_qFileLoadAddress, OBSERVE_ANY},
	{"QSetDetachOnError", false, handle_ok_packet},
	{"QLaunchArch", false, handle_ok_packet},
	{"qThreadStopInfo", false, handle_qThreadStopInfo, OBSERVE_STOPPED},
	{"jThreadsInfo", true, handle_jThreadsInfo, OBSERVE_STOPPED},
	{"qRegisterInfo", false, handle_qRegisterInfo, OBSERVE_ANY},
	{"qXfer", false, handle_qXfer, OBSERVE_ANY},
	{"qMemoryRegionInfo", false, handle_qMemoryRegionInfo, OBSERVE_ANY},
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
	{"jPTStubTraceDecode", false, handle_jPTStubTraceDecode, OBSERVE_STOPPED},
	{"jPTStubTraceSummary", false, handle_jPTStubTraceSummary, OBSERVE_STOPPED},
	/* trace: LLDB intel-pt, GDB btrace pt and bts */
	{"jLLDBTraceSupported", true, handle_jLLDBTraceSupported, OBSERVE_ANY},
	{"jLLDBTraceStart", false, handle_jLLDBTraceStart},
	{"jLLDBTraceStop", false, handle_jLLDBTraceStop},
	{"jLLDBTraceGetState", false, handle_jLLDBTraceGetState, OBSERVE_STOPPED},
	{"jLLDBTraceGetBinaryData", false, handle_jLLDBTraceGetBinaryData, OBSERVE_STOPPED},
	{"Qbtrace:pt", true, handle_Qbtrace_pt},
	{"Qbtrace:bts", true, handle_Qbtrace_bts},
	{"Qbtrace:off", true, handle_Qbtrace_off},
	{"Qbtrace-conf:pt:size=", false, handle_Qbtrace_conf_pt_size},
	{"Qbtrace-conf:bts:size=", false, handle_Qbtrace_conf_bts_size},
	/* v packets */
	{"vCont?", true, handle_vCont_query, OBSERVE_ANY},
	{"vCont", false, handle_vCont},
	{"vRun", false, handle_vRun},
	{"vAttach", false, handle_vAttach},
	{"vKill", false, handle_vKill},
	{"vFile", false, handle_vFile},
	/* single letters: run control, registers, memory, threads */
	{"?", true, handle_question, OBSERVE_STOPPED},
	{"!", true, handle_extended},
	{"c", false, handle_c},
	{"C", false, handle_C},
	{"s", false, handle_s},
	{"S", false, handle_S},
	{"k", true, handle_k},
	{"D", false, handle_D},
	{"A", false, handle_A},
	{"H", false, handle_H, OBSERVE_ANY},
	{"T", false, handle_T, OBSERVE_ANY},
	{"g", false, handle_g, OBSERVE_STOPPED},
	{"G", false, handle_G},
	{"p", false, handle_p, OBSERVE_STOPPED},
	{"P", false, handle_P},
	{"m", false, handle_m, OBSERVE_STOPPED},
	{"M", false, handle_M},
	{"x", false, handle_x, OBSERVE_STOPPED},
	{"X", false, handle_X},
	{"Z", false, handle_Z},
	{"z", false, handle_z},
};

void dispatch_observer_busy(struct session *s, const char *what)
{
	reply_error_text(s, EBUSY,
			 "read-only observer connection: %s needs the process stopped, "
			 "and the controlling client has it running",
			 what);
}

/* Whether observer s may send e's packet now; the refusal is its reply when not. */
static bool observer_may(struct session *s, const struct packet_entry *e)
{
	if (e->observe == OBSERVE_ANY || (e->observe == OBSERVE_STOPPED && !s->running))
		return true;
	if (e->observe == OBSERVE_STOPPED)
		dispatch_observer_busy(s, e->name);
	else
		reply_error_text(s, EPERM,
				 "read-only observer connection: %s is refused while "
				 "another client controls the process",
				 e->name);
	return false;
}

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
	if (s->observer && !observer_may(s, best))
		return HANDLER_REPLY;
	/* A single-letter name followed by letters is some other, unknown packet
	 * (e.g. "qOffsets" must not reach a "q" handler; "vMustReplyEmpty" stays empty). */
	return best->fn(s, payload + best_len, len - best_len);
}
