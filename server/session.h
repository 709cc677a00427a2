/* server/session.h — one client connection: the byte stream, what the client negotiated, the
 * target it debugs, and the helpers every packet handler uses to build its reply. */
#ifndef PTSTUB_SERVER_SESSION_H
#define PTSTUB_SERVER_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "protocol/buf.h"
#include "protocol/packet.h"
#include "server/target.h"

struct loop;

/* Largest packet we accept, advertised as PacketSize (hex on the wire) and used to bound
 * replies that must fit the client's buffer. */
#define SESSION_PACKET_SIZE 0x20000

/* Read-only observer connections a controlling session admits at a time (see
 * session_observer_new); a connection beyond them is refused. */
#define SESSION_MAX_OBSERVERS 4
/* Replies the client has not taken in yet, beyond which its packets wait unread (a client
 * that sends and never reads would otherwise make the server buffer without end): 8 MiB,
 * dozens of the largest replies. */
#define SESSION_OUT_HIGH (8u << 20)

/* What main() decided from the command line; shared by every session. */
struct server_opts {
	char **program;             /* program + args given on the command line, or NULL */
	pid_t attach_pid;           /* --attach, or 0 */
	bool extended;              /* --multi: stay up when the process is gone */
	bool once;                  /* --once: one connection, then exit */
	bool allow_file_access;     /* vFile may open any file, not only the target's */
	bool stdio_transport;       /* client on stdin/stdout: keep the debuggee off them */
	bool disable_aslr;          /* default for launches (lldb-server: on) */
	const char *core_on_crash;  /* directory for --core-on-crash, or NULL */
	int trace_backend;          /* enum col_backend: --trace-backend auto|hw|sw */
};

/* Launch settings a client sends before vRun/A (QEnvironment*, QSetWorkingDir, ...). */
struct launch_settings {
	char **env;                 /* NULL-terminated; NULL = inherit the server's */
	size_t nenv;
	bool env_reset;             /* QEnvironmentReset: start from the server's environment */
	char *cwd;
	char *stdin_path, *stdout_path, *stderr_path;
	int disable_aslr;           /* -1 = server default, 0/1 as asked */
};

struct session {
	struct loop *loop;
	int in_fd, out_fd;          /* client transport (equal for sockets) */
	const struct server_opts *opts;
	struct pkt_reader reader;
	struct buf out;             /* framed bytes not yet written */
	struct buf held;            /* input not parsed yet: out was over SESSION_OUT_HIGH */
	bool input_paused;          /* nothing more is read until out is written */
	unsigned input_pauses;      /* times it was paused (logged at INFO the first time) */
	struct buf reply;           /* payload of the reply being built (raw, escaped on send) */

	/* What the client negotiated. */
	bool no_ack;
	bool error_strings;         /* QEnableErrorStrings: Exx;hex(message) */
	bool thread_suffix;         /* QThreadSuffixSupported */
	bool list_threads;          /* QListThreadsInStopReply */
	bool lldb;                  /* LLDB-only packets seen: native signals, LLDB stop keys */
	bool swbreak;               /* GDB swbreak+ */
	bool multiprocess;          /* both offered multiprocess+: p<pid>.<tid> thread ids */
	bool extended;              /* `!` or --multi */

	struct target *target;      /* NULL before vRun/vAttach and after the process is gone */
	bool launched;              /* we started it (kill on disconnect) vs attached (detach) */
	pid_t pid;
	pid_t g_tid, c_tid;         /* Hg / Hc selections; 0 = any, -1 = all */
	bool running;               /* resumed: a stop reply is owed */
	struct tgt_resume *last_resume; /* the resume in flight (replayed to pass signals) */
	size_t last_resume_n;
	pid_t stop_tid;             /* thread of the last stop reply */
	int exit_kind;              /* after the process ended: 'W' or 'X', else 0 */
	int exit_status;
	pid_t exit_pid;             /* the process that ended, for W/X ;process: */
	uint64_t pass_signals[2];   /* QPassSignals, by Linux number */
	struct launch_settings launch;
	void *collector;            /* trace collector slot (struct collector *) */
	void *btrace;               /* GDB btrace state (handlers/btrace.c) */
	bool closing;               /* flush and close once out is empty */
	unsigned long packets;      /* packets handled so far */
	/* Run once after the reply to the packet being handled is handed to the client: work
	 * that can wait until the client is busy taking it in (memory read-ahead). */
	void (*after_reply)(struct session *s);

