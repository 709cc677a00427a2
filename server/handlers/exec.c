/* server/handlers/exec.c — run control (c/s/C/S/vCont) and the process lifecycle (vRun, A,
 * vAttach, k, vKill, D) plus the launch settings clients send before a run. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/hex.h"
#include "server/handlers/handlers.h"
#include "server/log.h"

extern char **environ;

/* Limits on what a client can make the server hold. */
#define VCONT_MAX_ACTIONS 64  /* actions in one vCont */
#define LAUNCH_MAX_ENV 4096   /* variables in the launch environment (QEnvironment*) */

/* ---- resuming ---- */

static enum handler_result resume_or_error(struct session *s, const struct tgt_resume *acts,
					   size_t n)
{
	int rc = session_resume(s, acts, n);
	if (rc == -EROFS && s->lldb) {
		/* LLDB takes an error reply to a resume for a lost connection: answer with the
		 * stop it is still at, the refusal in the stop's description. */
		session_refusal_reply(s, s->target->error[0] ? s->target->error
						    : "recorded target: read only");
		return HANDLER_REPLY;
	}
	if (rc < 0) {
		reply_error(s, rc, "cannot resume: %s",
			    s->target->error[0] ? s->target->error : strerror(-rc));
		return HANDLER_REPLY;
	}
	return HANDLER_DEFER;
}

/* A resume after the process died while stopped (a SIGKILL from outside) answers with how it
 * ended, W or X, as the stop reply it would have had; true if it did. */
static bool report_exit(struct session *s)
{
	if (s->target || !s->exit_kind)
		return false;
	session_stop_reply(s, 0);
	return true;
}

static pid_t step_thread(struct session *s)
{
	if (s->c_tid > 0)
		return s->c_tid;
	return s->stop_tid > 0 ? s->stop_tid : s->pid;
}

/* c, s, C<sig>, S<sig> (an address argument, rarely sent, is not supported). */
static enum handler_result legacy_resume(struct session *s, const char *args, size_t len,
					 bool step, bool with_signal)
{
	if (report_exit(s) || need_target(s))
		return HANDLER_REPLY;
	int sig = 0;
	const char *p = args, *end = args + len;
	if (with_signal) {
		uint64_t v;
		if (hex_parse_u64(&p, end, &v) < 0) {
			reply_error(s, EINVAL, "bad signal number");
			return HANDLER_REPLY;
		}
		sig = session_sig_from_client(s, (int)v);
	}
	if (p < end && *p != ';') {
		reply_error(s, EINVAL, "resuming at an address is not supported");
		return HANDLER_REPLY;
	}
	pid_t tid = step_thread(s);
	struct tgt_resume acts[2] = {
		{tid, step ? TGT_RESUME_STEP : TGT_RESUME_CONTINUE, sig},
		{-1, TGT_RESUME_CONTINUE, 0},
	};
	return resume_or_error(s, acts, step ? 1 : 2);
}

enum handler_result handle_c(struct session *s, const char *args, size_t len)
{
	return legacy_resume(s, args, len, false, false);
}

enum handler_result handle_C(struct session *s, const char *args, size_t len)
{
	return legacy_resume(s, args, len, false, true);
}

enum handler_result handle_s(struct session *s, const char *args, size_t len)
{
	return legacy_resume(s, args, len, true, false);
}

enum handler_result handle_S(struct session *s, const char *args, size_t len)
{
	return legacy_resume(s, args, len, true, true);
}

