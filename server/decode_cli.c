/* server/decode_cli.c — `ptstub decode`: pages through jPTStubTraceDecode replies (always from
 * the oldest item of the window, so output is in execution order) and prints them as text in
 * LLDB's shapes, as one JSON document, or as a Chrome trace of the call tree. While a debugger
 * holds the server, the command's connection is a read-only observer (server/session.h). */
#include "server/decode_cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/buf.h"
#include "protocol/json.h"
#include "server/query.h"

#define EXIT_OK 0
#define EXIT_ERROR_REPLY 1
#define EXIT_USAGE 2
#define PAGE_COUNT 5000u

struct decode_cli {
	const char *addr;
	long tid;
	const char *view; /* "instructions", "blocks", "calls" */
	bool json, view_set, source, intel, timestamps;
	uint64_t count;	  /* UINT64_MAX = all */
	const char *chrome_trace;
	int timeout_ms;

	struct query_conn *conn;
	/* text state */
	char last_fn[256];
	bool have_fn;
	/* JSON output: items of every page, comma-joined */
	struct buf items;
	uint64_t nitems;
};

static void decode_usage(FILE *f)
{
	fputs("usage: ptstub decode HOST:PORT|unix:PATH --tid N [--insns|--blocks|--calls] "
	      "[--json]\n"
	      "                     [--count N] [--source] [--intel] [--timestamps]\n"
	      "                     [--chrome-trace FILE] [--timeout SECONDS]\n"
	      "Print a traced thread's decoded trace from a running ptstub (tracing started by\n"
	      "jLLDBTraceStart or Qbtrace), also while a debugger is connected to it: the command\n"
	      "is then a read-only observer, served while the process is stopped.\n"
	      "Text looks like LLDB's `thread trace dump instructions`\n"
	      "(--insns, the default), `thread trace dump function-calls` (--calls), or lists\n"
	      "blocks, gaps and events (--blocks).\n"
	      "  --count N            the newest N items only (default: all)\n"
	      "  --json               one JSON document: {\"tid\",\"view\",\"total\",\"items\"}\n"
	      "  --chrome-trace FILE  write the call tree as Chrome trace JSON (Perfetto)\n",
	      f);
}

static int parse_args(int argc, char **argv, struct decode_cli *o)
{
	static const struct option longopts[] = {
		{"tid", required_argument, NULL, 't'},
		{"insns", no_argument, NULL, 'i'},
		{"blocks", no_argument, NULL, 'b'},
		{"calls", no_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"count", required_argument, NULL, 'n'},
		{"source", no_argument, NULL, 's'},
		{"intel", no_argument, NULL, 'I'},
		{"timestamps", no_argument, NULL, 'T'},
		{"chrome-trace", required_argument, NULL, 'C'},
		{"timeout", required_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	char *end;

	o->view = "instructions";
	o->count = UINT64_MAX;
	o->timeout_ms = 30000;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 't':
			o->tid = strtol(optarg, &end, 10);
			if (*end || o->tid <= 0)
				goto bad;
			break;
		case 'i':
		case 'b':
		case 'c':
			o->view = ch == 'i' ? "instructions" : ch == 'b' ? "blocks" : "calls";
			o->view_set = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'n':
			o->count = strtoull(optarg, &end, 10);
			if (*end)
				goto bad;
			break;
		case 's':
			o->source = true;
			break;
		case 'I':
			o->intel = true;
			break;
		case 'T':
			o->timestamps = true;
			break;
		case 'C':
			o->chrome_trace = optarg;
			break;
		case 'w':
			o->timeout_ms = (int)(strtod(optarg, &end) * 1000);
			if (*end || o->timeout_ms <= 0)
				goto bad;
			break;
		case 'h':
			decode_usage(stdout);
			return 1;
		default:
			goto bad;
		}
	}
	if (optind + 1 != argc || !o->tid)
		goto bad;
	o->addr = argv[optind];
	return 0;
bad:
	decode_usage(stderr);
	return -EINVAL;
}

