/* server/handlers/btrace.c — GDB's branch trace packets: Qbtrace:pt, Qbtrace:bts,
 * Qbtrace:off, Qbtrace-conf:pt:size, Qbtrace-conf:bts:size, qXfer:btrace:read (all/new/delta)
 * and qXfer:btrace-conf:read, over the same collector as the LLDB packets (trace.c). Both
 * formats capture PT; for bts the server decodes it and serves the linear blocks, so GDB
 * needs neither libipt nor a CPU with BTS. A read-only observer (session.h) reads the threads
 * its controller enabled without moving their read points. Wire facts:
 * shared/spec/gdb-protocol.md §10. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/collector.h"
#include "decoder/decoder.h"
#include "protocol/hex.h"
#include "server/handlers/handlers.h"
#include "server/regs.h"

#define BTRACE_DEFAULT_PT_SIZE 0x4000
#define BTRACE_DEFAULT_BTS_SIZE 0x10000

/* A thread GDB enabled, and what its last read returned (for `new` and `delta`). */
struct bt_thread {
	pid_t tid;
	bool bts;      /* GDB asked for bts: blocks decoded here from the PT capture */
	uint64_t size; /* the buffer it was started with */
	bool read_once;
	uint64_t last_len, last_hash; /* the trace bytes the last read saw */
	uint64_t last_ninsn, last_pc; /* bts: instructions decoded then, and the thread's pc */
};

struct btrace_state {
	uint64_t pt_size;  /* Qbtrace-conf:pt:size, applied at the next enable */
	uint64_t bts_size; /* Qbtrace-conf:bts:size (PT bytes for a bts thread) */
	struct bt_thread *threads;
	size_t nthreads;
	struct buf doc; /* the qXfer:btrace document served in chunks */
	bool doc_error; /* building it failed: later chunks error too */
	char doc_msg[512];
};

static struct btrace_state *state(struct session *s)
{
	if (!s->btrace) {
		struct btrace_state *b = calloc(1, sizeof(*b));
		if (!b)
			return NULL;
		b->pt_size = BTRACE_DEFAULT_PT_SIZE;
		b->bts_size = BTRACE_DEFAULT_BTS_SIZE;
		s->btrace = b;
	}
	return s->btrace;
}

void btrace_session_drop(struct session *s)
{
	struct btrace_state *b = s->btrace;
	if (!b)
		return;
	free(b->threads);
	buf_fini(&b->doc);
	free(b);
	s->btrace = NULL;
}

static struct bt_thread *find(struct btrace_state *b, pid_t tid)
{
	for (size_t i = 0; b && i < b->nthreads; i++)
		if (b->threads[i].tid == tid)
			return &b->threads[i];
	return NULL;
}

/* The threads GDB enabled: a read-only observer sees its controller's (and must not move
 * their read points); its own state holds only the document it is served. */
static struct btrace_state *enabled(struct session *s)
{
	if (s->observer)
		return s->controller ? s->controller->btrace : NULL;
	return s->btrace;
}

static pid_t btrace_thread(struct session *s)
{
	return s->g_tid > 0 ? s->g_tid : s->stop_tid;
}

/* The collector takes powers of two >= 4096; GDB's request is rounded up to one. */
static uint64_t pt_buffer_size(uint64_t want)
{
	uint64_t size = 4096;
	while (size < want && size < (1ull << 40))
		size <<= 1;
	return size;
}

