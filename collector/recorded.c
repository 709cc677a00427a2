/* collector/recorded.c — a collector over PT bytes recorded earlier: every thread that has a
 * trace file is "traced" (GetState, GetBinaryData, btrace and decoding see its bytes); starting
 * and stopping succeed without effect; the cpu identity is the recording host's. */
#include "collector/recorded.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct recpt_thread {
	pid_t tid;
	struct buf bytes;
};

struct recpt {
	struct collector c;
	struct recpt_thread *threads;
	size_t nthreads;
	struct buf cpuinfo; /* empty = emulated */
	struct col_cpu cpu;
	bool have_tsc;
	struct col_tsc_conversion tsc;
};

static struct recpt *to_recpt(struct collector *c)
{
	return (struct recpt *)c;
}

static struct recpt_thread *find_thread(struct recpt *r, pid_t tid)
{
	for (size_t i = 0; i < r->nthreads; i++)
		if (r->threads[i].tid == tid)
			return &r->threads[i];
	return NULL;
}

static int recpt_start_thread(struct collector *c, pid_t tid, const struct col_config *cfg)
{
	(void)cfg;
	if (!find_thread(to_recpt(c), tid))
		return col_fail(c, -ENOENT, "Thread %d has no recorded trace in this bundle.", tid);
	return 0; /* its recorded trace is what there is to see */
}

static int recpt_stop_thread(struct collector *c, pid_t tid)
{
	(void)c;
	(void)tid;
	return 0;
}

static int recpt_start_process(struct collector *c, const struct col_config *cfg)
{
	(void)c;
	(void)cfg;
	return 0;
}

static int recpt_stop_all(struct collector *c)
{
	(void)c;
	return 0;
}

static ssize_t recpt_read_thread(struct collector *c, pid_t tid, struct buf *out)
{
	struct recpt_thread *th = find_thread(to_recpt(c), tid);

	if (!th)
		return col_fail(c, -ENOENT, "Thread %d not currently traced", tid);
	buf_append(out, th->bytes.data, th->bytes.len);
	return (ssize_t)th->bytes.len;
}

static ssize_t recpt_read_cpu(struct collector *c, int cpu, enum col_cpu_data kind, struct buf *out)
{
	(void)kind;
	(void)out;
	return col_fail(c, -EOPNOTSUPP,
			"No per-cpu trace for cpu %d: the bundle has per-thread traces.", cpu);
}

static void recpt_state(struct collector *c, struct col_state *out)
{
	memset(out, 0, sizeof(*out));
	out->process_traced = true;
	out->nthreads = to_recpt(c)->nthreads;
}

static size_t recpt_threads(struct collector *c, struct col_thread_state *out, size_t max)
{
	struct recpt *r = to_recpt(c);

	for (size_t i = 0; i < r->nthreads && i < max; i++)
		out[i] = (struct col_thread_state){r->threads[i].tid, r->threads[i].bytes.len,
						   false};
	return r->nthreads;
}

static size_t recpt_cpus(struct collector *c, struct col_cpu_state *out, size_t max)
{
	(void)c;
	(void)out;
	(void)max;
	return 0;
}

static int recpt_tsc_conversion(struct collector *c, struct col_tsc_conversion *out)
{
	struct recpt *r = to_recpt(c);

	if (!r->have_tsc)
		return col_fail(c, -EOPNOTSUPP, "The bundle has no TSC conversion values.");
	*out = r->tsc;
	return 0;
}

static int recpt_cpu_info(struct collector *c, struct buf *out)
{
	struct recpt *r = to_recpt(c);

	if (r->cpuinfo.len)
		buf_append(out, r->cpuinfo.data, r->cpuinfo.len);
	else
		col_emulated_cpuinfo(out);
	return 0;
}

static void recpt_cpu_identity(struct collector *c, struct col_cpu *out)
{
	*out = to_recpt(c)->cpu;
}

static int recpt_thread_created(struct collector *c, pid_t tid)
{
	(void)c;
	(void)tid;
	return 0;
}

