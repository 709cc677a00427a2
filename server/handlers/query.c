/* server/handlers/query.c — negotiation (qSupported, no-ack, LLDB's Q-switches) and the
 * facts clients ask about the host, the process and its threads. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "protocol/hex.h"
#include "server/core/core.h"
#include "server/handlers/handlers.h"

#define MAX_THREADS 4096

bool need_target(struct session *s)
{
	if (s->target)
		return false;
	reply_error(s, ESRCH, "no process is being debugged");
	return true;
}

bool thread_known(struct session *s, pid_t tid)
{
	struct tgt_thread_stop st;
	if (s->target->ops->thread_stop(s->target, tid, &st) == 0)
		return true;
	reply_error(s, ESRCH, "no such thread %x", (unsigned)tid);
	return false;
}

int parse_addr_len(const char *args, size_t len, uint64_t *addr, uint64_t *n, const char **rest)
{
	const char *p = args, *end = args + len;
	if (hex_parse_u64(&p, end, addr) < 0 || p >= end || *p != ',')
		return -EINVAL;
	p++;
	if (hex_parse_u64(&p, end, n) < 0)
		return -EINVAL;
	if (rest)
		*rest = p;
	return 0;
}

enum handler_result handle_qSupported(struct session *s, const char *args, size_t len)
{
	/* args: ":feature;feature..." as the client offers them. */
	if (memmem(args, len, "swbreak+", 8))
		s->swbreak = true;
	if (memmem(args, len, "multiprocess+", 13))
		s->multiprocess = true;
	buf_printf(&s->reply,
		   "PacketSize=%x;QStartNoAckMode+;multiprocess+;swbreak+;hwbreak+;vContSupported+;"
		   "qXfer:features:read+;qXfer:auxv:read+;qXfer:exec-file:read+;"
		   "qXfer:threads:read+;qXfer:libraries-svr4:read+;qXfer:siginfo:read+;"
		   "QPassSignals+;QProgramSignals+;QDisableRandomization+;"
		   "QEnvironmentHexEncoded+;QEnvironmentReset+;QEnvironmentUnset+;"
		   "QSetWorkingDir+;native-signals+;qSaveCore+;"
		   "Qbtrace:pt+;Qbtrace:bts+;Qbtrace:off+;Qbtrace-conf:pt:size+;"
		   "Qbtrace-conf:bts:size+;qXfer:btrace:read+;"
		   "qXfer:btrace-conf:read+",
		   SESSION_PACKET_SIZE);
	return HANDLER_REPLY;
}

enum handler_result handle_QStartNoAckMode(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	/* The '+' for this packet has gone out already; the OK is the last thing acked. */
	s->no_ack = true;
	reply_ok(s);
	return HANDLER_REPLY;
}

enum handler_result handle_QThreadSuffixSupported(struct session *s, const char *args,
						  size_t len)
{
	(void)args;
	(void)len;
	s->thread_suffix = s->lldb = true;
	reply_ok(s);
	return HANDLER_REPLY;
}

enum handler_result handle_QListThreadsInStopReply(struct session *s, const char *args,
						   size_t len)
{
	(void)args;
	(void)len;
	s->list_threads = s->lldb = true;
	reply_ok(s);
	return HANDLER_REPLY;
}

enum handler_result handle_QEnableErrorStrings(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	s->error_strings = s->lldb = true;
	reply_ok(s);
	return HANDLER_REPLY;
}

/* Packets we accept and need do nothing for (QSetDetachOnError, QLaunchArch, ...). */
enum handler_result handle_ok_packet(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	reply_ok(s);
	return HANDLER_REPLY;
}

static void put_hex_field(struct session *s, const char *key, const char *value)
{
	buf_printf(&s->reply, "%s:", key);
	buf_put_hex_str(&s->reply, value);
	buf_putc(&s->reply, ';');
}

enum handler_result handle_qHostInfo(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	struct utsname u;
	uname(&u);
	int major = 0, minor = 0, patch = 0;
	sscanf(u.release, "%d.%d.%d", &major, &minor, &patch);
	put_hex_field(s, "triple", "x86_64-pc-linux-gnu");
	buf_puts(&s->reply, "ptrsize:8;endian:little;");
	buf_printf(&s->reply, "os_version:%d.%d.%d;", major, minor, patch);
	put_hex_field(s, "os_build", u.release);
	put_hex_field(s, "os_kernel", u.version);
	put_hex_field(s, "hostname", u.nodename);
	buf_printf(&s->reply, "vm-page-size:%ld;", sysconf(_SC_PAGESIZE));
	buf_puts(&s->reply, "watchpoint_exceptions_received:after;");
	return HANDLER_REPLY;
}

