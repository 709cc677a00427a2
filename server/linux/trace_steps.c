/* server/linux/trace_steps.c — software trace: a continue of the traced thread becomes a run of
 * PTRACE_SINGLESTEPs, each reported to the observer (a client's single step is one of them).
 * Steps run in slices from deferred calls so the loop keeps serving the client; an inserted
 * breakpoint at the new pc stops the run. A step that delivers a caught signal ends at the
 * handler without executing anything: the observer hears stopped(pc) then resumed(handler). */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "server/linux/linux_target.h"
#include "server/loop.h"

#define LX_SPIN_POLLS 20000 /* WNOHANG polls before leaving a step to the signalfd */
#define LX_SPIN_FAST 16	    /* polls before each further one yields the cpu */

void lx_trace_announce(struct lx_target *lt, struct lx_thread *th)
{
	uint64_t pc = 0;

	(void)lt;
	if (th->announced)
		return;
	th->announced = true;
	th->tracing = true;
	lx_get_pc(th->tid, &pc);
	if (th->obs.resumed)
		th->obs.resumed(th->obs.ctx, th->tid, pc);
}

void lx_trace_stopped(struct lx_target *lt, struct lx_thread *th)
{
	uint64_t pc = 0;

	(void)lt;
	if (!th->tracing)
		return;
	th->tracing = false;
	th->announced = false;
	lx_get_pc(th->tid, &pc);
	if (th->obs.stopped)
		th->obs.stopped(th->obs.ctx, th->tid, pc);
}

/* Does the thread run a handler for signo (SigCgt of /proc/TID/status)? */
bool lx_signal_caught(pid_t tid, int signo)
{
	char path[64], line[256];
	unsigned long long mask = 0;
	FILE *f;

	if (signo <= 0 || signo > 64)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "SigCgt: %llx", &mask) == 1)
			break;
	fclose(f);
	return mask & (1ull << (signo - 1));
}

/* The single step from from_pc ended at to_pc: an executed instruction, or (when it delivered
 * a caught signal) an asynchronous transfer into the handler. */
void lx_trace_report_step(struct lx_thread *th, uint64_t from_pc, uint64_t to_pc)
{
	bool async = th->trace_async;

	th->trace_async = false;
	if (!async) {
		if (th->obs.step)
			th->obs.step(th->obs.ctx, th->tid, from_pc, to_pc);
		return;
	}
	if (th->obs.stopped)
		th->obs.stopped(th->obs.ctx, th->tid, from_pc);
	if (th->obs.resumed)
		th->obs.resumed(th->obs.ctx, th->tid, to_pc);
}

/* The next traced step of a thread known to be at pc. */
static int lx_trace_issue_at(struct lx_target *lt, struct lx_thread *th, int signo, uint64_t pc)
{
	th->trace_from = pc;
	th->trace_async = lx_signal_caught(th->tid, signo);
	return lx_ptrace_resume(lt, th, true, signo);
}

static int lx_trace_issue(struct lx_target *lt, struct lx_thread *th, int signo)
{
	uint64_t pc;
	int r = lx_get_pc(th->tid, &pc);

	if (r == -ESRCH) /* killed under us: resuming counts it as running until its exit */
		return lx_ptrace_resume(lt, th, true, signo);
	if (r < 0)
		return r;
	return lx_trace_issue_at(lt, th, signo, pc);
}

/* Wait a little for the step in flight; 0 if it did not finish (the signalfd will see it). */
static pid_t lx_trace_wait(pid_t tid, int *status)
{
	for (int i = 0; i < LX_SPIN_POLLS; i++) {
		pid_t r = waitpid(tid, status, __WALL | WNOHANG);

		if (r != 0)
			return r;
		if (i >= LX_SPIN_FAST)
			sched_yield(); /* few cpus: let the tracee run its step */
	}
	return 0;
}

static bool lx_trace_can_step(struct lx_target *lt, struct lx_thread *th)
{
	return th && th->tracing && th->running && lt->phase == LX_RUNNING;
}

