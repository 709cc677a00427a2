/* server/linux/target.c — the live Linux target object: its operations table, creation and
 * destruction (a launched process is killed, an attached one detached), and error helpers. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/linux/linux_target.h"
#include "server/loop.h"

static void lx_destroy(struct target *t);

static bool lx_is_alive(struct target *t)
{
	return lx_of(t)->alive;
}

static bool lx_read_only(struct target *t)
{
	(void)t;
	return false;
}

static const struct target_ops lx_ops = {
	.name = "linux",
	.destroy = lx_destroy,
	.process_info = lx_process_info,
	.is_alive = lx_is_alive,
	.read_only = lx_read_only,
	.threads = lx_threads,
	.thread_stop = lx_thread_stop,
	.thread_name = lx_thread_name,
	.read_regs = lx_read_regs,
	.read_gpregs = lx_read_gpregs,
	.write_regs = lx_write_regs,
	.read_memory = lx_read_memory,
	.write_memory = lx_write_memory,
	.insert_point = lx_insert_point,
	.remove_point = lx_remove_point,
	.resume = lx_resume,
	.interrupt = lx_interrupt,
	.kill = lx_kill,
	.detach = lx_detach,
	.read_auxv = lx_read_auxv,
	.read_siginfo = lx_read_siginfo,
	.regions = lx_regions,
	.dirty_pages = lx_dirty_pages,
	.trace_steps = lx_trace_steps,
};

struct lx_target *lx_target_new(struct loop *loop, pid_t pid, bool launched,
				const struct tgt_callbacks *cb)
{
	struct lx_target *lt = calloc(1, sizeof(*lt));

	if (!lt)
		return NULL;
	lt->xstate = malloc(LX_XSTATE_SIZE);
	if (!lt->xstate) {
		free(lt);
		return NULL;
	}
	lt->base.ops = &lx_ops;
	lt->loop = loop;
	if (cb)
		lt->cb = *cb;
	lt->pid = pid;
	lt->launched = launched;
	lt->alive = true;
	lt->sigfd = -1;
	lt->memfd = -1;
	lt->phase = LX_IDLE;
	return lt;
}

void lx_target_free(struct lx_target *lt)
{
	if (!lt)
		return;
	lx_events_stop(lt);
	if (lt->memfd >= 0)
		close(lt->memfd);
	free(lt->threads);
	free(lt->bps);
	free(lt->xstate);
	free(lt);
}

int lx_set_error(struct lx_target *lt, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(lt->base.error, sizeof(lt->base.error), fmt, ap);
	va_end(ap);
	return err;
}

int lx_open_mem(struct lx_target *lt)
{
	char path[64];

	if (lt->memfd >= 0)
		close(lt->memfd);
	snprintf(path, sizeof(path), "/proc/%d/mem", lt->pid);
	lt->memfd = open(path, O_RDWR | O_CLOEXEC);
	return lt->memfd < 0 ? -errno : 0;
}

/* Kill and reap synchronously: no callback, the owner is going away. The other threads
 * first: the leader's exit is not reported while any of them is unreaped. */
static void lx_kill_sync(struct lx_target *lt)
{
	int status;
	pid_t r;

	kill(lt->pid, SIGKILL);
	for (size_t i = 0; i < lt->nthreads; i++)
		if (lt->threads[i].tid != lt->pid)
			while (waitpid(lt->threads[i].tid, &status, __WALL) == lt->threads[i].tid &&
			       !WIFEXITED(status) && !WIFSIGNALED(status))
				;
	do
		r = waitpid(lt->pid, &status, __WALL);
	while (r == lt->pid && !WIFEXITED(status) && !WIFSIGNALED(status));
	lt->alive = false;
}

static void lx_destroy(struct target *t)
{
	struct lx_target *lt = lx_of(t);

	if (!lt)
		return;
	if (lt->alive) {
		if (lt->launched)
			lx_kill_sync(lt);
		else
			lx_detach(t);
	}
	lx_target_free(lt);
}
