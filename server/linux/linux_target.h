/* server/linux/linux_target.h — internal state of the live Linux target shared by the files of
 * server/linux/: threads and their stop state, software breakpoints, debug registers, and the
 * all-stop engine (wait.c) that turns ptrace stops into one TGT_EV_STOPPED. Not a contract. */
#ifndef PTSTUB_SERVER_LINUX_TARGET_H
#define PTSTUB_SERVER_LINUX_TARGET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/ptrace.h>
#include <sys/types.h>

#include "server/target.h"

/* ptrace options of every tracee: threads and execs are followed; forks are seen only to
 * take our breakpoints out of the child and let it go. Launched processes add EXITKILL. */
#define LX_PTRACE_OPTS                                                                     \
	(PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | \
	 PTRACE_O_TRACEVFORKDONE)

#define LX_TRACE_SLICE 2000 /* single steps per loop turn while software tracing */

struct lx_thread {
	pid_t tid;
	bool running;		   /* resumed by us, no stop seen since */
	bool zombie;		   /* the leader exited while other threads live: it never stops */
	bool interrupting;	   /* PTRACE_INTERRUPT sent, its stop not seen yet */
	bool fresh;		   /* clone child whose first ptrace stop has not been seen */
	bool stepping;		   /* last resume was PTRACE_SINGLESTEP */
	bool stale_step;	   /* interrupted mid-step: its trace trap may still come */
	bool stepping_over;	   /* internal step over the breakpoint at step_over_addr */
	bool tracing;		   /* running by software-trace single steps */
	bool event;		   /* stop holds an event not yet reported to the client */
	bool over_done;		   /* this resume already checked for / stepped over a breakpoint */
	bool announced;		   /* software trace: obs->resumed was called for this run */
	bool rehit;		   /* a breakpoint hit was not reported: run into it again */
	uint64_t rehit_pc;	   /* where that breakpoint is (the pc was rewound to it) */
	bool shown;		   /* the thread of a report, not run since: the client saw it here */
	enum tgt_resume_kind plan; /* what the current resume asked of this thread */
	int plan_signo;		   /* signal to deliver with it (cleared once delivered) */
	int held_signo;		   /* a signal to deliver whose resume only reported another
				    * thread's pending event: delivered at its next resume */
	uint64_t step_over_addr;
	uint64_t trace_from;	      /* pc before the software-trace step in flight */
	bool trace_async;	      /* that step enters a signal handler */
	bool trace_parked;	      /* that step did not end in a slice: left to the signalfd */
	bool traced;		      /* software trace on: runs are single steps, observed */
	struct tgt_step_observer obs; /* its observer, when traced */
	struct tgt_thread_stop stop;
};

struct lx_breakpoint {
	uint64_t addr;
	uint8_t saved; /* original byte under the 0xCC */
};

struct lx_hwpoint {
	bool used;
	enum tgt_point type;
	uint64_t addr;
	unsigned len;
};

enum lx_phase {
	LX_IDLE,      /* every thread stopped, last stop reported */
	LX_RUNNING,   /* resumed threads run */
	LX_STOPPING,  /* an event arrived (or interrupt): waiting for the others to stop */
	LX_STEP_OVER, /* one thread steps off a breakpoint alone before the real resume */
};

struct lx_target {
	struct target base;
	struct loop *loop;
	struct tgt_callbacks cb;
	pid_t pid;
	bool launched;
	bool alive;
	int sigfd; /* signalfd for SIGCHLD */
	int memfd; /* /proc/PID/mem, -1 if unavailable */
	enum lx_phase phase;
	bool interrupt_requested;
	pid_t reported; /* thread of the last TGT_EV_STOPPED */

	struct lx_thread *threads;
	size_t nthreads, cap_threads;
	struct lx_breakpoint *bps;
	size_t nbps, cap_bps;
	/* vfork children running in our memory (until their exec or exit): while there is one,
	 * the int3 bytes are out of memory, or the child would run into them and die of SIGTRAP;
	 * the breakpoints stay in the list and are planted again at the last VFORK_DONE. */
	unsigned vforks;
	struct lx_hwpoint hw[4];

	int64_t trace_slice_id; /* pending loop_defer for the trace loop, 0 if none */
	int64_t report_id;	/* pending loop_defer that delivers `pending` to the owner */
	struct tgt_event pending;
	bool in_trace_slice;

	uint8_t *xstate; /* scratch XSAVE buffer of LX_XSTATE_SIZE bytes */
};

#define LX_XSTATE_SIZE 16384

static inline struct lx_target *lx_of(struct target *t)
{
	return (struct lx_target *)t;
}

/* target.c */
struct lx_target *lx_target_new(struct loop *loop, pid_t pid, bool launched,
				const struct tgt_callbacks *cb);