static void recpt_thread_exited(struct collector *c, pid_t tid)
{
	(void)c;
	(void)tid;
}

static void recpt_nothing(struct collector *c)
{
	(void)c; /* a recorded process never runs */
}

static void recpt_destroy(struct collector *c)
{
	struct recpt *r = to_recpt(c);

	for (size_t i = 0; i < r->nthreads; i++)
		buf_fini(&r->threads[i].bytes);
	free(r->threads);
	buf_fini(&r->cpuinfo);
	free(r);
}

static const struct collector_ops recpt_ops = {
	.name = "recorded-pt",
	.destroy = recpt_destroy,
	.start_thread = recpt_start_thread,
	.stop_thread = recpt_stop_thread,
	.start_process = recpt_start_process,
	.stop_all = recpt_stop_all,
	.read_thread = recpt_read_thread,
	.read_cpu = recpt_read_cpu,
	.state = recpt_state,
	.threads = recpt_threads,
	.cpus = recpt_cpus,
	.tsc_conversion = recpt_tsc_conversion,
	.cpu_info = recpt_cpu_info,
	.cpu_identity = recpt_cpu_identity,
	.thread_created = recpt_thread_created,
	.thread_exited = recpt_thread_exited,
	.process_resumed = recpt_nothing,
	.process_stopped = recpt_nothing,
};

/* The first processor's vendor_id, cpu family, model and stepping lines. */
static void parse_cpu(const char *text, struct col_cpu *out)
{
	static const char *const keys[] = {"vendor_id", "cpu family", "model", "stepping"};
	unsigned *nums[] = {NULL, &out->family, &out->model, &out->stepping};
	bool seen[4] = {false};

	memset(out, 0, sizeof(*out));
	for (const char *line = text, *eol; *line; line = eol ? eol + 1 : line + strlen(line)) {
		const char *colon = strchr(line, ':');
		size_t keylen;

		eol = strchr(line, '\n');
		if (!colon || (eol && colon > eol))
			continue;
		keylen = (size_t)(colon - line);
		while (keylen && (line[keylen - 1] == ' ' || line[keylen - 1] == '\t'))
			keylen--;
		for (int k = 0; k < 4; k++) {
			if (seen[k] || strlen(keys[k]) != keylen || strncmp(line, keys[k], keylen))
				continue;
			seen[k] = true;
			if (nums[k])
				*nums[k] = (unsigned)strtoul(colon + 1, NULL, 10);
			else
				sscanf(colon + 1, " %15s", out->vendor);
		}
	}
}

static int add_thread(struct recpt *r, pid_t tid, const char *path)
{
	struct recpt_thread *th = &r->threads[r->nthreads];
	int err;

	buf_init(&th->bytes);
	err = col_read_file(path, &th->bytes);
	if (err) {
		buf_fini(&th->bytes);
		snprintf(r->c.warnings + strlen(r->c.warnings),
			 sizeof(r->c.warnings) - strlen(r->c.warnings),
			 "The trace of thread %d (%s) cannot be read: %s. ", tid, path,
			 strerror(-err));
		return err;
	}
	th->tid = tid;
	r->nthreads++;
	return 0;
}

int recpt_create(struct target *t, const struct recpt_source *src, struct collector **out,
		 char *err, size_t errlen)
{
	struct recpt *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (r)
		r->threads = calloc(src->ntids ? src->ntids : 1, sizeof(*r->threads));
	if (!r || !r->threads) {
		free(r);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r->c.ops = &recpt_ops;
	r->c.target = t;
	buf_init(&r->cpuinfo);
	for (size_t i = 0; i < src->ntids; i++)
		add_thread(r, src->tids[i], src->files[i]);
	if (src->cpuinfo)
		buf_puts(&r->cpuinfo, src->cpuinfo);
	if (r->cpuinfo.len)
		parse_cpu(r->cpuinfo.data, &r->cpu);
	else
		col_emulated_cpu(&r->cpu);
	if (src->tsc) {
		r->have_tsc = true;
		r->tsc = *src->tsc;
	}
	*out = &r->c;
	return 0;
}
