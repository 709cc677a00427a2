/* tests/fuzz/fake_target.c — the in-memory debuggee the fuzzers drive (see fake_target.h).
 * Events are delivered the way the Linux target delivers them: from the loop (a deferred
 * call), never from inside a target_ops call. */
#include "tests/fuzz/fake_target.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "server/loop.h"

#define NTHREADS 3
#define NPOINTS 8
#define PAGE 4096u
#define STEPS_PER_RESUME 16

/* The fake address space: [code][data][stack], one page each. */
enum { CODE_BASE = 0x400000, DATA_BASE = 0x401000, STACK_BASE = 0x7ffff000 };

struct fake_point {
	bool used;
	enum tgt_point type;
	uint64_t addr;
};

struct fake_target {
	struct target base;
	struct tgt_callbacks cb;
	struct loop *loop;
	pid_t tids[NTHREADS];
	struct regcache regs[NTHREADS];
	struct tgt_thread_stop stops[NTHREADS];
	struct tgt_step_observer obs[NTHREADS];
	bool traced[NTHREADS];
	uint8_t code[PAGE], data[PAGE], stack[PAGE];
	struct fake_point points[NPOINTS];
	bool alive, running, detached;
	struct tgt_event pending; /* delivered by the deferred call */
	int64_t pending_id;	  /* 0 = none queued */
};

static struct fake_target *fake(struct target *t)
{
	return (struct fake_target *)t;
}

static int thread_index(struct fake_target *f, pid_t tid)
{
	for (int i = 0; i < NTHREADS; i++)
		if (f->tids[i] == tid)
			return i;
	return -1;
}

/* The bytes backing [addr, addr+len) if it lies in one fake mapping, else NULL. */
static uint8_t *backing(struct fake_target *f, uint64_t addr, size_t len)
{
	static const uint64_t bases[] = {CODE_BASE, DATA_BASE, STACK_BASE};
	uint8_t *pages[] = {f->code, f->data, f->stack};
	for (int i = 0; i < 3; i++)
		if (addr >= bases[i] && addr - bases[i] < PAGE && len <= PAGE - (addr - bases[i]))
			return pages[i] + (addr - bases[i]);
	return NULL;
}

static void fake_destroy(struct target *t)
{
	struct fake_target *f = fake(t);
	if (f->pending_id)
		loop_del_timer(f->loop, f->pending_id);
	free(f);
}

static int fake_process_info(struct target *t, struct tgt_process_info *out)
{
	(void)t;
	memset(out, 0, sizeof(*out));
	out->pid = FAKE_PID;
	out->ppid = 1;
	strcpy(out->exe, "/nonexistent/ptstub-fuzz/prog");
	return 0;
}

static bool fake_is_alive(struct target *t)
{
	return fake(t)->alive;
}

static bool fake_read_only(struct target *t)
{
	(void)t;
	return false;
}

static int fake_threads(struct target *t, pid_t *tids, size_t max)
{
	struct fake_target *f = fake(t);
	for (size_t i = 0; i < NTHREADS && i < max; i++)
		tids[i] = f->tids[i];
	return NTHREADS;
}

static int fake_thread_stop(struct target *t, pid_t tid, struct tgt_thread_stop *out)
{
	struct fake_target *f = fake(t);
	int i = thread_index(f, tid);
	if (i < 0)
		return -ESRCH;
	*out = f->stops[i];
	return 0;
}

static int fake_thread_name(struct target *t, pid_t tid, char *name, size_t cap)
{
	int i = thread_index(fake(t), tid);
	if (i < 0 || cap == 0)
		return -ESRCH;
	snprintf(name, cap, "fake<%d>&\"", i); /* XML and JSON special characters on purpose */
	return 0;
}

/* The registers of tid; NULL with *err = -EBUSY while running, -ESRCH for no such thread. */
static struct regcache *regs_of(struct target *t, pid_t tid, int *err)
{
	struct fake_target *f = fake(t);
	int i = thread_index(f, tid);
	*err = f->running ? -EBUSY : i < 0 ? -ESRCH : 0;
	return *err ? NULL : &f->regs[i];
}

