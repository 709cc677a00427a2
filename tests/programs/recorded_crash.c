/* tests/programs/recorded_crash.c — the recorded-target tests' workload: a few calls, then a
 * store through a bad pointer (SIGSEGV) in store_value. Short, because the software trace
 * single-steps every instruction. `recorded_crash exit N` returns N instead of crashing;
 * `recorded_crash thread` crashes in a second thread while the main thread waits for it;
 * `recorded_crash handled` catches its SIGSEGV, recovers and exits 0. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct record {
	int id;
	int *slot;
};

static int scale(int v)
{
	return v * 3;
}

static int sum_to(int n)
{
	int total = 0;

	for (int i = 1; i <= n; i++)
		total += scale(i);
	return total;
}

void store_value(struct record *rec, int value)
{
	int doubled = value * 2;

	*rec->slot = doubled; /* LINE: crash */
}

static void process(struct record *rec, int count)
{
	int value = sum_to(count);

	store_value(rec, value);
}

static sigjmp_buf recover;

static void on_segv(int signo)
{
	siglongjmp(recover, signo);
}

static void *worker(void *arg)
{
	process(arg, 5);
	return NULL;
}

int main(int argc, char **argv)
{
	struct record rec = {.id = 7, .slot = (int *)(uintptr_t)0x10};
	pthread_t th;

	if (argc > 2 && !strcmp(argv[1], "exit"))
		return atoi(argv[2]);
	if (argc > 1 && !strcmp(argv[1], "handled")) {
		signal(SIGSEGV, on_segv);
		if (!sigsetjmp(recover, 1))
			process(&rec, 5);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "thread")) {
		pthread_create(&th, NULL, worker, &rec);
		pthread_join(th, NULL);
		return 0;
	}
	process(&rec, 5);
	return 0;
}
