/* server/recorded/memory.c — memory of a recorded core, read the way GDB reads it: bytes the
 * core holds (PT_LOAD data), then clean file-backed pages from the image files (NT_FILE),
 * then zeros for the rest of a mapping (clean anonymous pages). The regions are the PT_LOADs
 * merged back into mappings; the modified pages are the PT_LOAD data runs. */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "server/auxv.h"
#include "server/recorded/recorded_priv.h"

#define REC_PAGE 4096ULL

static const struct rec_load *load_at(const struct rec_core *c, uint64_t addr)
{
	size_t lo = 0, hi = c->nloads;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct rec_load *l = &c->loads[mid];

		if (addr < l->vaddr)
			hi = mid;
		else if (addr - l->vaddr >= l->memsz)
			lo = mid + 1;
		else
			return l;
	}
	return NULL;
}

static const struct rec_file_map *file_at(const struct rec_core *c, uint64_t addr)
{
	for (size_t i = 0; i < c->nfiles; i++)
		if (addr >= c->files[i].start && addr < c->files[i].end)
			return &c->files[i];
	return NULL;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Copies up to len bytes at addr from one source; returns the count, 0 when unreadable. */
static size_t read_piece(const struct rec_core *c, uint64_t addr, uint8_t *out, size_t len)
{
	const struct rec_load *l = load_at(c, addr);
	const struct rec_file_map *f;
	ssize_t n;

	if (!l)
		return 0;
	len = min_u64(len, l->vaddr + l->memsz - addr);
	if (addr - l->vaddr < l->filesz) {
		len = min_u64(len, l->vaddr + l->filesz - addr);
		n = pread(c->fd, out, len, l->offset + (addr - l->vaddr));
		return n > 0 ? (size_t)n : 0;
	}
	if (addr - l->vaddr < l->filesz + l->lost)
		return 0; /* recorded, but cut off the end of a truncated core */
	f = file_at(c, addr);
	if (!f) {
		memset(out, 0, len); /* a clean anonymous page was never written: zeros */
		return len;
	}
	if (f->fd < 0)
		return 0; /* the file is gone or changed: unavailable, not zeros */
	len = min_u64(len, f->end - addr);
	n = pread(f->fd, out, len, f->offset + (addr - f->start));
	if (n < 0)
		return 0;
	memset(out + n, 0, len - (size_t)n); /* past the end of the file */
	return len;
}

ssize_t rec_read_memory(struct target *t, uint64_t addr, void *buf, size_t len)
{
	const struct rec_core *c = &rec_of(t)->core;
	size_t done = 0;

	while (done < len) {
		size_t n = read_piece(c, addr + done, (uint8_t *)buf + done, len - done);

		if (!n)
			break;
		done += n;
	}
	return done ? (ssize_t)done : -EIO;
}

static int file_index(const struct rec_core *c, uint64_t addr)
{
	const struct rec_file_map *f = file_at(c, addr);

	return f ? (int)(f - c->files) : -1;
}

static void region_name(struct rec_target *rt, struct tgt_region *r, int file)
{
	const struct rec_core *c = &rt->core;
	uint64_t vdso = auxv_get(&c->auxv, AT_SYSINFO_EHDR), sp = 0;

	for (size_t i = 0; i < c->nthreads; i++)
		if (c->threads[i].tid == c->pinfo.pid)
			sp = regcache_get_u64(&c->threads[i].regs, RN_RSP);
	if (file >= 0) {
		const struct rec_file_map *f = &c->files[file];

		snprintf(r->path, sizeof(r->path), "%s", f->path);
		r->offset = f->offset + (r->start - f->start);
	} else if (vdso && r->start == vdso) {
		snprintf(r->path, sizeof(r->path), "[vdso]");
	} else if (sp >= r->start && sp < r->end) {
		snprintf(r->path, sizeof(r->path), "[stack]");
	}
}

int rec_regions_build(struct rec_target *rt)
{
	const struct rec_core *c = &rt->core;
	int last_file = -2;

	rt->regions = calloc(c->nloads ? c->nloads : 1, sizeof(*rt->regions));
	if (!rt->regions)
		return -ENOMEM;
	for (size_t i = 0; i < c->nloads; i++) {
		const struct rec_load *l = &c->loads[i];
		struct tgt_region *prev = rt->nregions ? &rt->regions[rt->nregions - 1] : NULL;
		int file = file_index(c, l->vaddr);

		if (prev && prev->end == l->vaddr && prev->prot == l->prot && file == last_file &&
		    (file < 0 || l->vaddr < c->files[file].end)) {
			prev->end = l->vaddr + l->memsz;
			continue;
		}
		rt->regions[rt->nregions++] = (struct tgt_region){
			.start = l->vaddr, .end = l->vaddr + l->memsz, .prot = l->prot};
		last_file = file;
	}
	for (size_t i = 0; i < rt->nregions; i++)
		region_name(rt, &rt->regions[i], file_index(c, rt->regions[i].start));
	return 0;
}

int rec_regions(struct target *t, struct tgt_region **out, size_t *n)
{
	struct rec_target *rt = rec_of(t);

	*out = malloc((rt->nregions ? rt->nregions : 1) * sizeof(**out));
	if (!*out)
		return -ENOMEM;
	memcpy(*out, rt->regions, rt->nregions * sizeof(**out));
	*n = rt->nregions;
	return 0;
}

int rec_dirty_pages(struct target *t, uint64_t start, uint64_t end, uint64_t **pages, size_t *n)
{
	const struct rec_core *c = &rec_of(t)->core;

	for (size_t i = 0; i < c->nloads; i++) {
		const struct rec_load *l = &c->loads[i];
		uint64_t from = l->vaddr > start ? l->vaddr : start;
		uint64_t to = min_u64(l->vaddr + l->filesz, end);

		from &= ~(REC_PAGE - 1);
		for (uint64_t p = from; p < to; p += REC_PAGE) {
			uint64_t *grown = realloc(*pages, (*n + 1) * sizeof(*grown));

			if (!grown)
				return -ENOMEM;
			*pages = grown;
			(*pages)[(*n)++] = p;
		}
	}
	return 0;
}
