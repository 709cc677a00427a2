/* server/linux/threads.c — the thread list of a live target: lookup, add and remove, the list
 * the client sees (main thread first), each thread's stop state and its name from /proc. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/linux/linux_target.h"

struct lx_thread *lx_thread_find(struct lx_target *lt, pid_t tid)
{
	for (size_t i = 0; i < lt->nthreads; i++)
		if (lt->threads[i].tid == tid)
			return &lt->threads[i];
	return NULL;
}

/* Adds a stopped thread with no stop reason; returns the existing one if already known. */
struct lx_thread *lx_thread_add(struct lx_target *lt, pid_t tid)
{
	struct lx_thread *th = lx_thread_find(lt, tid);

	if (th)
		return th;
	if (lt->nthreads == lt->cap_threads) {
		size_t cap = lt->cap_threads ? lt->cap_threads * 2 : 8;
		struct lx_thread *n = realloc(lt->threads, cap * sizeof(*n));

		if (!n)
			return NULL;
		lt->threads = n;
		lt->cap_threads = cap;
	}
	th = &lt->threads[lt->nthreads++];
	memset(th, 0, sizeof(*th));
	th->tid = tid;
	th->plan = TGT_RESUME_STOP;
	th->stop.tid = tid;
	/* Keep the main thread first: it is listed first to clients. */
	if (tid == lt->pid && th != &lt->threads[0]) {
		struct lx_thread tmp = *th;

		memmove(&lt->threads[1], &lt->threads[0], (lt->nthreads - 1) * sizeof(*th));
		lt->threads[0] = tmp;
		th = &lt->threads[0];
	}
	return th;
}

void lx_thread_remove(struct lx_target *lt, pid_t tid)
{
	struct lx_thread *th = lx_thread_find(lt, tid);

	if (!th)
		return;
	lx_trace_stopped(lt, th);
	size_t i = th - lt->threads;
	memmove(th, th + 1, (lt->nthreads - i - 1) * sizeof(*th));
	lt->nthreads--;
}

int lx_threads(struct target *t, pid_t *tids, size_t max)
{
	struct lx_target *lt = lx_of(t);

	for (size_t i = 0; i < lt->nthreads && i < max; i++)
		tids[i] = lt->threads[i].tid;
	return (int)lt->nthreads;
}

int lx_thread_stop(struct target *t, pid_t tid, struct tgt_thread_stop *out)
{
	struct lx_thread *th = lx_thread_find(lx_of(t), tid);

	if (!th)
		return -ESRCH;
	*out = th->stop;
	out->tid = tid;
	return 0;
}

int lx_thread_name(struct target *t, pid_t tid, char *name, size_t cap)
{
	char path[96];
	FILE *f;

	if (cap == 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", lx_of(t)->pid, tid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(name, (int)cap, f))
		name[0] = '\0';
	fclose(f);
	name[strcspn(name, "\n")] = '\0';
	return 0;
}
