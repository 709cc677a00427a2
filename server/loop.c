/* server/loop.c — the event loop behind server/loop.h: epoll for file descriptors, a sorted
 * list of one-shot timers, and a queue of deferred calls run after each round of ready fds.
 * Small on purpose: nothing else in the server knows about epoll.
 *
 * Busy polling: a debugger talking to the stub is a strict ping-pong (a packet, a reply, the
 * next packet; a step, its SIGCHLD, the stop reply). Going to sleep in epoll_wait between
 * them costs a scheduler wake-up on every turn, which on a VM is a good part of a loopback
 * round trip. So when recent waits have been short the loop first polls (epoll_wait with a
 * zero timeout) for up to twice the recent average wait, at most spin_max_ns, before it
 * blocks; when the peer is slow (a person typing, a program running) it blocks at once. */
#include "server/loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

struct loop_fd {
	int fd;              /* the watched descriptor, -1 when the slot is free */
	loop_fd_proc *proc;  /* what to call when it is ready */
	void *data;          /* passed to proc */
};

struct loop_call {
	int64_t id;          /* returned to the caller for cancelling */
	uint64_t due_ms;     /* monotonic time it runs at (0 for deferred calls) */
	loop_call_proc *proc;
	void *data;
	struct loop_call *next;
};

struct loop {
	int epfd;
	struct loop_fd *fds;        /* indexed by fd number */
	int nfds;                   /* slots allocated in fds */
	struct loop_call *timers;   /* ascending due_ms */
	struct loop_call *deferred; /* FIFO */
	struct loop_call **deferred_tail;
	/* The deferred calls of the round being run (run_deferred): still cancellable, since a
	 * call may free what a later call of the same round is for (a target freed by
	 * free_session with its report or trace slice queued behind it). */
	struct loop_call *batch;
	int64_t next_id;
	bool stopping;
	int code;
	uint64_t spin_max_ns;       /* longest busy poll before blocking; 0: never poll */
	uint64_t wait_avg_ns;       /* moving average of recent waits for an event */
};

#define LOOP_SPIN_DEFAULT_NS 100000 /* 100 µs: a few loopback round trips */
#define LOOP_WAIT_CAP_NS 10000000   /* a long wait counts as 10 ms in the average */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ms(void)
{
	return now_ns() / 1000000;
}

struct loop *loop_new(void)
{
	struct loop *loop = calloc(1, sizeof(*loop));
	if (!loop)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		free(loop);
		return NULL;
	}
	loop->deferred_tail = &loop->deferred;
	loop->next_id = 1;
	loop->spin_max_ns = LOOP_SPIN_DEFAULT_NS;
	loop->wait_avg_ns = LOOP_WAIT_CAP_NS;
	return loop;
}

void loop_set_spin(struct loop *loop, unsigned us)
{
	loop->spin_max_ns = (uint64_t)us * 1000;
}

static void free_calls(struct loop_call *c)
{
	while (c) {
		struct loop_call *next = c->next;
		free(c);
		c = next;
	}
}

void loop_free(struct loop *loop)
{
	if (!loop)
		return;
	close(loop->epfd);
	free(loop->fds);
	free_calls(loop->timers);
	free_calls(loop->deferred);
	free_calls(loop->batch);
	free(loop);
}

static uint32_t epoll_mask(unsigned events)
{
	return ((events & LOOP_READ) ? EPOLLIN : 0) | ((events & LOOP_WRITE) ? EPOLLOUT : 0);
}

int loop_add_fd(struct loop *loop, int fd, unsigned events, loop_fd_proc *proc, void *data)
{
	if (fd < 0)
		return -EBADF;
	if (fd >= loop->nfds) {
		int n = fd + 16;
		struct loop_fd *fds = realloc(loop->fds, (size_t)n * sizeof(*fds));
		if (!fds)
			return -ENOMEM;
		for (int i = loop->nfds; i < n; i++)
			fds[i].fd = -1;
		loop->fds = fds;
		loop->nfds = n;
	}
	struct epoll_event ev = {.events = epoll_mask(events), .data.fd = fd};
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	loop->fds[fd] = (struct loop_fd){fd, proc, data};
	return 0;
}

