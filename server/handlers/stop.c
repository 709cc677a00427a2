/* server/handlers/stop.c — stop replies (T/W/X) in the dialect of the connected client, and
 * the thread-state queries built from them: `?`, qThreadStopInfo, jThreadsInfo. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/hex.h"
#include "protocol/json.h"
#include "server/handlers/handlers.h"

#define MAX_THREADS 4096

static const char *lldb_reason(enum tgt_stop_reason r)
{
	switch (r) {
	case TGT_STOP_BREAKPOINT:
	case TGT_STOP_HW_BREAKPOINT:
		return "breakpoint";
	case TGT_STOP_WATCHPOINT:
		return "watchpoint";
	case TGT_STOP_STEP:
		return "trace";
	case TGT_STOP_SIGNAL:
	case TGT_STOP_INTERRUPT:
		return "signal";
	case TGT_STOP_EXEC:
		return "exec";
	case TGT_STOP_TRACE:
		return "processor trace";
	case TGT_STOP_NONE:
		break;
	}
	return NULL;
}

/* The signal a stop is reported with, in Linux numbering. */
static int stop_signal(const struct session *s, const struct tgt_thread_stop *st)
{
	switch (st->reason) {
	case TGT_STOP_NONE:
		return 0;
	case TGT_STOP_SIGNAL:
		return st->signo;
	case TGT_STOP_INTERRUPT:
		return s->lldb ? SIGSTOP : SIGINT;
	default:
		return SIGTRAP;
	}
}

static void put_thread_list(struct session *s)
{
	pid_t tids[MAX_THREADS];
	int n = s->target->ops->threads(s->target, tids, MAX_THREADS);
	if (n > MAX_THREADS)
		n = MAX_THREADS;
	buf_puts(&s->reply, "threads:");
	for (int i = 0; i < n; i++) {
		if (i)
			buf_putc(&s->reply, ',');
		buf_put_hex_u64(&s->reply, (uint64_t)tids[i]);
	}
	buf_puts(&s->reply, ";thread-pcs:");
	for (int i = 0; i < n; i++) {
		struct regcache rc;
		if (i)
			buf_putc(&s->reply, ',');
		if (regs_read_general(s, tids[i], &rc) == 0)
			buf_put_hex_u64(&s->reply, regcache_get_u64(&rc, RN_RIP));
		else
			buf_putc(&s->reply, '0');
	}
	buf_putc(&s->reply, ';');
}

static void put_expedited(struct session *s, const struct regcache *rc)
{
	static const enum reg_num gdb_regs[] = {RN_RBP, RN_RSP, RN_RIP};
	if (s->lldb) {
		for (int r = RN_RAX; r <= RN_GS; r++) {
			buf_printf(&s->reply, "%02x:", r);
			buf_put_hex(&s->reply, rc->bytes + reg_table[r].offset, reg_size(r));
			buf_putc(&s->reply, ';');
		}
		return;
	}
	for (size_t i = 0; i < sizeof(gdb_regs) / sizeof(gdb_regs[0]); i++) {
		enum reg_num r = gdb_regs[i];
		buf_printf(&s->reply, "%02x:", r);
		buf_put_hex(&s->reply, rc->bytes + reg_table[r].offset, reg_size(r));
		buf_putc(&s->reply, ';');
	}
}

/* LLDB: the stack memory its unwinder reads right after a stop, sent in the stop reply
 * (`memory:0xADDR=HEX;`, kept in LLDB's L1 memory cache until the next resume) so that a
 * step costs one round trip instead of two: the bytes at the stack pointer, and the saved
 * frame pointer and return address of each frame on the frame-pointer chain. */
#define EXPEDITE_STACK 256
#define EXPEDITE_FRAMES 8

static void put_memory(struct session *s, uint64_t addr, size_t len)
{
	uint8_t bytes[EXPEDITE_STACK];
	ssize_t n = s->target->ops->read_memory(s->target, addr, bytes,
					       len < sizeof(bytes) ? len : sizeof(bytes));
	if (n <= 0)
		return;
	buf_printf(&s->reply, "memory:0x%llx=", (unsigned long long)addr);
	buf_put_hex(&s->reply, bytes, (size_t)n);
	buf_putc(&s->reply, ';');
}

static void put_expedited_memory(struct session *s, const struct regcache *rc)
{
	uint64_t sp = regcache_get_u64(rc, RN_RSP), fp = regcache_get_u64(rc, RN_RBP);
	put_memory(s, sp, EXPEDITE_STACK);
	for (int i = 0; i < EXPEDITE_FRAMES && fp > sp && fp % 8 == 0; i++) {
		uint64_t next;
		if (fp + 16 > sp + EXPEDITE_STACK) /* not already inside the bytes at sp */
			put_memory(s, fp, 16);
		if (s->target->ops->read_memory(s->target, fp, &next, 8) != 8 || next <= fp)
			break;
		fp = next;
	}
}

static void put_reason(struct session *s, const struct tgt_thread_stop *st)
{
	if (!s->lldb) {
		if (st->reason == TGT_STOP_BREAKPOINT && s->swbreak)
			buf_puts(&s->reply, "swbreak:;");
		else if (st->reason == TGT_STOP_HW_BREAKPOINT)
			buf_puts(&s->reply, "hwbreak:;");
		else if (st->reason == TGT_STOP_WATCHPOINT)
			buf_printf(&s->reply, "%s:%llx;",
				   st->watch == TGT_POINT_READ     ? "rwatch"
				   : st->watch == TGT_POINT_ACCESS ? "awatch"
								   : "watch",
				   (unsigned long long)st->addr);
		return;
	}
	const char *reason = lldb_reason(st->reason);
	if (reason)
		buf_printf(&s->reply, "reason:%s;", reason);
	char desc[160];
	desc[0] = 0;
	if (st->reason == TGT_STOP_WATCHPOINT)
		snprintf(desc, sizeof(desc), "%llu", (unsigned long long)st->addr);
	else if (st->description[0])
		snprintf(desc, sizeof(desc), "%s", st->description);
	if (desc[0]) {
		buf_puts(&s->reply, "description:");
		buf_put_hex_str(&s->reply, desc);
		buf_putc(&s->reply, ';');
	}
}