static int fake_read_regs(struct target *t, pid_t tid, struct regcache *rc)
{
	int err;
	struct regcache *r = regs_of(t, tid, &err);
	if (r)
		*rc = *r;
	return err;
}

static int fake_write_regs(struct target *t, pid_t tid, const struct regcache *rc)
{
	int err;
	struct regcache *r = regs_of(t, tid, &err);
	if (r)
		*r = *rc;
	return err;
}

/* Reads and writes stop at the end of a mapping, like process_vm_readv does. */
static ssize_t fake_access(struct target *t, uint64_t addr, void *buf, size_t len, bool write)
{
	struct fake_target *f = fake(t);
	size_t done = 0;
	while (done < len) {
		uint8_t *p = backing(f, addr + done, 1);
		if (!p)
			break;
		size_t run = 1;
		while (done + run < len && backing(f, addr + done, run + 1))
			run++;
		if (write)
			memcpy(p, (const uint8_t *)buf + done, run);
		else
			memcpy((uint8_t *)buf + done, p, run);
		done += run;
		if (addr + done < addr)
			break; /* wrapped around the address space */
	}
	return done ? (ssize_t)done : -EIO;
}

static ssize_t fake_read_memory(struct target *t, uint64_t addr, void *buf, size_t len)
{
	return fake_access(t, addr, buf, len, false);
}

static ssize_t fake_write_memory(struct target *t, uint64_t addr, const void *buf, size_t len)
{
	return fake_access(t, addr, (void *)buf, len, true);
}

static int fake_insert_point(struct target *t, enum tgt_point type, uint64_t addr, unsigned len)
{
	struct fake_target *f = fake(t);
	if (type != TGT_POINT_SW && (len == 0 || len > 8 || (len & (len - 1))))
		return -EINVAL;
	if (type == TGT_POINT_SW && !backing(f, addr, 1))
		return -EIO;
	for (int i = 0; i < NPOINTS; i++) {
		if (!f->points[i].used) {
			f->points[i] = (struct fake_point){true, type, addr};
			return 0;
		}
	}
	return -ENOSPC;
}

static int fake_remove_point(struct target *t, enum tgt_point type, uint64_t addr, unsigned len)
{
	struct fake_target *f = fake(t);
	(void)len;
	for (int i = 0; i < NPOINTS; i++) {
		if (f->points[i].used && f->points[i].type == type && f->points[i].addr == addr) {
			f->points[i].used = false;
			return 0;
		}
	}
	return -ENOENT;
}

static void deliver_deferred(struct loop *loop, void *data)
{
	(void)loop;
	struct fake_target *f = data;
	f->pending_id = 0;
	fake_target_deliver(&f->base);
}

static void queue_event(struct fake_target *f, enum tgt_event_kind kind, pid_t tid, int status)
{
	f->pending = (struct tgt_event){kind, tid, status};
	if (!f->pending_id)
		f->pending_id = loop_defer(f->loop, deliver_deferred, f);
}

static bool breakpoint_at(struct fake_target *f, uint64_t pc)
{
	for (int i = 0; i < NPOINTS; i++)
		if (f->points[i].used && f->points[i].type <= TGT_POINT_HW &&
		    f->points[i].addr == pc)
			return true;
	return false;
}

/* Runs thread i: a step moves one byte (the code page is NOPs), a continue runs up to a
 * breakpoint or STEPS_PER_RESUME bytes; traced threads report every step. */
