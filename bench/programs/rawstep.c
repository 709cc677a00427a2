/* bench/programs/rawstep.c — the floor for stepping: fork a child that spins, then
 * PTRACE_SINGLESTEP + waitpid it N times (argv[1], default 5000) and print the seconds taken. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long counter;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 5000;
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		for (;;)
			counter++;
	}
	if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status))
		return 1;
	double t = now();
	for (long i = 0; i < n; i++) {
		if (ptrace(PTRACE_SINGLESTEP, pid, 0, 0) < 0 || waitpid(pid, &status, 0) != pid ||
		    !WIFSTOPPED(status))
			return 1;
	}
	t = now() - t;
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	printf("%.6f\n", t);
	return 0;
}