static uint64_t fnv1a(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* The thread's pc, 0 when it cannot be read (an exited thread). */
static uint64_t thread_pc(struct session *s, pid_t tid)
{
	struct regcache rc;

	if (s->target->ops->read_regs(s->target, tid, &rc) < 0)
		return 0;
	return regcache_get_u64(&rc, RN_RIP);
}

/* Qbtrace:pt and Qbtrace:bts: both trace with the collector. */
static enum handler_result enable(struct session *s, bool bts)
{
	struct btrace_state *b = state(s);
	if (!s->target) {
		reply_error_text(s, ESRCH, "No process.");
		return HANDLER_REPLY;
	}
	pid_t tid = btrace_thread(s);
	if (!b || tid <= 0) {
		reply_error_text(s, EINVAL, "No such thread.");
		return HANDLER_REPLY;
	}
	if (find(b, tid)) {
		reply_error_text(s, EEXIST, "Btrace already enabled.");
		return HANDLER_REPLY;
	}
	struct collector *c = trace_collector(s);
	if (!c)
		return HANDLER_REPLY;
	struct bt_thread *grown = realloc(b->threads, (b->nthreads + 1) * sizeof(*grown));
	if (!grown) {
		reply_error_text(s, ENOMEM, "Out of memory.");
		return HANDLER_REPLY;
	}
	b->threads = grown;
	struct col_config cfg = COL_CONFIG_INIT;
	cfg.trace_size = pt_buffer_size(bts ? b->bts_size : b->pt_size);
	int rc = c->ops->start_thread(c, tid, &cfg);
	if (rc < 0) {
		reply_error_text(s, rc, "%s", c->error);
		return HANDLER_REPLY;
	}
	struct bt_thread *th = &b->threads[b->nthreads++];
	*th = (struct bt_thread){.tid = tid, .bts = bts, .size = cfg.trace_size};
	if (bts) {
		/* GDB starts a bts history with the current pc and reads `delta` from then. */
		th->read_once = true;
		th->last_hash = fnv1a(NULL, 0);
		th->last_pc = thread_pc(s, tid);
	}
	reply_ok(s);
	return HANDLER_REPLY;
}

enum handler_result handle_Qbtrace_pt(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	return enable(s, false);
}

enum handler_result handle_Qbtrace_bts(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	return enable(s, true);
}

enum handler_result handle_Qbtrace_off(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	struct btrace_state *b = s->btrace;
	pid_t tid = btrace_thread(s);
	struct bt_thread *th = b ? find(b, tid) : NULL;
	if (!th) {
		reply_error_text(s, ENOENT, "Branch tracing not enabled.");
		return HANDLER_REPLY;
	}
	struct collector *c = s->collector;
	if (c)
		c->ops->stop_thread(c, tid);
	*th = b->threads[--b->nthreads];
	reply_ok(s);
	return HANDLER_REPLY;
}

/* args: the size after "Qbtrace-conf:<format>:size=", 0x-hex or decimal. */
static enum handler_result conf_size(struct session *s, const char *args, size_t len, bool bts)
{
	char text[32];
	struct btrace_state *b = state(s);
	if (!b || len == 0 || len >= sizeof(text)) {
		reply_error_text(s, EINVAL, "Bad size value.");
		return HANDLER_REPLY;
	}
	memcpy(text, args, len);
	text[len] = 0;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 0);
	if (errno || *end || v == 0 || text[0] == '-') {
		reply_error_text(s, EINVAL, "Bad size value.");
		return HANDLER_REPLY;
	}
	if (bts)
		b->bts_size = v;
	else
		b->pt_size = v;
	reply_ok(s);
	return HANDLER_REPLY;
}

enum handler_result handle_Qbtrace_conf_pt_size(struct session *s, const char *args, size_t len)
{
	return conf_size(s, args, len, false);
}

enum handler_result handle_Qbtrace_conf_bts_size(struct session *s, const char *args, size_t len)
{
	return conf_size(s, args, len, true);
}

/* The bts document of th into doc: every block for `all`, and for `new` when anything
 * changed; for `delta` the blocks run since the last read, the oldest with begin 0 (GDB
 * puts its last pc there), or an error when they do not follow on from what GDB holds
 * (the ring wrapped, or the pc moved untraced): GDB then reads `new`. The read point stays
 * where it was on errors. */
static int bts_document(struct session *s, struct bt_thread *th, const struct buf *raw, bool delta,
			bool all, struct buf *doc, char *msg, size_t msglen)
{
	struct dec_walker *w;
	const struct dec_trace *t;
	struct dec_bts_block *blocks = NULL;
	uint64_t pc = thread_pc(s, th->tid);
	bool grown = th->read_once && raw->len >= th->last_len &&
		     fnv1a(raw->data, th->last_len) == th->last_hash;
	bool changed = !grown || raw->len != th->last_len || pc != th->last_pc;
	ssize_t n = 0;
	int err;

	if (!all && !changed) {
		dec_bts_xml(NULL, 0, doc);
		return 0;
	}
	err = decode_thread_trace(s, th->tid, &w, &t, msg, msglen);
	if (err < 0)
		return err;
	if (delta) {
		if (!grown || t->ninsn <= th->last_ninsn) {
			snprintf(msg, msglen, "Overflow.");
			return -EOVERFLOW;
		}
		n = dec_bts_blocks_since(w, t, th->last_ninsn, pc, &blocks);
		if (n > 0 && blocks[n - 1].begin != th->last_pc) {
			free(blocks);
			snprintf(msg, msglen, "Overflow.");
			return -EOVERFLOW;
		}
		if (n > 0)
			blocks[n - 1].begin = 0;
	} else {
		n = dec_bts_blocks(w, t, pc, &blocks);
	}
	if (n < 0) {
		snprintf(msg, msglen, "cannot build the blocks: %s", strerror((int)-n));
		return (int)n;
	}
	th->read_once = true;
	th->last_len = raw->len;
	th->last_hash = fnv1a(raw->data, raw->len);
	th->last_ninsn = t->ninsn;
	th->last_pc = pc;
	dec_bts_xml(blocks, (size_t)n, doc);
	free(blocks);
	return 0;
}

