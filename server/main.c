/* server/main.c — the ptstub command: subcommands (gdbserver, query, save-core, core-info)
 * and the argument shapes of both peers, gdbserver's and lldb-server's, so existing scripts,
 * GDB's `target remote | ptstub - prog` and LLDB's LLDB_DEBUGSERVER_PATH all work unchanged. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/collector.h"
#include "server/core/core.h"
#include "server/decode_cli.h"
#include "server/log.h"
#include "server/loop.h"
#include "server/query.h"
#include "server/record.h"
#include "server/serve.h"
#include "server/session.h"
#include "server/transport.h"

static const char usage[] =
	"Usage:\n"
	"  ptstub gdbserver [OPTIONS] [HOST]:PORT [-- PROGRAM ARGS...]   (lldb-server style)\n"
	"  ptstub gdbserver [OPTIONS] --attach PID [HOST]:PORT\n"
	"  ptstub gdbserver --fd=N [--native-regs] [--setsid]   (as LLDB starts it)\n"
	"  ptstub [OPTIONS] [HOST]:PORT PROGRAM ARGS...          (gdbserver style)\n"
	"  ptstub [OPTIONS] - PROGRAM ARGS...                    (stdio: target remote | ptstub - prog)\n"
	"  ptstub --multi [HOST]:PORT                            (extended-remote: run/attach later)\n"
	"  ptstub query HOST:PORT PACKET...                      (send packets, print replies)\n"
	"  ptstub save-core --pid PID [--style full|modified-memory|stacks] -o FILE\n"
	"  ptstub core-info CORE\n"
	"  ptstub record -o DIR [--trace=sw|hw|auto|off] [--on-crash|--on-exit|--at FUNCTION]\n"
	"                [--copy-images] -- PROGRAM ARGS...   (run traced, write a bundle)\n"
	"  ptstub serve DIR [HOST]:PORT|- [OPTIONS]            (serve a bundle, read only)\n"
	"\n"
	"Connection (the first non-option argument):\n"
	"  HOST:PORT, :PORT, [::1]:PORT, tcp://HOST:PORT  listen on TCP (default host 127.0.0.1;\n"
	"                                    port 0 picks a free port)\n"
	"  unix:PATH, unix://PATH            listen on a UNIX socket\n"
	"  serial:///dev/ttyX, /dev/ttyX     talk over a serial device\n"
	"  -                                 talk over stdin/stdout\n"
	"\n"
	"Options:\n"
	"  --attach PID, --attach=PID        attach to a running process\n"
	"  --multi                           extended-remote: stay up between processes\n"
	"  --once                            serve one connection, then exit\n"
	"  --listen-all                      listen on all addresses instead of 127.0.0.1 (unsafe:\n"
	"                                    anyone who can connect can run code as this user)\n"
	"  --fd=N, --fd N                    the client is already connected on file descriptor N\n"
	"  --reverse-connect                 connect out to HOST:PORT instead of listening\n"
	"  --named-pipe PATH, --pipe FD      write the port listened on (decimal, NUL-terminated)\n"
	"  --setsid, -S                      run in a new session\n"
	"  --native-regs                     accepted for lldb-server compatibility (no effect)\n"
	"  --log-file FILE                   log there instead of stderr\n"
	"  --log-channels WORDS              'packets' logs every packet, 'debug' more detail,\n"
	"                                    'ptrace' every resume and stop of the debuggee,\n"
	"                                    'quiet' only warnings (also: PTSTUB_LOG=...)\n"
	"  --allow-file-access               vFile may read any file (default: only files the\n"
	"                                    debuggee maps)\n"
	"  --core-on-crash DIR               when the program stops with a fatal signal, write a\n"
	"                                    skinny core DIR/core.PID.SIG before reporting it\n"
	"  --trace-backend auto|hw|sw        processor trace capture: Intel PT hardware (perf), the\n"
	"                                    software backend (ptrace single steps), or hardware\n"
	"                                    where the intel_pt PMU exists (default)\n"
	"  --no-disable-aslr                 keep address randomization for launched programs\n"
	"  --busy-poll USEC                  while the client answers quickly, poll for up to USEC\n"
	"                                    microseconds before sleeping (default 100; 0: never):\n"
	"                                    shorter round trips, a busy cpu during quick exchanges\n"
	"  -h, --help                        this text\n"
	"  --version                         print the version\n";

struct cmdline {
	const char *address;        /* connection string, or NULL with --fd */
	int fd;                     /* --fd, or -1 */
	bool reverse;
	bool listen_all;
	bool setsid;
	const char *named_pipe;
	int pipe_fd;
	int busy_poll_us;           /* --busy-poll, or -1 for the loop's default */
	const char *log_file, *log_channels;
	struct server_opts opts;
};

