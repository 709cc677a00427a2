/* server/serve.c — `ptstub serve`: check a bundle once, report its problems, then run the
 * ordinary server with every session starting on the recorded target (read only) and the
 * recorded collector, so the trace, btrace and decode packets work on the recorded trace.
 * `ptstub decode DIR` decodes a bundle offline through a private serve. */
#include "server/serve.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/log.h"
#include "server/recorded/bundle.h"
#include "server/recorded/recorded.h"
#include "server/session.h"
#include "server/target.h"

static struct bundle *serving; /* the bundle being served, or NULL */

static int serve_usage(void)
{
	fputs("usage: ptstub serve DIR [HOST]:PORT|- [--once] [--log-file FILE] ...\n"
	      "Serve the bundle `ptstub record` wrote in DIR to GDB or LLDB (read only).\n",
	      stderr);
	return 2;
}

void serve_session_start(struct session *s)
{
	struct target *t;
	struct collector *col;
	char err[512] = "";

	if (!serving)
		return;
	if (bundle_instance(serving, &t, &col, err, sizeof(err))) {
		log_msg(LOG_ERROR, "cannot serve %s: %s", serving->dir, err);
		return;
	}
	session_set_target(s, t, false);
	s->stop_tid = recorded_target_first_thread(t); /* the crashing thread, not the main one */
	s->collector = col;
}

/* One line for the user: what the bundle holds. */
static void describe(const struct bundle *b)
{
	const struct bundle_status *st = &b->status;

	if (!b->have_status) {
		fprintf(stderr, "serve: bundle %s\n", b->dir);
		return;
	}
	fprintf(stderr,
		"serve: bundle %s: process %d, thread %d at the %s trigger%s%s, %zu "
		"traced thread(s)\n",
		b->dir, st->pid, st->tid, st->trigger[0] ? st->trigger : "?",
		st->signo ? ", signal SIG" : "", st->signo ? sigabbrev_np(st->signo) : "",
		st->nthreads);
}

static void report(const struct bundle *b)
{
	const char *line = b->diag.data;

	while (line && *line) {
		const char *eol = strchr(line, '\n');
		int n = eol ? (int)(eol - line) : (int)strlen(line);

		fprintf(stderr, "serve: warning: %.*s\n", n, line);
		line = eol ? eol + 1 : line + n;
	}
}

/* Options (of the server, of decode) whose value is the next argument. */
static const char *const server_valued[] = {"--log-file", "--log-channels", "--named-pipe",
					    "--pipe", NULL};
static const char *const decode_valued[] = {"--tid", "--count", "--chrome-trace", "--timeout",
					    NULL};

static bool takes_value(const char *opt, const char *const *valued)
{
	for (; *valued; valued++)
		if (!strcmp(opt, *valued))
			return true;
	return false;
}

/* DIR and ADDRESS out of argv; the options go to args (for the server's own parser), then
 * the address. Returns the count in args, or -EINVAL. */
static int split_args(int argc, char **argv, char **args, const char **dir)
{
	const char *address = NULL;
	int n = 0;

	args[n++] = argv[0];
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-' && argv[i][1]) {
			args[n++] = argv[i];
			if (takes_value(argv[i], server_valued) && i + 1 < argc)
				args[n++] = argv[++i];
		} else if (!*dir) {
			*dir = argv[i];
		} else if (!address) {
			address = argv[i];
		} else {
			return -EINVAL;
		}
	}
	if (!*dir || !address)
		return -EINVAL;
	args[n++] = (char *)address;
	return n;
}

int serve_main(int argc, char **argv, serve_run_fn *run)
{
	const char *dir = NULL;
	char **args = calloc((size_t)argc + 2, sizeof(*args));
	struct bundle *b = calloc(1, sizeof(*b));
	char err[512] = "";
	int n = args ? split_args(argc, argv, args, &dir) : -ENOMEM, ret;

	if (n < 0 || !b) {
		free(args);
		free(b);
		return n == -EINVAL ? serve_usage() : 1;
	}
	ret = bundle_open(b, dir, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "serve: %s\n", err);
		ret = 1;
	} else {
		describe(b);
		report(b);
		serving = b;
		ret = run(n, args, 1);
		serving = NULL;
	}
	bundle_close(b);
	free(b);
	free(args);
	return ret;
}

/* The bundle directory among decode's arguments: its only positional one. */
static int decode_positional(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (takes_value(argv[i], decode_valued))
			i++;
		else if (argv[i][0] != '-')
			return i;
	}
	return -1;
}

static bool is_bundle(const char *dir)
{
	char core[4200];
	struct stat st;

	snprintf(core, sizeof(core), "%s/core", dir);
	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && access(core, R_OK) == 0;
}

/* The thread that hit the trigger, for decode without --tid; false when --tid is given. */
static bool default_tid(const char *dir, int argc, char **argv, char *out, size_t cap)
{
	struct bundle *b;
	char err[512];
	bool found = false;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--tid") || !strncmp(argv[i], "--tid=", 6))
			return false;
	b = calloc(1, sizeof(*b));
	if (b && bundle_open(b, dir, err, sizeof(err)) == 0 && b->status.tid > 0) {
		snprintf(out, cap, "%d", b->status.tid);
		found = true;
	}
	if (b)
		bundle_close(b);
	free(b);
	return found;
}

/* Serve the bundle on a private socket in a child process; its pid, or -errno. */
static pid_t serve_in_child(const char *dir, const char *address, serve_run_fn *run)
{
	char *argv[] = {"serve", (char *)dir, (char *)address, "--once", "--log-channels",
			"quiet", NULL};
	pid_t pid = fork();

	if (pid == 0)
		_exit(serve_main(6, argv, run));
	return pid < 0 ? -errno : pid;
}

static bool wait_for_socket(const char *path, pid_t child)
{
	for (int i = 0; i < 1000; i++) {
		struct stat st;

		if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			return true;
		if (waitpid(child, NULL, WNOHANG) == child)
			return false;
		usleep(10000);
	}
	return false;
}

int serve_decode(int argc, char **argv, serve_run_fn *run, serve_client_fn *decode)
{
	int pos = decode_positional(argc, argv), n = 0, ret = 2;
	char tmp[] = "/tmp/ptstub-decode-XXXXXX", sock[64], address[80], tid[16];
	char **args;
	pid_t child;

	if (pos < 0 || !is_bundle(argv[pos]))
		return decode(argc, argv);
	args = calloc((size_t)argc + 3, sizeof(*args));
	if (!args || !mkdtemp(tmp)) {
		free(args);
		fprintf(stderr, "decode: cannot make a private socket directory\n");
		return 2;
	}
	snprintf(sock, sizeof(sock), "%s/sock", tmp);
	snprintf(address, sizeof(address), "unix:%s", sock);
	for (int i = 0; i < argc; i++)
		args[n++] = i == pos ? address : argv[i];
	if (default_tid(argv[pos], argc, argv, tid, sizeof(tid))) {
		args[n++] = "--tid";
		args[n++] = tid;
	}
	child = serve_in_child(argv[pos], address, run);
	if (child > 0 && wait_for_socket(sock, child))
		ret = decode(n, args);
	else
		fprintf(stderr, "decode: cannot serve the bundle %s\n", argv[pos]);
	if (child > 0) {
		kill(child, SIGTERM);
		waitpid(child, NULL, 0);
	}
	unlink(sock);
	rmdir(tmp);
	free(args);
	return ret;
}
