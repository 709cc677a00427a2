/* tests/unit/test_core_unwind.c — server/core/unwind.c against core_threads stopped at its
 * breakpoint (test_core.c runs it): libdw's frames of every thread equal eu-stack's backtrace
 * of the full core, from the image files and from ELF images rebuilt out of memory; the image
 * note's executing flags follow those frames, also in a core written from a recorded target;
 * a stale return address is ignored, and the stack scan covers what libdw cannot unwind. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "protocol/buf.h"
#include "server/core/core.h"
#include "server/core/core_priv.h"
#include "server/recorded/recorded.h"
#include "test_core.h"

#define MAX_FRAMES 256
#define MAX_IMAGES 64
#define MAX_THREADS 16

/* One thread's backtrace: its frames' pcs, a caller's being its return address minus one. */
struct backtrace {
	pid_t tid;
	uint64_t pcs[MAX_FRAMES];
	size_t n;
};

struct backtraces {
	struct backtrace th[MAX_THREADS];
	size_t n;
};

/* Every thread's backtrace in the core as elfutils' eu-stack unwinds it on its own (NT_FILE,
 * NT_PRSTATUS and PT_LOADs: nothing of ours but the bytes). Returns 0 or -1. */
static int eu_stack_read(const char *prog, const char *core, struct backtraces *bt)
{
	struct backtrace *cur = NULL;
	char cmd[8500], line[1024];
	unsigned long long pc;
	unsigned frame;
	FILE *in;
	int tid;

	snprintf(cmd, sizeof(cmd), "eu-stack --core='%s' --executable='%s' 2>&1", core, prog);
	in = popen(cmd, "r");
	if (!in)
		return -1;
	bt->n = 0;
	while (fgets(line, sizeof(line), in)) {
		if (sscanf(line, "TID %d:", &tid) == 1 && bt->n < MAX_THREADS) {
			cur = &bt->th[bt->n++];
			cur->tid = tid;
			cur->n = 0;
		} else if (sscanf(line, "#%u 0x%llx", &frame, &pc) == 2 && cur &&
			   cur->n < MAX_FRAMES) {
			cur->pcs[cur->n++] = frame ? pc - 1 : pc;
		} else if (line[0] != 'P') {
			fprintf(stderr, "eu-stack: %s", line);
		}
	}
	return pclose(in) || !bt->n ? -1 : 0;
}

struct note_images {
	struct core_image img[MAX_IMAGES];
	size_t n;
};

static void note_image(const struct core_image *img, void *data)
{
	struct note_images *ni = data;

	if (ni->n < MAX_IMAGES)
		ni->img[ni->n++] = *img;
}

/* Parse our image note out of the core's PT_NOTE. Returns the image count or -1. */
static int read_image_note(const struct core_file *cf, struct note_images *ni)
{
	const uint8_t *p = cf->map + cf->ph[0].p_offset;
	size_t off = 0, len = cf->ph[0].p_filesz;

	while (off + sizeof(Elf64_Nhdr) <= len) {
		const Elf64_Nhdr *nh = (const Elf64_Nhdr *)(p + off);
		size_t name = off + sizeof(*nh), desc = name + ((nh->n_namesz + 3) & ~3U);

		if (desc + nh->n_descsz > len)
			return -1;
		if (nh->n_type == CORE_NOTE_IMAGES && nh->n_namesz == sizeof(CORE_NOTE_OWNER) &&
		    !memcmp(p + name, CORE_NOTE_OWNER, sizeof(CORE_NOTE_OWNER)))
			return core_image_note_parse(p + desc, nh->n_descsz, note_image, ni);
		off = desc + ((nh->n_descsz + 3) & ~3U);
	}
	return -1;
}

static void check_executing_flag(struct live *l, const char *core, const struct core_image *img,
				 const struct backtraces *bt)
{
	bool executing = img->flags & CORE_IMAGE_EXECUTING, framed = false;
	const char *name = strrchr(img->path, '/') ? strrchr(img->path, '/') + 1 : img->path;

	for (size_t t = 0; t < bt->n; t++) {
		for (size_t k = 0; k < bt->th[t].n && !framed; k++) {
			const struct tgt_region *r = region_of(l, bt->th[t].pcs[k]);

			framed = r && !strcmp(r->path, img->path);
		}
	}
	CHECK(executing == framed, "%s: %s: executing flag %d, but eu-stack finds %s frame in it",
	      core, img->path, executing, framed ? "a" : "no");
	if ((img->flags & CORE_IMAGE_MAIN) || !strncmp(name, "libc.so", 7))
		CHECK(executing, "%s: %s: no executing flag", core, img->path);
	if (img->flags & (CORE_IMAGE_VDSO | CORE_IMAGE_INTERP))
		CHECK(!executing, "%s: %s: executing flag, but no thread is in it", core,
		      img->path);
	printf("%s: image %s: %sexecuting\n", core, name, executing ? "" : "not ");
}

/* The stacks core opened as a recorded target and written again: its unwind reads the
 * recorded target's threads, registers, mappings and memory. Returns 0 or -errno. */
