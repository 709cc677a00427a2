/* server/linux/resume.c — resuming threads per the client's actions: pending events are
 * reported before anything runs, threads sitting on an inserted breakpoint first step off it
 * alone (int3 lifted, one single step, int3 back), then everyone asked to runs. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "server/linux/linux_target.h"
#include "server/log.h"

int lx_ptrace_resume(struct lx_target *lt, struct lx_thread *th, bool step, int signo)
{
	(void)lt;
	if (log_ptrace)
		log_msg(LOG_DEBUG, "ptrace: %s %d signal %d", step ? "step" : "cont", th->tid, signo);
	/* ESRCH: killed under us (a SIGKILL from outside ends the ptrace-stop). Its exit status is
	 * on the way, so it counts as running: that status, not a stop, is what gets reported. */
	if (ptrace(step ? PTRACE_SINGLESTEP : PTRACE_CONT, th->tid, 0, (long)signo) < 0 &&
	    errno != ESRCH)
		return -errno;
	th->running = true;
	th->trace_parked = false;
	th->stepping = step;
	th->rehit = false;
	th->shown = false;
	return 0;
}

static const struct tgt_resume *lx_action_for(pid_t tid, const struct tgt_resume *actions, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (actions[i].tid == tid || actions[i].tid == -1)
			return &actions[i];
	return NULL;
}

/* Set each thread's plan; true if a thread to be resumed still has an unreported event
 * (a signal the client resumes it with counts as delivered, not pending). */
static bool lx_plan(struct lx_target *lt, const struct tgt_resume *actions, size_t n)
{
	bool pending = false;

	for (size_t i = 0; i < lt->nthreads; i++) {
		struct lx_thread *th = &lt->threads[i];
		const struct tgt_resume *a = lx_action_for(th->tid, actions, n);

		th->plan = a ? a->kind : TGT_RESUME_STOP;
		th->plan_signo = a ? a->signo : 0;
		th->over_done = false;
		if (th->plan != TGT_RESUME_STOP && th->held_signo) {
			/* The client, unaware of it, does not ask for it again. */
			if (!th->plan_signo)
				th->plan_signo = th->held_signo;
			else if (th->plan_signo != th->held_signo)
				syscall(SYS_tgkill, lt->pid, th->tid, th->held_signo);
			th->held_signo = 0;
		}
		if (th->plan == TGT_RESUME_STOP || !th->event)
			continue;
		if (th->stop.reason == TGT_STOP_SIGNAL && th->plan_signo == th->stop.signo)
			th->event = false;
		else
			pending = true;
	}
	return pending;
}

int lx_resume(struct target *t, const struct tgt_resume *actions, size_t n)
{
	struct lx_target *lt = lx_of(t);

	/* It died while stopped and its end is on the way to the owner (a deferred call): the
	 * resume goes through, and that end is what it stops with. */
	if (!lt->alive && lt->report_id)
		return 0;
	if (!lt->alive)
		return lx_set_error(lt, -ESRCH, "the process is not running");
	if (lt->phase != LX_IDLE)
		return lx_set_error(lt, -EBUSY, "the process is already running");
	if (lx_plan(lt, actions, n)) {
		/* Nothing runs: a signal the client passed to a thread is kept for the next resume
		 * of that thread, or it would be lost (the client saw it as delivered). */
		for (size_t i = 0; i < lt->nthreads; i++) {
			struct lx_thread *th = &lt->threads[i];

			if (th->plan != TGT_RESUME_STOP && th->plan_signo && !th->event)
				th->held_signo = th->plan_signo;
		}
		lt->phase = LX_STOPPING;
		lx_report(lt);
		return 0;
	}
	for (size_t i = 0; i < lt->nthreads; i++) {
		struct lx_thread *th = &lt->threads[i];

		if (th->plan != TGT_RESUME_STOP)
			th->stop = (struct tgt_thread_stop){.tid = th->tid};
	}
	lx_proceed(lt);
	return 0;
}

