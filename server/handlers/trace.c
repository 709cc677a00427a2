/* server/handlers/trace.c — LLDB's jLLDBTrace* packets (intel-pt) over the collector
 * interface. The collector is created on first use for the session's target (hardware where
 * the intel_pt PMU exists, software otherwise) and dropped with the target; a read-only
 * observer (session.h) reads its controller's and never creates or drops one. Wire facts:
 * shared/spec/lldb-protocol.md §3. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/collector.h"
#include "protocol/json.h"
#include "server/handlers/handlers.h"
#include "server/log.h"

#define TRACE_TYPE "intel-pt"
#define MAX_TRACED 4096

struct collector *trace_collector(struct session *s)
{
	struct collector *c = s->collector;
	char err[512];
	if (c)
		return c;
	if (!s->target) {
		reply_error_text(s, ESRCH, "Process not running.");
		return NULL;
	}
	if (s->observer) { /* the collector is the controller's to create */
		reply_error_text(s, ENOENT,
				 "no trace: the controlling client has not started tracing");
		return NULL;
	}
	int rc = col_create((enum col_backend)s->opts->trace_backend, s->target, NULL, &c, err, sizeof(err));
	if (rc < 0) {
		reply_error_text(s, rc, "%s", err);
		return NULL;
	}
	if (c->warnings[0])
		log_msg(LOG_INFO, "trace: %s", c->warnings);
	s->collector = c;
	return c;
}

void trace_session_drop(struct session *s)
{
	btrace_session_drop(s);
	if (s->observer)
		return; /* the collector it reads is its controller's */
	col_destroy(s->collector);
	s->collector = NULL;
}

/* A member that is present and not null, or NULL. */
static yajl_val member(yajl_val obj, const char *key)
{
	const char *path[] = {key, NULL};
	yajl_val v = YAJL_IS_OBJECT(obj) ? yajl_tree_get(obj, path, yajl_t_any) : NULL;
	return v && !YAJL_IS_NULL(v) ? v : NULL;
}

/* Parses ":{json}" into *req; on failure replies with the error and returns false. */
static bool parse_request(struct session *s, const char *args, size_t len, yajl_val *req)
{
	if (len && *args == ':') {
		args++;
		len--;
	}
	char *text = strndup(args, len);
	struct buf err = BUF_INIT;
	int rc = text ? json_parse(text, req, &err) : -ENOMEM;
	free(text);
	if (rc == 0 && !YAJL_IS_OBJECT(*req)) {
		yajl_tree_free(*req);
		buf_puts(&err, "the request is not a JSON object");
		rc = -EINVAL;
	}
	if (rc < 0) {
		buf_putc(&err, 0);
		reply_error_text(s, EINVAL, "invalid trace request: %s", err.data ? err.data : "");
	}
	buf_fini(&err);
	return rc == 0;
}

/* Common checks: a live process and the intel-pt type. */
static bool check_request(struct session *s, yajl_val req)
{
	if (!s->target) {
		reply_error_text(s, ESRCH, "Process not running.");
		return false;
	}
	const char *type = NULL;
	struct buf err = BUF_INIT;
	if (json_get_string(req, "type", &type, &err) < 0) {
		buf_putc(&err, 0);
		reply_error_text(s, EINVAL, "%s", err.data);
		buf_fini(&err);
		return false;
	}
	buf_fini(&err);
	if (strcmp(type, TRACE_TYPE) != 0) {
		reply_error_text(s, EOPNOTSUPP, "Unsupported tracing type '%s'", type);
		return false;
	}
	return true;
}

enum handler_result handle_jLLDBTraceSupported(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	s->lldb = true;
	buf_puts(&s->reply,
		 "{\"description\":\"Intel Processor Trace\",\"name\":\"" TRACE_TYPE "\"}");
	return HANDLER_REPLY;
}

