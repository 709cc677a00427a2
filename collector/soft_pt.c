/* collector/soft_pt.c — the software Intel PT backend: each traced thread runs by single
 * steps (target->ops->trace_steps) and its steps feed a pt_encoder ring. Per thread only. */
#include "collector/collector.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/pt_encoder.h"
#include "server/target.h"

struct softpt_thread {
	struct softpt_thread *next;
	struct softpt *owner;
	pid_t tid;
	uint64_t trace_size;
	bool by_process; /* covered by the process trace (not individually started) */
	bool exited;
	struct ptenc *enc;
	struct tgt_step_observer obs;
};

struct softpt {
	struct collector c;
	struct softpt_thread *threads;
	bool process_traced;
	struct col_config process_cfg;
};

static struct softpt *to_softpt(struct collector *c)
{
	return (struct softpt *)c;
}

static struct softpt_thread *find_thread(struct softpt *s, pid_t tid)
{
	for (struct softpt_thread *th = s->threads; th; th = th->next)
		if (th->tid == tid)
			return th;
	return NULL;
}

static ssize_t read_target(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct target *t = ctx;

	return t->ops->read_memory(t, addr, buf, len);
}

static void on_step(void *ctx, pid_t tid, uint64_t from_pc, uint64_t to_pc)
{
	struct softpt_thread *th = ctx;

	(void)tid;
	ptenc_step(th->enc, from_pc, to_pc);
}

static void on_resumed(void *ctx, pid_t tid, uint64_t pc)
{
	struct softpt_thread *th = ctx;

	(void)tid;
	ptenc_resume(th->enc, pc);
}

static void on_stopped(void *ctx, pid_t tid, uint64_t pc)
{
	struct softpt_thread *th = ctx;

	(void)tid;
	ptenc_stop(th->enc, pc);
}

static void thread_free(struct softpt *s, struct softpt_thread *th)
{
	struct target *t = s->c.target;

	if (!th->exited)
		t->ops->trace_steps(t, th->tid, NULL);
	ptenc_free(th->enc);
	free(th);
}

static int trace_thread(struct softpt *s, pid_t tid, const struct col_config *cfg, bool by_process)
{
	struct ptenc_config ec = PTENC_CONFIG_INIT;
	struct target *t = s->c.target;
	struct softpt_thread *th;
	int err;

	th = calloc(1, sizeof(*th));
	if (!th)
		return col_fail(&s->c, -ENOMEM, "out of memory tracing thread %d", tid);
	ec.ring_size = cfg->trace_size;
	if (cfg->psb_period >= 0)
		ec.psb_period = ptenc_psb_period_bytes((unsigned)cfg->psb_period);
	ec.tsc = cfg->enable_tsc;
	th->enc = ptenc_alloc(&ec, read_target, t);
	if (!th->enc) {
		free(th);
		return col_fail(&s->c, -ENOMEM, "out of memory tracing thread %d", tid);
	}
	th->owner = s;
	th->tid = tid;
	th->trace_size = cfg->trace_size;
	th->by_process = by_process;
	th->obs = (struct tgt_step_observer){on_step, on_resumed, on_stopped, th};
	err = t->ops->trace_steps(t, tid, &th->obs);
	if (err < 0) {
		ptenc_free(th->enc);
		free(th);
		return col_fail(&s->c, err, "Thread %d can't be traced: single-stepping failed: %s",
				tid, t->error[0] ? t->error : strerror(-err));
	}
	th->next = s->threads;
	s->threads = th;
	return 0;
}

static int softpt_start_thread(struct collector *c, pid_t tid, const struct col_config *cfg)
{
	struct softpt *s = to_softpt(c);
	struct softpt_thread *th = find_thread(s, tid);
	int err;

	if (th && th->by_process)
		return col_fail(c, -EEXIST,
				"Thread with tid %d is currently traced. Stop tracing it "
				"first.",
				tid);
	if (th)
		return col_fail(c, -EEXIST, "Thread %d already traced", tid);
	if ((err = col_check_trace_size(cfg->trace_size, c->error, sizeof(c->error))))
		return err;
	return trace_thread(s, tid, cfg, false);
}

static void unlink_thread(struct softpt *s, struct softpt_thread *th)
{
	for (struct softpt_thread **p = &s->threads; *p; p = &(*p)->next)
		if (*p == th) {
			*p = th->next;
			return;
		}
}

static int softpt_stop_thread(struct collector *c, pid_t tid)
{
	struct softpt *s = to_softpt(c);
	struct softpt_thread *th = find_thread(s, tid);

	if (!th)
		return col_fail(c, -ENOENT, "Thread %d not currently traced", tid);
	unlink_thread(s, th);
	thread_free(s, th);
	return 0;
}

static uint64_t process_bytes(struct softpt *s)
{
	uint64_t sum = 0;

	for (struct softpt_thread *th = s->threads; th; th = th->next)
		if (th->by_process)
			sum += th->trace_size;
	return sum;
}

static int softpt_stop_all(struct collector *c)
{
	struct softpt *s = to_softpt(c);

	while (s->threads) {
		struct softpt_thread *th = s->threads;

		s->threads = th->next;
		thread_free(s, th);
	}
	s->process_traced = false;
	return 0;
}

