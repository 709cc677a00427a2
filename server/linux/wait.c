/* server/linux/wait.c — child events and the all-stop engine. SIGCHLD arrives on a signalfd;
 * each ptrace stop is classified (clone, exec, interrupt, breakpoint, step, signal), and once
 * one thread has an event every other thread is interrupted; when all are stopped the owner
 * hears one TGT_EV_STOPPED (delivered from a deferred call, so it may destroy the target). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/linux/linux_target.h"
#include "server/log.h"
#include "server/loop.h"

static void lx_emit_deferred(struct loop *loop, void *data)
{
	struct lx_target *lt = data;
	struct tgt_event ev = lt->pending;

	(void)loop;
	lt->report_id = 0;
	if (lt->cb.on_event)
		lt->cb.on_event(lt->cb.ctx, &ev);
}

static void lx_emit(struct lx_target *lt, enum tgt_event_kind kind, pid_t tid, int status)
{
	lt->pending = (struct tgt_event){kind, tid, status};
	if (!lt->report_id)
		lt->report_id = loop_defer(lt->loop, lx_emit_deferred, lt);
}

/* Reap every status our threads have for us. Threads are polled one by one (not waitpid(-1))
 * so that other children of the server are left alone. */
static void lx_drain(struct lx_target *lt)
{
	bool progress = true;

	while (progress && lt->alive) {
		progress = false;
		for (size_t i = 0; i < lt->nthreads && lt->alive; i++) {
			int status;
			pid_t tid = lt->threads[i].tid;

			if (waitpid(tid, &status, __WALL | WNOHANG) != tid)
				continue;
			lx_handle_status(lt, tid, status);
			progress = true;
			break; /* the list may have changed */
		}
	}
}

static void lx_on_sigchld(struct loop *loop, int fd, unsigned events, void *data)
{
	struct signalfd_siginfo si;

	(void)loop;
	(void)events;
	while (read(fd, &si, sizeof(si)) == sizeof(si))
		;
	lx_drain(data);
}

int lx_events_start(struct lx_target *lt)
{
	sigset_t set;
	int r;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	lt->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (lt->sigfd < 0)
		return -errno;
	r = loop_add_fd(lt->loop, lt->sigfd, LOOP_READ, lx_on_sigchld, lt);
	if (r < 0) {
		close(lt->sigfd);
		lt->sigfd = -1;
	}
	return r;
}

void lx_events_stop(struct lx_target *lt)
{
	if (lt->sigfd >= 0) {
		loop_del_fd(lt->loop, lt->sigfd);
		close(lt->sigfd);
		lt->sigfd = -1;
	}
	if (lt->trace_slice_id)
		loop_del_timer(lt->loop, lt->trace_slice_id);
	if (lt->report_id)
		loop_del_timer(lt->loop, lt->report_id);
	lt->trace_slice_id = lt->report_id = 0;
}

void lx_process_gone(struct lx_target *lt, int status)
{
	bool signaled = WIFSIGNALED(status);

	for (size_t i = 0; i < lt->nthreads; i++)
		lx_trace_stopped(lt, &lt->threads[i]);
	lt->alive = false;
	lt->phase = LX_IDLE;
	lt->nthreads = 0;
	lx_emit(lt, signaled ? TGT_EV_SIGNALED : TGT_EV_EXITED, lt->pid,
		signaled ? WTERMSIG(status) : WEXITSTATUS(status));
}

/* Resume a thread that stopped for a reason of our own, as it was running before. */
static void lx_rerun(struct lx_target *lt, struct lx_thread *th)
{
	if (th->interrupting) {
		th->interrupting = false; /* it is stopped now, as we asked */
		/* A step interrupted inside a syscall leaves its TRAP_TRACE queued. */
		th->stale_step = th->stepping;
		return;
	}
	if (lt->phase == LX_IDLE || th->plan == TGT_RESUME_STOP)
		return;
	lx_ptrace_resume(lt, th, th->stepping, 0);
}

