/* tests/programs/linux_target_prog.c — a small debuggee for tests/unit/test_linux_target.c:
 * argv[1] picks what it does (bp, threads, multibp, segv, sleep, signal, exec,
 * fork, sigs). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

volatile int linux_prog_value = 1234;
static volatile int stop_threads;

/* Tests put a breakpoint here. */
int __attribute__((noinline)) linux_prog_marker(int x)
{
	linux_prog_value += x;
	return linux_prog_value;
}

static void *spin(void *arg)
{
	while (!stop_threads)
		;
	return arg;
}

static int run_threads(void)
{
	pthread_t th[3];

	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, spin, NULL);
	usleep(20000);
	linux_prog_marker(1);
	stop_threads = 1;
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	return 5;
}

/* Three threads call the marker MULTI_CALLS times each: every call must be one stop. */
#define MULTI_CALLS 5
static void *call_marker(void *arg)
{
	for (int i = 0; i < MULTI_CALLS; i++)
		linux_prog_marker(1);
	return arg;
}

static int run_multibp(void)
{
	pthread_t th[3];

	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, call_marker, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	return linux_prog_value == 1234 + 3 * MULTI_CALLS ? 6 : 1;
}

/* The child runs through the marker's breakpoint too: the stub must have taken it out. */
static int run_fork(void)
{
	int status = 0;
	pid_t child = fork();

	if (child == 0)
		_exit(linux_prog_marker(1) == 1235 ? 0 : 2);
	waitpid(child, &status, 0);
	linux_prog_marker(2);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 8 : 1;
}

/* Two threads each handle SIGUSR1 (queued to both from outside while they are stopped at the
 * marker): 10 if each handled exactly one within 2 s. */
static volatile int sig_counts[2];
static volatile pid_t sig_tids[2];
static __thread int sig_index;

static void count_usr1(int sig)
{
	(void)sig;
	sig_counts[sig_index]++;
}

static void *sig_worker(void *arg)
{
	sig_index = (int)(long)arg;
	sig_tids[sig_index] = (pid_t)syscall(SYS_gettid);
	while (!stop_threads)
		;
	return arg;
}

static int run_sigs(void)
{
	pthread_t th[2];

	signal(SIGUSR1, count_usr1);
	for (long i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, sig_worker, (void *)i);
	while (!sig_tids[0] || !sig_tids[1])
		;
	linux_prog_marker(1);
	for (int i = 0; i < 2000 && sig_counts[0] + sig_counts[1] < 2; i++)
		usleep(1000);
	stop_threads = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	return sig_counts[0] == 1 && sig_counts[1] == 1 ? 10 : 1;
}

static void on_usr1(int sig)
{
	linux_prog_value = sig;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "bp";

	if (!strcmp(mode, "threads"))
		return run_threads();
	if (!strcmp(mode, "multibp"))
		return run_multibp();
	if (!strcmp(mode, "fork"))
		return run_fork();
	if (!strcmp(mode, "sigs"))
		return run_sigs();
	if (!strcmp(mode, "exec"))
		execl(argv[0], argv[0], "bp", (char *)NULL);
	if (!strcmp(mode, "segv"))
		*(volatile int *)8 = 1;
	if (!strcmp(mode, "sleep"))
		for (;;)
			pause();
	if (!strcmp(mode, "signal")) {
		signal(SIGUSR1, on_usr1);
		raise(SIGUSR1);
		return linux_prog_value == SIGUSR1 ? 9 : 1;
	}
	linux_prog_marker(42);
	return 7;
}
