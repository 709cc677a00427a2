/* server/core/core_priv.h — what the core writer's files share: the snapshot of a target taken
 * before writing (threads, regions, auxv, images) and the note builders. Not for other modules:
 * they use server/core/core.h. */
#ifndef PTSTUB_SERVER_CORE_CORE_PRIV_H
#define PTSTUB_SERVER_CORE_CORE_PRIV_H

#include <stdint.h>

#include "protocol/buf.h"
#include "server/core/core.h"
#include "server/regs.h"
#include "server/target.h"

#define CORE_PAGE 4096ULL

/* Our image note: owner "PTSTUB", type CORE_NOTE_IMAGES ("PTIM"); layout in image_note.c. */
#define CORE_NOTE_OWNER "PTSTUB"
#define CORE_NOTE_IMAGES 0x5054494dU
#define CORE_IMAGE_NOTE_VERSION 1

enum core_image_flag {
	CORE_IMAGE_MAIN = 1,	  /* the executable */
	CORE_IMAGE_INTERP = 2,	  /* the dynamic loader (AT_BASE) */
	CORE_IMAGE_VDSO = 4,	  /* [vdso] */
	CORE_IMAGE_EXECUTING = 8, /* a frame of some thread holds a pc in its code (unwind.c) */
};

struct core_image {
	uint64_t hdr_addr; /* address of its ELF header (the mapping at file offset 0) */
	uint64_t bias;	   /* load bias: hdr_addr - first PT_LOAD's page-aligned p_vaddr */
	uint32_t flags;	   /* enum core_image_flag */
	uint8_t build_id[64];
	size_t build_id_len;
	char path[512];
};

struct core_thread {
	pid_t tid;
	struct regcache regs;
	uint8_t siginfo[128];
	int signo; /* pr_cursig */
};

struct core_ctx {
	struct target *t;
	enum core_style style;
	struct core_options opt;
	struct tgt_process_info pinfo;
	struct tgt_region *regions;
	size_t nregions;
	struct core_thread *threads; /* threads[0] is written first */
	size_t nthreads;
	struct buf auxv;
	struct core_image *images;
	size_t nimages;
};

/* core_notes.c */
void core_note_put(struct buf *out, const char *owner, uint32_t type, const void *desc, size_t len);
void core_build_notes(const struct core_ctx *c, struct buf *out);

/* image_note.c */
int core_find_images(struct core_ctx *c);
void core_put_image_note(const struct core_ctx *c, struct buf *out);
/* Walk the entries of an image note's desc; returns the count or -EINVAL if malformed. */
typedef void core_image_proc(const struct core_image *img, void *data);
int core_image_note_parse(const void *desc, size_t len, core_image_proc *proc, void *data);
struct core_image *core_image_at(const struct core_ctx *c, uint64_t addr);

/* unwind.c */
/* Set CORE_IMAGE_EXECUTING on each image that holds the pc of a frame of some thread. */
void core_mark_executing(struct core_ctx *c);
/* The frames libdw unwinds for thread tid (the scan aside): their pcs, a caller's being its
 * return address minus one, up to max of them. *complete is set when the unwind reached the
 * outermost frame. Returns the frame count, or -ENOEXEC when libdw has nothing to unwind with
 * (no image's ELF). */
int core_unwind_thread(struct core_ctx *c, pid_t tid, uint64_t *pcs, size_t max, bool *complete);

#endif
