/* server/handlers/xfer.c — qXfer:<object>:read:<annex>:<offset>,<length>. Each object is
 * built whole (they are small) and the requested window is returned as m/l chunks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/hex.h"
#include "protocol/xml.h"
#include "server/handlers/handlers.h"

#define MAX_THREADS 4096

static int xfer_threads(struct session *s, struct buf *out)
{
	pid_t tids[MAX_THREADS];
	int n = s->target->ops->threads(s->target, tids, MAX_THREADS);
	if (n < 0)
		return n;
	buf_puts(out, "<?xml version=\"1.0\"?>\n<threads>\n");
	for (int i = 0; i < n && i < MAX_THREADS; i++) {
		char name[64];
		if (s->multiprocess)
			buf_printf(out, "<thread id=\"p%x.%x\"", s->pid, tids[i]);
		else
			buf_printf(out, "<thread id=\"%x\"", tids[i]);
		if (s->target->ops->thread_name(s->target, tids[i], name, sizeof(name)) == 0) {
			buf_puts(out, " name=\"");
			xml_escape(out, name);
			buf_putc(out, '"');
		}
		buf_puts(out, "/>\n");
	}
	buf_puts(out, "</threads>\n");
	return 0;
}

static int xfer_exec_file(struct session *s, struct buf *out)
{
	struct tgt_process_info pi;
	int rc = s->target->ops->process_info(s->target, &pi);
	if (rc < 0)
		return rc;
	if (!pi.exe[0])
		return -ENOENT;
	buf_puts(out, pi.exe);
	return 0;
}

static int xfer_siginfo(struct session *s, struct buf *out)
{
	pid_t tid = s->g_tid > 0 ? s->g_tid : s->stop_tid;
	return s->target->ops->read_siginfo(s->target, tid, out);
}

/* Builds the whole object named by obj into out. */
static int xfer_build(struct session *s, const char *obj, const char *annex, struct buf *out)
{
	if (strcmp(obj, "features") == 0) {
		if (strcmp(annex, "target.xml") != 0)
			return -ENOENT;
		regs_target_xml(s, out);
		return 0;
	}
	if (!s->target)
		return -ESRCH;
	if (strcmp(obj, "auxv") == 0)
		return s->target->ops->read_auxv(s->target, out);
	if (strcmp(obj, "threads") == 0)
		return xfer_threads(s, out);
	if (strcmp(obj, "exec-file") == 0)
		return xfer_exec_file(s, out);
	if (strcmp(obj, "libraries-svr4") == 0)
		return svr4_library_list(s->target, out, !s->lldb);
	if (strcmp(obj, "siginfo") == 0)
		return xfer_siginfo(s, out);
	return -EOPNOTSUPP;
}

/* args: ":<object>:read:<annex>:<offset>,<length>" */
enum handler_result handle_qXfer(struct session *s, const char *args, size_t len)
{
	char obj[64], annex[256];
	const char *p = args, *end = args + len;
	if (p >= end || *p++ != ':')
		goto bad;
	const char *colon = memchr(p, ':', (size_t)(end - p));
	if (!colon || (size_t)(colon - p) >= sizeof(obj))
		goto bad;
	memcpy(obj, p, (size_t)(colon - p));
	obj[colon - p] = 0;
	p = colon + 1;
	if ((size_t)(end - p) < 5 || memcmp(p, "read:", 5) != 0)
		return HANDLER_REPLY; /* writes are not supported: empty reply */
	p += 5;
	colon = memchr(p, ':', (size_t)(end - p));
	if (!colon || (size_t)(colon - p) >= sizeof(annex))
		goto bad;
	memcpy(annex, p, (size_t)(colon - p));
	annex[colon - p] = 0;
	uint64_t off, n;
	const char *rest;
	if (parse_addr_len(colon + 1, (size_t)(end - colon - 1), &off, &n, &rest) < 0 || rest != end)
		goto bad;
	if (strcmp(obj, "btrace") == 0 || strcmp(obj, "btrace-conf") == 0)
		return btrace_xfer(s, obj, annex, off, n);

	struct buf data = BUF_INIT;
	int rc = xfer_build(s, obj, annex, &data);
	if (rc == -EOPNOTSUPP) {
		buf_fini(&data);
		return HANDLER_REPLY;
	}
	if (rc < 0)
		reply_error(s, rc, "cannot read %s: %s", obj,
			    s->target && s->target->error[0] ? s->target->error : strerror(-rc));
	else
		reply_xfer_chunk(s, data.data, data.len, off, n);
	buf_fini(&data);
	return HANDLER_REPLY;
bad:
	reply_error(s, EINVAL, "expected qXfer:<object>:read:<annex>:<offset>,<length>");
	return HANDLER_REPLY;
}