/* First stop of a thread we got through PTRACE_O_TRACECLONE. */
static void lx_on_fresh(struct lx_target *lt, struct lx_thread *th)
{
	th->fresh = false;
	lx_hw_apply(lt, th->tid);
	if (lt->phase == LX_RUNNING || lt->phase == LX_STEP_OVER) {
		th->plan = TGT_RESUME_CONTINUE;
		th->over_done = true;
	}
	if (lt->phase != LX_RUNNING)
		return;
	if (th->traced)
		lx_trace_start(lt, th, 0); /* traced since its clone event (process trace) */
	else
		lx_ptrace_resume(lt, th, false, 0);
}

/* Tell the owner a thread appeared or went away. It may call back into the target (a
 * process trace turns tracing on for a new thread), so callers re-find their threads. */
static void lx_thread_event(struct lx_target *lt, pid_t tid, bool created)
{
	if (lt->cb.on_thread)
		lt->cb.on_thread(lt->cb.ctx, tid, created);
}

static void lx_on_clone(struct lx_target *lt, pid_t parent)
{
	unsigned long msg = 0;
	struct lx_thread *nt;

	if (ptrace(PTRACE_GETEVENTMSG, parent, 0, &msg) == 0 && !lx_thread_find(lt, (pid_t)msg)) {
		nt = lx_thread_add(lt, (pid_t)msg);
		if (nt) {
			nt->fresh = true;
			nt->running = true; /* its first stop is on its way */
			lx_thread_event(lt, (pid_t)msg, true);
		}
	}
	lx_rerun(lt, lx_thread_find(lt, parent));
}

/* A child we do not follow, stopped at its first instruction, goes free. A fork child has
 * its own copy of our memory, int3 bytes included: the original bytes go back in it. A vfork
 * child runs in our memory until it execs or exits: the breakpoints come out of that memory
 * (lx_vfork_started) until the parent, blocked in vfork until then, reports VFORK_DONE. */
static void lx_on_fork(struct lx_target *lt, pid_t parent, bool vfork)
{
	unsigned long msg = 0;
	pid_t child;
	int status;

	if (ptrace(PTRACE_GETEVENTMSG, parent, 0, &msg) == 0 && (child = (pid_t)msg) > 0 &&
	    waitpid(child, &status, __WALL) == child && WIFSTOPPED(status)) {
		if (vfork)
			lx_vfork_started(lt);
		for (size_t i = 0; i < lt->nbps && !vfork; i++)
			lx_poke(child, lt->bps[i].addr, &lt->bps[i].saved, 1);
		ptrace(PTRACE_DETACH, child, 0, 0);
	}
	lx_rerun(lt, lx_thread_find(lt, parent));
}

static void lx_on_vfork_done(struct lx_target *lt, pid_t parent)
{
	lx_vfork_done(lt);
	lx_rerun(lt, lx_thread_find(lt, parent));
}

static void lx_on_exec(struct lx_target *lt, struct lx_thread *th)
{
	struct lx_thread leader = *th;
	pid_t gone[64];
	size_t ngone = 0;

	/* Every other thread is gone; breakpoints and debug registers went with the old image. */
	for (size_t i = 0; i < lt->nthreads; i++)
		if (lt->threads[i].tid != leader.tid && ngone < sizeof(gone) / sizeof(gone[0]))
			gone[ngone++] = lt->threads[i].tid;
	lt->threads[0] = leader;
	lt->nthreads = 1;
	th = &lt->threads[0];
	th->zombie = false; /* a non-leader's exec: the thread under the leader's tid lives */
	lt->nbps = 0;
	lt->vforks = 0; /* a vforking thread that was waiting for its child is gone too */
	memset(lt->hw, 0, sizeof(lt->hw));
	lx_open_mem(lt);
	th->stop =
		(struct tgt_thread_stop){.tid = th->tid, .reason = TGT_STOP_EXEC, .signo = SIGTRAP};
	th->event = true;
	for (size_t i = 0; i < ngone; i++)
		lx_thread_event(lt, gone[i], false);
}

/* A step off the breakpoint at addr that will not finish (a signal, an interrupt, an exit
 * came first): the int3 goes back. */
static void lx_step_over_cancel(struct lx_target *lt, uint64_t addr)
{
	struct lx_breakpoint *bp = lx_breakpoint_at(lt, addr);

	if (bp)
		lx_breakpoint_plant(lt, bp);
}