/* Up to n steps of one traced thread; false if its step in flight did not finish in time
 * (the signalfd will see it) or it stopped stepping. */
static bool lx_trace_run(struct lx_target *lt, pid_t tid, int n)
{
	for (int i = 0; i < n && lt->alive; i++) {
		int status;

		struct lx_thread *th = lx_thread_find(lt, tid);

		if (!lx_trace_can_step(lt, th))
			return false;
		if (lx_trace_wait(tid, &status) != tid) {
			th->trace_parked = true; /* blocked (a syscall): the signalfd sees it */
			return false;
		}
		lx_handle_status(lt, tid, status);
	}
	return lx_trace_can_step(lt, lx_thread_find(lt, tid));
}

/* One slice: every traced running thread in turn, a share of LX_TRACE_SLICE steps each. */
static void lx_trace_slice(struct loop *loop, void *data)
{
	struct lx_target *lt = data;
	bool again = false;
	size_t n = lt->nthreads;

	(void)loop;
	lt->trace_slice_id = 0;
	lt->in_trace_slice = true;
	for (size_t i = 0; i < lt->nthreads && lt->alive; i++) {
		pid_t tid = lt->threads[i].tid;

		if (lx_trace_can_step(lt, &lt->threads[i]) && !lt->threads[i].trace_parked)
			again |= lx_trace_run(lt, tid, LX_TRACE_SLICE / (int)n + 1);
	}
	lt->in_trace_slice = false;
	if (again && lt->alive && lt->phase == LX_RUNNING)
		lt->trace_slice_id = loop_defer(lt->loop, lx_trace_slice, lt);
}

static void lx_trace_schedule(struct lx_target *lt)
{
	if (!lt->in_trace_slice && !lt->trace_slice_id)
		lt->trace_slice_id = loop_defer(lt->loop, lx_trace_slice, lt);
}

void lx_trace_start(struct lx_target *lt, struct lx_thread *th, int signo)
{
	lx_trace_announce(lt, th);
	if (lx_trace_issue(lt, th, signo) == 0)
		lx_trace_schedule(lt);
}

void lx_trace_step_done(struct lx_target *lt, struct lx_thread *th)
{
	uint64_t to = 0;
	bool have_pc = lx_get_pc(th->tid, &to) == 0;

	lx_trace_report_step(th, th->trace_from, to);
	if (th->plan == TGT_RESUME_STEP) { /* the client's single step */
		th->stop = (struct tgt_thread_stop){
			.tid = th->tid, .reason = TGT_STOP_STEP, .signo = SIGTRAP};
		th->event = true;
		return;
	}
	if (lx_breakpoint_at(lt, to)) {
		th->stop = (struct tgt_thread_stop){
			.tid = th->tid, .reason = TGT_STOP_BREAKPOINT, .signo = SIGTRAP};
		th->event = true;
		return;
	}
	if (lt->phase != LX_RUNNING)
		return; /* stopping for another thread or an interrupt: stay here */
	/* The pc just read is where the next step starts: no second read per step. */
	if ((have_pc ? lx_trace_issue_at(lt, th, 0, to) : lx_trace_issue(lt, th, 0)) == 0)
		lx_trace_schedule(lt);
}

int lx_trace_steps(struct target *t, pid_t tid, const struct tgt_step_observer *obs)
{
	struct lx_target *lt = lx_of(t);
	struct lx_thread *th = lx_thread_find(lt, tid);

	if (!lt->alive)
		return lx_set_error(lt, -ESRCH, "the process is not running");
	if (!th)
		return obs ? lx_set_error(lt, -ESRCH, "no thread %d", tid) : 0;
	lx_trace_stopped(lt, th); /* a step in flight ends as a plain continue */
	th->traced = obs != NULL;
	th->obs = obs ? *obs : (struct tgt_step_observer){0};
	return 0;
}
