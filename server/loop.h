/* server/loop.h — the one event loop: file descriptors with callbacks, one-shot timers and
 * deferred calls. Nothing else in the server knows about epoll. */
#ifndef PTSTUB_SERVER_LOOP_H
#define PTSTUB_SERVER_LOOP_H

#include <stdint.h>

struct loop;

enum { LOOP_READ = 1, LOOP_WRITE = 2 };

/* Called when fd is ready; events is a mask of LOOP_READ/LOOP_WRITE (errors and hang-ups are
 * reported as LOOP_READ so that the read sees them). */
typedef void loop_fd_proc(struct loop *loop, int fd, unsigned events, void *data);
/* Called once for a timer or a deferred call. */
typedef void loop_call_proc(struct loop *loop, void *data);

struct loop *loop_new(void);
void loop_free(struct loop *loop);   /* NULL is fine; fds are not closed */
int loop_add_fd(struct loop *loop, int fd, unsigned events, loop_fd_proc *proc, void *data);
int loop_set_events(struct loop *loop, int fd, unsigned events);
void loop_del_fd(struct loop *loop, int fd);
/* Run proc once, after at least ms milliseconds. Returns a timer id (> 0) or -errno. */
int64_t loop_add_timer(struct loop *loop, unsigned ms, loop_call_proc *proc, void *data);
void loop_del_timer(struct loop *loop, int64_t id);
/* Run proc once on the next turn of the loop, after the ready fds have been served (used to
 * do long work, such as a software-trace step loop, in slices without starving the client). */
int64_t loop_defer(struct loop *loop, loop_call_proc *proc, void *data);
/* Poll for up to us microseconds before blocking while events come quickly (see loop.c);
 * 0 turns polling off. The default is 100. */
void loop_set_spin(struct loop *loop, unsigned us);
int loop_run(struct loop *loop);     /* until loop_stop; returns the code given to it */
/* Run the deferred calls still queued when loop_run returned (cleanups such as freeing a
 * closed session or a finished target), and those they queue, until none is left. */
void loop_drain(struct loop *loop);
void loop_stop(struct loop *loop, int code);

#endif
