/* server/recorded/bundle_load.c — open a trace bundle for serving: read status.json, trace.json
 * and cpuinfo, check the core, the images and each thread's trace file against what was
 * recorded, and report every problem once, naming the file; then hand out a recorded target
 * and collector per client session. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "collector/collector.h"
#include "collector/recorded.h"
#include "protocol/json.h"
#include "server/recorded/bundle.h"
#include "server/recorded/recorded.h"
#include "server/target.h"

static int read_json(struct bundle *b, const char *name, yajl_val *out)
{
	char path[4200];
	struct buf text = BUF_INIT, err = BUF_INIT;
	int ret;

	snprintf(path, sizeof(path), "%s/%s", b->dir, name);
	ret = col_read_file(path, &text);
	if (ret)
		buf_printf(&b->diag, "%s: missing (%s)", name, strerror(-ret));
	else if ((ret = json_parse(text.data ? text.data : "", out, &err)))
		buf_printf(&b->diag, "%s: not valid JSON (%s)", name, err.data ? err.data : "");
	buf_fini(&text);
	buf_fini(&err);
	return ret;
}

/* status.json: the threads and the sizes their traces had when written. */
static void load_status(struct bundle *b)
{
	struct bundle_status *st = &b->status;
	yajl_val doc, threads;
	const char *s;
	int64_t v;

	if (read_json(b, "status.json", &doc)) {
		buf_puts(&b->diag, ": trace files are not checked against their recorded size\n");
		return;
	}
	b->have_status = true;
	if (json_get_int(doc, "pid", &v, NULL) == 0)
		st->pid = (pid_t)v;
	if (json_get_int(doc, "tid", &v, NULL) == 0)
		st->tid = (pid_t)v;
	if (json_get_int(doc, "signal", &v, NULL) == 0)
		st->signo = (int)v;
	if (json_get_string(doc, "trigger", &s, NULL) == 0)
		snprintf(st->trigger, sizeof(st->trigger), "%s", s);
	if (json_get_string(doc, "trace_backend", &s, NULL) == 0)
		snprintf(st->backend, sizeof(st->backend), "%s", s);
	if (json_get_array(doc, "threads", &threads, NULL) == 0) {
		for (size_t i = 0; i < threads->u.array.len && st->nthreads < BUNDLE_MAX_THREADS;
		     i++) {
			yajl_val th = threads->u.array.values[i];
			struct bundle_thread *bt = &st->threads[st->nthreads];
			uint64_t bytes;

			if (json_get_int(th, "tid", &v, NULL) ||
			    json_get_string(th, "trace", &s, NULL) ||
			    json_get_uint64(th, "bytes", &bytes, NULL))
				continue;
			bt->tid = (pid_t)v;
			bt->bytes = bytes;
			snprintf(bt->file, sizeof(bt->file), "%s", s);
			st->nthreads++;
		}
	}
	yajl_tree_free(doc);
}

/* Without status.json: whatever trace/TID.pt files there are. */
static void scan_traces(struct bundle *b)
{
	char path[4200];
	struct dirent *d;
	DIR *dir;

	snprintf(path, sizeof(path), "%s/trace", b->dir);
	dir = opendir(path);
	while (dir && (d = readdir(dir)) && b->status.nthreads < BUNDLE_MAX_THREADS) {
		struct bundle_thread *bt = &b->status.threads[b->status.nthreads];
		int tid;
		char end;

		if (sscanf(d->d_name, "%d.p%c", &tid, &end) != 2 || end != 't' || tid <= 0)
			continue;
		bt->tid = tid;
		bt->bytes = UINT64_MAX; /* unknown */
		snprintf(bt->file, sizeof(bt->file), "trace/%d.pt", tid);
		b->status.nthreads++;
	}
	if (dir)
		closedir(dir);
}

/* Each trace file against the size status.json recorded. */
static void check_traces(struct bundle *b)
{
	for (size_t i = 0; i < b->status.nthreads; i++) {
		const struct bundle_thread *bt = &b->status.threads[i];
		char path[4200];
		struct stat sb;

		snprintf(path, sizeof(path), "%s/%s", b->dir, bt->file);
		if (stat(path, &sb))
			buf_printf(&b->diag, "%s: missing (%s): thread %d has no trace\n", bt->file,
				   strerror(errno), bt->tid);
		else if (bt->bytes != UINT64_MAX && (uint64_t)sb.st_size < bt->bytes)
			buf_printf(
				&b->diag,
				"%s: truncated: %llu of the %llu bytes recorded for thread %d; the "
				"rest of its trace (the newest part) is lost\n",
				bt->file, (unsigned long long)sb.st_size,
				(unsigned long long)bt->bytes, bt->tid);
		else if (bt->bytes != UINT64_MAX && (uint64_t)sb.st_size > bt->bytes)
			buf_printf(&b->diag, "%s: %llu bytes, %llu recorded: it was changed\n",
				   bt->file, (unsigned long long)sb.st_size,
				   (unsigned long long)bt->bytes);
	}
}