static yajl_val member(yajl_val obj, const char *key)
{
	const char *path[] = {key, NULL};
	yajl_val v = yajl_tree_get(obj, path, yajl_t_any);
	return v && !YAJL_IS_NULL(v) ? v : NULL;
}

static uint64_t u64(yajl_val obj, const char *key)
{
	uint64_t v = 0;
	return json_get_uint64(obj, key, &v, NULL) == 0 ? v : 0;
}

static const char *str(yajl_val obj, const char *key)
{
	const char *v = NULL;
	return json_get_string(obj, key, &v, NULL) == 0 ? v : NULL;
}

/* One marker line (gap or event) inside instructions or blocks. */
static bool print_marker(struct decode_cli *o, yajl_val it, const char *kind)
{
	if (strcmp(kind, "gap") == 0) {
		printf("    [%" PRIu64 "] error: %s: %s (trace offset %" PRIu64 ")\n",
		       u64(it, "index"), str(it, "error") ?: "?", str(it, "message") ?: "",
		       u64(it, "trace_offset"));
		o->have_fn = false;
		return true;
	}
	if (strcmp(kind, "event") == 0) {
		printf("    [%" PRIu64 "] event: %s\n", u64(it, "index"), str(it, "event") ?: "?");
		o->have_fn = false;
		return true;
	}
	return false;
}

static void print_insn(struct decode_cli *o, yajl_val it)
{
	const char *fn = str(it, "function");
	uint64_t off = u64(it, "offset"), ip = u64(it, "ip");
	const char *name = fn ? fn : "";

	if (!o->have_fn || strcmp(name, o->last_fn) != 0) {
		if (fn)
			printf("  %s + %" PRIu64, fn, off);
		else
			printf("  0x%016" PRIx64, ip);
		if (str(it, "file"))
			printf(" at %s:%" PRIu64, str(it, "file"), u64(it, "line"));
		putchar('\n');
		snprintf(o->last_fn, sizeof(o->last_fn), "%s", name);
		o->have_fn = true;
	}
	printf("    [%" PRIu64 "] 0x%016" PRIx64, u64(it, "index"), ip);
	if (fn)
		printf(" <+%" PRIu64 ">", off);
	printf(": %s", str(it, "text") ?: "");
	if (member(it, "tsc"))
		printf("    tsc %" PRIu64, u64(it, "tsc"));
	putchar('\n');
}

static void print_block(struct decode_cli *o, yajl_val it)
{
	(void)o;
	printf("    [%" PRIu64 "] block 0x%016" PRIx64 "..0x%016" PRIx64 " insns %" PRIu64,
	       u64(it, "index"), u64(it, "ip"), u64(it, "end"), u64(it, "insns"));
	if (str(it, "function"))
		printf(" %s + %" PRIu64, str(it, "function"), u64(it, "offset"));
	putchar('\n');
}

static void print_call(yajl_val it)
{
	uint64_t first = u64(it, "first"), n = u64(it, "insns");
	printf("[%" PRIu64 "] %*s", u64(it, "index"), (int)(2 * u64(it, "depth")), "");
	if (str(it, "function"))
		printf("%s", str(it, "function"));
	else
		printf("0x%" PRIx64, u64(it, "address"));
	printf(" (entry 0x%" PRIx64 ") insns %" PRIu64 " [%" PRIu64 "..%" PRIu64 "]%s%s\n",
	       u64(it, "entry"), n, first, n ? first + n - 1 : first,
	       member(it, "tail") && YAJL_IS_TRUE(member(it, "tail")) ? " tail" : "",
	       member(it, "truncated") && YAJL_IS_TRUE(member(it, "truncated")) ? " truncated"
										  : "");
}