void lx_target_free(struct lx_target *lt);
int lx_set_error(struct lx_target *lt, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int lx_open_mem(struct lx_target *lt);

/* threads.c */
struct lx_thread *lx_thread_find(struct lx_target *lt, pid_t tid);
struct lx_thread *lx_thread_add(struct lx_target *lt, pid_t tid);
void lx_thread_remove(struct lx_target *lt, pid_t tid);
int lx_threads(struct target *t, pid_t *tids, size_t max);
int lx_thread_stop(struct target *t, pid_t tid, struct tgt_thread_stop *out);
int lx_thread_name(struct target *t, pid_t tid, char *name, size_t cap);

/* wait.c: child events and the all-stop engine */
int lx_events_start(struct lx_target *lt);
void lx_events_stop(struct lx_target *lt);
void lx_handle_status(struct lx_target *lt, pid_t tid, int status);
void lx_check_progress(struct lx_target *lt);
void lx_report(struct lx_target *lt); /* pick the thread to report, event via loop_defer */
void lx_process_gone(struct lx_target *lt, int status);
void lx_stop_all_sync(struct lx_target *lt); /* detach/destroy: stop everything, no event */

/* resume.c */
int lx_resume(struct target *t, const struct tgt_resume *actions, size_t n);
int lx_interrupt(struct target *t);
int lx_ptrace_resume(struct lx_target *lt, struct lx_thread *th, bool step, int signo);
void lx_proceed(struct lx_target *lt);
void lx_step_over_done(struct lx_target *lt, struct lx_thread *th);

/* regs.c */
int lx_read_regs(struct target *t, pid_t tid, struct regcache *rc);
int lx_read_gpregs(struct target *t, pid_t tid, struct regcache *rc);
int lx_write_regs(struct target *t, pid_t tid, const struct regcache *rc);
int lx_get_pc(pid_t tid, uint64_t *pc);
int lx_set_pc(pid_t tid, uint64_t pc);

/* memory.c */
ssize_t lx_read_memory(struct target *t, uint64_t addr, void *buf, size_t len);
ssize_t lx_write_memory(struct target *t, uint64_t addr, const void *buf, size_t len);
ssize_t lx_read_raw(struct lx_target *lt, uint64_t addr, void *buf, size_t len);
int lx_write_raw(struct lx_target *lt, uint64_t addr, const void *buf, size_t len);
int lx_poke(pid_t pid, uint64_t addr, const uint8_t *src, size_t len); /* PTRACE_POKEDATA */

/* breakpoints.c */
int lx_insert_point(struct target *t, enum tgt_point type, uint64_t addr, unsigned len);
int lx_remove_point(struct target *t, enum tgt_point type, uint64_t addr, unsigned len);
struct lx_breakpoint *lx_breakpoint_at(struct lx_target *lt, uint64_t addr);
int lx_breakpoint_lift(struct lx_target *lt, struct lx_breakpoint *bp);	 /* original byte */
int lx_breakpoint_plant(struct lx_target *lt, struct lx_breakpoint *bp); /* 0xCC again */
void lx_vfork_started(struct lx_target *lt); /* a vfork child shares our memory: int3s out */
void lx_vfork_done(struct lx_target *lt);    /* it exec'd or exited: int3s back */
void lx_breakpoints_remove_all(struct lx_target *lt);

/* debugregs.c */
int lx_hw_insert(struct lx_target *lt, enum tgt_point type, uint64_t addr, unsigned len);
int lx_hw_remove(struct lx_target *lt, enum tgt_point type, uint64_t addr, unsigned len);
int lx_hw_apply(struct lx_target *lt, pid_t tid); /* write DR0-3/DR7 into one thread */
void lx_hw_clear_all(struct lx_target *lt);
/* After a SIGTRAP: did a debug register fire? Fills the stop and clears DR6. */
bool lx_hw_check_hit(struct lx_target *lt, pid_t tid, struct tgt_thread_stop *stop);

/* maps.c */
int lx_process_info(struct target *t, struct tgt_process_info *out);
int lx_read_auxv(struct target *t, struct buf *out);
int lx_read_siginfo(struct target *t, pid_t tid, struct buf *out);
int lx_regions(struct target *t, struct tgt_region **out, size_t *n);
int lx_dirty_pages(struct target *t, uint64_t start, uint64_t end, uint64_t **pages, size_t *n);

/* trace_steps.c */
int lx_trace_steps(struct target *t, pid_t tid, const struct tgt_step_observer *obs);
void lx_trace_start(struct lx_target *lt, struct lx_thread *th, int signo);
void lx_trace_announce(struct lx_target *lt, struct lx_thread *th);
void lx_trace_step_done(struct lx_target *lt, struct lx_thread *th);
void lx_trace_stopped(struct lx_target *lt, struct lx_thread *th);
void lx_trace_report_step(struct lx_thread *th, uint64_t from_pc, uint64_t to_pc);
bool lx_signal_caught(pid_t tid, int signo);

/* attach.c / launch.c */
int lx_seize_all(struct lx_target *lt, char *err, size_t errlen);
int lx_detach(struct target *t);
int lx_kill(struct target *t);

#endif
