/* tests/programs/trace_kinds.c — small workloads for the trace fidelity tests, one per kind of
 * control flow (argv[1]). Each brackets the interesting part between two int3 markers: the
 * tracer runs freely to the first, single-steps to the second, then lets the program finish. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MARK() __asm__ volatile("int3")

static volatile int sink;

static int add(int a, int b)
{
	return a + b;
}

static int mul(int a, int b)
{
	return a * b;
}

static int fib(int n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static void run_loop(void)
{
	for (int i = 0; i < 200; i++)
		if (i % 3)
			sink += i;
}

static void run_calls(void)
{
	sink = fib(12);
}

static void run_long(void)
{
	sink = fib(15);
}

static void run_fnptr(void)
{
	int (*ops[])(int, int) = {add, mul, add};

	for (int i = 0; i < 30; i++)
		sink = ops[i % 3](sink, i);
}

static int classify(int v)
{
	switch (v) {
	case 0:
		return 11;
	case 1:
		return 7;
	case 2:
		return 3;
	case 3:
		return 19;
	case 4:
		return 23;
	case 5:
		return 5;
	case 6:
		return 2;
	case 7:
		return 13;
	default:
		return 1;
	}
}

static void run_jumptable(void)
{
	for (int i = 0; i < 40; i++)
		sink += classify(i % 10);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static void run_plt(void)
{
	int v[16];
	char text[64];

	for (int i = 0; i < 16; i++)
		v[i] = (i * 7919) % 31;
	qsort(v, 16, sizeof(v[0]), cmp_int);
	snprintf(text, sizeof(text), "%d-%d", v[0], v[15]);
	sink = (int)strlen(text);
}

static void run_syscalls(void)
{
	struct timespec ts;

	sink = (int)syscall(SYS_getpid);
	sink += (int)getppid();
	clock_gettime(CLOCK_MONOTONIC, &ts); /* vdso */
	sink += (int)ts.tv_nsec & 1;
}

static void on_usr1(int sig)
{
	for (int i = 0; i < 5; i++)
		sink += sig;
}

static void run_signal(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	MARK();
	kill(getpid(), SIGUSR1);
	sink += 1;
	raise(SIGUSR1);
	sink += 2;
}

static void run_rep(void)
{
	static char src[300], dst[300];
	void *d = dst;
	const void *s = src;
	size_t n = sizeof(src);

	memset(src, 'x', sizeof(src));
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	sink = dst[299];
}

static void *worker(void *arg)
{
	int n = (int)(long)arg;

	for (int i = 0; i < n; i++)
		sink += i & 1 ? add(i, 1) : mul(i, 2);
	return NULL;
}

static void run_threads(void)
{
	pthread_t t;

	pthread_create(&t, NULL, worker, (void *)100L);
	worker((void *)50L);
	pthread_join(t, NULL);
}

static const struct {
	const char *name;
	void (*run)(void);
	int self_marked; /* places its own start marker */
} kinds[] = {
	{"loop", run_loop, 0},		 {"calls", run_calls, 0},   {"fnptr", run_fnptr, 0},
	{"jumptable", run_jumptable, 0}, {"plt", run_plt, 0},	    {"syscalls", run_syscalls, 0},
	{"long", run_long, 0},		 {"signal", run_signal, 1}, {"rep", run_rep, 0},
	{"threads", run_threads, 0},
};

int main(int argc, char **argv)
{
	for (size_t i = 0; argc > 1 && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(argv[1], kinds[i].name))
			continue;
		if (!kinds[i].self_marked)
			MARK();
		kinds[i].run();
		MARK();
		return 0;
	}
	fprintf(stderr, "usage: trace_kinds "
			"loop|calls|long|fnptr|jumptable|plt|syscalls|signal|rep|threads\n");
	return 2;
}