/* Reads the intel-pt start fields into cfg; replies and returns false on a bad field. */
static bool parse_config(struct session *s, yajl_val req, bool process, struct col_config *cfg)
{
	struct buf err = BUF_INIT;
	uint64_t u;
	int64_t i;
	bool b;
	int rc = json_get_uint64(req, "iptTraceSize", &u, &err);
	if (rc == 0)
		cfg->trace_size = u;
	if (rc == 0 && (rc = json_get_bool(req, "enableTsc", &b, &err)) == 0)
		cfg->enable_tsc = b;
	if (rc == 0 && member(req, "psbPeriod")) {
		rc = json_get_int(req, "psbPeriod", &i, &err);
		if (rc == 0)
			cfg->psb_period = (int)i;
	}
	if (rc == 0 && process && member(req, "perCpuTracing") &&
	    (rc = json_get_bool(req, "perCpuTracing", &b, &err)) == 0)
		cfg->per_cpu = b;
	const char *cg = member(req, "disableCgroupTracing") ? "disableCgroupTracing"
			 : member(req, "disableCgroupFiltering") ? "disableCgroupFiltering"
								   : NULL;
	if (rc == 0 && process && cg && (rc = json_get_bool(req, cg, &b, &err)) == 0)
		cfg->disable_cgroup_filtering = b;
	if (rc == 0 && process && member(req, "processBufferSizeLimit") &&
	    (rc = json_get_uint64(req, "processBufferSizeLimit", &u, &err)) == 0)
		cfg->process_buffer_size_limit = u;
	if (rc < 0) {
		buf_putc(&err, 0);
		reply_error_text(s, EINVAL, "%s", err.data);
		buf_fini(&err);
		return false;
	}
	buf_fini(&err);
	char msg[256];
	if (col_check_trace_size(cfg->trace_size, msg, sizeof(msg)) < 0) {
		reply_error_text(s, EINVAL, "%s", msg);
		return false;
	}
	if (cfg->psb_period > 15 || cfg->psb_period < -1) {
		reply_error_text(s, EINVAL, "Invalid psb_period. Valid values are: 0 to 15.");
		return false;
	}
	return true;
}

/* The tids array of a request: 0 when absent/null (process), else the count (or -1 after a
 * reply for a malformed array). */
static int request_tids(struct session *s, yajl_val req, pid_t *tids, size_t max)
{
	yajl_val arr = member(req, "tids");
	if (!arr)
		return 0;
	if (!YAJL_IS_ARRAY(arr) || arr->u.array.len == 0 || arr->u.array.len > max) {
		reply_error_text(s, EINVAL, "tids must be a non-empty array of thread ids");
		return -1;
	}
	for (size_t k = 0; k < arr->u.array.len; k++) {
		yajl_val v = arr->u.array.values[k];
		if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) <= 0) {
			reply_error_text(s, EINVAL, "tids must be a non-empty array of thread ids");
			return -1;
		}
		tids[k] = (pid_t)YAJL_GET_INTEGER(v);
	}
	return (int)arr->u.array.len;
}

/* Error sentences for several tids, one line each. */
static void add_error(struct buf *errs, const char *msg)
{
	if (errs->len)
		buf_putc(errs, '\n');
	buf_puts(errs, msg);
}

/* OK, or the collected sentences as one error (err: the first failure). Frees errs. */
static void reply_joined(struct session *s, struct buf *errs, int err)
{
	if (errs->len) {
		buf_putc(errs, 0);
		reply_error_text(s, err, "%s", errs->data);
	} else {
		reply_ok(s);
	}
	buf_fini(errs);
}

enum handler_result handle_jLLDBTraceStart(struct session *s, const char *args, size_t len)
{
	yajl_val req;
	if (!parse_request(s, args, len, &req))
		return HANDLER_REPLY;
	pid_t tids[MAX_TRACED];
	int ntids;
	if (!check_request(s, req) || (ntids = request_tids(s, req, tids, MAX_TRACED)) < 0)
		goto out;
	struct col_config cfg = COL_CONFIG_INIT;
	if (!parse_config(s, req, ntids == 0, &cfg))
		goto out;
	struct collector *c = trace_collector(s);
	if (!c)
		goto out;
	if (ntids == 0) {
		int rc = c->ops->start_process(c, &cfg);
		if (rc < 0)
			reply_error_text(s, rc, "%s", c->error);
		else
			reply_ok(s);
		goto out;
	}
	struct buf errs = BUF_INIT;
	int first = 0;
	for (int k = 0; k < ntids; k++) {
		int rc = c->ops->start_thread(c, tids[k], &cfg);
		if (rc < 0) {
			add_error(&errs, c->error);
			first = first ? first : rc;
		}
	}
	reply_joined(s, &errs, first);
out:
	yajl_tree_free(req);
	return HANDLER_REPLY;
}

