/* server/handlers/decode.c — decoding on the server: jPTStubTraceDecode pages through a traced
 * thread's instructions, records (blocks, gaps, events) or call tree as JSON, and
 * jPTStubTraceSummary gives per-thread totals. The trace comes from the session's collector;
 * the code image comes from the target's mappings. The last decode is kept (keyed by process
 * and the trace bytes), so a client paging through one stop decodes once. Schemas: README,
 * "Server-side decoding". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/collector.h"
#include "decoder/decoder.h"
#include "protocol/json.h"
#include "server/handlers/handlers.h"

#define DECODE_DEFAULT_COUNT 1000u
#define DECODE_MAX_COUNT 100000u
/* Room for the escaping on the wire ('}' and friends take two bytes) and the framing. */
#define DECODE_REPLY_LIMIT (SESSION_PACKET_SIZE - 1024)
#define DECODE_TOP_FUNCTIONS 10
#define DECODE_MAX_THREADS 1024
#define DECODE_PARALLEL_BYTES (1u << 20)

/* The last decoded trace. The server runs one loop thread, so one static slot serves. */
static struct decode_cache {
	struct dec_cache *sections; /* file sections, shared by every image we build */
	bool valid;
	struct target *target;
	pid_t pid, tid;
	struct buf pt; /* the bytes decoded */
	struct dec_image *img;
	struct dec_symbols *syms;
	struct dec_walker *walker;
	struct dec_trace trace;
	struct dec_calls calls;
	bool have_calls;
} dc = {.pt = BUF_INIT};

static void cache_drop(void)
{
	if (dc.have_calls)
		dec_calls_fini(&dc.calls);
	if (dc.valid)
		dec_trace_fini(&dc.trace);
	dec_walker_free(dc.walker);
	dec_symbols_free(dc.syms);
	dec_image_free(dc.img);
	dc.walker = NULL;
	dc.syms = NULL;
	dc.img = NULL;
	dc.valid = dc.have_calls = false;
	buf_reset(&dc.pt);
}

static ssize_t read_target(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct target *t = ctx;
	return t->ops->read_memory(t, addr, buf, len);
}

static void decode_options(struct collector *c, size_t bytes, struct dec_options *o)
{
	memset(o, 0, sizeof(*o));
	if (bytes >= DECODE_PARALLEL_BYTES) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		o->threads = n > 4 ? 4 : n > 1 ? (unsigned)n : 1;
	}
	if (c->ops->cpu_identity && strcmp(c->ops->name, "perf-intel-pt") == 0) {
		struct col_cpu cpu;
		c->ops->cpu_identity(c, &cpu);
		o->cpu_intel = strcmp(cpu.vendor, "GenuineIntel") == 0;
		o->cpu_family = (uint16_t)cpu.family;
		o->cpu_model = (uint8_t)cpu.model;
		o->cpu_stepping = (uint8_t)cpu.stepping;
	}
}

/* Decodes tid's current trace (or reuses the last decode of the same bytes) into dc. 0, or
 * -errno with the sentence for the client in msg. */
