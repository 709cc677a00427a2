/* bench/programs/trace_work.c — the trace benchmark's workload: recursive calls, a loop with a
 * data-dependent branch and calls through function pointers, between two int3 markers (the
 * benchmark traces from the first to the second). No system calls, no vdso in between.
 * Usage: trace_work [ROUNDS]   (default 40: about 2 million instructions) */
#include <stdio.h>
#include <stdlib.h>

#define MARK() __asm__ volatile("int3")

static volatile int sink;

static int fib(int n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static int twice(int v)
{
	return 2 * v;
}

static int plus_one(int v)
{
	return v + 1;
}

static void loop(int n)
{
	int (*ops[2])(int) = {twice, plus_one};

	for (int i = 0; i < n; i++)
		if (i % 3)
			sink = ops[i & 1](sink);
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 40;

	MARK();
	for (int r = 0; r < rounds; r++) {
		sink += fib(15);
		loop(500);
	}
	MARK();
	printf("%d\n", sink);
	return 0;
}