/* Returns the option's value: "--opt=value" or the next argument. */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
	const char *eq = strchr(argv[*i], '=');
	if (eq)
		return eq + 1;
	if (*i + 1 >= argc) {
		fprintf(stderr, "ptstub: %s needs a value\n", name);
		exit(2);
	}
	return argv[++*i];
}

static bool is_option(const char *arg, const char *name)
{
	size_t n = strlen(name);
	return strncmp(arg, name, n) == 0 && (arg[n] == 0 || arg[n] == '=');
}

static int parse_number(const char *s, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < 0 || v > 0x7fffffff) {
		fprintf(stderr, "ptstub: %s: '%s' is not a number\n", what, s);
		exit(2);
	}
	return (int)v;
}

static void parse_args(int argc, char **argv, int first, struct cmdline *c)
{
	int i;
	for (i = first; i < argc; i++) {
		const char *a = argv[i];
		/* lldb-server takes -name as well as --name: compare in the -- spelling. */
		char norm[64];
		const char *o = a;
		if (a[0] == '-' && a[1] && a[1] != '-' && a[2]) {
			snprintf(norm, sizeof(norm), "-%s", a);
			o = norm;
		}
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (strcmp(o, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(usage, stdout);
			exit(0);
		} else if (strcmp(o, "--version") == 0) {
			puts("ptstub 0.1.0");
			exit(0);
		} else if (is_option(o, "--attach")) {
			c->opts.attach_pid = parse_number(option_value(argc, argv, &i, "--attach"), "--attach");
		} else if (strcmp(o, "--multi") == 0) {
			c->opts.extended = true;
		} else if (strcmp(o, "--once") == 0) {
			c->opts.once = true;
		} else if (strcmp(o, "--listen-all") == 0) {
			c->listen_all = true;
		} else if (is_option(o, "--fd")) {
			c->fd = parse_number(option_value(argc, argv, &i, "--fd"), "--fd");
		} else if (strcmp(o, "--reverse-connect") == 0) {
			c->reverse = true;
		} else if (is_option(o, "--named-pipe")) {
			c->named_pipe = option_value(argc, argv, &i, "--named-pipe");
		} else if (is_option(o, "--pipe")) {
			c->pipe_fd = parse_number(option_value(argc, argv, &i, "--pipe"), "--pipe");
		} else if (strcmp(o, "--setsid") == 0 || strcmp(a, "-S") == 0) {
			c->setsid = true;
		} else if (strcmp(o, "--native-regs") == 0) {
			/* lldb-server compatibility: registers are always native here */
		} else if (is_option(o, "--log-file")) {
			c->log_file = option_value(argc, argv, &i, "--log-file");
		} else if (is_option(o, "--log-channels")) {
			c->log_channels = option_value(argc, argv, &i, "--log-channels");
		} else if (strcmp(o, "--allow-file-access") == 0) {
			c->opts.allow_file_access = true;
		} else if (is_option(o, "--core-on-crash")) {
			c->opts.core_on_crash = option_value(argc, argv, &i, "--core-on-crash");
		} else if (is_option(o, "--trace-backend")) {
			enum col_backend b;
			const char *v = option_value(argc, argv, &i, "--trace-backend");
			if (col_backend_parse(v, &b) < 0) {
				fprintf(stderr, "ptstub: --trace-backend: '%s' is not auto, hw or sw\n", v);
				exit(2);
			}
			c->opts.trace_backend = (int)b;
		} else if (is_option(o, "--busy-poll")) {
			c->busy_poll_us = parse_number(option_value(argc, argv, &i, "--busy-poll"),
						       "--busy-poll");
			if (c->busy_poll_us > 100000) {
				fprintf(stderr, "ptstub: --busy-poll: at most 100000 microseconds\n");
				exit(2);
			}
		} else if (strcmp(o, "--no-disable-aslr") == 0) {
			c->opts.disable_aslr = false;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "ptstub: unknown option '%s' (see ptstub --help)\n", a);
			exit(2);
		} else if (!c->address && c->fd < 0) {
			c->address = a;
		} else {
			break; /* gdbserver style: the program and its arguments follow */
		}
	}
	if (i < argc)
		c->opts.program = argv + i;
}

/* ---- the server: one controlling session at a time, and its read-only observers ---- */

static struct {
	struct loop *loop;
	struct cmdline *cmd;
	struct session *session;    /* the controlling session */
	struct session *closed;     /* closed, to be freed by a deferred call (or at exit) */
	struct target *target;      /* launched/attached before the first client */
	bool target_launched;
	int listen_fd;
} server = {.listen_fd = -1};