static void lx_on_event_stop(struct lx_target *lt, struct lx_thread *th)
{
	if (th->fresh) {
		lx_on_fresh(lt, th);
	} else if (th->stepping_over && th->interrupting) {
		/* Interrupted in its step off a breakpoint (blocked in a syscall there): the int3
		 * goes back, the step's trap may still come, and everyone is stopped. */
		lx_step_over_cancel(lt, th->step_over_addr);
		th->interrupting = false;
		th->stepping_over = false;
		th->stale_step = true;
		lt->phase = LX_STOPPING;
	} else
		lx_rerun(lt, th); /* our interrupt, or a stale one, or a group-stop */
}

/* A SIGTRAP: breakpoint, debug register, step completion, or a plain signal. */
static void lx_classify_trap(struct lx_target *lt, struct lx_thread *th, int code,
			     struct tgt_thread_stop *st)
{
	uint64_t pc;

	if (lx_hw_check_hit(lt, th->tid, st))
		return;
	if ((code == SI_KERNEL || code == TRAP_BRKPT) && lx_get_pc(th->tid, &pc) == 0 &&
	    lx_breakpoint_at(lt, pc - 1)) {
		lx_set_pc(th->tid, pc - 1);
		st->reason = TGT_STOP_BREAKPOINT;
		return;
	}
	/* A step that delivered a signal into its handler stops at the handler's entry with
	 * the kernel's own code SIGTRAP (ptrace_notify from signal delivery). */
	if (th->stepping && (code == TRAP_TRACE || code == TRAP_BRKPT || code == SIGTRAP))
		st->reason = TGT_STOP_STEP;
	/* The trap of a step we interrupted: not an event. A step that ended in a syscall
	 * traps at its exit with TRAP_BRKPT (x86's user_single_step_report), not TRAP_TRACE. */
	else if ((code == TRAP_TRACE || code == TRAP_BRKPT) && th->stale_step)
		st->reason = TGT_STOP_NONE;
	th->stale_step = false;
}

static void lx_on_signal(struct lx_target *lt, struct lx_thread *th, int signo)
{
	struct tgt_thread_stop st = {.tid = th->tid, .reason = TGT_STOP_SIGNAL, .signo = signo};
	siginfo_t si = {0};

	th->interrupting = false;
	if (signo == SIGTRAP) {
		/* SIGKILLed since this stop was reaped, the thread is no longer stopped and there
		 * is no telling a step or a breakpoint from a signal (the questions fail with
		 * ESRCH): its exit status follows, and that is the event. Asked again before a
		 * plain SIGTRAP is believed, for a kill that lands while the trap is classified. */
		if (ptrace(PTRACE_GETSIGINFO, th->tid, 0, &si) < 0 && errno == ESRCH) {
			th->running = true;
			return;
		}
		lx_classify_trap(lt, th, si.si_code, &st);
		if (log_ptrace)
			log_msg(LOG_DEBUG, "ptrace: %d SIGTRAP code %d: stop reason %d%s%s", th->tid,
				si.si_code, (int)st.reason, th->stepping ? " (stepping)" : "",
				th->stepping_over ? " (over a breakpoint)" : "");
		if (st.reason == TGT_STOP_SIGNAL &&
		    ptrace(PTRACE_GETSIGINFO, th->tid, 0, &si) < 0 && errno == ESRCH) {
			th->running = true;
			return;
		}
	}
	if (st.reason == TGT_STOP_NONE) {
		lx_rerun(lt, th);
		return;
	}
	if (st.reason == TGT_STOP_STEP && th->stepping_over) {
		lx_step_over_done(lt, th);
		return;
	}
	if (st.reason == TGT_STOP_STEP && th->tracing) {
		lx_trace_step_done(lt, th);
		return;
	}
	if (st.reason == TGT_STOP_STEP && th->plan == TGT_RESUME_CONTINUE) {
		lx_ptrace_resume(lt, th, false, 0); /* tracing was turned off mid-step */
		return;
	}
	if (th->stepping_over) {
		lx_step_over_cancel(lt, th->step_over_addr);
		th->stepping_over = false;
		lt->phase = LX_STOPPING;
	}
	th->stop = st;
	th->event = true;
}