static int rewrite_from_recorded(const char *from, const char *to)
{
	struct buf diag = BUF_INIT;
	struct target *t;
	char err[512] = "";
	int ret = recorded_target_open(from, NULL, &t, &diag, err, sizeof(err));

	CHECK(!ret, "%s as a recorded target: %s", from, err);
	if (!ret) {
		ret = core_write(t, to, CORE_STYLE_MODIFIED, NULL, err, sizeof(err));
		CHECK(!ret, "core_write from the recorded target: %s", err);
		t->ops->destroy(t);
	}
	buf_fini(&diag);
	return ret;
}

/* Each image's executing flag is set exactly when eu-stack finds a frame in it: the executable
 * and libc (start_thread, __libc_start_call_main) always, the library only if a thread is in
 * it, never the loader or the vDSO, whose code no thread runs at the breakpoint. Checked in
 * the full core (written from the live target) and in one written from a recorded target. */
static void check_executing_flags(struct live *l, const char *dir, const struct backtraces *bt)
{
	static const char *const cores[] = {"core.full", "core.recorded"};
	static struct note_images ni;
	char path[4200], from[4200];
	struct core_file cf;

	snprintf(from, sizeof(from), "%s/core.stacks", dir);
	snprintf(path, sizeof(path), "%s/core.recorded", dir);
	if (rewrite_from_recorded(from, path))
		return;
	for (size_t c = 0; c < 2; c++) {
		snprintf(path, sizeof(path), "%s/%s", dir, cores[c]);
		if (core_open(path, &cf))
			continue;
		ni.n = 0;
		CHECK(read_image_note(&cf, &ni) > 0, "%s: no image note", path);
		munmap(cf.map, cf.size);
		for (size_t i = 0; i < ni.n; i++)
			check_executing_flag(l, cores[c], &ni.img[i], bt);
	}
}

/* The live target's memory with one word planted: a stale return address, used by no frame. */
struct planted {
	struct target t;
	struct target_ops ops;
	struct target *live;
	uint64_t addr, word;
};

static ssize_t planted_read_memory(struct target *t, uint64_t addr, void *buf, size_t len)
{
	struct planted *p = (struct planted *)t;
	ssize_t n = p->live->ops->read_memory(p->live, addr, buf, len);

	for (ssize_t i = 0; i < n; i++)
		if (addr + i >= p->addr && addr + i < p->addr + 8)
			((uint8_t *)buf)[i] = ((uint8_t *)&p->word)[addr + i - p->addr];
	return n;
}

static int planted_dirty_pages(struct target *t, uint64_t start, uint64_t end, uint64_t **pages,
			       size_t *n)
{
	struct planted *p = (struct planted *)t;

	return p->live->ops->dirty_pages(p->live, start, end, pages, n);
}

/* Where the word after a call-shaped byte (0xe8) in libptsample.so's code would return to:
 * what a return-address scan takes for a frame in the library. 0 if none. */
static uint64_t fake_return_into_lib(struct live *l)
{
	static uint8_t code[PAGE];

	for (size_t i = 0; i < l->nregions; i++) {
		const struct tgt_region *r = &l->regions[i];

		if (!strstr(r->path, "libptsample") || !(r->prot & PROT_EXEC) ||
		    l->t->ops->read_memory(l->t, r->start, code, PAGE) != PAGE)
			continue;
		for (size_t k = 0; k + 5 < PAGE; k++)
			if (code[k] == 0xe8)
				return r->start + k + 5;
	}
	return 0;
}

/* A core_ctx for core_mark_executing over p (the live target with a planted word), as the
 * writer's snapshot would be, with these regions. Returns 0 or -1. */
static int unwind_snapshot(struct live *l, struct planted *p, struct core_ctx *c,
			   struct tgt_region *regions)
{
	pid_t tids[16];
	int n = l->t->ops->threads(l->t, tids, 16);

	*p = (struct planted){.live = l->t};
	p->ops = (struct target_ops){.read_memory = planted_read_memory,
				     .dirty_pages = planted_dirty_pages};
	p->t.ops = &p->ops;
	*c = (struct core_ctx){.t = &p->t, .regions = regions, .nregions = l->nregions};
	c->threads = calloc(n > 0 ? n : 1, sizeof(*c->threads));
	for (int i = 0; c->threads && i < n && i < 16; i++, c->nthreads++) {
		c->threads[i].tid = tids[i];
		l->t->ops->read_regs(l->t, tids[i], &c->threads[i].regs);
	}
	if (!c->nthreads || l->t->ops->process_info(l->t, &c->pinfo) ||
	    l->t->ops->read_auxv(l->t, &c->auxv) || core_find_images(c)) {
		CHECK(0, "cannot snapshot the process for the unwinder");
		return -1;
	}
	CHECK(regcache_get_u64(&c->threads[0].regs, RN_RIP) == l->bp, "main thread not at %#llx",
	      (unsigned long long)l->bp);
	return 0;
}

static void unwind_snapshot_fini(struct core_ctx *c)
{
	free(c->threads);
	free(c->images);
	buf_fini(&c->auxv);
}

