/* server/target.h — the debuggee behind one interface. A live Linux process (server/linux/)
 * and a recorded bundle (server/recorded/) both implement struct target_ops; packet handlers
 * call only these and never ask which backend they have.
 *
 * Conventions: functions return 0 (or a count) on success and a negative errno on failure;
 * a target may leave a human-readable reason in target->error (shown to clients that asked
 * for error strings). Thread ids are Linux tids; the process id is the tgid. */
#ifndef PTSTUB_SERVER_TARGET_H
#define PTSTUB_SERVER_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "protocol/buf.h"
#include "server/regs.h"

struct loop;
struct target;

/* Why a thread is stopped (after an all-stop, every thread has one of these). */
enum tgt_stop_reason {
	TGT_STOP_NONE,          /* stopped only because another thread stopped */
	TGT_STOP_SIGNAL,        /* a signal arrived for it: signo */
	TGT_STOP_BREAKPOINT,    /* software breakpoint: pc already rewound to the int3 address */
	TGT_STOP_HW_BREAKPOINT, /* debug-register execute breakpoint */
	TGT_STOP_WATCHPOINT,    /* data watchpoint: addr = watched address, watch = its kind */
	TGT_STOP_STEP,          /* a single step completed */
	TGT_STOP_INTERRUPT,     /* stopped by tgt interrupt (client's ^C); signo = SIGSTOP */
	TGT_STOP_EXEC,          /* the process called execve */
	TGT_STOP_TRACE,         /* processor trace event (buffer full etc.): description set */
};

enum tgt_point {           /* Z packet types */
	TGT_POINT_SW = 0, TGT_POINT_HW = 1, TGT_POINT_WRITE = 2, TGT_POINT_READ = 3,
	TGT_POINT_ACCESS = 4,
};

struct tgt_thread_stop {
	pid_t tid;
	enum tgt_stop_reason reason;
	int signo;                  /* Linux signal number; 0 if none */
	uint64_t addr;              /* watchpoint data address */
	enum tgt_point watch;       /* watchpoint kind */
	char description[128];      /* free text for reason:/description:, may be empty */
};

enum tgt_event_kind {
	TGT_EV_STOPPED,   /* every thread is stopped; tid is the one to report */
	TGT_EV_EXITED,    /* process exited: status = exit code */
	TGT_EV_SIGNALED,  /* process killed by a signal: status = signal */
};

struct tgt_event {
	enum tgt_event_kind kind;
	pid_t tid;
	int status;
};

/* How the target tells its owner (the session) that something happened. Called from the loop,
 * never from inside a target_ops call. */
struct tgt_callbacks {
	void (*on_event)(void *ctx, const struct tgt_event *ev);
	/* Output the debuggee wrote, when its stdout is captured (may be NULL). */
	void (*on_output)(void *ctx, const void *data, size_t len);
	void *ctx;
	/* A thread appeared (clone) or went away (exit, or an exec by another thread), while
	 * the process runs (may be NULL). The owner may call trace_steps for it at once. */
	void (*on_thread)(void *ctx, pid_t tid, bool created);
};

enum tgt_resume_kind { TGT_RESUME_CONTINUE, TGT_RESUME_STEP, TGT_RESUME_STOP };

struct tgt_resume {
	pid_t tid;                  /* -1 = every thread not named by an earlier action */
	enum tgt_resume_kind kind;
	int signo;                  /* Linux signal to deliver, 0 = none */
};

struct tgt_process_info {
	pid_t pid, ppid;
	uid_t uid, euid;
	gid_t gid, egid;
	char exe[4096];             /* absolute path of the executable, "" if unknown */
	char args[81];              /* the command line, arguments joined by spaces, cut at 80
	                             * bytes as a core's psinfo keeps it; "" if unknown */
};

/* One mapping, as /proc/PID/maps says (or as a recorded core's NT_FILE + PT_LOADs say). */
struct tgt_region {
	uint64_t start, end;
	unsigned prot;              /* PROT_READ | PROT_WRITE | PROT_EXEC */
	bool shared;
	uint64_t offset;            /* file offset */
	uint64_t inode;
	char path[512];             /* "" for anonymous; "[stack]", "[heap]", "[vdso]" ... */
};

/* Called for every instruction a software-traced thread executes (see trace_steps). */
struct tgt_step_observer {
	/* The thread went from from_pc to to_pc in one single step. */
	void (*step)(void *ctx, pid_t tid, uint64_t from_pc, uint64_t to_pc);
	/* The thread starts running traced at pc (after a stop, or when tracing is turned on). */
	void (*resumed)(void *ctx, pid_t tid, uint64_t pc);
	/* The thread stopped being traced at pc (a stop is about to be reported, it exited, or
	 * tracing was turned off). */
	void (*stopped)(void *ctx, pid_t tid, uint64_t pc);
	void *ctx;
};

