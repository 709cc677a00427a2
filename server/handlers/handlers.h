/* server/handlers/handlers.h — every packet handler, by family. The dispatch table in
 * server/dispatch.c is the one place that maps packet names to these. */
#ifndef PTSTUB_SERVER_HANDLERS_H
#define PTSTUB_SERVER_HANDLERS_H

#include "server/dispatch.h"
#include "server/session.h"

/* query.c: negotiation and process/host facts */
handler_fn handle_qSupported, handle_QStartNoAckMode, handle_QThreadSuffixSupported,
	handle_QListThreadsInStopReply, handle_QEnableErrorStrings, handle_qHostInfo,
	handle_qProcessInfo, handle_qC, handle_qfThreadInfo, handle_qsThreadInfo, handle_qAttached,
	handle_qSymbol, handle_qWatchpointSupportInfo, handle_QPassSignals, handle_QProgramSignals,
	handle_qGetWorkingDir, handle_vCont_query, handle_H, handle_T, handle_ok_packet,
	handle_qFileLoadAddress, handle_qSaveCore;

/* stop.c: stop replies and thread state */
handler_fn handle_question, handle_qThreadStopInfo, handle_jThreadsInfo;

/* exec.c: run control and process lifecycle */
handler_fn handle_c, handle_C, handle_s, handle_S, handle_vCont, handle_k, handle_vKill,
	handle_D, handle_vRun, handle_A, handle_qLaunchSuccess, handle_vAttach, handle_extended,
	handle_QEnvironment, handle_QEnvironmentHexEncoded, handle_QEnvironmentUnset,
	handle_QEnvironmentReset, handle_QSetWorkingDir, handle_QSetDisableASLR,
	handle_QDisableRandomization, handle_QSetSTDIN, handle_QSetSTDOUT, handle_QSetSTDERR;

/* regs.c: registers and the target description */
handler_fn handle_p, handle_P, handle_g, handle_G, handle_qRegisterInfo,
	handle_QSaveRegisterState, handle_QRestoreRegisterState;
/* The target description XML (also served by qXfer:features). */
void regs_target_xml(const struct session *s, struct buf *out);
/* Registers this client sees: REG_COUNT with AVX-512 (GDB, live process, host has it), else
 * REG_COUNT_BASE. */
unsigned regs_count(const struct session *s);
/* A thread's registers, read from the target once per stop (0 or -errno as read_regs). */
int regs_read(struct session *s, pid_t tid, struct regcache *rc);
/* The same for a stop reply: the general registers (RN_RAX..RN_GS, RN_ORIG_RAX, RN_FS_BASE,
 * RN_GS_BASE) are right, the others may be zero. */
int regs_read_general(struct session *s, pid_t tid, struct regcache *rc);
/* Drop what regs_read kept: the process resumes, or the target changes. */
void regs_forget(void);

/* memory.c: memory, breakpoints, regions */
handler_fn handle_m, handle_M, handle_x, handle_X, handle_Z, handle_z,
	handle_qMemoryRegionInfo;
/* Drop the memory map qMemoryRegionInfo keeps: the process resumes, or the target changes. */
void regions_forget(void);

/* xfer.c: qXfer objects */
handler_fn handle_qXfer;

/* files.c: host I/O */
handler_fn handle_vFile;
/* Close the files session s opened (it is going away). */
void vfile_session_drop(struct session *s);

/* decode.c: server-side decoding (jPTStubTraceDecode, jPTStubTraceSummary) */
handler_fn handle_jPTStubTraceDecode, handle_jPTStubTraceSummary;
/* tid's current trace decoded over the target's code: the decode jPTStubTraceDecode pages
 * through (the same bytes decode once). *walker and *trace stay valid until the next decode
 * of any thread. 0, or -errno with the sentence for the client in msg. */
struct dec_walker;
struct dec_trace;
int decode_thread_trace(struct session *s, pid_t tid, struct dec_walker **walker,
			const struct dec_trace **trace, char *msg, size_t msglen);

/* trace.c: LLDB jLLDBTrace* (intel-pt); btrace.c: GDB Qbtrace*, qXfer:btrace* (pt, bts) */
handler_fn handle_jLLDBTraceSupported, handle_jLLDBTraceStart, handle_jLLDBTraceStop,
	handle_jLLDBTraceGetState, handle_jLLDBTraceGetBinaryData, handle_Qbtrace_pt,
	handle_Qbtrace_bts, handle_Qbtrace_off, handle_Qbtrace_conf_pt_size,
	handle_Qbtrace_conf_bts_size;
/* The session's collector, created on first use; NULL after replying with the reason. */
struct collector *trace_collector(struct session *s);
/* Stop all tracing and free the collector and btrace state (the target goes). An observer
 * session frees only its own btrace document: the collector it reads is its controller's. */
void trace_session_drop(struct session *s);
void btrace_session_drop(struct session *s);
/* qXfer:btrace:read and qXfer:btrace-conf:read (obj "btrace" / "btrace-conf"). */
enum handler_result btrace_xfer(struct session *s, const char *obj, const char *annex,
				uint64_t off, uint64_t n);

/* Helpers shared between handler files. */
/* Parse "<addr>,<len>" (hex); *rest points after it. -EINVAL on bad input. */
int parse_addr_len(const char *args, size_t len, uint64_t *addr, uint64_t *n, const char **rest);
/* Reply E.. and return true when there is no live process to act on. */
bool need_target(struct session *s);
/* Reply ESRCH "no such thread" and return false when the target has no thread tid. */
bool thread_known(struct session *s, pid_t tid);
/* Append the library-list-svr4 document for the target to out (with GDB's main-lm and lmid
 * when gdb_extras). -errno if none. */
int svr4_library_list(struct target *t, struct buf *out, bool gdb_extras);

#endif
