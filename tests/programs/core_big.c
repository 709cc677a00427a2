/* core_big.c: the large case of bench/core_bench.sh: 1 GiB of anonymous memory mapped, 10 MiB
 * of it written in scattered pages, then it waits to be saved. Prints "ready" when set up. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#define CORE_BIG_MAPPED (1UL << 30)
#define CORE_BIG_DIRTY_PAGES 2560 /* 10 MiB of 4 KiB pages */

int main(void)
{
	unsigned char *map = mmap(NULL, CORE_BIG_MAPPED, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	unsigned long stride = CORE_BIG_MAPPED / 4096 / CORE_BIG_DIRTY_PAGES;

	if (map == MAP_FAILED)
		return 1;
	for (unsigned long i = 0; i < CORE_BIG_DIRTY_PAGES; i++)
		map[(i * stride + i % 7) * 4096] = (unsigned char)(i | 1);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