void lx_handle_status(struct lx_target *lt, pid_t tid, int status)
{
	struct lx_thread *th;

	if (log_ptrace)
		log_msg(LOG_DEBUG, "ptrace: %d status %#x (phase %d)", tid, (unsigned)status,
			(int)lt->phase);
	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		if (tid == lt->pid) {
			lx_process_gone(lt, status);
			return;
		}
		struct lx_thread *gone = lx_thread_find(lt, tid);
		bool known = gone != NULL;
		bool stepped_over = gone && gone->stepping_over && lt->phase == LX_STEP_OVER;
		uint64_t over_addr = gone ? gone->step_over_addr : 0;

		lx_thread_remove(lt, tid);
		if (known)
			lx_thread_event(lt, tid, false);
		/* It exited in its step off a breakpoint (an exit syscall under it): the int3
		 * goes back and the resume goes on without it. */
		if (stepped_over && lt->alive && lt->phase == LX_STEP_OVER) {
			lx_step_over_cancel(lt, over_addr);
			if (lt->interrupt_requested)
				lt->phase = LX_STOPPING;
			else
				lx_proceed(lt);
		}
		lx_check_progress(lt);
		return;
	}
	if (!WIFSTOPPED(status))
		return;
	th = lx_thread_find(lt, tid);
	if (!th) { /* a clone child stopping before its parent's clone event */
		th = lx_thread_add(lt, tid);
		if (!th)
			return;
		th->fresh = true;
		lx_thread_event(lt, tid, true);
		if (!(th = lx_thread_find(lt, tid)))
			return;
	}
	th->running = false;
	switch (status >> 16) {
	case 0:
		lx_on_signal(lt, th, WSTOPSIG(status));
		break;
	case PTRACE_EVENT_CLONE:
		lx_on_clone(lt, tid);
		break;
	case PTRACE_EVENT_FORK:
	case PTRACE_EVENT_VFORK:
		lx_on_fork(lt, tid, status >> 16 == PTRACE_EVENT_VFORK);
		break;
	case PTRACE_EVENT_VFORK_DONE:
		lx_on_vfork_done(lt, tid);
		break;
	case PTRACE_EVENT_EXEC:
		lx_on_exec(lt, th);
		break;
	case PTRACE_EVENT_STOP:
		lx_on_event_stop(lt, th);
		break;
	default:
		lx_rerun(lt, th);
		break;
	}
	lx_check_progress(lt);
}

/* Is the leader a zombie (state Z in /proc/PID/stat)? It exited (pthread_exit) while other
 * threads live: it can neither stop nor run, and its exit status waits for theirs. */
static bool lx_leader_zombie(struct lx_target *lt)
{
	char path[64], buf[512], *p = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)lt->pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (fgets(buf, sizeof(buf), f))
		p = strrchr(buf, ')');
	fclose(f);
	return p && p[1] == ' ' && p[2] == 'Z';
}

/* Interrupt every running thread that is not already being stopped. */
static void lx_interrupt_running(struct lx_target *lt)
{
	for (size_t i = 0; i < lt->nthreads; i++) {
		struct lx_thread *th = &lt->threads[i];

		if (!th->running || th->interrupting || th->fresh)
			continue;
		/* A zombie leader would never report the stop asked for: it counts as stopped
		 * (its exit, when the last other thread is gone, ends the process). */
		if (th->tid == lt->pid && lt->nthreads > 1 && lx_leader_zombie(lt)) {
			th->zombie = true;
			th->running = false;
			if (log_ptrace)
				log_msg(LOG_DEBUG, "ptrace: leader %d is a zombie", th->tid);
			continue;
		}
		if (ptrace(PTRACE_INTERRUPT, th->tid, 0, 0) == 0)
			th->interrupting = true;
		if (log_ptrace)
			log_msg(LOG_DEBUG, "ptrace: interrupt %d", th->tid);
	}
}