static int decode_load(struct session *s, pid_t tid, char *msg, size_t msglen)
{
	struct collector *c = s->collector;
	struct buf pt = BUF_INIT;
	struct tgt_region *regions = NULL;
	size_t nregions = 0;
	struct dec_options opts;
	int err;

	if (!s->target) {
		snprintf(msg, msglen, "no process is being debugged");
		return -ESRCH;
	}
	if (!c) {
		snprintf(msg, msglen, "no trace for thread %d: tracing was not started", tid);
		return -ENOENT;
	}
	ssize_t n = c->ops->read_thread(c, tid, &pt);
	if (n < 0) {
		snprintf(msg, msglen, "no trace for thread %d: %s", tid,
			 c->error[0] ? c->error : strerror((int)-n));
		buf_fini(&pt);
		return (int)n;
	}
	if (dc.valid && dc.target == s->target && dc.pid == s->pid && dc.tid == tid &&
	    dc.pt.len == pt.len && (!pt.len || memcmp(dc.pt.data, pt.data, pt.len) == 0)) {
		buf_fini(&pt);
		return 0;
	}
	cache_drop();
	if (!dc.sections && !(dc.sections = dec_cache_alloc())) {
		err = -ENOMEM;
		goto fail;
	}
	err = s->target->ops->regions(s->target, &regions, &nregions);
	if (err < 0)
		goto fail;
	err = dec_image_alloc(dc.sections, regions, nregions, read_target, s->target, &dc.img);
	if (err < 0)
		goto fail;
	if (dec_symbols_alloc(regions, nregions, &dc.syms) < 0)
		dc.syms = NULL; /* addresses only */
	dc.walker = dec_walker_alloc(dc.img);
	if (!dc.walker) {
		err = -ENOMEM;
		goto fail;
	}
	dec_trace_init(&dc.trace);
	dc.valid = true;
	decode_options(c, pt.len, &opts);
	err = dec_decode(dc.img, pt.data, pt.len, &opts, &dc.trace);
	if (err < 0)
		goto fail;
	buf_append(&dc.pt, pt.data, pt.len);
	dc.target = s->target;
	dc.pid = s->pid;
	dc.tid = tid;
	free(regions);
	buf_fini(&pt);
	return 0;
fail:
	cache_drop();
	free(regions);
	buf_fini(&pt);
	snprintf(msg, msglen, "cannot decode the trace of thread %d: %s", tid, strerror(-err));
	return err;
}

/* decode_load, replying with the error on failure (then false). */
static bool decode_thread(struct session *s, pid_t tid)
{
	char msg[600];
	int err = decode_load(s, tid, msg, sizeof(msg));

	if (err < 0)
		reply_error_text(s, -err, "%s", msg);
	return err == 0;
}

int decode_thread_trace(struct session *s, pid_t tid, struct dec_walker **walker,
			const struct dec_trace **trace, char *msg, size_t msglen)
{
	int err = decode_load(s, tid, msg, msglen);

	if (err < 0)
		return err;
	*walker = dc.walker;
	*trace = &dc.trace;
	return 0;
}

static bool build_calls(struct session *s)
{
	if (dc.have_calls)
		return true;
	dec_calls_init(&dc.calls);
	int err = dec_calls_build(dc.walker, dc.syms, &dc.trace, &dc.calls);
	if (err < 0) {
		dec_calls_fini(&dc.calls);
		reply_error_text(s, -err, "cannot build the call tree: %s", strerror(-err));
		return false;
	}
	dc.have_calls = true;
	return true;
}

static bool tsc_conv(struct collector *c, struct dec_tsc_conv *out)
{
	struct col_tsc_conversion conv;
	memset(out, 0, sizeof(*out));
	if (!c->ops->tsc_conversion || c->ops->tsc_conversion(c, &conv) < 0)
		return false;
	out->time_zero = conv.time_zero;
	out->time_mult = conv.time_mult;
	out->time_shift = conv.time_shift;
	out->valid = true;
	return true;
}

/* Bytes the payload takes on the wire: '#', '$', '}' and '*' are escaped. */
static size_t wire_size(const struct buf *b)
{
	size_t n = b->len;
	for (size_t i = 0; i < b->len; i++) {
		char ch = b->data[i];
		n += ch == '#' || ch == '$' || ch == '}' || ch == '*';
	}
	return n;
}

/* ":{json}" → a parsed object; on failure replies and returns NULL. */
static yajl_val parse_args(struct session *s, const char *args, size_t len, const char *packet)
{
	struct buf text = BUF_INIT, err = BUF_INIT;
	yajl_val v = NULL;

	if (len && *args == ':') {
		args++;
		len--;
	}
	buf_append(&text, args, len);
	buf_putc(&text, '\0');
	if (len == 0)
		v = yajl_tree_parse("{}", NULL, 0);
	else if (json_parse(text.data, &v, &err) < 0)
		reply_error_text(s, EINVAL, "%s: bad JSON: %s", packet, err.len ? err.data : "?");
	if (v && !YAJL_IS_OBJECT(v)) {
		reply_error_text(s, EINVAL, "%s: the argument must be a JSON object", packet);
		yajl_tree_free(v);
		v = NULL;
	}
	buf_fini(&text);
	buf_fini(&err);
	return v;
}

