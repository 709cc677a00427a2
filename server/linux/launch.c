/* server/linux/launch.c — start a program under ptrace: fork, set up the child (session, stdio,
 * ASLR, cwd, no stray fds), let it stop itself, PTRACE_SEIZE it, and run it to the stop right
 * after execve. A failed exec comes back as an error sentence through a CLOEXEC pipe. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/linux/linux_target.h"

extern char **environ;

enum lx_child_stage { LX_STAGE_STDIO, LX_STAGE_CWD, LX_STAGE_EXEC };

struct lx_child_error {
	int stage;
	int err;
	char what[256]; /* the file or directory concerned */
};

static void __attribute__((noreturn))
lx_child_fail(int fd, enum lx_child_stage stage, const char *what)
{
	struct lx_child_error e = {stage, errno, ""};

	snprintf(e.what, sizeof(e.what), "%s", what ? what : "");
	if (write(fd, &e, sizeof(e)) < 0)
		_exit(126);
	_exit(127);
}

static int lx_redirect(int fd, const char *path, int flags)
{
	int nfd = open(path, flags | O_NOCTTY, 0666);

	if (nfd < 0)
		return -1;
	if (nfd != fd && (dup2(nfd, fd) < 0 || close(nfd) < 0))
		return -1;
	return 0;
}

static void lx_child_stdio(const struct tgt_launch_opts *o, int errfd)
{
	static const int out_flags = O_WRONLY | O_CREAT | O_TRUNC;

	if (o->stdio_to_stderr && (lx_redirect(0, "/dev/null", O_RDONLY) < 0 || dup2(2, 1) < 0))
		lx_child_fail(errfd, LX_STAGE_STDIO, "/dev/null");
	if (o->stdin_path && lx_redirect(0, o->stdin_path, O_RDONLY) < 0)
		lx_child_fail(errfd, LX_STAGE_STDIO, o->stdin_path);
	if (o->stdout_path && lx_redirect(1, o->stdout_path, out_flags) < 0)
		lx_child_fail(errfd, LX_STAGE_STDIO, o->stdout_path);
	if (o->stderr_path && lx_redirect(2, o->stderr_path, out_flags) < 0)
		lx_child_fail(errfd, LX_STAGE_STDIO, o->stderr_path);
}

static void __attribute__((noreturn))
lx_child(const struct tgt_launch_opts *o, const char *path, int errfd)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (o->setsid)
		setsid();
	lx_child_stdio(o, errfd);
	if (o->disable_aslr)
		personality((unsigned long)personality(0xffffffff) | ADDR_NO_RANDOMIZE);
	if (o->cwd && chdir(o->cwd) < 0)
		lx_child_fail(errfd, LX_STAGE_CWD, o->cwd);
	if (errfd > 3)
		syscall(SYS_close_range, 3, errfd - 1, 0);
	syscall(SYS_close_range, errfd + 1, ~0u, 0);
	kill(getpid(), SIGSTOP); /* the parent seizes us here */
	execve(path, o->argv, o->envp ? o->envp : environ);
	lx_child_fail(errfd, LX_STAGE_EXEC, path);
}

/* The child died before its exec: turn what it sent into a sentence. */
static int lx_child_error(int errfd, const char *path, char *err, size_t errlen)
{
	struct lx_child_error e = {LX_STAGE_EXEC, ECHILD, ""};

	if (read(errfd, &e, sizeof(e)) != (ssize_t)sizeof(e)) {
		snprintf(err, errlen, "cannot run %s: it exited before its exec", path);
		return -ECHILD;
	}
	if (e.stage == LX_STAGE_STDIO)
		snprintf(err, errlen, "cannot open %s for the program's input/output: %s", e.what,
			 strerror(e.err));
	else if (e.stage == LX_STAGE_CWD)
		snprintf(err, errlen, "cannot change directory to %s: %s", e.what, strerror(e.err));
	else
		snprintf(err, errlen, "cannot run %s: %s", e.what, strerror(e.err));
	return -e.err;
}

/* Seize the self-stopped child and run it up to its PTRACE_EVENT_EXEC stop. */
static int lx_seize_child(pid_t pid, int errfd, const char *path, char *err, size_t errlen)
{
	long opts = LX_PTRACE_OPTS | PTRACE_O_EXITKILL;
	int status;

	if (waitpid(pid, &status, WUNTRACED) != pid || !WIFSTOPPED(status))
		return lx_child_error(errfd, path, err, errlen);
	if (ptrace(PTRACE_SEIZE, pid, 0, opts) < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot trace %s: %s", path, strerror(e));
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return -e;
	}
	kill(pid, SIGCONT);
	while (waitpid(pid, &status, __WALL) == pid) {
		if (!WIFSTOPPED(status))
			return lx_child_error(errfd, path, err, errlen);
		if (status >> 8 == (SIGTRAP | PTRACE_EVENT_EXEC << 8))
			return 0;
		ptrace(PTRACE_CONT, pid, 0, 0); /* the SIGCONT and its group-stop echoes */
	}
	snprintf(err, errlen, "cannot run %s: %s", path, strerror(errno));
	return -errno;
}

/* Block SIGCHLD before the child exists so that no notification is lost to a handler. */
static void lx_block_sigchld(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

static int lx_launched_target(struct loop *loop, pid_t pid, const struct tgt_callbacks *cb,
			      struct target **out, char *err, size_t errlen)
{
	struct lx_target *lt = lx_target_new(loop, pid, true, cb);
	struct lx_thread *th = lt ? lx_thread_add(lt, pid) : NULL;
	int r;

	if (!th) {
		r = -ENOMEM;
		goto fail;
	}
	th->stop =
		(struct tgt_thread_stop){.tid = pid, .reason = TGT_STOP_SIGNAL, .signo = SIGTRAP};
	lx_open_mem(lt);
	r = lx_events_start(lt);
	if (r < 0)
		goto fail;
	*out = &lt->base;
	return 0;
fail:
	snprintf(err, errlen, "cannot set up the debugger for process %d: %s", pid, strerror(-r));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, __WALL);
	lx_target_free(lt);
	return r;
}

int linux_target_launch(struct loop *loop, const struct tgt_launch_opts *opts,
			const struct tgt_callbacks *cb, struct target **out, char *err,
			size_t errlen)
{
	char resolved[PATH_MAX];
	const char *path;
	int errpipe[2], r;
	pid_t pid;

	if (!opts->argv || !opts->argv[0]) {
		snprintf(err, errlen, "no program to run");
		return -EINVAL;
	}
	path = opts->argv[0];
	if (opts->cwd && path[0] != '/' && realpath(path, resolved))
		path = resolved;
	lx_block_sigchld();
	if (pipe2(errpipe, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "cannot create a pipe: %s", strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid == 0)
		lx_child(opts, path, errpipe[1]);
	close(errpipe[1]);
	if (pid < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot fork: %s", strerror(errno));
		close(errpipe[0]);
		return r;
	}
	r = lx_seize_child(pid, errpipe[0], path, err, errlen);
	close(errpipe[0]);
	if (r < 0) {
		waitpid(pid, NULL, __WALL | WNOHANG);
		return r;
	}
	return lx_launched_target(loop, pid, cb, out, err, errlen);
}