static bool image_is_executing(const struct core_ctx *c, const char *name)
{
	for (size_t i = 0; i < c->nimages; i++)
		if (strstr(c->images[i].path, name))
			return c->images[i].flags & CORE_IMAGE_EXECUTING;
	CHECK(0, "no image %s", name);
	return false;
}

/* core_mark_executing unwinds: a stale return address into libptsample.so, planted in main's
 * frame (a local's slot below its rbp, in a modified stack page the old scan read), does not
 * make the library executing, while the executable and libc still are. */
static void check_stale_return_address(struct live *l)
{
	struct planted p;
	struct core_ctx c;

	if (!unwind_snapshot(l, &p, &c, l->regions)) {
		p.addr = regcache_get_u64(&c.threads[0].regs, RN_RBP) - 16;
		p.word = fake_return_into_lib(l);
		CHECK(p.word, "no call-shaped byte in libptsample.so");
		core_mark_executing(&c);
		CHECK(!image_is_executing(&c, "/libptsample.so"),
		      "a stale return address made libptsample.so executing");
		CHECK(image_is_executing(&c, "/core_threads"), "core_threads: not executing");
		CHECK(image_is_executing(&c, "/libc.so"), "libc: not executing");
	}
	unwind_snapshot_fini(&c);
}

/* The mappings with every file renamed to one that does not exist (a recorded target read
 * elsewhere): libdw gets no image file and works from ELF images rebuilt out of memory. */
static struct tgt_region *regions_without_files(struct live *l)
{
	struct tgt_region *gone = calloc(l->nregions, sizeof(*gone));

	for (size_t i = 0; gone && i < l->nregions; i++) {
		gone[i] = l->regions[i];
		if (gone[i].path[0] == '/' && strlen(gone[i].path) < 400)
			snprintf(gone[i].path, sizeof(gone[i].path), "/nonexistent%.400s",
				 l->regions[i].path);
	}
	return gone;
}

/* libdw's frames of every thread (live target) are eu-stack's (full core): the same pcs in the
 * same order, down to the outermost frame; with the files or without them. */
static void check_frames(struct live *l, const struct backtraces *bt, bool without_files)
{
	struct tgt_region *regions = without_files ? regions_without_files(l) : l->regions;
	const char *how = without_files ? "from memory" : "from files";
	static uint64_t pcs[MAX_FRAMES];
	struct core_ctx c = {0};
	struct planted p;

	if (!regions || unwind_snapshot(l, &p, &c, regions))
		goto out;
	CHECK(bt->n == c.nthreads, "eu-stack shows %zu threads, the target has %zu", bt->n,
	      c.nthreads);
	for (size_t t = 0; t < bt->n; t++) {
		const struct backtrace *want = &bt->th[t];
		bool complete = false;
		int n = core_unwind_thread(&c, want->tid, pcs, MAX_FRAMES, &complete);
		bool same = n == (int)want->n && !memcmp(pcs, want->pcs, want->n * sizeof(pcs[0]));

		CHECK(same && complete, "thread %d, %s: %d frames (%s), eu-stack %zu", want->tid,
		      how, n, complete ? "complete" : "stopped short", want->n);
		for (int k = 0; !same && k < n && k < MAX_FRAMES; k++)
			fprintf(stderr, "  #%d %#llx %#llx\n", k, (unsigned long long)pcs[k],
				(unsigned long long)(k < (int)want->n ? want->pcs[k] : 0));
	}
	printf("frames of %zu threads compared with eu-stack's (%s)\n", bt->n, how);
out:
	unwind_snapshot_fini(&c);
	if (without_files)
		free(regions);
}

/* Images whose files are gone and no frame pointer to follow (main thread, rbp cleared):
 * libdw unwinds core_stop_here and main from the images rebuilt out of memory, then cannot
 * read main's caller (its CFA is rbp + 16); the return-address scan above main's frame still
 * finds libc (__libc_start_call_main), and nothing in the library. */
static void check_unwind_without_files(struct live *l)
{
	struct tgt_region *gone = regions_without_files(l);
	struct core_ctx c = {0};
	struct planted p;

	if (gone && !unwind_snapshot(l, &p, &c, gone)) {
		c.nthreads = 1;
		regcache_set_u64(&c.threads[0].regs, RN_RBP, 0);
		core_mark_executing(&c);
		CHECK(image_is_executing(&c, "/core_threads"),
		      "no files: core_threads not executing");
		CHECK(image_is_executing(&c, "/libc.so"), "no files: libc not executing");
		CHECK(!image_is_executing(&c, "/libptsample.so"),
		      "no files: libptsample executing");
	}
	unwind_snapshot_fini(&c);
	free(gone);
}

void check_unwind(struct live *l, const char *dir, const char *prog)
{
	static struct backtraces bt;
	char path[4200];

	snprintf(path, sizeof(path), "%s/core.full", dir);
	if (eu_stack_read(prog, path, &bt)) {
		CHECK(0, "eu-stack could not unwind %s (is elfutils installed?)", path);
		return;
	}
	check_frames(l, &bt, false);
	check_frames(l, &bt, true);
	check_executing_flags(l, dir, &bt);
	check_stale_return_address(l);
	check_unwind_without_files(l);
}