/* Replies and returns false when obj has a key not in keys. */
static bool known_keys(struct session *s, yajl_val obj, const char *const *keys,
		       const char *packet)
{
	for (size_t i = 0; i < obj->u.object.len; i++) {
		const char *k = obj->u.object.keys[i];
		bool ok = false;
		for (const char *const *p = keys; *p && !ok; p++)
			ok = strcmp(*p, k) == 0;
		if (!ok) {
			reply_error_text(s, EINVAL, "%s: unknown key \"%s\"", packet, k);
			return false;
		}
	}
	return true;
}

/* The result of an optional json_get_*: absent keeps the default; a wrong type replies. */
static bool opt(struct session *s, int rc, struct buf *err)
{
	bool ok = rc == 0 || rc == -ENOENT;
	if (!ok)
		reply_error_text(s, EINVAL, "%.*s", (int)err->len, err->data);
	buf_reset(err);
	return ok;
}

static pid_t default_tid(struct session *s)
{
	if (s->g_tid > 0)
		return s->g_tid;
	return s->stop_tid > 0 ? s->stop_tid : s->pid;
}

enum decode_view { VIEW_INSNS, VIEW_BLOCKS, VIEW_CALLS };

struct decode_req {
	pid_t tid;
	enum decode_view view;
	uint64_t offset, count;
	bool from_newest;
	struct dec_json_opts jo;
	struct dec_tsc_conv conv;
};

static const char *const decode_keys[] = {
	"tid",	  "view",	 "offset", "count",  "fromNewest", "symbols",
	"source", "disassembly", "syntax", "timestamps", NULL,
};

static bool parse_decode(struct session *s, yajl_val obj, struct decode_req *r)
{
	const char *P = "jPTStubTraceDecode", *view = "instructions", *syntax = "att";
	uint64_t tid = 0;

	memset(r, 0, sizeof(*r));
	r->count = DECODE_DEFAULT_COUNT;
	r->jo.symbols = r->jo.disassembly = true;
	struct buf e = BUF_INIT;
	bool ok = known_keys(s, obj, decode_keys, P) &&
		  opt(s, json_get_uint64(obj, "tid", &tid, &e), &e) &&
		  opt(s, json_get_string(obj, "view", &view, &e), &e) &&
		  opt(s, json_get_uint64(obj, "offset", &r->offset, &e), &e) &&
		  opt(s, json_get_uint64(obj, "count", &r->count, &e), &e) &&
		  opt(s, json_get_bool(obj, "fromNewest", &r->from_newest, &e), &e) &&
		  opt(s, json_get_bool(obj, "symbols", &r->jo.symbols, &e), &e) &&
		  opt(s, json_get_bool(obj, "source", &r->jo.source, &e), &e) &&
		  opt(s, json_get_bool(obj, "disassembly", &r->jo.disassembly, &e), &e) &&
		  opt(s, json_get_string(obj, "syntax", &syntax, &e), &e) &&
		  opt(s, json_get_bool(obj, "timestamps", &r->jo.timestamps, &e), &e);
	buf_fini(&e);
	if (!ok)
		return false;
	if (strcmp(view, "instructions") == 0)
		r->view = VIEW_INSNS;
	else if (strcmp(view, "blocks") == 0)
		r->view = VIEW_BLOCKS;
	else if (strcmp(view, "calls") == 0)
		r->view = VIEW_CALLS;
	else {
		reply_error_text(s, EINVAL,
				 "%s: \"view\" must be \"instructions\", \"blocks\" or \"calls\"", P);
		return false;
	}
	if (strcmp(syntax, "att") == 0)
		r->jo.intel = false;
	else if (strcmp(syntax, "intel") == 0)
		r->jo.intel = true;
	else {
		reply_error_text(s, EINVAL, "%s: \"syntax\" must be \"att\" or \"intel\"", P);
		return false;
	}
	if (tid > 0x7fffffff) {
		reply_error_text(s, EINVAL, "%s: \"tid\" out of range", P);
		return false;
	}
	r->tid = tid ? (pid_t)tid : default_tid(s);
	if (r->count > DECODE_MAX_COUNT)
		r->count = DECODE_MAX_COUNT;
	if (r->jo.source)
		r->jo.symbols = true;
	return true;
}

