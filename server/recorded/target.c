/* server/recorded/target.c — struct target_ops over a recorded core: threads stopped with the
 * signal the core recorded, their registers and siginfo, auxv, the process facts. Anything that
 * would change the process (resume, writes, breakpoints) fails with RECORDED_READ_ONLY. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/recorded/recorded_priv.h"

static const struct rec_thread *find_thread(struct target *t, pid_t tid)
{
	const struct rec_core *c = &rec_of(t)->core;

	for (size_t i = 0; i < c->nthreads; i++)
		if (c->threads[i].tid == tid)
			return &c->threads[i];
	return NULL;
}

static int refuse(struct target *t)
{
	snprintf(t->error, sizeof(t->error), RECORDED_READ_ONLY);
	return -EROFS;
}

static void rec_destroy(struct target *t)
{
	struct rec_target *rt = rec_of(t);

	rec_images_free(rt);
	rec_core_free(&rt->core);
	free(rt->regions);
	free(rt);
}

static int rec_process_info(struct target *t, struct tgt_process_info *out)
{
	*out = rec_of(t)->core.pinfo;
	return 0;
}

static bool rec_is_alive(struct target *t)
{
	return !rec_of(t)->gone;
}

static bool rec_read_only(struct target *t)
{
	(void)t;
	return true;
}

/* The main thread first (as target_ops promise), then the others in core order. */
static int rec_threads(struct target *t, pid_t *tids, size_t max)
{
	const struct rec_core *c = &rec_of(t)->core;
	size_t n = 0;

	if (find_thread(t, c->pinfo.pid) && max)
		tids[n++] = c->pinfo.pid;
	for (size_t i = 0; i < c->nthreads && n < max; i++)
		if (c->threads[i].tid != c->pinfo.pid)
			tids[n++] = c->threads[i].tid;
	return (int)c->nthreads;
}

static int rec_thread_stop(struct target *t, pid_t tid, struct tgt_thread_stop *out)
{
	const struct rec_thread *th = find_thread(t, tid);

	if (!th)
		return -ESRCH;
	memset(out, 0, sizeof(*out));
	out->tid = tid;
	/* The others were stopped for the recording (SIGSTOP): nothing of their own to report. */
	if (th->signo == SIGSTOP && th != rec_of(t)->core.threads)
		return 0;
	out->signo = th->signo;
	out->reason = th->signo ? TGT_STOP_SIGNAL : TGT_STOP_NONE;
	return 0;
}

static int rec_thread_name(struct target *t, pid_t tid, char *name, size_t cap)
{
	const struct rec_core *c = &rec_of(t)->core;

	if (!find_thread(t, tid))
		return -ESRCH;
	/* The core keeps the process's name only: give it to the main thread. */
	snprintf(name, cap, "%s", tid == c->pinfo.pid ? c->fname : "");
	return 0;
}

static int rec_read_regs(struct target *t, pid_t tid, struct regcache *rc)
{
	const struct rec_thread *th = find_thread(t, tid);

	if (!th)
		return -ESRCH;
	*rc = th->regs;
	return 0;
}

static int rec_write_regs(struct target *t, pid_t tid, const struct regcache *rc)
{
	(void)tid;
	(void)rc;
	return refuse(t);
}

static ssize_t rec_write_memory(struct target *t, uint64_t addr, const void *buf, size_t len)
{
	(void)addr;
	(void)buf;
	(void)len;
	return refuse(t);
}

static int rec_point(struct target *t, enum tgt_point type, uint64_t addr, unsigned len)
{
	(void)type;
	(void)addr;
	(void)len;
	return refuse(t);
}

static int rec_resume(struct target *t, const struct tgt_resume *actions, size_t n)
{
	(void)actions;
	(void)n;
	return refuse(t);
}

static int rec_interrupt(struct target *t)
{
	return refuse(t);
}

/* Ending the session with a recorded target only lets go of it. */
static int rec_let_go(struct target *t)
{
	rec_of(t)->gone = true;
	return 0;
}

static int rec_read_auxv(struct target *t, struct buf *out)
{
	const struct rec_core *c = &rec_of(t)->core;

	if (!c->auxv.len)
		return -ENOENT;
	buf_append(out, c->auxv.data, c->auxv.len);
	return 0;
}

static int rec_read_siginfo(struct target *t, pid_t tid, struct buf *out)
{
	const struct rec_thread *th = find_thread(t, tid);

	if (!th)
		return -ESRCH;
	if (!th->has_siginfo)
		return -ENOENT;
	buf_append(out, th->siginfo, sizeof(th->siginfo));
	return 0;
}

static int rec_trace_steps(struct target *t, pid_t tid, const struct tgt_step_observer *obs)
{
	(void)tid;
	(void)obs;
	snprintf(t->error, sizeof(t->error), "%s: it cannot run, so it cannot be traced",
		 RECORDED_READ_ONLY);
	return -EOPNOTSUPP;
}

static const struct target_ops rec_ops = {
	.name = "recorded",
	.destroy = rec_destroy,
	.process_info = rec_process_info,
	.is_alive = rec_is_alive,
	.read_only = rec_read_only,
	.threads = rec_threads,
	.thread_stop = rec_thread_stop,
	.thread_name = rec_thread_name,
	.read_regs = rec_read_regs,
	.write_regs = rec_write_regs,
	.read_memory = rec_read_memory,
	.write_memory = rec_write_memory,
	.insert_point = rec_point,
	.remove_point = rec_point,
	.resume = rec_resume,
	.interrupt = rec_interrupt,
	.kill = rec_let_go,
	.detach = rec_let_go,
	.read_auxv = rec_read_auxv,
	.read_siginfo = rec_read_siginfo,
	.regions = rec_regions,
	.dirty_pages = rec_dirty_pages,
	.trace_steps = rec_trace_steps,
};

int recorded_target_open(const char *core_path, const char *image_dir, struct target **out,
			 struct buf *diag, char *err, size_t errlen)
{
	struct rec_target *rt = calloc(1, sizeof(*rt));
	int ret;

	*out = NULL;
	if (!rt) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rt->base.ops = &rec_ops;
	ret = rec_core_load(&rt->core, core_path, diag, err, errlen);
	if (!ret && (ret = rec_images_load(rt, image_dir, diag)) < 0)
		snprintf(err, errlen, "out of memory reading the image list");
	if (!ret && (ret = rec_regions_build(rt)) < 0)
		snprintf(err, errlen, "out of memory building the memory map");
	if (ret) {
		rec_destroy(&rt->base);
		return ret;
	}
	*out = &rt->base;
	return 0;
}

size_t recorded_target_images(struct target *t, const struct recorded_image **out)
{
	*out = rec_of(t)->images;
	return rec_of(t)->nimages;
}

int recorded_target_first_thread(struct target *t)
{
	return rec_of(t)->core.threads[0].tid;
}