struct target_ops {
	const char *name;                            /* "linux", "recorded" */
	void (*destroy)(struct target *t);           /* frees; a live target is killed or detached first */

	int (*process_info)(struct target *t, struct tgt_process_info *out);
	bool (*is_alive)(struct target *t);          /* false once exited / killed */
	bool (*read_only)(struct target *t);         /* true for recorded targets */

	/* Threads: fills up to max tids (main thread first), returns how many there are. */
	int (*threads)(struct target *t, pid_t *tids, size_t max);
	int (*thread_stop)(struct target *t, pid_t tid, struct tgt_thread_stop *out);
	int (*thread_name)(struct target *t, pid_t tid, char *name, size_t cap);

	int (*read_regs)(struct target *t, pid_t tid, struct regcache *rc);
	/* Optional: only the general registers (RN_RAX..RN_GS, RN_ORIG_RAX, RN_FS_BASE,
	 * RN_GS_BASE), the rest left zero: what a stop reply needs, cheaper than read_regs on a
	 * live process (one ptrace call instead of two). NULL: read_regs is used. */
	int (*read_gpregs)(struct target *t, pid_t tid, struct regcache *rc);
	int (*write_regs)(struct target *t, pid_t tid, const struct regcache *rc);

	/* Returns the bytes read (short reads stop at the first unreadable byte), or -errno when
	 * not even one byte is readable. Software breakpoints are invisible. */
	ssize_t (*read_memory)(struct target *t, uint64_t addr, void *buf, size_t len);
	ssize_t (*write_memory)(struct target *t, uint64_t addr, const void *buf, size_t len);

	int (*insert_point)(struct target *t, enum tgt_point type, uint64_t addr, unsigned len);
	int (*remove_point)(struct target *t, enum tgt_point type, uint64_t addr, unsigned len);

	/* Resume per the actions (first matching action wins; threads no action names stay
	 * stopped). Returns at once; TGT_EV_STOPPED (or an exit) follows through the callbacks
	 * once every thread is stopped again. */
	int (*resume)(struct target *t, const struct tgt_resume *actions, size_t n);
	int (*interrupt)(struct target *t);          /* stop a running target; event follows */
	int (*kill)(struct target *t);               /* event TGT_EV_SIGNALED follows */
	int (*detach)(struct target *t);             /* process keeps running, target unusable */

	/* Raw objects. Each appends to out. */
	int (*read_auxv)(struct target *t, struct buf *out);
	int (*read_siginfo)(struct target *t, pid_t tid, struct buf *out);   /* 128 bytes */
	/* Every mapping, ascending. *out is malloc'd; caller frees. */
	int (*regions)(struct target *t, struct tgt_region **out, size_t *n);
	/* Page addresses of modified pages in [start, end), ascending, appended to *pages
	 * (malloc'd/realloc'd array, *n updated). -EOPNOTSUPP when it cannot be known. */
	int (*dirty_pages)(struct target *t, uint64_t start, uint64_t end, uint64_t **pages,
			   size_t *n);

	/* Software trace: with obs non-NULL, every continue of tid is carried out by single steps
	 * reported to obs (breakpoints, signals and interrupts still stop it as usual), and so is
	 * every client single step (resumed, step, stopped). A step that delivers a caught signal
	 * reports stopped(interrupted pc) then resumed(handler): nothing executed in between.
	 * NULL turns it off. -EOPNOTSUPP on targets that cannot run. */
	int (*trace_steps)(struct target *t, pid_t tid, const struct tgt_step_observer *obs);
};

struct target {
	const struct target_ops *ops;
	char error[256];            /* last error's reason, for E.message replies */
};

/* Options for launching a program (server/linux/launch.c). */
struct tgt_launch_opts {
	char *const *argv;          /* program and arguments; argv[0] is the path run */
	char *const *envp;          /* NULL = the server's environment */
	const char *cwd;            /* NULL = the server's */
	bool disable_aslr;
	const char *stdin_path, *stdout_path, *stderr_path;  /* NULL = inherit (see below) */
	bool stdio_to_stderr;       /* stdin </dev/null, stdout >&2 (stdio transport) */
	bool setsid;
};

/* Create live targets. On failure return -errno and put a sentence in err. */
int linux_target_launch(struct loop *loop, const struct tgt_launch_opts *opts,
			const struct tgt_callbacks *cb, struct target **out, char *err,
			size_t errlen);
int linux_target_attach(struct loop *loop, pid_t pid, const struct tgt_callbacks *cb,
			struct target **out, char *err, size_t errlen);

#endif