static const char *view_name(enum decode_view v)
{
	return v == VIEW_INSNS ? "instructions" : v == VIEW_BLOCKS ? "blocks" : "calls";
}

/* One page as a whole JSON reply into out. */
static int gen_page(const struct decode_req *r, uint64_t total, uint64_t first, uint64_t n,
		    struct buf *out)
{
	struct json_gen j;
	int err = 0;

	buf_reset(out);
	json_gen_init(&j, out, false);
	json_map_begin(&j);
	json_key(&j, "tid");
	json_int(&j, r->tid);
	json_key(&j, "view");
	json_string(&j, view_name(r->view));
	json_key(&j, "total");
	json_uint64(&j, total);
	json_key(&j, "offset");
	json_uint64(&j, r->offset);
	json_key(&j, "fromNewest");
	json_bool(&j, r->from_newest);
	json_key(&j, "first");
	json_uint64(&j, first);
	json_key(&j, "count");
	json_uint64(&j, n);
	json_key(&j, "next");
	if (r->offset + n < total)
		json_uint64(&j, r->offset + n);
	else
		json_null(&j);
	json_key(&j, "gaps");
	json_uint64(&j, dc.trace.ngaps);
	json_key(&j, "items");
	/* The decoder writes the array straight into the yajl handle. */
	if (r->view == VIEW_INSNS)
		err = dec_json_insns(j.g, dc.walker, &dc.trace, first, n, dc.syms, &r->jo);
	else if (r->view == VIEW_BLOCKS)
		err = dec_json_records(j.g, &dc.trace, first, n, dc.syms, &r->jo);
	else
		err = dec_json_calls(j.g, &dc.calls, first, n, r->jo.symbols ? dc.syms : NULL);
	j.key_pending = false; /* the array is the key's value */
	json_map_end(&j);
	if (!err)
		err = json_gen_finish(&j);
	json_gen_fini(&j);
	return err;
}

enum handler_result handle_jPTStubTraceDecode(struct session *s, const char *args, size_t len)
{
	struct decode_req r;
	struct buf out = BUF_INIT;
	yajl_val obj = parse_args(s, args, len, "jPTStubTraceDecode");
	uint64_t total, first = 0, n;
	int err;

	if (!obj)
		return HANDLER_REPLY;
	bool ok = parse_decode(s, obj, &r);
	yajl_tree_free(obj);
	if (!ok || !decode_thread(s, r.tid))
		return HANDLER_REPLY;
	if (r.jo.timestamps && dc.trace.has_tsc && tsc_conv(s->collector, &r.conv))
		r.jo.tsc_conv = &r.conv;
	if (r.view == VIEW_CALLS && !build_calls(s))
		return HANDLER_REPLY;
	total = r.view == VIEW_INSNS ? dc.trace.ninsn
		: r.view == VIEW_BLOCKS ? dc.trace.n
					: dc.calls.n;
	/* Shrink the page until it fits the packet; the cursor says where to go on. */
	for (uint64_t want = r.count;;) {
		n = dec_page(total, r.offset, want, r.from_newest, &first);
		err = gen_page(&r, total, first, n, &out);
		if (err < 0)
			break;
		size_t size = wire_size(&out);
		if (size <= DECODE_REPLY_LIMIT)
			break;
		if (n <= 1) {
			err = -EMSGSIZE;
			break;
		}
		uint64_t scaled = (uint64_t)((double)n * DECODE_REPLY_LIMIT / (double)size * 0.95);
		want = scaled >= n ? n - 1 : scaled ? scaled : 1;
	}
	if (err < 0)
		reply_error_text(s, -err, "jPTStubTraceDecode: %s", strerror(-err));
	else
		buf_append(&s->reply, out.data, out.len);
	buf_fini(&out);
	return HANDLER_REPLY;
}

