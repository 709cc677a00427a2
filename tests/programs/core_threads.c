/* core_threads.c: the program the core tests save. Three threads in this executable's code,
 * globals in a dirty page and in a clean page, a heap value and a value in libptsample.so, all
 * with fixed values the tests look for in the saved cores. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ptsample.h"

struct core_node {
	long magic;
	struct core_node *next;
};

/* Each global on a page of its own, so "dirty" and "clean" are page properties. */
__attribute__((aligned(4096))) long core_dirty_global = 1;	    /* written at run time */
__attribute__((aligned(4096))) long core_clean_global = 0x5ca1ab1e; /* never written */
__attribute__((aligned(4096))) struct core_node *core_heap;
volatile int core_release;
volatile long core_spins[3];
extern int ptsample_lib_calls;

__attribute__((noinline)) void core_stop_here(int arg)
{
	core_spins[0] += arg; /* the tests put a breakpoint on this function */
}

__attribute__((noinline)) static void core_spin(int id)
{
	long spin_local = 1000 + id;

	while (!core_release)
		core_spins[id] += spin_local - 999;
}

static void *core_worker(void *arg)
{
	int worker_id = (int)(long)arg;

	core_spin(worker_id);
	return NULL;
}

/* Write every other page of a fresh mapping: n modified runs, so a skinny core of this process
 * needs more than 65535 program headers once n is large (PN_XNUM). */
static void core_make_sparse(long n)
{
	char *map = mmap(NULL, 2 * n * 4096, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	for (long i = 0; map != MAP_FAILED && i < n; i++)
		map[2 * i * 4096] = 1;
}

int main(int argc, char **argv)
{
	pthread_t th[2];
	int main_local = 4242;

	if (argc > 1)
		core_make_sparse(atol(argv[1]));

	core_dirty_global = 0xfeedface;
	core_heap = malloc(sizeof(*core_heap));
	core_heap->magic = 0xabcdef12;
	core_heap->next = NULL;
	for (int i = 0; i < 7; i++)
		ptsample_lib_add(i, main_local);
	for (long i = 1; i <= 2; i++)
		pthread_create(&th[i - 1], NULL, core_worker, (void *)i);
	while (core_spins[1] == 0 || core_spins[2] == 0)
		usleep(1000);
	printf("ready %p\n", (void *)core_stop_here);
	fflush(stdout);
	for (;;) {
		core_stop_here(main_local);
		usleep(1000);
	}
}