/* One vCont action "c", "C05", "s", "S0b", "t", each optionally ":tid". */
static int parse_vcont_action(struct session *s, const char **pp, const char *end,
			      struct tgt_resume *a)
{
	const char *p = *pp;
	char kind = *p++;
	a->signo = 0;
	a->tid = -1;
	switch (kind) {
	case 'c':
	case 's':
		a->kind = kind == 'c' ? TGT_RESUME_CONTINUE : TGT_RESUME_STEP;
		break;
	case 'C':
	case 'S': {
		uint64_t v;
		if (hex_parse_u64(&p, end, &v) < 0)
			return -EINVAL;
		a->kind = kind == 'C' ? TGT_RESUME_CONTINUE : TGT_RESUME_STEP;
		a->signo = session_sig_from_client(s, (int)v);
		if (a->signo < 0)
			return -EINVAL;
		break;
	}
	case 't':
		a->kind = TGT_RESUME_STOP;
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (p < end && *p == ':') {
		int64_t pid = 0, tid = 0;
		p++;
		if (ptid_parse(&p, end, &pid, &tid) < 0)
			return -EINVAL;
		a->tid = tid <= 0 ? -1 : (pid_t)tid;
	}
	if (p < end && *p != ';')
		return -EINVAL;
	*pp = p;
	return 0;
}

enum handler_result handle_vCont(struct session *s, const char *args, size_t len)
{
	const char *p = args, *end = args + len;
	if (p < end && *p == '?')
		return handle_vCont_query(s, args, len);
	if (report_exit(s) || need_target(s))
		return HANDLER_REPLY;
	struct tgt_resume acts[VCONT_MAX_ACTIONS];
	size_t n = 0;
	while (p < end && *p == ';') {
		p++;
		if (n == VCONT_MAX_ACTIONS) {
			reply_error(s, E2BIG, "vCont: more than %d actions (VCONT_MAX_ACTIONS)",
				    VCONT_MAX_ACTIONS);
			return HANDLER_REPLY;
		}
		int rc = parse_vcont_action(s, &p, end, &acts[n]);
		if (rc < 0) {
			reply_error(s, rc, "vCont: bad action near '%.20s'", p);
			return HANDLER_REPLY;
		}
		n++;
	}
	if (p != end || n == 0) {
		reply_error(s, EINVAL, "vCont: expected ;action[:thread]...");
		return HANDLER_REPLY;
	}
	for (size_t i = 0; i < n; i++)
		if (acts[i].tid > 0 && !thread_known(s, acts[i].tid))
			return HANDLER_REPLY;
	return resume_or_error(s, acts, n);
}

/* ---- ending ---- */

static void end_target(struct session *s, bool kill)
{
	struct target *t = s->target;
	trace_session_drop(s); /* the collector holds t: it goes first (fuzz_dispatch found it) */
	int rc = kill ? t->ops->kill(t) : t->ops->detach(t);
	if (rc < 0)
		log_msg(LOG_WARN, "%s failed: %s", kill ? "kill" : "detach", strerror(-rc));
	s->target = NULL;  /* destroy below must not find it again through the session */
	t->ops->destroy(t);
	session_set_target(s, NULL, false);
}

enum handler_result handle_k(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	s->exit_pid = s->pid;
	if (s->target)
		end_target(s, true);
	s->exit_kind = 'X';
	s->exit_status = SIGKILL;
	session_stop_reply(s, 0);
	return HANDLER_REPLY;
}

enum handler_result handle_vKill(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	if (need_target(s))
		return HANDLER_REPLY;
	s->exit_pid = s->pid;
	end_target(s, true);
	s->exit_kind = 'X';
	s->exit_status = SIGKILL;
	reply_ok(s);
	return HANDLER_REPLY;
}

enum handler_result handle_D(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	if (need_target(s))
		return HANDLER_REPLY;
	if (s->target->ops->read_only(s->target)) {
		end_target(s, false);
		reply_ok(s);
		return HANDLER_REPLY;
	}
	end_target(s, false);
	reply_ok(s);
	return HANDLER_REPLY;
}

/* ---- launching and attaching ---- */

static bool aslr_off(struct session *s)
{
	return s->launch.disable_aslr < 0 ? s->opts->disable_aslr : s->launch.disable_aslr;
}

static enum handler_result launch(struct session *s, char **argv)
{
	if (s->target) {
		reply_error_text(s, EBUSY, "a process is already being debugged");
		return HANDLER_REPLY;
	}
	struct tgt_launch_opts lo = {
		.argv = argv,
		.envp = s->launch.env ? s->launch.env : NULL,
		.cwd = s->launch.cwd,
		.disable_aslr = aslr_off(s),
		.stdin_path = s->launch.stdin_path,
		.stdout_path = s->launch.stdout_path,
		.stderr_path = s->launch.stderr_path,
		.stdio_to_stderr = s->opts->stdio_transport,
	};
	struct tgt_callbacks cb;
	struct target *t;
	char err[512] = "";
	session_target_callbacks(s, &cb);
	int rc = linux_target_launch(s->loop, &lo, &cb, &t, err, sizeof(err));
	if (rc < 0) {
		reply_error_text(s, rc, "%s", err[0] ? err : strerror(-rc));
		return HANDLER_REPLY;
	}
	session_set_target(s, t, true);
	log_msg(LOG_INFO, "launched %s as process %d", argv[0], s->pid);
	session_stop_reply(s, s->pid);
	return HANDLER_REPLY;
}

static void free_argv(char **argv)
{
	for (char **a = argv; a && *a; a++)
		free(*a);
	free(argv);
}

/* vRun;hex(prog)[;hex(arg)]... ; an empty program means the one given on the command line. */
enum handler_result handle_vRun(struct session *s, const char *args, size_t len)
{
	const char *p = args, *end = args + len;
	size_t n = 0, cap = 8;
	char **argv = calloc(cap + 1, sizeof(char *));
	while (argv && p < end && *p == ';') {
		p++;
		const char *q = memchr(p, ';', (size_t)(end - p));
		size_t hl = (size_t)((q ? q : end) - p);
		char *arg = malloc(hl / 2 + 1);
		if (!arg || hex_decode_str(p, hl, arg, hl / 2 + 1) < 0) {
			free(arg);
			free_argv(argv);
			reply_error_text(s, EINVAL, "vRun: arguments must be hex-encoded");
			return HANDLER_REPLY;
		}
		if (n == cap) {
			cap *= 2;
			char **na = realloc(argv, (cap + 1) * sizeof(char *));
			if (!na) {
				free(arg);
				break;
			}
			argv = na;
		}
		argv[n++] = arg;
		argv[n] = NULL;
		p = q ? q : end;
	}
	if (!argv || n == 0) {
		free_argv(argv);
		reply_error_text(s, EINVAL, "vRun: no program given");
		return HANDLER_REPLY;
	}
	if (!argv[0][0]) {
		if (!s->opts->program) {
			free_argv(argv);
			reply_error_text(s, ENOENT, "no program to run: give one to run or on the command line");
			return HANDLER_REPLY;
		}
		free(argv[0]);
		argv[0] = strdup(s->opts->program[0]);
	}
	enum handler_result r = launch(s, argv);
	free_argv(argv);
	return r;
}

/* A<len>,<idx>,hex(arg)... then qLaunchSuccess (LLDB's fallback when vRun is missing). */
static char launch_error[512];

/* One "<hexlen>,<index>,<hex>" group of an A packet, decoded into a new string. */
static char *parse_a_arg(const char **pp, const char *end, uint64_t want_idx)
{
	const char *p = *pp;
	uint64_t hl, idx;
	if (dec_parse_u64(&p, end, &hl) < 0 || p >= end || *p != ',')
		return NULL;
	p++;
	if (dec_parse_u64(&p, end, &idx) < 0 || p >= end || *p != ',' || idx != want_idx)
		return NULL;
	p++;
	if (hl > (uint64_t)(end - p))
		return NULL;
	char *arg = malloc(hl / 2 + 1);
	if (arg && hex_decode_str(p, hl, arg, hl / 2 + 1) < 0) {
		free(arg);
		return NULL;
	}
	p += hl;
	*pp = p < end && *p == ',' ? p + 1 : p;
	return arg;
}

enum handler_result handle_A(struct session *s, const char *args, size_t len)
{
	char **argv = calloc(65, sizeof(char *));
	const char *p = args, *end = args + len;
	size_t n = 0;
	while (argv && p < end && n < 64) {
		argv[n] = parse_a_arg(&p, end, n);
		if (!argv[n]) {
			free_argv(argv);
			reply_error(s, EINVAL, "A: expected <length>,<index>,<hex argument>...");
			return HANDLER_REPLY;
		}
		n++;
	}
	if (!n) {
		free_argv(argv);
		reply_error(s, EINVAL, "A: no program given");
		return HANDLER_REPLY;
	}
	launch(s, argv);
	free_argv(argv);
	/* The launch result is collected by qLaunchSuccess; A itself answers OK. */
	snprintf(launch_error, sizeof(launch_error), "%s", s->target ? "" : s->reply.data);
	buf_reset(&s->reply);
	reply_ok(s);
	return HANDLER_REPLY;
}

enum handler_result handle_qLaunchSuccess(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	if (s->target)
		reply_ok(s);
	else
		buf_printf(&s->reply, "E%s", launch_error[0] ? launch_error : "no process launched");
	return HANDLER_REPLY;
}

enum handler_result handle_vAttach(struct session *s, const char *args, size_t len)
{
	const char *p = args, *end = args + len;
	uint64_t pid;
	if (p >= end || *p != ';')
		return HANDLER_REPLY; /* vAttachWait, vAttachName, ...: not supported */
	p++;
	if (hex_parse_u64(&p, end, &pid) < 0 || p != end || !pid) {
		reply_error_text(s, EINVAL, "vAttach: expected vAttach;<pid hex>");
		return HANDLER_REPLY;
	}
	if (s->target) {
		reply_error_text(s, EBUSY, "a process is already being debugged");
		return HANDLER_REPLY;
	}
	struct tgt_callbacks cb;
	struct target *t;
	char err[512] = "";
	session_target_callbacks(s, &cb);
	int rc = linux_target_attach(s->loop, (pid_t)pid, &cb, &t, err, sizeof(err));
	if (rc < 0) {
		reply_error_text(s, rc, "%s", err[0] ? err : strerror(-rc));
		return HANDLER_REPLY;
	}
	session_set_target(s, t, false);
	log_msg(LOG_INFO, "attached to process %d", s->pid);
	session_stop_reply(s, s->pid);
	return HANDLER_REPLY;
}

enum handler_result handle_extended(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	s->extended = true;
	reply_ok(s);
	return HANDLER_REPLY;
}

/* ---- launch settings ---- */

static int env_index(struct launch_settings *l, const char *name, size_t nl)
{
	for (size_t i = 0; i < l->nenv; i++)
		if (strncmp(l->env[i], name, nl) == 0 && l->env[i][nl] == '=')
			return (int)i;
	return -1;
}

/* The first change copies the server's environment; later ones edit that copy. */
static void env_materialize(struct launch_settings *l)
{
	if (l->env)
		return;
	size_t n = 0;
	while (environ && environ[n])
		n++;
	l->env = calloc(n + 1, sizeof(char *));
	for (size_t i = 0; l->env && i < n; i++)
		l->env[l->nenv++] = strdup(environ[i]);
}

static void env_unset(struct launch_settings *l, const char *name, size_t nl)
{
	env_materialize(l);
	int i = env_index(l, name, nl);
	if (i < 0)
		return;
	free(l->env[i]);
	l->env[i] = l->env[--l->nenv];
	l->env[l->nenv] = NULL;
}

static int env_set(struct launch_settings *l, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return -EINVAL;
	env_unset(l, kv, (size_t)(eq - kv));
	if (l->nenv >= LAUNCH_MAX_ENV)
		return -E2BIG;
	char **ne = realloc(l->env, (l->nenv + 2) * sizeof(char *));
	if (!ne)
		return -ENOMEM;
	l->env = ne;
	l->env[l->nenv++] = strdup(kv);
	l->env[l->nenv] = NULL;
	return 0;
}

/* The reply to an environment change that returned rc; expected says what a good one is. */
static void env_reply(struct session *s, int rc, const char *expected)
{
	if (rc == -E2BIG)
		reply_error(s, E2BIG, "more than %d environment variables (LAUNCH_MAX_ENV)",
			    LAUNCH_MAX_ENV);
	else if (rc < 0)
		reply_error(s, EINVAL, "%s", expected);
	else
		reply_ok(s);
}

enum handler_result handle_QEnvironment(struct session *s, const char *args, size_t len)
{
	env_reply(s, len < 1 ? -EINVAL : env_set(&s->launch, args + 1),
		  "QEnvironment: expected NAME=VALUE");
	return HANDLER_REPLY;
}

static char *decode_hex_arg(const char *args, size_t len)
{
	if (len < 1 || args[0] != ':')
		return NULL;
	char *out = malloc(len / 2 + 1);
	if (out && hex_decode_str(args + 1, len - 1, out, len / 2 + 1) < 0) {
		free(out);
		return NULL;
	}
	return out;
}

enum handler_result handle_QEnvironmentHexEncoded(struct session *s, const char *args, size_t len)
{
	char *kv = decode_hex_arg(args, len);
	env_reply(s, kv ? env_set(&s->launch, kv) : -EINVAL,
		  "QEnvironmentHexEncoded: expected hex(NAME=VALUE)");
	free(kv);
	return HANDLER_REPLY;
}

enum handler_result handle_QEnvironmentUnset(struct session *s, const char *args, size_t len)
{
	char *name = decode_hex_arg(args, len);
	if (!name) {
		reply_error(s, EINVAL, "QEnvironmentUnset: expected hex(NAME)");
		return HANDLER_REPLY;
	}
	env_unset(&s->launch, name, strlen(name));
	free(name);
	reply_ok(s);
	return HANDLER_REPLY;
}

enum handler_result handle_QEnvironmentReset(struct session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	for (size_t i = 0; i < s->launch.nenv; i++)
		free(s->launch.env[i]);
	free(s->launch.env);
	s->launch.env = NULL;
	s->launch.nenv = 0;
	reply_ok(s);
	return HANDLER_REPLY;
}

static enum handler_result set_path(struct session *s, char **slot, const char *args, size_t len,
				    const char *what)
{
	free(*slot);
	*slot = NULL;
	if (len <= 1) { /* empty: back to the default */
		reply_ok(s);
		return HANDLER_REPLY;
	}
	*slot = decode_hex_arg(args, len);
	if (!*slot)
		reply_error(s, EINVAL, "%s: expected a hex-encoded path", what);
	else
		reply_ok(s);
	return HANDLER_REPLY;
}

enum handler_result handle_QSetWorkingDir(struct session *s, const char *args, size_t len)
{
	return set_path(s, &s->launch.cwd, args, len, "QSetWorkingDir");
}

enum handler_result handle_QSetSTDIN(struct session *s, const char *args, size_t len)
{
	return set_path(s, &s->launch.stdin_path, args, len, "QSetSTDIN");
}

enum handler_result handle_QSetSTDOUT(struct session *s, const char *args, size_t len)
{
	return set_path(s, &s->launch.stdout_path, args, len, "QSetSTDOUT");
}

enum handler_result handle_QSetSTDERR(struct session *s, const char *args, size_t len)
{
	return set_path(s, &s->launch.stderr_path, args, len, "QSetSTDERR");
}

static enum handler_result set_aslr(struct session *s, const char *args, size_t len)
{
	if (len != 2 || args[0] != ':' || (args[1] != '0' && args[1] != '1')) {
		reply_error(s, EINVAL, "expected :0 or :1");
		return HANDLER_REPLY;
	}
	s->launch.disable_aslr = args[1] == '1';
	reply_ok(s);
	return HANDLER_REPLY;
}

enum handler_result handle_QSetDisableASLR(struct session *s, const char *args, size_t len)
{
	return set_aslr(s, args, len);
}

enum handler_result handle_QDisableRandomization(struct session *s, const char *args, size_t len)
{
	return set_aslr(s, args, len);
}
