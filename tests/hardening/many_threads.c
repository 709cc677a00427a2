/* many_threads.c — the fault tests' debuggee. `many_threads N` creates N short-lived threads,
 * at most 20 alive at a time, each doing a little work and exiting, then exits 0.
 * `many_threads spin` loops forever (a target to kill while it runs or is stepped). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 20

static volatile unsigned long sink;

static void *work(void *arg)
{
	unsigned long n = (unsigned long)arg;
	for (unsigned long i = 0; i < 50; i++)
		sink += i * n;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "spin") == 0)
		for (;;)
			sink++;
	int total = argc > 1 ? atoi(argv[1]) : 200;
	pthread_t t[BATCH];
	for (int done = 0; done < total;) {
		int n = total - done < BATCH ? total - done : BATCH;
		for (int i = 0; i < n; i++)
			if (pthread_create(&t[i], NULL, work, (void *)(unsigned long)(done + i)) !=
			    0)
				return 2;
		for (int i = 0; i < n; i++)
			pthread_join(t[i], NULL);
		done += n;
	}
	printf("many_threads: %d threads done\n", total);
	return 0;
}