void lx_check_progress(struct lx_target *lt)
{
	bool any_event = false, any_running = false;

	if (!lt->alive || lt->phase == LX_IDLE || lt->phase == LX_STEP_OVER)
		return;
	for (size_t i = 0; i < lt->nthreads; i++) {
		any_event |= lt->threads[i].event;
		any_running |= lt->threads[i].running;
	}
	/* A zombie leader left alone: its exit status is on the way, that is the event. */
	if (lt->nthreads == 1 && lt->threads[0].zombie)
		any_running = true;
	/* Nothing left running (the threads resumed all exited): stop rather than hang. */
	if (lt->phase == LX_RUNNING && (any_event || lt->interrupt_requested || !any_running))
		lt->phase = LX_STOPPING;
	if (lt->phase != LX_STOPPING)
		return;
	lx_interrupt_running(lt);
	if (!any_running)
		lx_report(lt);
}

static int lx_rank(const struct lx_thread *th)
{
	switch (th->stop.reason) {
	case TGT_STOP_BREAKPOINT:
	case TGT_STOP_HW_BREAKPOINT:
	case TGT_STOP_WATCHPOINT:
		return 4;
	case TGT_STOP_SIGNAL:
	case TGT_STOP_EXEC:
		return 3;
	case TGT_STOP_STEP:
		return 2;
	default:
		return 1;
	}
}

/* Every thread is stopped: choose the thread to report and forget what would be reported
 * wrongly later: an unreported breakpoint hit is hit again (a thread the client did not see
 * at a breakpoint is not stepped over it at the next resume), a step is asked for again. */
void lx_report(struct lx_target *lt)
{
	struct lx_thread *best = NULL;

	if (lt->nthreads == 0)
		return;
	for (size_t i = 0; i < lt->nthreads; i++) {
		struct lx_thread *th = &lt->threads[i];

		if (th->event && (!best || lx_rank(th) > lx_rank(best)))
			best = th;
	}
	if (!best) {
		best = &lt->threads[0];
		for (size_t i = 0; i < lt->nthreads && best->zombie; i++)
			best = &lt->threads[i]; /* a thread that can be looked at */
		best->stop = (struct tgt_thread_stop){.tid = best->tid};
		if (lt->interrupt_requested)
			best->stop = (struct tgt_thread_stop){
				.tid = best->tid, .reason = TGT_STOP_INTERRUPT, .signo = SIGSTOP};
	}
	best->event = false;
	best->shown = true;
	for (size_t i = 0; i < lt->nthreads; i++) {
		struct lx_thread *th = &lt->threads[i];

		lx_trace_stopped(lt, th);
		th->rehit = false;
		if (th == best)
			continue;
		/* The client never saw this thread stop at its breakpoint: it runs into it. One
		 * reported before (a resume that only reported another's pending event) was seen. */
		th->rehit = !th->shown && lx_get_pc(th->tid, &th->rehit_pc) == 0 &&
			    lx_breakpoint_at(lt, th->rehit_pc);
		if (th->event && th->stop.reason != TGT_STOP_BREAKPOINT &&
		    th->stop.reason != TGT_STOP_STEP)
			continue;
		th->event = false;
		th->stop = (struct tgt_thread_stop){.tid = th->tid};
	}
	lt->interrupt_requested = false;
	lt->phase = LX_IDLE;
	lt->reported = best->tid;
	lx_emit(lt, TGT_EV_STOPPED, best->tid, 0);
}

/* Stop every running thread and wait for it, without reporting anything. A real signal
 * that arrives meanwhile is kept as the thread's stop so that detach can pass it on. */
void lx_stop_all_sync(struct lx_target *lt)
{
	lx_interrupt_running(lt);
	for (size_t i = 0; i < lt->nthreads; i++) {
		struct lx_thread *th = &lt->threads[i];
		int status;

		while (th->running && waitpid(th->tid, &status, __WALL) == th->tid) {
			if (!WIFSTOPPED(status)) {
				th->running = false; /* exited: detach will fail quietly */
				break;
			}
			th->running = false;
			if ((status >> 16) == 0 && WSTOPSIG(status) != SIGTRAP)
				th->stop = (struct tgt_thread_stop){.tid = th->tid,
								    .reason = TGT_STOP_SIGNAL,
								    .signo = WSTOPSIG(status)};
		}
	}
	if (lt->trace_slice_id)
		loop_del_timer(lt->loop, lt->trace_slice_id);
	lt->trace_slice_id = 0;
	lt->phase = LX_IDLE;
}
