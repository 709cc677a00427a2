/* decoder/internal.h — what the decoder's own files share and nobody else sees: the image's
 * layout and a few helpers between decode.c and disasm.c. */
#ifndef PTSTUB_DECODER_INTERNAL_H
#define PTSTUB_DECODER_INTERNAL_H

#include <stdint.h>

#include "decoder/decoder.h"

struct pt_image;

struct dec_section {
	uint64_t start, end;
	int isid;
};

struct dec_image {
	struct pt_image *pt;	      /* libipt image: cached sections + callback */
	struct dec_cache *cache;      /* sections' cache (maybe own_cache) */
	struct dec_cache *own_cache;  /* made by dec_image_alloc when none was given */
	struct dec_section *sections; /* file sections by start address */
	size_t nsections;
	struct tgt_region *regions;
	size_t nregions;
	dec_read_fn *read;
	void *read_ctx;
};

struct pt_image *dec_image_pt(struct dec_image *img);
/* Points pt's read callback at img's (for per-thread copies of img's libipt image). */
void dec_image_set_callback(struct dec_image *img, struct pt_image *pt);

/* Appends one record; -ENOMEM on failure. */
int dec_trace_push(struct dec_trace *t, const struct dec_record *rec);

/* Visits instructions [first, first + count) in order, and the gaps and events between them
 * (marker may be NULL). A callback's non-zero return stops the walk and is returned; -EILSEQ
 * when a block cannot be walked. */
struct dec_visitor {
	int (*insn)(void *ctx, const struct dec_insn *in);
	int (*marker)(void *ctx, const struct dec_record *rec);
	void *ctx;
};
int dec_trace_visit(struct dec_walker *w, const struct dec_trace *t, uint64_t first, uint64_t count,
		    const struct dec_visitor *v);

#endif