/* trace.json: the TSC conversion, when the recording had one. */
static void load_trace_json(struct bundle *b)
{
	yajl_val doc, conv;
	int64_t mult, shift;
	uint64_t zero;

	if (read_json(b, "trace.json", &doc)) {
		buf_puts(&b->diag, ": LLDB's `trace load` cannot use this bundle\n");
		return;
	}
	if (json_get_object(doc, "tscPerfZeroConversion", &conv, NULL) == 0 &&
	    json_get_int(conv, "timeMult", &mult, NULL) == 0 &&
	    json_get_int(conv, "timeShift", &shift, NULL) == 0 &&
	    json_get_uint64(conv, "timeZero", &zero, NULL) == 0) {
		b->tsc = (struct col_tsc_conversion){(uint32_t)mult, (uint16_t)shift, zero};
		b->have_tsc = true;
	}
	yajl_tree_free(doc);
}

static void check_file(struct bundle *b, const char *name, const char *consequence)
{
	char path[4200];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", b->dir, name);
	if (stat(path, &sb))
		buf_printf(&b->diag, "%s: missing (%s): %s\n", name, strerror(errno), consequence);
}

int bundle_open(struct bundle *b, const char *dir, char *err, size_t errlen)
{
	struct target *t;
	char path[4200];
	struct stat sb;
	int ret;

	memset(b, 0, sizeof(*b));
	buf_init(&b->diag);
	buf_init(&b->cpuinfo);
	snprintf(b->dir, sizeof(b->dir), "%s", dir);
	snprintf(path, sizeof(path), "%s/images", dir);
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		snprintf(b->image_dir, sizeof(b->image_dir), "%s", path);
	/* The core first: without it there is nothing to serve. */
	snprintf(path, sizeof(path), "%s/core", dir);
	ret = recorded_target_open(path, b->image_dir[0] ? b->image_dir : NULL, &t, &b->diag, err,
				   errlen);
	if (ret)
		return ret;
	t->ops->destroy(t);
	load_status(b);
	if (!b->status.nthreads)
		scan_traces(b);
	check_traces(b);
	check_file(b, "images.json", "the core's image note lists the images");
	if (!strcmp(b->status.backend, "off"))
		return 0; /* recorded without a trace: no trace.json, no cpuinfo */
	load_trace_json(b);
	snprintf(path, sizeof(path), "%s/cpuinfo", dir);
	if (b->status.nthreads && (ret = col_read_file(path, &b->cpuinfo)))
		buf_printf(&b->diag,
			   "cpuinfo: missing (%s): decoders are told the software "
			   "backend's emulated cpu\n",
			   strerror(-ret));
	return 0;
}

void bundle_close(struct bundle *b)
{
	buf_fini(&b->diag);
	buf_fini(&b->cpuinfo);
}

int bundle_instance(struct bundle *b, struct target **t, struct collector **col, char *err,
		    size_t errlen)
{
	struct buf scratch = BUF_INIT;
	pid_t tids[BUNDLE_MAX_THREADS];
	char *files[BUNDLE_MAX_THREADS];
	struct recpt_source src = {sizeof(src),
				   tids,
				   (const char *const *)files,
				   0,
				   b->cpuinfo.len ? b->cpuinfo.data : NULL,
				   b->have_tsc ? &b->tsc : NULL};
	char core[4200];
	int ret;

	snprintf(core, sizeof(core), "%s/core", b->dir);
	ret = recorded_target_open(core, b->image_dir[0] ? b->image_dir : NULL, t, &scratch, err,
				   errlen);
	buf_fini(&scratch); /* reported once, by bundle_open */
	if (ret)
		return ret;
	for (size_t i = 0; i < b->status.nthreads; i++) {
		tids[i] = b->status.threads[i].tid;
		if (asprintf(&files[i], "%s/%s", b->dir, b->status.threads[i].file) < 0)
			files[i] = NULL;
		src.ntids += files[i] != NULL;
	}
	ret = src.ntids == b->status.nthreads ? recpt_create(*t, &src, col, err, errlen) : -ENOMEM;
	for (size_t i = 0; i < src.ntids; i++)
		free(files[i]);
	if (ret == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (!ret && b->diag.len) /* GetState's warnings tell LLDB users too */
		snprintf((*col)->warnings, sizeof((*col)->warnings), "bundle problems: %.480s",
			 b->diag.data);
	if (ret) {
		(*t)->ops->destroy(*t);
		*t = NULL;
	}
	return ret;
}