/* Events of a target created before any client connected go to the current session. */
static void early_event(void *ctx, const struct tgt_event *ev)
{
	(void)ctx;
	if (server.session) {
		struct tgt_callbacks cb;
		session_target_callbacks(server.session, &cb);
		cb.on_event(cb.ctx, ev);
	} else if (ev->kind != TGT_EV_STOPPED) {
		log_msg(LOG_INFO, "the process ended before a client connected");
		server.target = NULL;
	}
}

static void early_output(void *ctx, const void *data, size_t len)
{
	(void)ctx;
	if (server.session) {
		struct tgt_callbacks cb;
		session_target_callbacks(server.session, &cb);
		cb.on_output(cb.ctx, data, len);
	}
}

static void early_thread(void *ctx, pid_t tid, bool created)
{
	(void)ctx;
	if (server.session) {
		struct tgt_callbacks cb;
		session_target_callbacks(server.session, &cb);
		cb.on_thread(cb.ctx, tid, created);
	}
}

static void free_session(struct loop *loop, void *data)
{
	(void)loop;
	struct session *s = data;
	for (struct session **p = &server.closed; *p; p = &(*p)->next_closed)
		if (*p == s) {
			*p = s->next_closed;
			break;
		}
	if (s->target) { /* never an observer's: it only borrows its controller's */
		struct target *t = s->target;
		if (s->launched) {
			log_msg(LOG_INFO, "client gone: killing process %d", s->pid);
			t->ops->kill(t);
		} else {
			log_msg(LOG_INFO, "client gone: detaching from process %d", s->pid);
			t->ops->detach(t);
		}
		t->ops->destroy(t);
		s->target = NULL;
	}
	if (s->in_fd != s->out_fd && s->out_fd > 2)
		close(s->out_fd);
	if (s->in_fd > 2)
		close(s->in_fd);
	session_free(s);
}

static void on_session_close(struct session *s)
{
	if (s == server.session)
		server.session = NULL;
	s->next_closed = server.closed;
	server.closed = s;
	loop_defer(server.loop, free_session, s);
	if (s->observer)
		log_msg(LOG_INFO, "observer gone");
	else if (!server.cmd->opts.extended || server.cmd->opts.once || server.listen_fd < 0)
		loop_stop(server.loop, 0);
}

static int start_session(int in_fd, int out_fd)
{
	struct session *s = session_new(server.loop, in_fd, out_fd, &server.cmd->opts,
					server.target, server.target_launched);
	if (!s)
		return -ENOMEM;
	server.target = NULL; /* the session owns it now */
	server.session = s;
	serve_session_start(s); /* `ptstub serve`: the bundle's recorded target */
	return 0;
}

static void on_accept(struct loop *loop, int fd, unsigned events, void *data)
{
	(void)events;
	(void)data;
	int c = transport_accept(fd);
	if (c < 0)
		return;
	if (server.session)
		session_read_pending(server.session); /* it, or an observer, may have just left */
	if (server.session && session_observer_new(server.session, c)) {
		log_msg(LOG_INFO, "observer connected (read-only)");
		return;
	}
	if (server.session) {
		if (session_observer_room(server.session))
			log_msg(LOG_WARN, "refusing an observer: out of memory");
		else if (server.session->target)
			log_msg(LOG_WARN, "refusing a client: one is connected, with %d read-only "
				"observers already", SESSION_MAX_OBSERVERS);
		else
			log_msg(LOG_WARN, "refusing a second client while one is connected");
		close(c);
		return;
	}
	log_msg(LOG_INFO, "client connected");
	if (start_session(c, c) < 0)
		close(c);
	if (server.cmd->opts.once) {
		loop_del_fd(loop, fd);
		close(fd);
		server.listen_fd = -1;
	}
}

static int prepare_target(struct cmdline *c)
{
	struct tgt_callbacks cb = {early_event, early_output, NULL, early_thread};
	char err[512] = "";
	int rc;
	if (c->opts.attach_pid) {
		rc = linux_target_attach(server.loop, c->opts.attach_pid, &cb, &server.target, err,
					 sizeof(err));
		if (rc == 0)
			fprintf(stderr, "Attached to process %d...\n", c->opts.attach_pid);
		server.target_launched = false;
	} else if (c->opts.program) {
		struct tgt_launch_opts lo = {
			.argv = c->opts.program,
			.disable_aslr = c->opts.disable_aslr,
			.stdio_to_stderr = c->opts.stdio_transport,
		};
		rc = linux_target_launch(server.loop, &lo, &cb, &server.target, err, sizeof(err));
		if (rc == 0) {
			struct tgt_process_info pi = {0};
			server.target->ops->process_info(server.target, &pi);
			fprintf(stderr, "Process %s created; pid = %d\n", c->opts.program[0], pi.pid);
		}
		server.target_launched = true;
	} else {
		return 0;
	}
	if (rc < 0)
		fprintf(stderr, "ptstub: %s\n", err[0] ? err : strerror(-rc));
	return rc;
}