/* A T reply for one thread; with threads: lists for LLDB when full is set. A non-NULL refusal
 * replaces the thread's own reason (LLDB: reason:exception with that description). */
static void thread_stop_reply(struct session *s, pid_t tid, bool full, const char *refusal)
{
	struct tgt_thread_stop st;
	memset(&st, 0, sizeof(st));
	if (s->target->ops->thread_stop(s->target, tid, &st) < 0)
		st.reason = TGT_STOP_NONE;
	buf_printf(&s->reply, "T%02x", session_sig_to_client(s, stop_signal(s, &st)) & 0xff);
	buf_puts(&s->reply, "thread:");
	reply_tid(s, tid);
	buf_putc(&s->reply, ';');
	if (s->lldb) {
		char name[64];
		if (s->target->ops->thread_name(s->target, tid, name, sizeof(name)) == 0 &&
		    name[0]) {
			buf_puts(&s->reply, "hexname:");
			buf_put_hex_str(&s->reply, name);
			buf_putc(&s->reply, ';');
		}
	}
	if (full && s->list_threads)
		put_thread_list(s);
	struct regcache rc;
	if (regs_read_general(s, tid, &rc) == 0) {
		put_expedited(s, &rc);
		if (full && s->lldb)
			put_expedited_memory(s, &rc);
	}
	if (refusal && s->lldb) {
		buf_puts(&s->reply, "reason:exception;description:");
		buf_put_hex_str(&s->reply, refusal);
		buf_putc(&s->reply, ';');
	} else {
		put_reason(s, &st);
	}
}

void session_stop_reply(struct session *s, pid_t tid)
{
	buf_reset(&s->reply);
	if (!s->target) {
		if (s->exit_kind == 'X')
			buf_printf(&s->reply, "X%02x",
				   session_sig_to_client(s, s->exit_status) & 0xff);
		else
			buf_printf(&s->reply, "W%02x", s->exit_status & 0xff);
		if (s->multiprocess && s->exit_pid > 0)
			buf_printf(&s->reply, ";process:%x", s->exit_pid);
		return;
	}
	if (tid <= 0)
		tid = s->stop_tid > 0 ? s->stop_tid : s->pid;
	thread_stop_reply(s, tid, true, NULL);
}

void session_refusal_reply(struct session *s, const char *why)
{
	buf_reset(&s->reply);
	thread_stop_reply(s, s->stop_tid > 0 ? s->stop_tid : s->pid, true, why);
}

enum handler_result handle_question(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	session_stop_reply(s, s->stop_tid);
	return HANDLER_REPLY;
}

enum handler_result handle_qThreadStopInfo(struct session *s, const char *args, size_t len)
{
	const char *p = args;
	uint64_t tid;
	if (hex_parse_u64(&p, args + len, &tid) < 0) {
		reply_error(s, EINVAL, "qThreadStopInfo: bad thread id");
		return HANDLER_REPLY;
	}
	if (need_target(s) || !thread_known(s, (pid_t)tid))
		return HANDLER_REPLY;
	thread_stop_reply(s, (pid_t)tid, false, NULL);
	return HANDLER_REPLY;
}

static void thread_json(struct session *s, pid_t tid)
{
	struct tgt_thread_stop st;
	memset(&st, 0, sizeof(st));
	s->target->ops->thread_stop(s->target, tid, &st);
	buf_printf(&s->reply, "{\"tid\":%d", tid);
	int sig = stop_signal(s, &st);
	if (sig)
		buf_printf(&s->reply, ",\"signal\":%d", sig);
	char name[64];
	if (s->target->ops->thread_name(s->target, tid, name, sizeof(name)) == 0 && name[0]) {
		buf_puts(&s->reply, ",\"name\":");
		json_quote(&s->reply, name);
	}
	const char *reason = lldb_reason(st.reason);
	if (reason)
		buf_printf(&s->reply, ",\"reason\":\"%s\"", reason);
	if (st.reason == TGT_STOP_WATCHPOINT)
		buf_printf(&s->reply, ",\"description\":\"%llu\"", (unsigned long long)st.addr);
	struct regcache rc;
	if (regs_read_general(s, tid, &rc) == 0) {
		static const enum reg_num regs[] = {RN_RBP, RN_RSP, RN_RIP};
		buf_puts(&s->reply, ",\"registers\":{");
		for (size_t i = 0; i < 3; i++) {
			buf_printf(&s->reply, "%s\"%d\":\"", i ? "," : "", regs[i]);
			buf_put_hex(&s->reply, rc.bytes + reg_table[regs[i]].offset, 8);
			buf_putc(&s->reply, '"');
		}
		buf_putc(&s->reply, '}');
	}
	buf_putc(&s->reply, '}');
}

enum handler_result handle_jThreadsInfo(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	if (need_target(s))
		return HANDLER_REPLY;
	pid_t tids[MAX_THREADS];
	int n = s->target->ops->threads(s->target, tids, MAX_THREADS);
	if (n > MAX_THREADS)
		n = MAX_THREADS;
	buf_putc(&s->reply, '[');
	for (int i = 0; i < n; i++) {
		if (i)
			buf_putc(&s->reply, ',');
		thread_json(s, tids[i]);
	}
	buf_putc(&s->reply, ']');
	return HANDLER_REPLY;
}