static const char *const summary_keys[] = {"tid", NULL};

enum handler_result handle_jPTStubTraceSummary(struct session *s, const char *args, size_t len)
{
	const char *P = "jPTStubTraceSummary";
	yajl_val obj = parse_args(s, args, len, P);
	struct col_thread_state *ts = NULL;
	pid_t *tids = NULL;
	size_t ntids = 0;
	uint64_t tid = 0;
	struct buf out = BUF_INIT, one = BUF_INIT;

	if (!obj)
		return HANDLER_REPLY;
	struct buf e = BUF_INIT;
	bool ok = known_keys(s, obj, summary_keys, P) &&
		  opt(s, json_get_uint64(obj, "tid", &tid, &e), &e);
	buf_fini(&e);
	yajl_tree_free(obj);
	if (!ok)
		return HANDLER_REPLY;
	struct collector *c = s->collector;
	if (!c) {
		reply_error_text(s, ENOENT, "no trace: tracing was not started");
		return HANDLER_REPLY;
	}
	if (tid) {
		tids = malloc(sizeof(*tids));
		if (tids)
			tids[ntids++] = (pid_t)tid;
	} else {
		ts = calloc(DECODE_MAX_THREADS, sizeof(*ts));
		tids = calloc(DECODE_MAX_THREADS, sizeof(*tids));
		size_t k = ts && tids ? c->ops->threads(c, ts, DECODE_MAX_THREADS) : 0;
		for (size_t i = 0; i < k && i < DECODE_MAX_THREADS; i++)
			tids[ntids++] = ts[i].tid;
	}
	if (!tids) {
		reply_error_text(s, ENOMEM, "%s: out of memory", P);
		goto done;
	}
	if (!ntids) {
		reply_error_text(s, ENOENT, "no trace: no thread is traced");
		goto done;
	}
	buf_puts(&out, "{\"threads\":[");
	bool truncated = false;
	size_t done_threads = 0;
	for (size_t i = 0; i < ntids; i++) {
		struct json_gen j;
		struct dec_tsc_conv conv;

		buf_reset(&s->reply);
		if (!decode_thread(s, tids[i])) {
			if (tid)
				goto done; /* the one thread asked for: its error is the reply */
			buf_reset(&s->reply);
			continue;
		}
		bool have_conv = dc.trace.has_tsc && tsc_conv(c, &conv);
		buf_reset(&one);
		json_gen_init(&j, &one, false);
		json_map_begin(&j);
		json_key(&j, "tid");
		json_int(&j, tids[i]);
		json_key(&j, "traceBytes");
		json_uint64(&j, dc.pt.len);
		json_key(&j, "summary");
		dec_json_summary(j.g, dc.walker, dc.syms, &dc.trace, DECODE_TOP_FUNCTIONS,
				 have_conv ? &conv : NULL);
		j.key_pending = false;
		json_map_end(&j);
		json_gen_fini(&j);
		if (wire_size(&out) + wire_size(&one) + 64 > DECODE_REPLY_LIMIT) {
			truncated = true;
			break;
		}
		if (done_threads++)
			buf_putc(&out, ',');
		buf_append(&out, one.data, one.len);
	}
	buf_printf(&out, "],\"truncated\":%s}", truncated ? "true" : "false");
	buf_reset(&s->reply);
	buf_append(&s->reply, out.data, out.len);
done:
	free(ts);
	free(tids);
	buf_fini(&out);
	buf_fini(&one);
	return HANDLER_REPLY;
}
