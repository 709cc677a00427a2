/* sample.c: the program the end-to-end tests debug with gdb and lldb. argv[1] picks a mode
 * (basic, threads, segv, signal, exit N, sleep); functions and globals have distinctive names
 * and `LINE:` markers so test scripts can break on them and check what the debugger prints. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ptsample.h"

#define SAMPLE_THREADS 8

struct sample_point {
	int x;
	int y;
	const char *label;
};

int global_counter = 42;                  /* initialised: lives in .data */
long global_bss_value;                    /* zero: lives in .bss */
volatile int watched_global;              /* written after sample_before_watch, and last */
volatile sig_atomic_t usr1_seen;          /* set by the SIGUSR1 handler */
volatile int threads_ready;               /* threads that reached thread_block_here */
struct sample_point global_point = {3, 4, "global"};

static int thread_pipe[2];
static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;

int fib(int n)
{
	if (n < 2)
		return n; /* LINE: fib_leaf */
	return fib(n - 1) + fib(n - 2);
}

int sample_helper(int value)
{
	int tripled = value * 3; /* LINE: helper_body */
	return tripled + 1;
}

/* The main breakpoint: its arguments point at a local struct and a heap value. */
void sample_break_here(struct sample_point *p, int *heap_value)
{
	int doubled = p->x * 2;                   /* LINE: break_first */
	doubled += sample_helper(doubled);        /* LINE: break_call */
	global_bss_value = doubled + *heap_value; /* LINE: break_after_call */
}

/* Called just before watched_global is written, so a software watchpoint has little to step. */
void sample_before_watch(void)
{
	global_counter++; /* LINE: before_watch_body */
}

int sample_compare(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b; /* LINE: compare_body */
	return (x > y) - (x < y);
}

static int run_basic(int exit_code)
{
	int local_value = 1234;
	struct sample_point local_point = {10, 20, "local"};
	int *heap_value = malloc(sizeof(*heap_value));
	int numbers[] = {5, 3, 9, 1};
	char name[32];

	*heap_value = 777;
	local_value += ptsample_lib_add(local_point.x, local_point.y);
	qsort(numbers, 4, sizeof(numbers[0]), sample_compare);
	sample_break_here(&local_point, heap_value);
	sample_before_watch();
	watched_global = 7; /* LINE: watch_write */
	printf("sample: fib(10)=%d sorted=%d,%d,%d,%d local=%d lib=%s bss=%ld\n", fib(10), /* LINE: report */
	       numbers[0], numbers[1], numbers[2], numbers[3], local_value,
	       ptsample_lib_name(name, sizeof(name)), global_bss_value);
	watched_global = 8; /* LINE: watch_write_last (the one lldb's watchpoint can see) */
	free(heap_value);
	return exit_code;
}

/* Each thread blocks here, in read(), until main writes a byte per thread to the pipe. */
void thread_block_here(int index)
{
	char byte;

	pthread_mutex_lock(&ready_lock);
	threads_ready++;
	pthread_mutex_unlock(&ready_lock);
	if (read(thread_pipe[0], &byte, 1) != 1) /* LINE: thread_read */
		fprintf(stderr, "sample: thread %d: read failed\n", index);
}

static void *thread_main(void *arg)
{
	thread_block_here((int)(long)arg);
	return NULL;
}

/* main stops here once all threads are blocked in thread_block_here. */
void sample_threads_ready(int count)
{
	printf("sample: %d threads ready\n", count);
}

static int run_threads(void)
{
	pthread_t threads[SAMPLE_THREADS];
	int ready = 0;

	if (pipe(thread_pipe) != 0)
		return 2;
	for (long i = 0; i < SAMPLE_THREADS; i++)
		pthread_create(&threads[i], NULL, thread_main, (void *)i);
	while (ready < SAMPLE_THREADS) {
		usleep(1000);
		pthread_mutex_lock(&ready_lock);
		ready = threads_ready;
		pthread_mutex_unlock(&ready_lock);
	}
	usleep(20000); /* let the last one enter read() */
	sample_threads_ready(ready);
	if (write(thread_pipe[1], "abcdefgh", SAMPLE_THREADS) != SAMPLE_THREADS)
		return 2;
	for (int i = 0; i < SAMPLE_THREADS; i++)
		pthread_join(threads[i], NULL);
	printf("sample: threads joined\n");
	return 0;
}

void sample_segv_inner(int *bad)
{
	*bad = 13; /* LINE: segv */
}

void sample_segv_middle(int *bad)
{
	sample_segv_inner(bad);
}

void sample_segv_outer(void)
{
	sample_segv_middle((int *)16);
}

static void usr1_handler(int sig)
{
	usr1_seen = sig;
}

static int run_signal(void)
{
	signal(SIGUSR1, usr1_handler);
	kill(getpid(), SIGUSR1);
	if (usr1_seen == SIGUSR1)
		printf("sample: SIGUSR1 handled\n");
	else
		printf("sample: SIGUSR1 not seen\n");
	return usr1_seen == SIGUSR1 ? 0 : 1;
}

/* vfork: the child runs in the parent's memory, through a function the tests put a
 * breakpoint in, before it exits; only the parent is debugged. */
volatile int vfork_marker;

void sample_vfork_child_work(void)
{
	vfork_marker++; /* LINE: vfork_child */
}

void sample_after_vfork(int status)
{
	vfork_marker += status; /* LINE: after_vfork */
}

static int run_vfork(void)
{
	int status = -1;
	pid_t pid = vfork();

	if (pid == 0) {
		sample_vfork_child_work();
		_exit(7);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 1;
	if (WIFEXITED(status))
		printf("sample: vfork child exited with %d\n", WEXITSTATUS(status));
	else
		printf("sample: vfork child killed by signal %d\n", WTERMSIG(status));
	sample_after_vfork(status);
	return 0;
}

/* The attach target: sleeps in a loop, counting iterations, until killed. */
void sample_sleep_loop(void)
{
	for (;;) {
		global_counter++;
		sleep(1); /* LINE: sleep_call */
	}
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "basic";

	setvbuf(stdout, NULL, _IONBF, 0);
	printf("sample: pid %d mode %s\n", (int)getpid(), mode);
	if (strcmp(mode, "basic") == 0)
		return run_basic(argc > 2 ? atoi(argv[2]) : 0);
	if (strcmp(mode, "threads") == 0)
		return run_threads();
	if (strcmp(mode, "segv") == 0) {
		sample_segv_outer();
		return 0;
	}
	if (strcmp(mode, "signal") == 0)
		return run_signal();
	if (strcmp(mode, "exit") == 0) {
		printf("sample: exiting\n");
		return argc > 2 ? atoi(argv[2]) : 0;
	}
	if (strcmp(mode, "vfork") == 0)
		return run_vfork();
	if (strcmp(mode, "sleep") == 0) {
		sample_sleep_loop();
		return 0;
	}
	fprintf(stderr, "sample: unknown mode %s\n", mode);
	return 2;
}
