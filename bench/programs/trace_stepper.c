/* bench/programs/trace_stepper.c — the floor the software trace backend is measured against:
 * runs PROGRAM ARGS under ptrace to its first int3, counts the single steps to its second
 * int3 (pass 1, reading the pc each step), then, in a fresh run, times exactly that many bare
 * PTRACE_SINGLESTEP + waitpid (pass 2). Prints "steps N seconds S".
 * Usage: trace_stepper PROGRAM [ARGS...] */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A traced child of argv stopped just after its first int3. */
static pid_t start(char **argv)
{
	int status;
	pid_t pid = fork();

	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		personality(ADDR_NO_RANDOMIZE);
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		execv(argv[0], argv);
		_exit(127);
	}
	waitpid(pid, &status, 0); /* exec */
	ptrace(PTRACE_CONT, pid, 0, 0);
	waitpid(pid, &status, 0); /* first marker */
	if (!WIFSTOPPED(status)) {
		fprintf(stderr, "trace_stepper: %s did not reach its first int3\n", argv[0]);
		exit(1);
	}
	return pid;
}

static void finish(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
	struct user_regs_struct regs;
	long steps = 0;
	int status;
	pid_t pid;

	if (argc < 2) {
		fprintf(stderr, "usage: trace_stepper PROGRAM [ARGS...]\n");
		return 2;
	}
	pid = start(argv + 1);
	for (;;) {
		ptrace(PTRACE_GETREGS, pid, 0, &regs);
		errno = 0;
		long word = ptrace(PTRACE_PEEKTEXT, pid, (void *)regs.rip, 0);
		if (errno || (word & 0xff) == 0xcc)
			break;
		ptrace(PTRACE_SINGLESTEP, pid, 0, 0);
		waitpid(pid, &status, 0);
		steps++;
		if (!WIFSTOPPED(status))
			break;
	}
	finish(pid);
	pid = start(argv + 1);
	double t0 = now();
	for (long i = 0; i < steps; i++) {
		ptrace(PTRACE_SINGLESTEP, pid, 0, 0);
		waitpid(pid, &status, 0);
	}
	double t = now() - t0;
	finish(pid);
	printf("steps %ld seconds %.6f\n", steps, t);
	return 0;
}