static int serve(struct cmdline *c)
{
	int rc;
	if (c->fd >= 0)
		return start_session(c->fd, c->fd);
	if (strcmp(c->address, "-") == 0)
		return start_session(0, 1);
	struct transport_addr ta;
	if ((rc = transport_parse(c->address, &ta)) < 0) {
		fprintf(stderr, "ptstub: cannot understand the address '%s'\n", c->address);
		return rc;
	}
	if (ta.kind == TRANSPORT_SERIAL) {
		int fd = transport_open_serial(ta.path);
		return fd < 0 ? fd : start_session(fd, fd);
	}
	if (c->reverse) {
		int fd = transport_connect(&ta);
		if (fd < 0) {
			fprintf(stderr, "ptstub: cannot connect to %s: %s\n", c->address, strerror(-fd));
			return fd;
		}
		return start_session(fd, fd);
	}
	if (c->listen_all && ta.kind == TRANSPORT_TCP)
		snprintf(ta.host, sizeof(ta.host), "0.0.0.0");
	int port = 0;
	int lfd = transport_listen(&ta, &port);
	if (lfd < 0) {
		fprintf(stderr, "ptstub: cannot listen on %s: %s\n", c->address, strerror(-lfd));
		return lfd;
	}
	if (ta.kind == TRANSPORT_TCP && strcmp(ta.host, "127.0.0.1") != 0 &&
	    strcmp(ta.host, "localhost") != 0 && strcmp(ta.host, "::1") != 0)
		log_msg(LOG_WARN, "listening on %s: anyone who can reach it can debug (and run code "
			"as) this user", ta.host);
	server.listen_fd = lfd;
	if (ta.kind == TRANSPORT_TCP)
		fprintf(stderr, "Listening on port %d\n", port);
	else
		fprintf(stderr, "Listening on %s\n", ta.path);
	transport_report_port(port, c->named_pipe, c->pipe_fd);
	return loop_add_fd(server.loop, lfd, LOOP_READ, on_accept, NULL);
}

static int gdbserver_main(int argc, char **argv, int first)
{
	struct cmdline c = {.fd = -1, .pipe_fd = -1, .busy_poll_us = -1};
	c.opts.disable_aslr = true;
	parse_args(argc, argv, first, &c);
	if (!c.address && c.fd < 0) {
		fprintf(stderr, "ptstub: no connection given (HOST:PORT, -, or --fd=N)\n%s", usage);
		return 2;
	}
	c.opts.stdio_transport = c.address && strcmp(c.address, "-") == 0;
	if (c.opts.program && c.opts.attach_pid) {
		fprintf(stderr, "ptstub: give a program or --attach, not both\n");
		return 2;
	}
	if (log_open(c.log_file, c.log_channels) < 0) {
		fprintf(stderr, "ptstub: cannot open log file %s: %s\n", c.log_file, strerror(errno));
		return 2;
	}
	if (c.setsid)
		setsid();
	signal(SIGPIPE, SIG_IGN);
	server.loop = loop_new();
	if (server.loop && c.busy_poll_us >= 0)
		loop_set_spin(server.loop, (unsigned)c.busy_poll_us);
	server.cmd = &c;
	session_on_close = on_session_close;
	if (!server.loop || prepare_target(&c) < 0 || serve(&c) < 0)
		return 1;
	int rc = loop_run(server.loop);
	loop_drain(server.loop); /* a finished target or a closed session still to be freed */
	if (server.session) /* closes its observers first */
		free_session(server.loop, server.session);
	/* Sessions closed in the last turn of the loop were not freed by their deferred calls. */
	while (server.closed)
		free_session(server.loop, server.closed);
	if (server.target) {
		server.target->ops->destroy(server.target);
		server.target = NULL;
	}
	loop_free(server.loop);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "gdbserver") == 0)
		return gdbserver_main(argc, argv, 2);
	if (strcmp(cmd, "query") == 0)
		return query_main(argc - 1, argv + 1);
	if (strcmp(cmd, "save-core") == 0)
		return save_core_main(argc - 1, argv + 1);
	if (strcmp(cmd, "decode") == 0) /* a bundle directory is served privately first */
		return serve_decode(argc - 1, argv + 1, gdbserver_main, decode_main);
	if (strcmp(cmd, "core-info") == 0)
		return core_info_main(argc - 1, argv + 1);
	if (strcmp(cmd, "record") == 0)
		return record_main(argc - 1, argv + 1);
	if (strcmp(cmd, "serve") == 0)
		return serve_main(argc - 1, argv + 1, gdbserver_main);
	return gdbserver_main(argc, argv, 1);
}