	/* Observers: read-only connections to the process another session controls. */
	bool observer;              /* this session is one (for good, even once closed) */
	struct session *controller; /* an observer's controlling session; NULL once closed */
	struct session *observers[SESSION_MAX_OBSERVERS]; /* a controller's open observers */
	struct session *next_closed; /* main.c's list of closed sessions not yet freed */
};

struct session *session_new(struct loop *loop, int in_fd, int out_fd,
			    const struct server_opts *opts, struct target *target, bool launched);
/* Frees s (a controller's observers are closed first: session_on_close hears of them). */
void session_free(struct session *s);
/* Take in what the client has sent and not yet been read (packets are handled, an end of
 * file closes the session), and the same for its observers: the server calls it when a new
 * client knocks, so that a client that has just left, whose end of file is still unread,
 * does not keep the new one out. */
void session_read_pending(struct session *s);

/* Called by main() when the session ends (client gone): set before session_new. */
extern void (*session_on_close)(struct session *s);

/* A read-only observer of ctl's process on the connection fd (in and out), or NULL when ctl
 * has no room (session_observer_room) or memory ran out. The observer shares ctl's target,
 * collector and stop state without owning them: they are lent to it only while one of its
 * packets is handled (dispatch refuses it everything that would change them), so it never
 * holds a pointer to them between packets. Its own are the negotiation (acks, error strings,
 * thread suffix...), its Hg thread and its btrace document. It closes when ctl's target goes
 * (killed, detached, exited, replaced) or ctl closes; closing it never touches ctl. */
struct session *session_observer_new(struct session *ctl, int fd);
/* Whether ctl can take another observer: it debugs a process and has fewer than
 * SESSION_MAX_OBSERVERS. */
bool session_observer_room(const struct session *ctl);

/* Reply helpers: all append to s->reply. */
void reply_ok(struct session *s);
/* Exx, with ";hex(message)" when the client asked for error strings. errnum is a positive or
 * negative errno; the message is printf-formatted. */
void reply_error(struct session *s, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* E.message (GDB prints it for btrace and our own packets), Exx;hex for LLDB. */
void reply_error_text(struct session *s, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void reply_tid(struct session *s, pid_t tid);      /* thread id as this client writes it */
/* qXfer-style chunk: m/l + bytes [offset, offset+len) of the object data. */
void reply_xfer_chunk(struct session *s, const void *data, size_t size, uint64_t offset,
		      uint64_t len);

/* Signal numbers as this client speaks them (GDB numbering or Linux). */
int session_sig_to_client(const struct session *s, int linux_sig);
int session_sig_from_client(const struct session *s, int client_sig);

/* The thread a register/memory packet applies to: ;thread:N suffix, else Hg, else stop tid. */
pid_t session_reg_thread(struct session *s, const char *args, size_t len);

/* Build a stop reply for the current stop (T.., W.., X..) into s->reply. */
void session_stop_reply(struct session *s, pid_t tid);
/* LLDB's answer to a resume the target refused (it reads an error as a lost connection): the
 * current stop again, with reason:exception and why as its description. */
void session_refusal_reply(struct session *s, const char *why);
/* Install a target (after vRun/vAttach) or drop it (process gone). */
void session_set_target(struct session *s, struct target *t, bool launched);
/* Start resuming; the stop reply is sent from the target's event. */
int session_resume(struct session *s, const struct tgt_resume *actions, size_t n);
/* The callbacks a session gives to the targets it creates. */
void session_target_callbacks(struct session *s, struct tgt_callbacks *cb);

/* Send s->reply as a packet now (handlers rarely need this: returning 0 sends it). */
void session_send_reply(struct session *s);

#endif
