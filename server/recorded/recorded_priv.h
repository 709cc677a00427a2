/* server/recorded/recorded_priv.h — what the files of the recorded target share: the parsed
 * core (PT_LOADs, NT_FILE mappings, threads, auxv, process facts) and the image list. Not for
 * other modules: they use server/recorded/recorded.h. */
#ifndef PTSTUB_SERVER_RECORDED_PRIV_H
#define PTSTUB_SERVER_RECORDED_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "protocol/buf.h"
#include "server/recorded/recorded.h"
#include "server/target.h"

/* One PT_LOAD: [vaddr, vaddr + memsz), the first filesz bytes at offset in the core. */
struct rec_load {
	uint64_t vaddr, memsz, offset, filesz;
	uint64_t lost; /* bytes after filesz the core should hold but does not (cut short) */
	unsigned prot; /* PROT_* from p_flags */
};

/* One NT_FILE entry: [start, end) maps path from byte offset. */
struct rec_file_map {
	uint64_t start, end, offset;
	char *path;
	int fd; /* the file its clean pages are read from, -1 if none can be */
};

struct rec_thread {
	pid_t tid;
	int signo;
	struct regcache regs;
	uint8_t siginfo[128];
	bool has_siginfo;
};

struct rec_core {
	int fd;
	uint64_t file_size;
	struct rec_load *loads; /* ascending vaddr */
	size_t nloads;
	struct rec_file_map *files; /* ascending start */
	size_t nfiles;
	struct rec_thread *threads; /* threads[0] is the crashing / triggering one */
	size_t nthreads;
	struct buf auxv;
	struct tgt_process_info pinfo;
	char fname[17];	       /* pr_fname */
	struct buf image_note; /* desc of the PTSTUB image note, empty if none */
};

struct rec_target {
	struct target base;
	struct rec_core core;
	struct recorded_image *images;
	size_t nimages;
	struct tgt_region *regions;
	size_t nregions;
	bool gone; /* killed or detached */
};

static inline struct rec_target *rec_of(struct target *t)
{
	return (struct rec_target *)t;
}

/* core_file.c: parse the core; problems that still allow serving go to diag. */
int rec_core_load(struct rec_core *c, const char *path, struct buf *diag, char *err, size_t errlen);
void rec_core_free(struct rec_core *c);

/* images.c: the image list from the note, each checked against its file (diag lines), and
 * the file of every NT_FILE mapping opened. */
int rec_images_load(struct rec_target *rt, const char *image_dir, struct buf *diag);
void rec_images_free(struct rec_target *rt);

/* memory.c: memory, regions and modified pages of the core. */
int rec_regions_build(struct rec_target *rt);
ssize_t rec_read_memory(struct target *t, uint64_t addr, void *buf, size_t len);
int rec_regions(struct target *t, struct tgt_region **out, size_t *n);
int rec_dirty_pages(struct target *t, uint64_t start, uint64_t end, uint64_t **pages, size_t *n);

#endif
