/* server/core/dirty_pages.c — modified pages of a live process, per mapping: the PAGEMAP_SCAN
 * ioctl returns runs of pages by category, /proc/PID/pagemap is the portable fallback. Both feed
 * one run filter, so they agree page for page. Nothing here touches a page that is not present. */
#include "server/core/dirty_pages.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#define DIRTY_PAGE_SIZE 4096ULL
#define DIRTY_USER_TOP 0x7ffffffff000ULL /* PAGEMAP_SCAN refuses ends at or past TASK_SIZE */

/* The PAGEMAP_SCAN ABI (include/uapi/linux/fs.h, Linux 6.7), spelled out here because the
 * installed headers predate it. */
struct dirty_scan_region {
	uint64_t start, end, categories;
};

struct dirty_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};

#define DIRTY_PAGEMAP_SCAN_IOCTL _IOWR('f', 16, struct dirty_scan_arg)
#define PAGE_IS_FILE (1ULL << 2)
#define PAGE_IS_PRESENT (1ULL << 3)
#define PAGE_IS_SWAPPED (1ULL << 4)
#define PAGE_IS_PFNZERO (1ULL << 5)

/* /proc/PID/pagemap entry bits. */
#define PM_FILE (1ULL << 61)
#define PM_SWAPPED (1ULL << 62)
#define PM_PRESENT (1ULL << 63)

/* How one mapping's pages are judged (spec §3.4). */
enum dirty_kind {
	DIRTY_KIND_SKIP,	 /* shared file mapping, beyond user space: never modified */
	DIRTY_KIND_PRIVATE_FILE, /* copy-on-write pages (anonymous, not file) are modified */
	DIRTY_KIND_PRIVATE_ANON, /* anonymous pages holding something other than zeros */
	DIRTY_KIND_SHARED_ANON,	 /* shmem, memfd, SysV, deleted files: every resident page */
};

struct dirty_ctx {
	pid_t pid;
	int pagemap_fd;
	enum dirty_kind kind;
	uint64_t **pages;
	size_t *n;
	size_t cap;
	uint8_t *copy; /* scratch for the zero-content check */
};

#define DIRTY_COPY_BYTES (64 * DIRTY_PAGE_SIZE)

static int dirty_append(struct dirty_ctx *c, uint64_t page)
{
	if (*c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		uint64_t *p = realloc(*c->pages, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		*c->pages = p;
		c->cap = cap;
	}
	(*c->pages)[(*c->n)++] = page;
	return 0;
}

static bool dirty_page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;

	for (size_t i = 0; i < DIRTY_PAGE_SIZE / 8; i++)
		if (w[i])
			return false;
	return true;
}

/* Append the present pages of [start, end) whose content is not all zeros. A read fault on
 * this kernel populates a private anonymous page with a fresh zeroed page rather than the
 * shared zero page, so zero content is how "read but never written" is told apart. */
static int dirty_append_nonzero(struct dirty_ctx *c, uint64_t start, uint64_t end)
{
	while (start < end) {
		size_t len = end - start < DIRTY_COPY_BYTES ? end - start : DIRTY_COPY_BYTES;
		struct iovec local = {c->copy, len};
		struct iovec remote = {(void *)(uintptr_t)start, len};
		ssize_t got = process_vm_readv(c->pid, &local, 1, &remote, 1, 0);

		if (got < 0 && errno == ESRCH)
			return -ESRCH;
		for (size_t off = 0; off < len; off += DIRTY_PAGE_SIZE) {
			/* A page that cannot be read is kept: modified is the safe answer. */
			bool readable = got > 0 && off + DIRTY_PAGE_SIZE <= (size_t)got;
			int ret;

			if (readable && dirty_page_is_zero(c->copy + off))
				continue;
			ret = dirty_append(c, start + off);
			if (ret)
				return ret;
		}
		start += len;
	}
	return 0;
}