enum handler_result handle_qProcessInfo(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	struct tgt_process_info pi;
	if (!s->target || s->target->ops->process_info(s->target, &pi) < 0) {
		buf_puts(&s->reply, "E44");
		return HANDLER_REPLY;
	}
	buf_printf(&s->reply,
		   "pid:%x;parent-pid:%x;real-uid:%x;real-gid:%x;effective-uid:%x;"
		   "effective-gid:%x;",
		   pi.pid, pi.ppid, pi.uid, pi.gid, pi.euid, pi.egid);
	put_hex_field(s, "triple", "x86_64-pc-linux-gnu");
	buf_puts(&s->reply, "ostype:linux;endian:little;ptrsize:8;");
	return HANDLER_REPLY;
}

enum handler_result handle_qC(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	if (need_target(s))
		return HANDLER_REPLY;
	buf_puts(&s->reply, "QC");
	reply_tid(s, s->stop_tid > 0 ? s->stop_tid : s->pid);
	return HANDLER_REPLY;
}

enum handler_result handle_qfThreadInfo(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	if (!s->target) {
		buf_putc(&s->reply, 'l');
		return HANDLER_REPLY;
	}
	pid_t tids[MAX_THREADS];
	int n = s->target->ops->threads(s->target, tids, MAX_THREADS);
	if (n <= 0) {
		buf_putc(&s->reply, 'l');
		return HANDLER_REPLY;
	}
	buf_putc(&s->reply, 'm');
	for (int i = 0; i < n && i < MAX_THREADS; i++) {
		if (i)
			buf_putc(&s->reply, ',');
		reply_tid(s, tids[i]);
	}
	return HANDLER_REPLY;
}

enum handler_result handle_qsThreadInfo(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	buf_putc(&s->reply, 'l');
	return HANDLER_REPLY;
}

enum handler_result handle_qAttached(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	buf_puts(&s->reply, s->target && !s->launched ? "1" : "0");
	return HANDLER_REPLY;
}

enum handler_result handle_qSymbol(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	reply_ok(s);
	return HANDLER_REPLY;
}

enum handler_result handle_qWatchpointSupportInfo(struct session *s, const char *args,
						  size_t len)
{
	(void)args;
	(void)len;
	buf_puts(&s->reply, "num:4;");
	return HANDLER_REPLY;
}

/* QPassSignals:<sig>;<sig>... in the client's numbering; each list replaces the last. */
enum handler_result handle_QPassSignals(struct session *s, const char *args, size_t len)
{
	const char *p = args, *end = args + len;
	uint64_t set[2] = {0, 0};
	if (p < end && *p == ':')
		p++;
	while (p < end) {
		uint64_t sig;
		if (hex_parse_u64(&p, end, &sig) < 0) {
			reply_error(s, EINVAL, "QPassSignals: bad signal list");
			return HANDLER_REPLY;
		}
		int lsig = session_sig_from_client(s, (int)sig);
		if (lsig > 0 && lsig < 128)
			set[lsig / 64] |= 1ull << (lsig % 64);
		if (p < end && *p == ';')
			p++;
	}
	s->pass_signals[0] = set[0];
	s->pass_signals[1] = set[1];
	reply_ok(s);
	return HANDLER_REPLY;
}

enum handler_result handle_QProgramSignals(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	reply_ok(s);
	return HANDLER_REPLY;
}

enum handler_result handle_qGetWorkingDir(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	char cwd[4096];
	if (s->launch.cwd)
		snprintf(cwd, sizeof(cwd), "%s", s->launch.cwd);
	else if (!getcwd(cwd, sizeof(cwd))) {
		reply_error(s, errno, "cannot tell the working directory: %s", strerror(errno));
		return HANDLER_REPLY;
	}
	buf_put_hex_str(&s->reply, cwd);
	return HANDLER_REPLY;
}

enum handler_result handle_vCont_query(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	buf_puts(&s->reply, "vCont;c;C;s;S");
	return HANDLER_REPLY;
}

