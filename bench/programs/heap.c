/* bench/programs/heap.c — a target with MiB of heap (argv[1], default 64) filled with a
 * pattern; prints "ready <address> <bytes>" and waits to be read. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 64;
	size_t len = mib << 20;
	uint64_t *p = malloc(len);

	if (!p)
		return 1;
	for (size_t i = 0; i < len / 8; i++)
		p[i] = i * 0x9e3779b97f4a7c15ull;
	printf("ready %p %zu\n", (void *)p, len);
	fflush(stdout);
	for (;;)
		pause();
}
