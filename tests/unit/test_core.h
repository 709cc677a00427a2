/* tests/unit/test_core.h — what test_core.c and test_core_unwind.c share: the stopped
 * core_threads process, CHECK, and reading a saved core. */
#ifndef PTSTUB_TESTS_UNIT_TEST_CORE_H
#define PTSTUB_TESTS_UNIT_TEST_CORE_H

#include <elf.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "server/target.h"

#define PAGE 4096ULL

struct live {
	struct loop *loop;
	struct target *t;
	struct tgt_region *regions;
	size_t nregions;
	uint64_t sps[16];
	size_t nsps;
	uint64_t bp;
	bool stopped;
};

extern int fails; /* CHECKs that failed */

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                       \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			fails++;                                                                   \
		}                                                                                  \
	} while (0)

struct core_file {
	uint8_t *map;
	size_t size;
	Elf64_Phdr *ph;
	size_t phnum;
};

/* The region holding addr, or NULL. */
struct tgt_region *region_of(struct live *l, uint64_t addr);
/* Map the core at path. Returns 0 or -1. */
int core_open(const char *path, struct core_file *cf);

/* test_core_unwind.c: the executing flags and the unwinder, with the cores of every style saved
 * in dir from the process stopped at its breakpoint. */
void check_unwind(struct live *l, const char *dir, const char *prog);

#endif