static void run_thread(struct fake_target *f, int i, enum tgt_resume_kind kind, int signo)
{
	uint64_t pc = regcache_get_u64(&f->regs[i], RN_RIP);
	struct tgt_step_observer *o = f->traced[i] ? &f->obs[i] : NULL;
	struct tgt_thread_stop *st = &f->stops[i];
	memset(st, 0, sizeof(*st));
	st->tid = f->tids[i];
	if (signo == SIGSEGV) {
		st->reason = TGT_STOP_SIGNAL;
		st->signo = SIGSEGV;
		return;
	}
	if (o)
		o->resumed(o->ctx, f->tids[i], pc);
	int steps = kind == TGT_RESUME_STEP ? 1 : STEPS_PER_RESUME;
	for (int k = 0; k < steps; k++) {
		uint64_t next = pc + 1 < CODE_BASE + PAGE ? pc + 1 : CODE_BASE;
		if (o)
			o->step(o->ctx, f->tids[i], pc, next);
		pc = next;
		if (breakpoint_at(f, pc)) {
			st->reason = TGT_STOP_BREAKPOINT;
			st->signo = SIGTRAP;
			break;
		}
	}
	if (!st->reason) {
		st->reason = kind == TGT_RESUME_STEP ? TGT_STOP_STEP : TGT_STOP_SIGNAL;
		st->signo = kind == TGT_RESUME_STEP ? SIGTRAP : SIGALRM;
	}
	regcache_set_u64(&f->regs[i], RN_RIP, pc);
	if (o)
		o->stopped(o->ctx, f->tids[i], pc);
}

static int fake_resume(struct target *t, const struct tgt_resume *acts, size_t n)
{
	struct fake_target *f = fake(t);
	if (!f->alive || f->detached)
		return -ESRCH;
	if (f->running)
		return -EBUSY;
	for (size_t k = 0; k < n; k++)
		if (acts[k].tid != -1 && thread_index(f, acts[k].tid) < 0)
			return -ESRCH;
	pid_t report = 0;
	for (int i = 0; i < NTHREADS; i++) {
		memset(&f->stops[i], 0, sizeof(f->stops[i]));
		f->stops[i].tid = f->tids[i];
		for (size_t k = 0; k < n; k++) {
			if (acts[k].tid != f->tids[i] && acts[k].tid != -1)
				continue;
			if (acts[k].kind != TGT_RESUME_STOP) {
				run_thread(f, i, acts[k].kind, acts[k].signo);
				report = report ? report : f->tids[i];
			}
			break;
		}
	}
	if (acts[0].signo == SIGKILL) {
		f->alive = false;
		queue_event(f, TGT_EV_SIGNALED, 0, SIGKILL);
		return 0;
	}
	f->running = true;
	queue_event(f, TGT_EV_STOPPED, report ? report : f->tids[0], 0);
	return 0;
}

static int fake_interrupt(struct target *t)
{
	struct fake_target *f = fake(t);
	if (!f->running)
		return 0;
	f->stops[0].reason = TGT_STOP_INTERRUPT;
	f->stops[0].signo = SIGSTOP;
	queue_event(f, TGT_EV_STOPPED, f->tids[0], 0);
	return 0;
}

static int fake_kill(struct target *t)
{
	struct fake_target *f = fake(t);
	f->alive = false;
	queue_event(f, TGT_EV_SIGNALED, 0, SIGKILL);
	return 0;
}

static int fake_detach(struct target *t)
{
	fake(t)->detached = true;
	return 0;
}

static int fake_read_auxv(struct target *t, struct buf *out)
{
	(void)t;
	static const uint64_t auxv[] = {6, 4096, 9, CODE_BASE, 0, 0}; /* PAGESZ, ENTRY, NULL */
	buf_append(out, auxv, sizeof(auxv));
	return 0;
}

static int fake_read_siginfo(struct target *t, pid_t tid, struct buf *out)
{
	struct fake_target *f = fake(t);
	int i = thread_index(f, tid);
	if (i < 0)
		return -ESRCH;
	int32_t si[32] = {f->stops[i].signo};
	buf_append(out, si, sizeof(si));
	return 0;
}

