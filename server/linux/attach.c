/* server/linux/attach.c — attach to a running process (PTRACE_SEIZE + INTERRUPT on every
 * thread until no new one appears, all stopped before returning), detach (breakpoints and
 * debug registers removed, pending signals passed on) and kill. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/linux/linux_target.h"

static int lx_seize_error(struct lx_target *lt, int e, char *err, size_t errlen)
{
	if (e == EPERM)
		snprintf(
			err, errlen,
			"cannot attach to process %d: Operation not permitted (is it already "
			"traced, owned by another user, or does /proc/sys/kernel/yama/ptrace_scope "
			"forbid it?)",
			lt->pid);
	else if (e == ESRCH)
		snprintf(err, errlen, "cannot attach to process %d: no such process", lt->pid);
	else
		snprintf(err, errlen, "cannot attach to process %d: %s", lt->pid, strerror(e));
	return -e;
}

/* Seize the threads of /proc/PID/task not yet known; returns how many were new, or -errno. */
static int lx_seize_new_threads(struct lx_target *lt, char *err, size_t errlen)
{
	long opts = LX_PTRACE_OPTS;
	char path[64];
	struct dirent *d;
	int added = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", lt->pid);
	dir = opendir(path);
	if (!dir)
		return lx_seize_error(lt, errno == ENOENT ? ESRCH : errno, err, errlen);
	while ((d = readdir(dir))) {
		pid_t tid = (pid_t)atoi(d->d_name);
		struct lx_thread *th;

		if (tid <= 0 || lx_thread_find(lt, tid))
			continue;
		if (ptrace(PTRACE_SEIZE, tid, 0, opts) < 0) {
			if (tid != lt->pid)
				continue; /* exited, or already ours through TRACECLONE */
			closedir(dir);
			return lx_seize_error(lt, errno, err, errlen);
		}
		th = lx_thread_add(lt, tid);
		if (!th)
			break;
		th->running = true;
		if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) == 0)
			th->interrupting = true;
		added++;
	}
	closedir(dir);
	return added;
}

int lx_seize_all(struct lx_target *lt, char *err, size_t errlen)
{
	int r;

	do
		r = lx_seize_new_threads(lt, err, errlen);
	while (r > 0);
	if (r < 0)
		return r;
	/* Wait for every thread's first stop; clones seen meanwhile join the list. */
	lx_stop_all_sync(lt);
	while ((r = lx_seize_new_threads(lt, err, errlen)) > 0)
		lx_stop_all_sync(lt);
	return r;
}

int linux_target_attach(struct loop *loop, pid_t pid, const struct tgt_callbacks *cb,
			struct target **out, char *err, size_t errlen)
{
	struct lx_target *lt = lx_target_new(loop, pid, false, cb);
	int r = -ENOMEM;

	if (!lt) {
		snprintf(err, errlen, "out of memory");
		return r;
	}
	r = lx_events_start(lt);
	if (r < 0) {
		snprintf(err, errlen, "cannot watch for child events: %s", strerror(-r));
		goto fail;
	}
	r = lx_seize_all(lt, err, errlen);
	if (r < 0)
		goto fail_detach;
	lx_open_mem(lt);
	for (size_t i = 0; i < lt->nthreads; i++) {
		struct lx_thread *th = &lt->threads[i];

		if (th->stop.reason == TGT_STOP_NONE && th->tid == pid)
			th->stop = (struct tgt_thread_stop){
				.tid = pid, .reason = TGT_STOP_SIGNAL, .signo = SIGSTOP};
		th->interrupting = false;
	}
	*out = &lt->base;
	return 0;
fail_detach:
	for (size_t i = 0; i < lt->nthreads; i++)
		ptrace(PTRACE_DETACH, lt->threads[i].tid, 0, 0);
fail:
	lx_target_free(lt);
	return r;
}

/* The signal a thread should get back when we let go of it. */
static int lx_detach_signal(const struct lx_thread *th)
{
	if (th->held_signo)
		return th->held_signo;
	if (th->stop.reason != TGT_STOP_SIGNAL)
		return 0;
	if (th->stop.signo == SIGSTOP || th->stop.signo == SIGTRAP)
		return 0;
	return th->stop.signo;
}

/* A thread that cannot be detached is on its way out (killed meanwhile): reap it, or its
 * exit stays queued for us and the leader's parent waits forever. Bounded to ~0.5 s. */
static void lx_reap_dying(pid_t tid)
{
	for (int i = 0; i < 5000; i++) {
		int status;
		pid_t r = waitpid(tid, &status, __WALL | WNOHANG);

		if (r < 0 || (r == tid && !WIFSTOPPED(status)))
			return;
		if (r == tid && ptrace(PTRACE_DETACH, tid, 0, 0) == 0)
			return;
		usleep(100);
	}
}

int lx_detach(struct target *t)
{
	struct lx_target *lt = lx_of(t);

	if (!lt->alive)
		return lx_set_error(lt, -ESRCH, "the process is not running");
	if (lt->phase != LX_IDLE)
		lx_stop_all_sync(lt);
	lx_breakpoints_remove_all(lt);
	lx_hw_clear_all(lt);
	for (size_t i = 0; i < lt->nthreads; i++) {
		struct lx_thread *th = &lt->threads[i];

		lx_trace_stopped(lt, th);
		if (ptrace(PTRACE_DETACH, th->tid, 0, (long)lx_detach_signal(th)) < 0 &&
		    errno == ESRCH && th->tid != lt->pid)
			lx_reap_dying(th->tid);
	}
	lt->alive = false;
	lt->nthreads = 0;
	lx_events_stop(lt);
	return 0;
}

int lx_kill(struct target *t)
{
	struct lx_target *lt = lx_of(t);

	if (!lt->alive)
		return lx_set_error(lt, -ESRCH, "the process is not running");
	if (kill(lt->pid, SIGKILL) < 0)
		return lx_set_error(lt, -errno, "cannot kill process %d: %s", lt->pid,
				    strerror(errno));
	return 0;
}