/* One run of pages sharing categories (PAGE_IS_* bits), as either method found it. */
static int dirty_take_run(struct dirty_ctx *c, uint64_t start, uint64_t end, uint64_t cats)
{
	if (cats & PAGE_IS_PFNZERO)
		return 0;
	if (!(cats & (PAGE_IS_PRESENT | PAGE_IS_SWAPPED)))
		return 0;
	if ((cats & PAGE_IS_FILE) && c->kind != DIRTY_KIND_SHARED_ANON)
		return 0;
	if (c->kind == DIRTY_KIND_PRIVATE_ANON && (cats & PAGE_IS_PRESENT))
		return dirty_append_nonzero(c, start, end);
	for (uint64_t p = start; p < end; p += DIRTY_PAGE_SIZE) {
		int ret = dirty_append(c, p);

		if (ret)
			return ret;
	}
	return 0;
}

/* PAGEMAP_SCAN over [start, end): one ioctl returns merged runs; loop while the vector fills. */
static int dirty_scan_ioctl(struct dirty_ctx *c, uint64_t start, uint64_t end)
{
	struct dirty_scan_region vec[256] = {{0}}; /* zeroed for valgrind, which does not know
						      * that PAGEMAP_SCAN fills it */
	struct dirty_scan_arg arg = {
		.size = sizeof(arg),
		.vec = (uintptr_t)vec,
		.vec_len = sizeof(vec) / sizeof(vec[0]),
		.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
		.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_PFNZERO | PAGE_IS_FILE,
	};

	if (c->kind != DIRTY_KIND_SHARED_ANON) {
		arg.category_inverted = PAGE_IS_FILE;
		arg.category_mask = PAGE_IS_FILE;
	}
	while (start < end) {
		long got;

		arg.start = start;
		arg.end = end;
		arg.walk_end = 0;
		got = ioctl(c->pagemap_fd, DIRTY_PAGEMAP_SCAN_IOCTL, &arg);
		if (got < 0)
			return -errno;
		for (long i = 0; i < got; i++) {
			int ret = dirty_take_run(c, vec[i].start, vec[i].end, vec[i].categories);

			if (ret)
				return ret;
		}
		if (arg.walk_end <= start)
			return -EIO;
		start = arg.walk_end;
	}
	return 0;
}

static uint64_t dirty_entry_categories(uint64_t e)
{
	uint64_t cats = 0;

	if (e & PM_PRESENT)
		cats |= PAGE_IS_PRESENT;
	if (e & PM_SWAPPED)
		cats |= PAGE_IS_SWAPPED;
	if (e & PM_FILE)
		cats |= PAGE_IS_FILE;
	return cats;
}

/* /proc/PID/pagemap over [start, end): one word per page, grouped into runs of equal
 * categories. The shared zero page is not flagged here; its zero content filters it out in
 * anonymous mappings (and it never appears in file mappings, whose reads map file pages). */
static int dirty_scan_pagemap(struct dirty_ctx *c, uint64_t start, uint64_t end)
{
	enum { WORDS = 4096 };
	static __thread uint64_t words[WORDS];
	uint64_t run_start = start, run_cats = 0;

	for (uint64_t addr = start; addr < end;) {
		uint64_t count = (end - addr) / DIRTY_PAGE_SIZE;
		ssize_t got;

		if (count > WORDS)
			count = WORDS;
		got = pread(c->pagemap_fd, words, count * 8, (off_t)(addr / DIRTY_PAGE_SIZE * 8));
		if (got < 0)
			return -errno;
		if (got < 8)
			return -EIO;
		for (ssize_t i = 0; i < got / 8; i++, addr += DIRTY_PAGE_SIZE) {
			uint64_t cats = dirty_entry_categories(words[i]);
			int ret;

			if (cats == run_cats)
				continue;
			ret = dirty_take_run(c, run_start, addr, run_cats);
			if (ret)
				return ret;
			run_start = addr;
			run_cats = cats;
		}
	}
	return dirty_take_run(c, run_start, end, run_cats);
}

static enum dirty_kind dirty_classify(const char *perms, uint64_t start, const char *path)
{
	bool shared = perms[3] == 's';
	size_t len = strlen(path);

