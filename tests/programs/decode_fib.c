/* tests/programs/decode_fib.c — the decoder tests' workload: fib(10) (177 calls to fib), a loop
 * with a conditional branch, calls through a function pointer and a system call, bracketed by
 * two int3 markers: the tracer runs to the first, single-steps to the second. */
#include <stdio.h>
#include <unistd.h>

#define MARK() __asm__ volatile("int3")

static volatile int sink;

int fib(int n)
{
	if (n < 2)
		return n;
	return fib(n - 1) + fib(n - 2);
}

static int twice(int v)
{
	return 2 * v;
}

static int plus_one(int v)
{
	return v + 1;
}

static void loop(void)
{
	int (*ops[2])(int) = {twice, plus_one};

	for (int i = 0; i < 50; i++)
		if (i % 3)
			sink = ops[i & 1](sink);
}

int main(void)
{
	MARK();
	sink = fib(10);
	loop();
	sink += (int)getpid();
	MARK();
	printf("%d\n", sink);
	return 0;
}