static int fake_regions(struct target *t, struct tgt_region **out, size_t *n)
{
	(void)t;
	static const struct tgt_region r[] = {
		{CODE_BASE, CODE_BASE + PAGE, PROT_READ | PROT_EXEC, false, 0, 7,
		 "/nonexistent/ptstub-fuzz/prog"},
		{DATA_BASE, DATA_BASE + PAGE, PROT_READ | PROT_WRITE, false, 0, 0, "[heap]"},
		{STACK_BASE, STACK_BASE + PAGE, PROT_READ | PROT_WRITE, false, 0, 0, "[stack]"},
	};
	*out = malloc(sizeof(r));
	if (!*out)
		return -ENOMEM;
	memcpy(*out, r, sizeof(r));
	*n = 3;
	return 0;
}

static int fake_dirty_pages(struct target *t, uint64_t start, uint64_t end, uint64_t **pages,
			    size_t *n)
{
	(void)t;
	for (uint64_t a = DATA_BASE; a < STACK_BASE + PAGE; a += STACK_BASE - DATA_BASE) {
		if (a < start || a >= end)
			continue;
		uint64_t *np = realloc(*pages, (*n + 1) * sizeof(**pages));
		if (!np)
			return -ENOMEM;
		*pages = np;
		(*pages)[(*n)++] = a;
	}
	return 0;
}

static int fake_trace_steps(struct target *t, pid_t tid, const struct tgt_step_observer *obs)
{
	struct fake_target *f = fake(t);
	int i = thread_index(f, tid);
	if (i < 0)
		return -ESRCH;
	f->traced[i] = obs != NULL;
	if (obs)
		f->obs[i] = *obs;
	return 0;
}

static const struct target_ops fake_ops = {
	.name = "fake",
	.destroy = fake_destroy,
	.process_info = fake_process_info,
	.is_alive = fake_is_alive,
	.read_only = fake_read_only,
	.threads = fake_threads,
	.thread_stop = fake_thread_stop,
	.thread_name = fake_thread_name,
	.read_regs = fake_read_regs,
	.write_regs = fake_write_regs,
	.read_memory = fake_read_memory,
	.write_memory = fake_write_memory,
	.insert_point = fake_insert_point,
	.remove_point = fake_remove_point,
	.resume = fake_resume,
	.interrupt = fake_interrupt,
	.kill = fake_kill,
	.detach = fake_detach,
	.read_auxv = fake_read_auxv,
	.read_siginfo = fake_read_siginfo,
	.regions = fake_regions,
	.dirty_pages = fake_dirty_pages,
	.trace_steps = fake_trace_steps,
};

bool fake_target_deliver(struct target *t)
{
	struct fake_target *f = fake(t);
	struct tgt_event ev = f->pending;
	if (f->pending_id) {
		loop_del_timer(f->loop, f->pending_id);
		f->pending_id = 0;
	}
	if (!f->running && ev.kind == TGT_EV_STOPPED)
		return false;
	f->running = false;
	f->cb.on_event(f->cb.ctx, &ev); /* may destroy f (exit events drop the target) */
	return true;
}

struct target *fake_target_new(struct loop *loop, const struct tgt_callbacks *cb)
{
	struct fake_target *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->base.ops = &fake_ops;
	f->cb = *cb;
	f->loop = loop;
	f->alive = true;
	for (int i = 0; i < NTHREADS; i++) {
		f->tids[i] = FAKE_PID + i;
		f->stops[i].tid = f->tids[i];
		regcache_set_u64(&f->regs[i], RN_RIP, CODE_BASE + 16 * (uint64_t)i);
		regcache_set_u64(&f->regs[i], RN_RSP, STACK_BASE + PAGE - 64);
		regcache_set_u64(&f->regs[i], RN_RBP, STACK_BASE + PAGE - 32);
	}
	f->stops[0].reason = TGT_STOP_SIGNAL;
	f->stops[0].signo = SIGTRAP;
	memset(f->code, 0x90, sizeof(f->code)); /* nop */
	for (unsigned k = 0; k < PAGE; k++)
		f->data[k] = (uint8_t)(k * 7);
	return &f->base;
}
