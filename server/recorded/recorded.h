/* server/recorded/recorded.h — a recorded target: struct target_ops over a skinny ELF core
 * (threads, registers, signals, auxv, mappings, modified pages) with clean file-backed pages read
 * from the image files on disk, as the debuggers themselves do. Read only. */
#ifndef PTSTUB_SERVER_RECORDED_RECORDED_H
#define PTSTUB_SERVER_RECORDED_RECORDED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/buf.h"

struct target;

/* What became of an image the core lists (its PTSTUB image note). */
enum recorded_image_status {
	RECORDED_IMAGE_OK,	  /* the file at its path has the recorded build-id */
	RECORDED_IMAGE_COPY,	  /* read from the bundle's copy (images/), build-id checked */
	RECORDED_IMAGE_UNCHECKED, /* no build-id was recorded (vDSO, stripped): used as is */
	RECORDED_IMAGE_MISSING,	  /* no file at its path (nor a copy) */
	RECORDED_IMAGE_MISMATCH,  /* the file has another build-id: not used for memory */
	RECORDED_IMAGE_IN_CORE,	  /* [vdso]: its pages are in the core */
};

struct recorded_image {
	uint64_t load_address; /* where its ELF header is mapped */
	uint64_t bias;	       /* load bias */
	uint32_t flags;	       /* 1 main, 2 loader, 4 vDSO, 8 executing (the image note's) */
	char build_id[129];    /* lowercase hex, "" if none */
	char path[512];	       /* path in the recorded process */
	char source[4096];     /* file memory reads use, "" if none */
	enum recorded_image_status status;
};

/* Open the core at core_path as a read-only target. image_dir (may be NULL) holds copies of
 * the images at their absolute paths below it, preferred over the recorded paths. Every problem that still lets
 * the core be served (a missing or changed image, a truncated core) is appended to diag as one
 * line. Returns 0, or -errno with a sentence in err when the core cannot be served at all. */
int recorded_target_open(const char *core_path, const char *image_dir, struct target **out,
			 struct buf *diag, char *err, size_t errlen);

/* The images the core recorded, in note order (valid while t lives). */
size_t recorded_target_images(struct target *t, const struct recorded_image **out);

/* The thread the core names first (the one that crashed or hit the trigger). */
int recorded_target_first_thread(struct target *t);

/* The sentence every refused change gets. */
#define RECORDED_READ_ONLY "recorded target: read only"

#endif
