/* decoder/image.c — the decode image: executable file mappings as libipt cached sections
 * (mapped once per cache, reused by every decode), anything else through a read callback.
 * Also the byte reader the instruction walker uses, with the same lookup order. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <intel-pt.h>

#include "decoder/decoder.h"
#include "decoder/internal.h"
#include "server/target.h"

#define DEC_CACHE_LIMIT (512ull << 20) /* bytes of file sections kept mapped */

struct dec_cache {
	struct pt_image_section_cache *iscache;
};

struct dec_cache *dec_cache_alloc(void)
{
	struct dec_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->iscache = pt_iscache_alloc("ptstub");
	if (!c->iscache) {
		free(c);
		return NULL;
	}
	/* Keep sections mapped between uses, or every block would map and unmap its file. */
	pt_iscache_set_limit(c->iscache, DEC_CACHE_LIMIT);
	return c;
}

void dec_cache_free(struct dec_cache *cache)
{
	if (!cache)
		return;
	pt_iscache_free(cache->iscache);
	free(cache);
}

const char *dec_errstr(int pt_error)
{
	return pt_errstr(pt_errcode(pt_error));
}

static const char *const pt_error_names[] = {
	[pte_ok] = "pte_ok",
	[pte_internal] = "pte_internal",
	[pte_invalid] = "pte_invalid",
	[pte_nosync] = "pte_nosync",
	[pte_bad_opc] = "pte_bad_opc",
	[pte_bad_packet] = "pte_bad_packet",
	[pte_bad_context] = "pte_bad_context",
	[pte_eos] = "pte_eos",
	[pte_bad_query] = "pte_bad_query",
	[pte_nomem] = "pte_nomem",
	[pte_bad_config] = "pte_bad_config",
	[pte_noip] = "pte_noip",
	[pte_ip_suppressed] = "pte_ip_suppressed",
	[pte_nomap] = "pte_nomap",
	[pte_bad_insn] = "pte_bad_insn",
	[pte_no_time] = "pte_no_time",
	[pte_no_cbr] = "pte_no_cbr",
	[pte_bad_image] = "pte_bad_image",
	[pte_bad_lock] = "pte_bad_lock",
	[pte_not_supported] = "pte_not_supported",
	[pte_retstack_empty] = "pte_retstack_empty",
	[pte_bad_retcomp] = "pte_bad_retcomp",
	[pte_bad_status_update] = "pte_bad_status_update",
	[pte_no_enable] = "pte_no_enable",
	[pte_event_ignored] = "pte_event_ignored",
	[pte_overflow] = "pte_overflow",
	[pte_bad_file] = "pte_bad_file",
	[pte_bad_cpu] = "pte_bad_cpu",
};

const char *dec_errname(int pt_error)
{
	unsigned code = (unsigned)pt_errcode(pt_error);

	if (code < sizeof(pt_error_names) / sizeof(pt_error_names[0]) && pt_error_names[code])
		return pt_error_names[code];
	return "pte_unknown";
}

static int image_read_callback(uint8_t *buf, size_t size, const struct pt_asid *asid, uint64_t ip,
			       void *ctx)
{
	struct dec_image *img = ctx;
	ssize_t got;

	(void)asid;
	if (!img->read)
		return -pte_nomap;
	got = img->read(img->read_ctx, ip, buf, size);
	return got > 0 ? (int)got : -pte_nomap;
}

static int section_cmp(const void *a, const void *b)
{
	const struct dec_section *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int image_add_file_region(struct dec_image *img, const struct tgt_region *r)
{
	struct dec_section *s;
	int isid, err;

	isid = pt_iscache_add_file(img->cache->iscache, r->path, r->offset, r->end - r->start,
				   r->start);
	if (isid < 0)
		return isid;
	err = pt_image_add_cached(img->pt, img->cache->iscache, isid, NULL);
	if (err < 0)
		return err;
	s = &img->sections[img->nsections++];
	s->start = r->start;
	s->end = r->end;
	s->isid = isid;
	return 0;
}

int dec_image_alloc(struct dec_cache *cache, const struct tgt_region *regions, size_t n,
		    dec_read_fn *read, void *ctx, struct dec_image **out)
{
	struct dec_image *img;
	size_t i;

	img = calloc(1, sizeof(*img));
	if (!img)
		return -ENOMEM;
	img->read = read;
	img->read_ctx = ctx;
	img->cache = cache;
	if (!cache) {
		img->cache = img->own_cache = dec_cache_alloc();
		if (!img->cache)
			goto fail;
	}
	img->pt = pt_image_alloc("ptstub");
	img->regions = malloc((n ? n : 1) * sizeof(*regions));
	img->sections = calloc(n ? n : 1, sizeof(*img->sections));
	if (!img->pt || !img->regions || !img->sections)
		goto fail;
	if (n)
		memcpy(img->regions, regions, n * sizeof(*regions));
	img->nregions = n;
	for (i = 0; i < n; i++) {
		const struct tgt_region *r = &regions[i];

		if (!(r->prot & PROT_EXEC) || r->path[0] != '/' || r->end <= r->start)
			continue;
		/* A file we cannot map is served by the callback like anonymous memory. */
		(void)image_add_file_region(img, r);
	}
	qsort(img->sections, img->nsections, sizeof(*img->sections), section_cmp);
	pt_image_set_callback(img->pt, image_read_callback, img);
	*out = img;
	return 0;
fail:
	dec_image_free(img);
	return -ENOMEM;
}

void dec_image_free(struct dec_image *img)
{
	if (!img)
		return;
	pt_image_free(img->pt);
	dec_cache_free(img->own_cache);
	free(img->regions);
	free(img->sections);
	free(img);
}

const struct tgt_region *dec_image_regions(const struct dec_image *img, size_t *n)
{
	*n = img->nregions;
	return img->regions;
}

static const struct dec_section *image_section(const struct dec_image *img, uint64_t addr)
{
	size_t lo = 0, hi = img->nsections;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct dec_section *s = &img->sections[mid];

		if (addr < s->start)
			hi = mid;
		else if (addr >= s->end)
			lo = mid + 1;
		else
			return s;
	}
	return NULL;
}

ssize_t dec_image_read(struct dec_image *img, uint64_t addr, void *buf, size_t len)
{
	const struct dec_section *s = image_section(img, addr);
	ssize_t got;

	if (s) {
		int r = pt_iscache_read(img->cache->iscache, buf, len, s->isid, addr);

		if (r > 0)
			return r;
	}
	if (!img->read)
		return -EFAULT;
	got = img->read(img->read_ctx, addr, buf, len);
	return got > 0 ? got : -EFAULT;
}

void dec_image_set_callback(struct dec_image *img, struct pt_image *pt)
{
	pt_image_set_callback(pt, image_read_callback, img);
}

struct pt_image *dec_image_pt(struct dec_image *img)
{
	return img->pt;
}