/* Hg<tid> / Hc<tid>: select the thread for registers and memory / for c and s. */
enum handler_result handle_H(struct session *s, const char *args, size_t len)
{
	if (len < 1 || (args[0] != 'g' && args[0] != 'c')) {
		reply_error(s, EINVAL, "H: expected Hg or Hc");
		return HANDLER_REPLY;
	}
	const char *p = args + 1;
	int64_t pid = 0, tid = 0;
	if (ptid_parse(&p, args + len, &pid, &tid) < 0) {
		reply_error(s, EINVAL, "H: bad thread id");
		return HANDLER_REPLY;
	}
	if (!s->target) {
		reply_error(s, ESRCH, "no process is being debugged");
		return HANDLER_REPLY;
	}
	if (tid > 0 && !thread_known(s, (pid_t)tid))
		return HANDLER_REPLY;
	if (args[0] == 'g')
		s->g_tid = (pid_t)tid;
	else
		s->c_tid = (pid_t)tid;
	reply_ok(s);
	return HANDLER_REPLY;
}

/* T<tid>: is this thread alive? */
enum handler_result handle_T(struct session *s, const char *args, size_t len)
{
	const char *p = args;
	int64_t pid = 0, tid = 0;
	struct tgt_thread_stop st;
	if (ptid_parse(&p, args + len, &pid, &tid) < 0 || !s->target || tid <= 0 ||
	    s->target->ops->thread_stop(s->target, (pid_t)tid, &st) < 0) {
		reply_error(s, ESRCH, "no such thread");
		return HANDLER_REPLY;
	}
	reply_ok(s);
	return HANDLER_REPLY;
}

/* qFileLoadAddress:hex(path) -> the load address of that file in the process. */
enum handler_result handle_qFileLoadAddress(struct session *s, const char *args, size_t len)
{
	char path[4096];
	if (len < 1 || hex_decode_str(args + 1, len - 1, path, sizeof(path)) < 0) {
		reply_error(s, EINVAL, "qFileLoadAddress: bad path");
		return HANDLER_REPLY;
	}
	if (need_target(s))
		return HANDLER_REPLY;
	struct tgt_region *r = NULL;
	size_t n = 0;
	if (s->target->ops->regions(s->target, &r, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			if (strcmp(r[i].path, path) == 0 && r[i].offset == 0) {
				buf_put_hex_u64(&s->reply, r[i].start);
				free(r);
				return HANDLER_REPLY;
			}
		}
	}
	free(r);
	reply_error(s, ENOENT, "%s is not loaded", path);
	return HANDLER_REPLY;
}

/* qSaveCore;path-hint:hex(path)[;style:NAME] -> core-path:hex(path): LLDB's `process
 * save-core` written by the server, as a skinny core (modified-memory style by default). */
enum handler_result handle_qSaveCore(struct session *s, const char *args, size_t len)
{
	char path[4096] = "", style_name[32] = "modified-memory";
	const char *p = args, *end = args + len;
	while (p < end && *p == ';') {
		const char *key = ++p;
		const char *colon = memchr(p, ':', (size_t)(end - p));
		const char *semi = memchr(p, ';', (size_t)(end - p));
		if (!colon || (semi && semi < colon))
			goto bad;
		const char *val = colon + 1, *vend = semi ? semi : end;
		size_t kl = (size_t)(colon - key), vl = (size_t)(vend - val);
		if (kl == 9 && memcmp(key, "path-hint", 9) == 0) {
			if (hex_decode_str(val, vl, path, sizeof(path)) < 0)
				goto bad;
		} else if (kl == 5 && memcmp(key, "style", 5) == 0 && vl < sizeof(style_name)) {
			memcpy(style_name, val, vl);
			style_name[vl] = 0;
		} else {
			reply_error(s, EINVAL, "Unsupported qSaveCore option");
			return HANDLER_REPLY;
		}
		p = vend;
	}
	if (!path[0])
		goto bad;
	enum core_style style;
	if (core_style_parse(style_name, &style) < 0) {
		reply_error(s, EINVAL, "unknown core style '%s' (full, modified-memory, stacks)",
			    style_name);
		return HANDLER_REPLY;
	}
	if (need_target(s))
		return HANDLER_REPLY;
	char err[512] = "";
	int rc = core_write(s->target, path, style, NULL, err, sizeof(err));
	if (rc < 0) {
		reply_error(s, rc, "cannot save the core to %s: %s", path, err[0] ? err : strerror(-rc));
		return HANDLER_REPLY;
	}
	buf_puts(&s->reply, "core-path:");
	buf_put_hex_str(&s->reply, path);
	buf_putc(&s->reply, ';');
	return HANDLER_REPLY;
bad:
	reply_error(s, EINVAL, "expected qSaveCore;path-hint:<hex path>");
	return HANDLER_REPLY;
}
