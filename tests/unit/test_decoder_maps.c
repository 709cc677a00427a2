/* tests/unit/test_decoder_maps.c — /proc/PID/maps as struct tgt_region for the decoder tests
 * (kept apart from the stepper: server/regs.h and <signal.h> both name REG_RAX). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "server/target.h"

size_t test_read_maps(pid_t pid, struct tgt_region **out);

size_t test_read_maps(pid_t pid, struct tgt_region **out)
{
	char path[64], line[1024];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	*out = calloc(256, sizeof(**out));
	f = fopen(path, "r");
	if (!f || !*out)
		return 0;
	while (n < 256 && fgets(line, sizeof(line), f)) {
		struct tgt_region *g = &(*out)[n];
		char perms[8] = "";
		int pos = 0;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %*s %" SCNu64 "%n",
			   &g->start, &g->end, perms, &g->offset, &g->inode, &pos) < 5)
			continue;
		g->prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
			  (perms[2] == 'x' ? PROT_EXEC : 0);
		sscanf(line + pos, " %511[^\n]", g->path);
		n++;
	}
	fclose(f);
	return n;
}