/* Chrome trace "X" events of the calls; time unit: one instruction = one microsecond. */
static void chrome_event(struct json_gen *j, yajl_val it, long tid)
{
	char name[64];
	const char *fn = str(it, "function");
	if (!fn) {
		snprintf(name, sizeof(name), "0x%" PRIx64, u64(it, "address"));
		fn = name;
	}
	json_map_begin(j);
	json_key(j, "name");
	json_string(j, fn);
	json_key(j, "ph");
	json_string(j, "X");
	json_key(j, "ts");
	json_uint64(j, u64(it, "first"));
	json_key(j, "dur");
	json_uint64(j, u64(it, "insns"));
	json_key(j, "pid");
	json_int(j, 1);
	json_key(j, "tid");
	json_int(j, tid);
	json_key(j, "args");
	json_map_begin(j);
	json_key(j, "depth");
	json_uint64(j, u64(it, "depth"));
	json_key(j, "insns");
	json_uint64(j, u64(it, "insns"));
	json_key(j, "entry");
	json_uint64(j, u64(it, "entry"));
	json_map_end(j);
	json_map_end(j);
}

/* Sends one page request; *doc is the parsed reply. 0, EXIT_ERROR_REPLY or EXIT_USAGE. */
static int request(struct decode_cli *o, const char *view, uint64_t offset, uint64_t count,
		   struct buf *text, yajl_val *doc)
{
	struct buf pkt = BUF_INIT, err = BUF_INIT;
	const char *reply;
	size_t len;
	int rc;

	buf_printf(&pkt,
		   "jPTStubTraceDecode:{\"tid\":%ld,\"view\":\"%s\",\"offset\":%" PRIu64
		   ",\"count\":%" PRIu64 ",\"symbols\":true,\"disassembly\":true,"
		   "\"source\":%s,\"syntax\":\"%s\",\"timestamps\":%s}",
		   o->tid, view, offset, count, o->source ? "true" : "false",
		   o->intel ? "intel" : "att", o->timestamps ? "true" : "false");
	rc = query_client_exchange(o->conn, pkt.data, &reply, &len);
	buf_fini(&pkt);
	if (rc < 0) {
		fprintf(stderr, "ptstub decode: %s: %s\n", o->addr,
			rc == -ETIMEDOUT ? "no reply before the timeout" : strerror(-rc));
		return EXIT_USAGE;
	}
	if (len == 0) {
		fprintf(stderr, "ptstub decode: the stub does not support jPTStubTraceDecode\n");
		return EXIT_ERROR_REPLY;
	}
	if (reply[0] == 'E') {
		fprintf(stderr, "ptstub decode: %s\n", reply[1] == '.' ? reply + 2 : reply);
		return EXIT_ERROR_REPLY;
	}
	buf_reset(text);
	buf_append(text, reply, len);
	buf_putc(text, '\0');
	if (json_parse(text->data, doc, &err) < 0) {
		fprintf(stderr, "ptstub decode: bad reply: %s\n", err.data ? err.data : "");
		buf_fini(&err);
		return EXIT_ERROR_REPLY;
	}
	buf_fini(&err);
	return 0;
}

/* Pages [start, start + count) of view from the oldest end; prints or collects each item. */
static int run_view(struct decode_cli *o, const char *view, uint64_t start, uint64_t count,
		    struct json_gen *chrome)
{
	struct buf text = BUF_INIT;
	uint64_t off = start, end = count == UINT64_MAX ? UINT64_MAX : start + count;
	int rc = 0;

	while (off < end) {
		yajl_val doc = NULL, items;
		uint64_t want = end - off < PAGE_COUNT ? end - off : PAGE_COUNT;

		rc = request(o, view, off, want, &text, &doc);
		if (rc)
			break;
		items = member(doc, "items");
		uint64_t got = u64(doc, "count");
		for (size_t i = 0; items && YAJL_IS_ARRAY(items) && i < items->u.array.len; i++) {
			yajl_val it = items->u.array.values[i];
			const char *kind = str(it, "kind");
			if (chrome) {
				chrome_event(chrome, it, o->tid);
			} else if (o->json) {
				/* Re-emitted by the caller from the raw text: see below. */
			} else if (strcmp(view, "calls") == 0) {
				print_call(it);
			} else if (kind && print_marker(o, it, kind)) {
			} else if (strcmp(view, "blocks") == 0) {
				print_block(o, it);
			} else {
				print_insn(o, it);
			}
		}
		if (o->json && !chrome && got) {
			/* "items" is the reply's last member: the array text runs from after
			 * `"items":[` to the `]}` that closes the reply. */
			const char *p = strstr(text.data, "\"items\":[");
			size_t tl = strlen(text.data);
			if (p && tl >= 2) {
				p += strlen("\"items\":[");
				size_t n = (size_t)(text.data + tl - 2 - p);
				if (n) {
					if (o->items.len)
						buf_putc(&o->items, ',');
					buf_append(&o->items, p, n);
				}
				o->nitems += got;
			}
		}
		yajl_val next = member(doc, "next");
		yajl_tree_free(doc);
		if (!got || !next)
			break;
		off += got;
	}
	buf_fini(&text);
	return rc;
}