/* Builds the btrace document for the thread into b->doc, or returns -errno with msg. */
static int build_btrace(struct session *s, struct btrace_state *b, const char *annex, char *msg,
			size_t msglen)
{
	pid_t tid = btrace_thread(s);
	struct bt_thread *th = find(enabled(s), tid), copy;
	struct collector *c = s->collector;
	bool all = strcmp(annex, "all") == 0, fresh = strcmp(annex, "new") == 0,
	     delta = strcmp(annex, "delta") == 0;
	if (!all && !fresh && !delta) {
		snprintf(msg, msglen, "Bad annex.");
		return -EINVAL;
	}
	if (!th || !c) {
		snprintf(msg, msglen, "Btrace not enabled.");
		return -ENOENT;
	}
	if (s->observer) { /* reads from the controller's read point, leaves it there */
		copy = *th;
		th = &copy;
	}
	struct buf raw = BUF_INIT;
	ssize_t n = c->ops->read_thread(c, tid, &raw);
	if (n < 0) {
		snprintf(msg, msglen, "%s", c->error);
		buf_fini(&raw);
		return (int)n;
	}
	if (th->bts) {
		int rc = bts_document(s, th, &raw, delta, all, &b->doc, msg, msglen);
		buf_fini(&raw);
		return rc;
	}
	uint64_t hash = fnv1a(raw.data, raw.len);
	bool changed = !th->read_once || hash != th->last_hash || raw.len != th->last_len;
	if (delta && changed) {
		/* PT cannot be stitched: an error makes GDB ask for `new`, which must still see
		 * the change, so the read point stays. */
		snprintf(msg, msglen, "Generic Error.");
		buf_fini(&raw);
		return -EOPNOTSUPP;
	}
	th->read_once = true;
	th->last_hash = hash;
	th->last_len = raw.len;
	buf_puts(&b->doc, "<!DOCTYPE btrace SYSTEM \"btrace.dtd\">\n<btrace version=\"1.0\">\n");
	if (all || changed) {
		struct col_cpu cpu;
		c->ops->cpu_identity(c, &cpu);
		buf_puts(&b->doc, "<pt>\n<pt-config>\n");
		buf_printf(&b->doc,
			   "<cpu vendor=\"%s\" family=\"%u\" model=\"%u\" stepping=\"%u\"/>\n",
			   cpu.vendor, cpu.family, cpu.model, cpu.stepping);
		buf_puts(&b->doc, "</pt-config>\n");
		if (raw.len) {
			buf_puts(&b->doc, "<raw>\n");
			buf_put_hex(&b->doc, raw.data, raw.len);
			buf_puts(&b->doc, "\n</raw>\n");
		}
		buf_puts(&b->doc, "</pt>\n");
	}
	buf_puts(&b->doc, "</btrace>\n");
	buf_fini(&raw);
	return 0;
}

static void build_conf(struct session *s, struct buf *out)
{
	pid_t tid = btrace_thread(s);
	buf_puts(out, "<!DOCTYPE btrace-conf SYSTEM \"btrace-conf.dtd\">\n"
		      "<btrace-conf version=\"1.0\">");
	struct bt_thread *th = find(enabled(s), tid);
	if (th && s->collector) {
		struct collector *c = s->collector;
		size_t n = c->ops->threads(c, NULL, 0);
		struct col_thread_state *ts = calloc(n ? n : 1, sizeof(*ts));
		uint64_t size = th->size;
		/* The buffer; a recorded trace larger than that is all there. */
		n = ts ? c->ops->threads(c, ts, n) : 0;
		for (size_t i = 0; i < n; i++)
			if (ts[i].tid == tid && ts[i].trace_size > size)
				size = ts[i].trace_size;
		free(ts);
		buf_printf(out, "<%s size=\"0x%llx\"/>", th->bts ? "bts" : "pt",
			   (unsigned long long)size);
	}
	buf_puts(out, "</btrace-conf>\n");
}

enum handler_result btrace_xfer(struct session *s, const char *obj, const char *annex, uint64_t off,
				uint64_t n)
{
	struct btrace_state *b = state(s);
	if (!b) {
		reply_error_text(s, ENOMEM, "Out of memory.");
		return HANDLER_REPLY;
	}
	if (!s->target) {
		reply_error_text(s, ESRCH, "No process.");
		return HANDLER_REPLY;
	}
	if (s->observer && s->running) {
		dispatch_observer_busy(s, "qXfer:btrace");
		return HANDLER_REPLY;
	}
	if (strcmp(obj, "btrace-conf") == 0) {
		struct buf doc = BUF_INIT;
		build_conf(s, &doc);
		reply_xfer_chunk(s, doc.data, doc.len, off, n);
		buf_fini(&doc);
		return HANDLER_REPLY;
	}
	/* Built at offset 0, later chunks come from that copy. */
	if (off == 0) {
		buf_reset(&b->doc);
		int rc = build_btrace(s, b, annex, b->doc_msg, sizeof(b->doc_msg));
		b->doc_error = rc < 0;
		if (rc < 0)
			buf_reset(&b->doc);
	}
	if (b->doc_error)
		reply_error_text(s, EINVAL, "%s", b->doc_msg);
	else
		reply_xfer_chunk(s, b->doc.data, b->doc.len, off, n);
	return HANDLER_REPLY;
}
