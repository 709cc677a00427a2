/* server/serve.c — `ptstub serve`: check a bundle once, report its problems, then run the
 * ordinary server with every session starting on the recorded target (read only) and the
 * recorded collector, so the trace, btrace and decode packets work on the recorded trace. */
#include "server/serve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static bool takes_value(const char *opt)
{
	static const char *const with_value[] = {"--log-file", "--log-channels", "--named-pipe",
						 "--pipe"};

	for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
		if (!strcmp(opt, with_value[k]))
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
			if (takes_value(argv[i]) && i + 1 < argc)
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
