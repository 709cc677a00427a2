/* dirty_pages.c — writes a known set of pages in fresh mappings, reads others, then stops in
 * dirty_ready() so a debugger can compare the server's dirty-page lists with the truth:
 * a small mapping (pages 1, 3 and 4 of 8 written) and a 4 GiB mapping (every 10th page of
 * the first 1,000,000 written: 100,000 dirty pages). */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#define BIG_SIZE (4ull << 30)
#define BIG_STRIDE 10
#define BIG_WRITTEN 100000

volatile char *small_map, *big_map;
volatile long read_sum;

void dirty_ready(void)
{
	/* A breakpoint lands here. */
}

int main(void)
{
	long page = sysconf(_SC_PAGESIZE);
	small_map = mmap(NULL, 8 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	big_map = mmap(NULL, BIG_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (small_map == MAP_FAILED || big_map == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	small_map[1 * page] = 1;
	small_map[3 * page + 17] = 2;
	small_map[4 * page + page - 1] = 3;
	read_sum += small_map[6 * page]; /* read, not written: must not count */
	for (long i = 0; i < BIG_WRITTEN; i++)
		big_map[i * BIG_STRIDE * page + (i % page)] = (char)(i | 1);
	for (long i = 0; i < 1000; i++)
		read_sum += big_map[(i * BIG_STRIDE + 5) * page]; /* reads only */
	printf("dirty_pages: small %p big %p page %ld\n", (void *)small_map, (void *)big_map, page);
	fflush(stdout);
	dirty_ready();
	return 0;
}