int loop_set_events(struct loop *loop, int fd, unsigned events)
{
	if (fd < 0 || fd >= loop->nfds || loop->fds[fd].fd < 0)
		return -EBADF;
	struct epoll_event ev = {.events = epoll_mask(events), .data.fd = fd};
	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void loop_del_fd(struct loop *loop, int fd)
{
	if (fd < 0 || fd >= loop->nfds || loop->fds[fd].fd < 0)
		return;
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	loop->fds[fd].fd = -1;
}

static struct loop_call *new_call(struct loop *loop, loop_call_proc *proc, void *data)
{
	struct loop_call *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->id = loop->next_id++;
	c->proc = proc;
	c->data = data;
	return c;
}

int64_t loop_add_timer(struct loop *loop, unsigned ms, loop_call_proc *proc, void *data)
{
	struct loop_call *c = new_call(loop, proc, data);
	if (!c)
		return -ENOMEM;
	c->due_ms = now_ms() + ms;
	struct loop_call **p = &loop->timers;
	while (*p && (*p)->due_ms <= c->due_ms)
		p = &(*p)->next;
	c->next = *p;
	*p = c;
	return c->id;
}

static bool remove_call(struct loop_call **list, int64_t id, struct loop_call ***tail)
{
	for (struct loop_call **p = list; *p; p = &(*p)->next) {
		if ((*p)->id != id)
			continue;
		struct loop_call *c = *p;
		*p = c->next;
		if (tail && *tail == &c->next)
			*tail = p;
		free(c);
		return true;
	}
	return false;
}

void loop_del_timer(struct loop *loop, int64_t id)
{
	if (!remove_call(&loop->timers, id, NULL) &&
	    !remove_call(&loop->deferred, id, &loop->deferred_tail))
		remove_call(&loop->batch, id, NULL);
}

int64_t loop_defer(struct loop *loop, loop_call_proc *proc, void *data)
{
	struct loop_call *c = new_call(loop, proc, data);
	if (!c)
		return -ENOMEM;
	*loop->deferred_tail = c;
	loop->deferred_tail = &c->next;
	return c->id;
}

/* Runs the deferred calls queued before this round; calls they queue wait for the next. The
 * round's calls stay in loop->batch until each runs, so that loop_del_timer still finds them. */
static void run_deferred(struct loop *loop)
{
	loop->batch = loop->deferred;
	loop->deferred = NULL;
	loop->deferred_tail = &loop->deferred;
	while (loop->batch && !loop->stopping) {
		struct loop_call *c = loop->batch;
		loop->batch = c->next;
		c->proc(loop, c->data);
		free(c);
	}
	/* Calls not run because the loop is stopping go back in front of the queue. */
	if (loop->batch) {
		struct loop_call *batch = loop->batch, **end = &batch;
		loop->batch = NULL;
		while (*end)
			end = &(*end)->next;
		*end = loop->deferred;
		if (!loop->deferred)
			loop->deferred_tail = end;
		loop->deferred = batch;
	}
}

static void run_timers(struct loop *loop)
{
	uint64_t now = now_ms();
	while (loop->timers && loop->timers->due_ms <= now && !loop->stopping) {
		struct loop_call *c = loop->timers;
		loop->timers = c->next;
		c->proc(loop, c->data);
		free(c);
	}
}

static int wait_timeout(struct loop *loop)
{
	if (loop->deferred)
		return 0;
	if (!loop->timers)
		return -1;
	uint64_t now = now_ms();
	uint64_t due = loop->timers->due_ms;
	return due <= now ? 0 : (int)(due - now > 60000 ? 60000 : due - now);
}

/* Wait for ready fds as epoll_wait does, polling first while the recent waits were short
 * (see the top of this file), and keep the average of the waits up to date. */
static int wait_events(struct loop *loop, struct epoll_event *evs, int max)
{
	int timeout = wait_timeout(loop);
	if (timeout == 0)
		return epoll_wait(loop->epfd, evs, max, 0);
	uint64_t start = now_ns(), spin = 2 * loop->wait_avg_ns;
	int n = 0;
	if (loop->wait_avg_ns < loop->spin_max_ns) {
		if (spin > loop->spin_max_ns)
			spin = loop->spin_max_ns;
		do
			n = epoll_wait(loop->epfd, evs, max, 0);
		while (n == 0 && now_ns() - start < spin);
	}
	if (n == 0)
		n = epoll_wait(loop->epfd, evs, max, timeout);
	if (n > 0) {
		uint64_t waited = now_ns() - start;
		if (waited > LOOP_WAIT_CAP_NS)
			waited = LOOP_WAIT_CAP_NS;
		loop->wait_avg_ns = (loop->wait_avg_ns * 3 + waited) / 4;
	}
	return n;
}

int loop_run(struct loop *loop)
{
	struct epoll_event evs[32];
	loop->stopping = false;
	while (!loop->stopping) {
		int n = wait_events(loop, evs, 32);
		if (n < 0 && errno != EINTR) {
			perror("ptstub: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n && !loop->stopping; i++) {
			int fd = evs[i].data.fd;
			if (fd >= loop->nfds || loop->fds[fd].fd < 0)
				continue; /* removed by an earlier callback this round */
			unsigned events = 0;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
				events |= LOOP_READ;
			if (evs[i].events & EPOLLOUT)
				events |= LOOP_WRITE;
			struct loop_fd *f = &loop->fds[fd];
			f->proc(loop, fd, events, f->data);
		}
		run_timers(loop);
		run_deferred(loop);
	}
	return loop->code;
}

void loop_drain(struct loop *loop)
{
	loop->stopping = false;
	for (int guard = 0; loop->deferred && guard < 64; guard++)
		run_deferred(loop);
	loop->stopping = true;
}

void loop_stop(struct loop *loop, int code)
{
	loop->stopping = true;
	loop->code = code;
}