static int softpt_start_process(struct collector *c, const struct col_config *cfg)
{
	struct softpt *s = to_softpt(c);
	pid_t tids[1024];
	int n, err;

	if (s->process_traced)
		return col_fail(c, -EEXIST, "Process currently traced. Stop process tracing first");
	if (cfg->per_cpu)
		return col_fail(
			c, -EOPNOTSUPP,
			"Per-cpu tracing needs the intel_pt PMU; this server traces in "
			"software, per thread. Start the process trace without per-cpu tracing.");
	s->process_cfg = *cfg;
	n = col_process_threads(c, &s->process_cfg, tids, sizeof(tids) / sizeof(tids[0]));
	if (n < 0)
		return n;
	s->process_traced = true;
	for (int i = 0; i < n; i++) {
		if (find_thread(s, tids[i]))
			continue; /* individually traced already: keeps its own trace */
		if ((err = trace_thread(s, tids[i], &s->process_cfg, true)) < 0) {
			softpt_stop_all(c);
			return err;
		}
	}
	return 0;
}

static ssize_t softpt_read_thread(struct collector *c, pid_t tid, struct buf *out)
{
	struct softpt_thread *th = find_thread(to_softpt(c), tid);

	if (!th)
		return col_fail(c, -ENOENT, "Thread %d not currently traced", tid);
	return ptenc_read(th->enc, out);
}

static ssize_t softpt_read_cpu(struct collector *c, int cpu, enum col_cpu_data kind,
			       struct buf *out)
{
	(void)kind;
	(void)out;
	return col_fail(c, -EOPNOTSUPP,
			"No per-cpu trace for cpu %d: the software backend traces "
			"per thread.",
			cpu);
}

static void softpt_state(struct collector *c, struct col_state *out)
{
	struct softpt *s = to_softpt(c);

	memset(out, 0, sizeof(*out));
	out->process_traced = s->process_traced;
	for (struct softpt_thread *th = s->threads; th; th = th->next)
		out->nthreads++;
}

static size_t softpt_threads(struct collector *c, struct col_thread_state *out, size_t max)
{
	size_t n = 0;

	for (struct softpt_thread *th = to_softpt(c)->threads; th; th = th->next, n++)
		if (n < max)
			out[n] =
				(struct col_thread_state){th->tid, ptenc_size(th->enc), th->exited};
	return n;
}

static size_t softpt_cpus(struct collector *c, struct col_cpu_state *out, size_t max)
{
	(void)c;
	(void)out;
	(void)max;
	return 0;
}

static int softpt_tsc_conversion(struct collector *c, struct col_tsc_conversion *out)
{
	return col_tsc_conversion_query(out, c->error, sizeof(c->error));
}

static int softpt_cpu_info(struct collector *c, struct buf *out)
{
	(void)c;
	col_emulated_cpuinfo(out);
	return 0;
}

static void softpt_cpu_identity(struct collector *c, struct col_cpu *out)
{
	(void)c;
	col_emulated_cpu(out);
}

static int softpt_thread_created(struct collector *c, pid_t tid)
{
	struct softpt *s = to_softpt(c);

	if (!s->process_traced || find_thread(s, tid))
		return 0;
	if (process_bytes(s) + s->process_cfg.trace_size > s->process_cfg.process_buffer_size_limit)
		return col_fail(c, -ENOSPC,
				"Thread %d can't be traced as the process trace size limit "
				"has been reached. Consider retracing with a higher limit.",
				tid);
	return trace_thread(s, tid, &s->process_cfg, true);
}

static void softpt_thread_exited(struct collector *c, pid_t tid)
{
	struct softpt_thread *th = find_thread(to_softpt(c), tid);

	if (th)
		th->exited = true; /* its trace stays readable until tracing stops */
}

static void softpt_nothing(struct collector *c)
{
	(void)c; /* single steps only happen while the target runs */
}

static void softpt_destroy(struct collector *c)
{
	softpt_stop_all(c);
	free(c);
}

static const struct collector_ops softpt_ops = {
	.name = "software-pt",
	.destroy = softpt_destroy,
	.start_thread = softpt_start_thread,
	.stop_thread = softpt_stop_thread,
	.start_process = softpt_start_process,
	.stop_all = softpt_stop_all,
	.read_thread = softpt_read_thread,
	.read_cpu = softpt_read_cpu,
	.state = softpt_state,
	.threads = softpt_threads,
	.cpus = softpt_cpus,
	.tsc_conversion = softpt_tsc_conversion,
	.cpu_info = softpt_cpu_info,
	.cpu_identity = softpt_cpu_identity,
	.thread_created = softpt_thread_created,
	.thread_exited = softpt_thread_exited,
	.process_resumed = softpt_nothing,
	.process_stopped = softpt_nothing,
};

int softpt_create(struct target *t, struct collector **out, char *err, size_t errlen)
{
	struct softpt *s;

	if (!t || !t->ops->trace_steps) {
		snprintf(err, errlen, "the software trace backend needs a live target");
		return -EOPNOTSUPP;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->c.ops = &softpt_ops;
	s->c.target = t;
	*out = &s->c;
	return 0;
}