enum handler_result handle_jLLDBTraceStop(struct session *s, const char *args, size_t len)
{
	yajl_val req;
	if (!parse_request(s, args, len, &req))
		return HANDLER_REPLY;
	pid_t tids[MAX_TRACED];
	int ntids;
	if (!check_request(s, req) || (ntids = request_tids(s, req, tids, MAX_TRACED)) < 0)
		goto out;
	struct collector *c = s->collector;
	if (ntids == 0) {
		if (c)
			c->ops->stop_all(c);
		reply_ok(s);
		goto out;
	}
	struct buf errs = BUF_INIT;
	int first = 0;
	for (int k = 0; k < ntids; k++) {
		char msg[600];
		int rc = -ENOENT;
		if (c && (rc = c->ops->stop_thread(c, tids[k])) < 0)
			snprintf(msg, sizeof(msg), "%s", c->error);
		else if (!c)
			snprintf(msg, sizeof(msg), "Thread %d not currently traced", tids[k]);
		if (rc < 0) {
			add_error(&errs, msg);
			first = first ? first : rc;
		}
	}
	reply_joined(s, &errs, first);
out:
	yajl_tree_free(req);
	return HANDLER_REPLY;
}

static void binary_item(struct json_gen *j, const char *kind, uint64_t size)
{
	json_map_begin(j);
	json_key(j, "kind");
	json_string(j, kind);
	json_key(j, "size");
	json_uint64(j, size);
	json_map_end(j);
}

/* Appends each line of text as a string of the current array. */
static void warning_lines(struct json_gen *j, const char *text)
{
	while (*text) {
		const char *nl = strchr(text, '\n');
		size_t n = nl ? (size_t)(nl - text) : strlen(text);
		if (n)
			json_string_len(j, text, n);
		text += n + (nl ? 1 : 0);
	}
}

static void gen_state(struct session *s, struct collector *c, struct json_gen *j)
{
	struct col_state st;
	c->ops->state(c, &st);

	json_map_begin(j);
	json_key(j, "tracedThreads");
	json_array_begin(j);
	if (st.per_cpu) {
		/* Per-cpu mode: every thread of the process, with no own buffer. */
		pid_t tids[MAX_TRACED];
		int n = s->target->ops->threads(s->target, tids, MAX_TRACED);
		for (int k = 0; k < n && k < MAX_TRACED; k++) {
			json_map_begin(j);
			json_key(j, "tid");
			json_int(j, tids[k]);
			json_key(j, "binaryData");
			json_array_begin(j);
			json_array_end(j);
			json_map_end(j);
		}
	} else {
		size_t n = c->ops->threads(c, NULL, 0);
		struct col_thread_state *th = calloc(n ? n : 1, sizeof(*th));
		n = th ? c->ops->threads(c, th, n) : 0;
		for (size_t k = 0; k < n; k++) {
			json_map_begin(j);
			json_key(j, "tid");
			json_int(j, th[k].tid);
			json_key(j, "binaryData");
			json_array_begin(j);
			binary_item(j, "iptTrace", th[k].trace_size);
			json_array_end(j);
			json_map_end(j);
		}
		free(th);
	}
	json_array_end(j);

	struct buf info = BUF_INIT;
	json_key(j, "processBinaryData");
	json_array_begin(j);
	if (c->ops->cpu_info(c, &info) == 0)
		binary_item(j, "procfsCpuInfo", info.len);
	json_array_end(j);
	buf_fini(&info);

	if (st.per_cpu) {
		size_t n = c->ops->cpus(c, NULL, 0);
		struct col_cpu_state *cpus = calloc(n ? n : 1, sizeof(*cpus));
		n = cpus ? c->ops->cpus(c, cpus, n) : 0;
		json_key(j, "cpus");
		json_array_begin(j);
		for (size_t k = 0; k < n; k++) {
			json_map_begin(j);
			json_key(j, "id");
			json_int(j, cpus[k].id);
			json_key(j, "binaryData");
			json_array_begin(j);
			binary_item(j, "iptTrace", cpus[k].trace_size);
			binary_item(j, "perfContextSwitchTrace", cpus[k].context_switch_size);
			json_array_end(j);
			json_map_end(j);
		}
		json_array_end(j);
		free(cpus);
	}

	struct col_tsc_conversion conv;
	bool have_conv = c->ops->tsc_conversion(c, &conv) == 0;
	if (have_conv) {
		char zero[32];
		snprintf(zero, sizeof(zero), "%llu", (unsigned long long)conv.time_zero);
		json_key(j, "tscPerfZeroConversion");
		json_map_begin(j);
		json_key(j, "timeMult");
		json_uint64(j, conv.time_mult);
		json_key(j, "timeShift");
		json_uint64(j, conv.time_shift);
		json_key(j, "timeZero");
		json_string(j, zero);
		json_map_end(j);
	}
	json_key(j, "usingCgroupFiltering");
	json_bool(j, st.using_cgroup_filtering);

	if (c->warnings[0] || !have_conv) {
		json_key(j, "warnings");
		json_array_begin(j);
		warning_lines(j, c->warnings);
		if (!have_conv)
			warning_lines(j, c->error);
		json_array_end(j);
	}
	json_map_end(j);
}

