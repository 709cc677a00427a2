/* server/core/unwind.c — which images have a frame on some thread's stack: each thread's pc,
 * then a return-address scan of its stack (words pointing just past a call instruction in an
 * image's code), reading only the stack pages the target reports modified. */
#include <stdlib.h>
#include <string.h>

#include "server/core/core_priv.h"

#define UNWIND_SCAN_BYTES (1024 * 1024) /* stack examined above sp, at most */

static void unwind_mark(struct core_image *img)
{
	if (img)
		img->flags |= CORE_IMAGE_EXECUTING;
}

/* Is the instruction ending at ret a call (rel32, or indirect through a register or memory
 * operand of 2, 3, 6 or 7 bytes)? */
static bool unwind_after_call(struct core_ctx *c, uint64_t ret)
{
	uint8_t b[7];

	if (ret < sizeof(b) || c->t->ops->read_memory(c->t, ret - 7, b, sizeof(b)) != sizeof(b))
		return false;
	if (b[2] == 0xe8)
		return true;
	for (int len = 2; len <= 7; len++) {
		const uint8_t *op = b + 7 - len;

		if ((len == 2 || len == 3 || len == 6 || len == 7) && op[0] == 0xff &&
		    ((op[1] >> 3) & 7) == 2)
			return true;
	}
	return false;
}

static void unwind_scan_words(struct core_ctx *c, const uint64_t *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct core_image *img = core_image_at(c, w[i]);

		if (img && !(img->flags & CORE_IMAGE_EXECUTING) && unwind_after_call(c, w[i]))
			unwind_mark(img);
	}
}

static void unwind_scan_stack(struct core_ctx *c, uint64_t sp)
{
	const struct tgt_region *stack = NULL;
	uint64_t *pages = NULL, end;
	size_t n = 0;
	uint64_t *words = malloc(CORE_PAGE);

	for (size_t i = 0; i < c->nregions; i++)
		if (sp >= c->regions[i].start && sp < c->regions[i].end)
			stack = &c->regions[i];
	if (!stack || !words)
		goto out;
	end = stack->end - sp > UNWIND_SCAN_BYTES ? sp + UNWIND_SCAN_BYTES : stack->end;
	if (c->t->ops->dirty_pages(c->t, sp & ~(CORE_PAGE - 1), end, &pages, &n))
		goto out;
	for (size_t i = 0; i < n; i++) {
		uint64_t from = pages[i] < sp ? (sp & ~7ULL) : pages[i];
		size_t len = pages[i] + CORE_PAGE - from;

		if (c->t->ops->read_memory(c->t, from, words, len) == (ssize_t)len)
			unwind_scan_words(c, words, len / 8);
	}
out:
	free(pages);
	free(words);
}

void core_mark_executing(struct core_ctx *c)
{
	for (size_t i = 0; i < c->nthreads; i++) {
		const struct regcache *rc = &c->threads[i].regs;

		unwind_mark(core_image_at(c, regcache_get_u64(rc, RN_RIP)));
		unwind_scan_stack(c, regcache_get_u64(rc, RN_RSP));
	}
}