	if (start >= DIRTY_USER_TOP)
		return DIRTY_KIND_SKIP;
	if (shared) {
		if (!path[0] || !strncmp(path, "/SYSV", 5) || !strncmp(path, "/memfd:", 7) ||
		    (len > 10 && !strcmp(path + len - 10, " (deleted)")))
			return DIRTY_KIND_SHARED_ANON;
		return DIRTY_KIND_SKIP;
	}
	if (!path[0] || (path[0] == '[' && strcmp(path, "[vdso]") && strcmp(path, "[vvar]")))
		return DIRTY_KIND_PRIVATE_ANON;
	return DIRTY_KIND_PRIVATE_FILE;
}

static enum dirty_method dirty_resolve_method(enum dirty_method method)
{
	const char *env = getenv("PTSTUB_DIRTY_METHOD");

	if (method != DIRTY_AUTO || !env)
		return method;
	if (!strcmp(env, "pagemap"))
		return DIRTY_PAGEMAP;
	if (!strcmp(env, "scan"))
		return DIRTY_PAGEMAP_SCAN;
	return DIRTY_AUTO;
}

/* Scan one mapping's part of the range with the chosen method; AUTO falls back to pagemap
 * (for good, through *method) when the kernel lacks PAGEMAP_SCAN. */
static int dirty_scan_mapping(struct dirty_ctx *c, enum dirty_method *method, uint64_t start,
			      uint64_t end)
{
	int ret;

	if (*method == DIRTY_PAGEMAP)
		return dirty_scan_pagemap(c, start, end);
	ret = dirty_scan_ioctl(c, start, end);
	if ((ret == -ENOTTY || ret == -EINVAL) && *method == DIRTY_AUTO) {
		*method = DIRTY_PAGEMAP;
		return dirty_scan_pagemap(c, start, end);
	}
	return ret;
}

static int dirty_walk_maps(struct dirty_ctx *c, FILE *maps, enum dirty_method method,
			   uint64_t start, uint64_t end)
{
	char line[4096 + 128];

	while (fgets(line, sizeof(line), maps)) {
		unsigned long long lo, hi;
		char perms[8], path[4096] = "";
		int ret;

		if (sscanf(line, "%llx-%llx %7s %*s %*s %*s %4095[^\n]", &lo, &hi, perms, path) < 3)
			continue;
		if (hi <= start)
			continue;
		if (lo >= end)
			break;
		c->kind = dirty_classify(perms, lo, path);
		if (c->kind == DIRTY_KIND_SKIP)
			continue;
		lo = lo < start ? start : lo;
		hi = hi > end ? end : hi;
		ret = dirty_scan_mapping(c, &method, lo, hi);
		if (ret)
			return ret;
	}
	return 0;
}

int dirty_pages_scan(pid_t pid, uint64_t start, uint64_t end, enum dirty_method method,
		     uint64_t **pages, size_t *n)
{
	struct dirty_ctx c = {.pid = pid, .pages = pages, .n = n, .cap = *n};
	char path[64];
	FILE *maps = NULL;
	int ret;

	start &= ~(DIRTY_PAGE_SIZE - 1);
	end = (end + DIRTY_PAGE_SIZE - 1) & ~(DIRTY_PAGE_SIZE - 1);
	if (end > DIRTY_USER_TOP || end < start)
		end = DIRTY_USER_TOP;
	if (start >= end)
		return 0;
	c.copy = malloc(DIRTY_COPY_BYTES);
	if (!c.copy)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	c.pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (c.pagemap_fd < 0) {
		ret = -errno;
		goto out_copy;
	}
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	maps = fopen(path, "re");
	if (!maps) {
		ret = -errno;
		goto out_fd;
	}
	ret = dirty_walk_maps(&c, maps, dirty_resolve_method(method), start, end);
	fclose(maps);
out_fd:
	close(c.pagemap_fd);
out_copy:
	free(c.copy);
	return ret;
}