/* Total items of view (a zero-count request). */
static int view_total(struct decode_cli *o, const char *view, uint64_t *total)
{
	struct buf text = BUF_INIT;
	yajl_val doc = NULL;
	int rc = request(o, view, 0, 0, &text, &doc);
	if (!rc) {
		*total = u64(doc, "total");
		yajl_tree_free(doc);
	}
	buf_fini(&text);
	return rc;
}

static int write_chrome(struct decode_cli *o)
{
	struct buf out = BUF_INIT;
	struct json_gen j;
	int rc;
	FILE *f;

	json_gen_init(&j, &out, false);
	json_map_begin(&j);
	json_key(&j, "traceEvents");
	json_array_begin(&j);
	rc = run_view(o, "calls", 0, UINT64_MAX, &j);
	json_array_end(&j);
	json_key(&j, "displayTimeUnit");
	json_string(&j, "ns");
	json_map_end(&j);
	if (!rc && json_gen_finish(&j) < 0)
		rc = EXIT_USAGE;
	json_gen_fini(&j);
	if (!rc) {
		f = fopen(o->chrome_trace, "w");
		if (!f || fwrite(out.data, 1, out.len, f) != out.len || fputc('\n', f) == EOF) {
			fprintf(stderr, "ptstub decode: %s: %s\n", o->chrome_trace, strerror(errno));
			rc = EXIT_USAGE;
		}
		if (f && fclose(f) != 0)
			rc = EXIT_USAGE;
	}
	buf_fini(&out);
	return rc;
}

int decode_main(int argc, char **argv)
{
	struct decode_cli o = {.items = BUF_INIT};
	uint64_t total = 0, start = 0;
	int rc = parse_args(argc, argv, &o);

	if (rc)
		return rc > 0 ? EXIT_OK : EXIT_USAGE;
	o.conn = query_client_open(o.addr, o.timeout_ms);
	if (!o.conn) {
		bool shut = errno == ECONNRESET || errno == EPIPE || errno == ECONNABORTED;
		fprintf(stderr, "ptstub decode: cannot connect to %s: %s%s\n", o.addr,
			errno == EINVAL ? "want HOST:PORT or unix:PATH" : strerror(errno),
			shut ? " (the server takes a read-only connection beside its client only "
			       "while that client debugs a process, and a few at a time)"
			     : "");
		return EXIT_USAGE;
	}
	if (o.chrome_trace) {
		rc = write_chrome(&o);
		if (rc)
			goto out;
	}
	rc = view_total(&o, o.view, &total);
	if (rc)
		goto out;
	if (o.count != UINT64_MAX && o.count < total)
		start = total - o.count; /* the newest N, printed oldest first */
	if (!o.json && !o.chrome_trace && strcmp(o.view, "calls") != 0)
		printf("thread #%ld: tid = %ld\n", o.tid, o.tid);
	if (!o.chrome_trace || o.json || o.view_set)
		rc = run_view(&o, o.view, start, o.count, NULL);
	if (!rc && o.json) {
		printf("{\"tid\":%ld,\"view\":\"%s\",\"total\":%" PRIu64 ",\"offset\":%" PRIu64
		       ",\"count\":%" PRIu64 ",\"items\":[",
		       o.tid, o.view, total, start, o.nitems);
		fwrite(o.items.data, 1, o.items.len, stdout);
		puts("]}");
	}
out:
	query_client_close(o.conn);
	buf_fini(&o.items);
	return rc;
}