/* Start stepping one thread off the breakpoint under its pc; true if it was needed. */
static bool lx_step_over_start(struct lx_target *lt, struct lx_thread *th)
{
	struct lx_breakpoint *bp;
	uint64_t pc;

	th->over_done = true;
	if (lt->nbps == 0 || lx_get_pc(th->tid, &pc) < 0 || !(bp = lx_breakpoint_at(lt, pc)))
		return false;
	if (th->rehit && th->rehit_pc == pc)
		return false; /* its hit was never reported: let it hit again */
	if (lx_breakpoint_lift(lt, bp) < 0)
		return false;
	if (th->traced)
		lx_trace_announce(lt, th);
	th->trace_async = th->traced && lx_signal_caught(th->tid, th->plan_signo);
	th->stepping_over = true;
	th->step_over_addr = pc;
	lt->phase = LX_STEP_OVER;
	if (lx_ptrace_resume(lt, th, true, th->plan_signo) < 0) {
		lx_breakpoint_plant(lt, bp);
		th->stepping_over = false;
		lt->phase = LX_RUNNING;
		return false;
	}
	th->plan_signo = 0;
	return true;
}

void lx_proceed(struct lx_target *lt)
{
	for (size_t i = 0; i < lt->nthreads; i++) {
		struct lx_thread *th = &lt->threads[i];

		if (th->plan != TGT_RESUME_STOP && !th->over_done && !th->zombie &&
		    lx_step_over_start(lt, th))
			return;
	}
	lt->phase = LX_RUNNING;
	for (size_t i = 0; i < lt->nthreads; i++) {
		struct lx_thread *th = &lt->threads[i];
		int signo = th->plan_signo;

		if (th->plan == TGT_RESUME_STOP || th->running || th->zombie)
			continue;
		th->plan_signo = 0;
		if (th->traced)
			lx_trace_start(lt, th, signo);
		else
			lx_ptrace_resume(lt, th, th->plan == TGT_RESUME_STEP, signo);
	}
	lx_check_progress(lt);
}

void lx_step_over_done(struct lx_target *lt, struct lx_thread *th)
{
	struct lx_breakpoint *bp = lx_breakpoint_at(lt, th->step_over_addr);
	uint64_t pc = 0;

	if (bp)
		lx_breakpoint_plant(lt, bp);
	th->stepping_over = false;
	if (th->traced && lx_get_pc(th->tid, &pc) == 0) {
		lx_trace_announce(lt, th); /* the instruction at the breakpoint is in the trace */
		lx_trace_report_step(th, th->step_over_addr, pc);
	}
	if (lt->interrupt_requested || th->plan == TGT_RESUME_STEP) {
		if (th->plan == TGT_RESUME_STEP) {
			th->stop = (struct tgt_thread_stop){
				.tid = th->tid, .reason = TGT_STOP_STEP, .signo = SIGTRAP};
			th->event = true;
		}
		lt->phase = LX_STOPPING;
		return; /* lx_handle_status checks progress and reports */
	}
	lx_proceed(lt);
}

int lx_interrupt(struct target *t)
{
	struct lx_target *lt = lx_of(t);

	if (!lt->alive)
		return lx_set_error(lt, -ESRCH, "the process is not running");
	if (lt->phase == LX_IDLE)
		return 0;
	lt->interrupt_requested = true;
	/* The step off a breakpoint may block (a syscall under it): stop that step too. */
	for (size_t i = 0; lt->phase == LX_STEP_OVER && i < lt->nthreads; i++) {
		struct lx_thread *th = &lt->threads[i];

		if (th->stepping_over && th->running && !th->interrupting &&
		    ptrace(PTRACE_INTERRUPT, th->tid, 0, 0) == 0)
			th->interrupting = true;
	}
	lx_check_progress(lt);
	return 0;
}