enum handler_result handle_jLLDBTraceGetState(struct session *s, const char *args, size_t len)
{
	yajl_val req;
	if (!parse_request(s, args, len, &req))
		return HANDLER_REPLY;
	if (!check_request(s, req))
		goto out;
	struct collector *c = trace_collector(s);
	if (!c)
		goto out;
	struct json_gen j;
	json_gen_init(&j, &s->reply, false);
	gen_state(s, c, &j);
	if (json_gen_finish(&j) < 0)
		reply_error_text(s, EINVAL, "internal error building the trace state");
	json_gen_fini(&j);
out:
	yajl_tree_free(req);
	return HANDLER_REPLY;
}

enum handler_result handle_jLLDBTraceGetBinaryData(struct session *s, const char *args,
						   size_t len)
{
	yajl_val req;
	if (!parse_request(s, args, len, &req))
		return HANDLER_REPLY;
	if (!s->target) {
		reply_error_text(s, ESRCH, "Process not running.");
		goto out;
	}
	const char *type = NULL, *kind = NULL;
	struct buf jerr = BUF_INIT;
	if (json_get_string(req, "type", &type, &jerr) < 0 ||
	    json_get_string(req, "kind", &kind, &jerr) < 0) {
		buf_putc(&jerr, 0);
		reply_error_text(s, EINVAL, "%s", jerr.data);
		buf_fini(&jerr);
		goto out;
	}
	buf_fini(&jerr);
	bool known = strcmp(kind, "iptTrace") == 0 || strcmp(kind, "perfContextSwitchTrace") == 0 ||
		     strcmp(kind, "procfsCpuInfo") == 0;
	if (strcmp(type, TRACE_TYPE) != 0 || !known) {
		reply_error_text(s, EOPNOTSUPP,
				 "Unsupported data kind '%s' for the '%s' tracing technology", kind,
				 type);
		goto out;
	}
	struct collector *c = trace_collector(s);
	if (!c)
		goto out;
	yajl_val tid = member(req, "tid"), cpu = member(req, "cpuId");
	struct buf data = BUF_INIT;
	ssize_t rc;
	if (strcmp(kind, "procfsCpuInfo") == 0) {
		rc = c->ops->cpu_info(c, &data);
	} else if (cpu && YAJL_IS_INTEGER(cpu)) {
		rc = c->ops->read_cpu(c, (int)YAJL_GET_INTEGER(cpu),
				      strcmp(kind, "iptTrace") == 0 ? COL_DATA_IPT
								    : COL_DATA_CONTEXT_SWITCH,
				      &data);
	} else if (tid && YAJL_IS_INTEGER(tid) && strcmp(kind, "iptTrace") == 0) {
		rc = c->ops->read_thread(c, (pid_t)YAJL_GET_INTEGER(tid), &data);
	} else {
		reply_error_text(s, EINVAL, "Can't fetch data kind %s", kind);
		buf_fini(&data);
		goto out;
	}
	if (rc < 0)
		reply_error_text(s, (int)rc, "%s", c->error);
	else
		buf_append(&s->reply, data.data, data.len);
	buf_fini(&data);
out:
	yajl_tree_free(req);
	return HANDLER_REPLY;
}
