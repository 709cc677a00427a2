/* tests/unit/test_core.c — the core writer against a real process: core_threads stopped at a
 * breakpoint through the live Linux target; every style is saved, read back and checked page by
 * page against the live process, and the image note's executing flags against eu-stack's
 * backtrace of the full core. With an output directory, the cores stay there for the debugger
 * checks of test_core_debuggers.py. */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/core/core.h"
#include "server/core/core_priv.h"
#include "server/loop.h"
#include "server/recorded/recorded.h"
#include "server/target.h"

#define PAGE 4096ULL

struct live {
	struct loop *loop;
	struct target *t;
	struct tgt_region *regions;
	size_t nregions;
	uint64_t sps[16];
	size_t nsps;
	uint64_t bp;
	bool stopped;
};

static int fails;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                       \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			fails++;                                                                   \
		}                                                                                  \
	} while (0)

static void on_event(void *ctx, const struct tgt_event *ev)
{
	struct live *l = ctx;

	l->stopped = ev->kind == TGT_EV_STOPPED;
	loop_stop(l->loop, 0);
}

static void on_timeout(struct loop *loop, void *data)
{
	(void)data;
	fprintf(stderr, "FAIL: the program did not reach its breakpoint\n");
	loop_stop(loop, 1);
}

/* Start the program; it prints "ready ADDR" once its threads spin. */
static pid_t start_program(const char *prog, const char *sparse, uint64_t *bp)
{
	int fds[2];
	char line[128] = "";
	FILE *in;
	pid_t pid;

	if (pipe(fds))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		execl(prog, prog, sparse, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	in = fdopen(fds[0], "r");
	if (!in || !fgets(line, sizeof(line), in) ||
	    sscanf(line, "ready %llx", (unsigned long long *)bp) != 1)
		return -1;
	fclose(in);
	return pid;
}

static struct tgt_region *region_of(struct live *l, uint64_t addr)
{
	for (size_t i = 0; i < l->nregions; i++)
		if (addr >= l->regions[i].start && addr < l->regions[i].end)
			return &l->regions[i];
	return NULL;
}

static bool is_stack(struct live *l, const struct tgt_region *r)
{
	if (!strcmp(r->path, "[stack]"))
		return true;
	for (size_t i = 0; i < l->nsps; i++)
		if (l->sps[i] >= r->start && l->sps[i] < r->end)
			return true;
	return false;
}

static bool in_list(const uint64_t *pages, size_t n, uint64_t page)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (pages[mid] == page)
			return true;
		if (pages[mid] < page)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static bool page_is_zero(const uint8_t *p)
{
	for (size_t i = 0; i < PAGE; i++)
		if (p[i])
			return false;
	return true;
}

/* May this page carry data in a core of this style although it is not modified? */
static bool page_added_on_purpose(struct live *l, const struct tgt_region *r, uint64_t page,
				  enum core_style style, const uint8_t *bytes)
{
	bool anon = r->path[0] != '/';

	if (!strcmp(r->path, "[vdso]") || (!anon && !r->offset && page == r->start))
		return true;
	if (style == CORE_STYLE_FULL)
		return !anon || page_is_zero(bytes);
	if (style == CORE_STYLE_STACKS)
		return false;
	if (!anon)
		return (r->prot & PROT_WRITE) && !r->shared;
	/* the .bss tail right after an image's writable mapping, as holes */
	const struct tgt_region *prev = region_of(l, r->start - 1);
	return prev && prev->path[0] == '/' && (prev->prot & PROT_WRITE) && page_is_zero(bytes);
}

static void check_page(struct live *l, const struct tgt_region *r, uint64_t page,
		       const uint8_t *bytes, bool dirty, enum core_style style, const char *name)
{
	uint8_t live[PAGE];
	bool anon = r->path[0] != '/' && strcmp(r->path, "[vdso]");

	CHECK(dirty || page_added_on_purpose(l, r, page, style, bytes),
	      "%s: clean page %#llx of %s carries data", name, (unsigned long long)page, r->path);
	if (anon && !dirty) {
		/* never read an untouched page live: it would fault in */
		CHECK(page_is_zero(bytes), "%s: untouched page %#llx is not zero", name,
		      (unsigned long long)page);
		return;
	}
	if (l->t->ops->read_memory(l->t, page, live, PAGE) != PAGE)
		return;
	CHECK(!memcmp(live, bytes, PAGE), "%s: page %#llx (%s) differs from live memory", name,
	      (unsigned long long)page, r->path);
}

struct core_file {
	uint8_t *map;
	size_t size;
	Elf64_Phdr *ph;
	size_t phnum;
};

static int core_open(const char *path, struct core_file *cf)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	Elf64_Ehdr *eh;

	if (fd < 0 || fstat(fd, &st))
		return -1;
	cf->size = st.st_size;
	cf->map = mmap(NULL, cf->size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (cf->map == MAP_FAILED)
		return -1;
	eh = (Elf64_Ehdr *)cf->map;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_type != ET_CORE)
		return -1;
	cf->phnum = eh->e_phnum;
	if (cf->phnum == PN_XNUM)
		cf->phnum = ((Elf64_Shdr *)(cf->map + eh->e_shoff))->sh_info;
	cf->ph = (Elf64_Phdr *)(cf->map + eh->e_phoff);
	return 0;
}

/* Does the core hold bytes for addr? (PT_LOADs are sorted: binary search.) */
static bool core_has_data(const struct core_file *cf, uint64_t addr)
{
	size_t lo = 1, hi = cf->phnum;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const Elf64_Phdr *ph = &cf->ph[mid];

		if (addr < ph->p_vaddr)
			hi = mid;
		else if (addr >= ph->p_vaddr + ph->p_memsz)
			lo = mid + 1;
		else
			return addr < ph->p_vaddr + ph->p_filesz;
	}
	return false;
}

/* Modified pages of every mapping, ascending, in one array. */
static uint64_t *live_dirty_pages(struct live *l, size_t *n)
{
	uint64_t *pages = NULL;

	*n = 0;
	for (size_t i = 0; i < l->nregions; i++)
		l->t->ops->dirty_pages(l->t, l->regions[i].start, l->regions[i].end, &pages, n);
	return pages;
}

static void check_core(struct live *l, const char *path, enum core_style style)
{
	struct core_file cf;
	uint64_t covered = 0, data_pages = 0, mapped = 0;
	size_t ndirty;
	uint64_t *dirty = live_dirty_pages(l, &ndirty);

	if (core_open(path, &cf)) {
		CHECK(0, "%s: not a readable ELF core", path);
		free(dirty);
		return;
	}
	CHECK(cf.ph[0].p_type == PT_NOTE, "%s: first phdr is not PT_NOTE", path);
	for (size_t i = 1; i < cf.phnum; i++) {
		const Elf64_Phdr *ph = &cf.ph[i];
		struct tgt_region *r = region_of(l, ph->p_vaddr);

		CHECK(ph->p_type == PT_LOAD, "%s: phdr %zu is not PT_LOAD", path, i);
		CHECK(i == 1 || ph->p_vaddr >= cf.ph[i - 1].p_vaddr + cf.ph[i - 1].p_memsz,
		      "%s: PT_LOADs overlap or are unsorted at %zu", path, i);
		CHECK(ph->p_offset % PAGE == 0 && ph->p_offset + ph->p_filesz <= cf.size,
		      "%s: bad file range for phdr %zu", path, i);
		covered += ph->p_memsz;
		if (!r || !ph->p_filesz)
			continue;
		CHECK(ph->p_vaddr + ph->p_memsz <= r->end, "%s: PT_LOAD crosses a mapping", path);
		for (uint64_t off = 0; off < ph->p_filesz; off += PAGE, data_pages++)
			check_page(l, r, ph->p_vaddr + off, cf.map + ph->p_offset + off,
				   in_list(dirty, ndirty, ph->p_vaddr + off), style, path);
	}
	for (size_t i = 0; i < l->nregions; i++)
		mapped += l->regions[i].end - l->regions[i].start;
	CHECK(covered == mapped, "%s: PT_LOADs cover %#llx bytes, the mappings %#llx", path,
	      (unsigned long long)covered, (unsigned long long)mapped);
	/* every modified page the style keeps is in the core with its bytes */
	for (size_t k = 0; k < ndirty; k++) {
		const struct tgt_region *r = region_of(l, dirty[k]);

		if (style == CORE_STYLE_STACKS && !is_stack(l, r))
			continue;
		CHECK(core_has_data(&cf, dirty[k]), "%s: modified page %#llx of %s is missing",
		      path, (unsigned long long)dirty[k], r->path);
	}
	free(dirty);
	/* the breakpoint's int3 is not in the core: the original byte is */
	for (size_t p = 1; p < cf.phnum; p++) {
		const Elf64_Phdr *ph = &cf.ph[p];
		uint8_t orig;

		if (l->bp < ph->p_vaddr || l->bp >= ph->p_vaddr + ph->p_filesz)
			continue;
		l->t->ops->read_memory(l->t, l->bp, &orig, 1);
		CHECK(cf.map[ph->p_offset + l->bp - ph->p_vaddr] == orig && orig != 0xcc,
		      "%s: breakpoint byte not restored", path);
	}
	printf("%s: %zu phdrs, %llu data pages, %zu bytes\n", path, cf.phnum,
	       (unsigned long long)data_pages, cf.size);
	munmap(cf.map, cf.size);
}

#define MAX_FRAMES 256
#define MAX_IMAGES 64

/* The pc of every frame of every thread in the core, as elfutils' eu-stack unwinds it on its
 * own (NT_FILE, NT_PRSTATUS and PT_LOADs; nothing of ours but the bytes): callers' return
 * addresses minus one, so each lies in the caller's code. Returns the count, or -1. */
static int eu_stack_pcs(const char *prog, const char *core, uint64_t *pcs, size_t max)
{
	char cmd[8500], line[1024];
	unsigned long long pc;
	unsigned frame;
	FILE *in;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "eu-stack --core='%s' --executable='%s' 2>&1", core, prog);
	in = popen(cmd, "r");
	if (!in)
		return -1;
	while (fgets(line, sizeof(line), in)) {
		if (sscanf(line, "#%u 0x%llx", &frame, &pc) == 2 && (size_t)n < max)
			pcs[n++] = frame ? pc - 1 : pc;
		else if (line[0] != 'P' && line[0] != 'T')
			fprintf(stderr, "eu-stack: %s", line);
	}
	return pclose(in) ? -1 : n;
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
				 const uint64_t *pcs, int npcs)
{
	bool executing = img->flags & CORE_IMAGE_EXECUTING, framed = false;
	const char *name = strrchr(img->path, '/') ? strrchr(img->path, '/') + 1 : img->path;

	for (int k = 0; k < npcs && !framed; k++) {
		const struct tgt_region *r = region_of(l, pcs[k]);

		framed = r && !strcmp(r->path, img->path);
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
static void check_executing_flags(struct live *l, const char *dir, const char *prog)
{
	static const char *const cores[] = {"core.full", "core.recorded"};
	static uint64_t pcs[MAX_FRAMES];
	static struct note_images ni;
	char path[4200], from[4200];
	struct core_file cf;
	int npcs;

	snprintf(path, sizeof(path), "%s/core.full", dir);
	npcs = eu_stack_pcs(prog, path, pcs, MAX_FRAMES);
	CHECK(npcs > 0, "eu-stack could not unwind %s (is elfutils installed?)", path);
	snprintf(from, sizeof(from), "%s/core.stacks", dir);
	snprintf(path, sizeof(path), "%s/core.recorded", dir);
	if (npcs <= 0 || rewrite_from_recorded(from, path))
		return;
	for (size_t c = 0; c < 2; c++) {
		snprintf(path, sizeof(path), "%s/%s", dir, cores[c]);
		if (core_open(path, &cf))
			continue;
		ni.n = 0;
		CHECK(read_image_note(&cf, &ni) > 0, "%s: no image note", path);
		munmap(cf.map, cf.size);
		for (size_t i = 0; i < ni.n; i++)
			check_executing_flag(l, cores[c], &ni.img[i], pcs, npcs);
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

/* Images whose files are gone (a recorded target read elsewhere) and no frame pointer to
 * follow (main thread, rbp cleared): libdw, with no ELF but the vDSO's, stops after the first
 * frame; the return-address scan above it still finds libc (__libc_start_call_main), and
 * nothing in the library. */
static void check_unwind_without_files(struct live *l)
{
	struct tgt_region *gone = calloc(l->nregions, sizeof(*gone));
	struct planted p;
	struct core_ctx c;

	if (!gone)
		return;
	for (size_t i = 0; i < l->nregions; i++) {
		gone[i] = l->regions[i];
		if (gone[i].path[0] == '/' && strlen(gone[i].path) < 400)
			snprintf(gone[i].path, sizeof(gone[i].path), "/nonexistent%.400s",
				 l->regions[i].path);
	}
	if (!unwind_snapshot(l, &p, &c, gone)) {
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

static int stop_at_breakpoint(struct live *l)
{
	struct tgt_resume all = {.tid = -1, .kind = TGT_RESUME_CONTINUE};
	pid_t tids[16];
	int n, ret = l->t->ops->insert_point(l->t, TGT_POINT_SW, l->bp, 1);

	if (!ret)
		ret = l->t->ops->resume(l->t, &all, 1);
	if (ret)
		return ret;
	loop_add_timer(l->loop, 10000, on_timeout, NULL);
	if (loop_run(l->loop) || !l->stopped)
		return -ETIMEDOUT;
	n = l->t->ops->threads(l->t, tids, 16);
	for (int i = 0; i < n && i < 16; i++) {
		struct regcache rc;

		if (!l->t->ops->read_regs(l->t, tids[i], &rc))
			l->sps[l->nsps++] = regcache_get_u64(&rc, RN_RSP);
	}
	CHECK(n == 3, "expected 3 threads, found %d", n);
	return l->t->ops->regions(l->t, &l->regions, &l->nregions);
}

/* Saves that fail (missing directory; the target path is a directory, so the final rename
 * fails) report why and leave no temporary file behind. */
static void check_failed_saves(struct live *l, const char *dir)
{
	char path[4200], err[512] = "";
	struct dirent *de;
	DIR *d;
	int ret;

	snprintf(path, sizeof(path), "%s/no-such-dir/core", dir);
	ret = core_write(l->t, path, CORE_STYLE_MODIFIED, NULL, err, sizeof(err));
	CHECK(ret < 0 && err[0], "a save into a missing directory did not fail with a reason");
	snprintf(path, sizeof(path), "%s/a-directory", dir);
	mkdir(path, 0755);
	err[0] = 0;
	ret = core_write(l->t, path, CORE_STYLE_STACKS, NULL, err, sizeof(err));
	CHECK(ret < 0 && err[0], "a save over a directory did not fail with a reason");
	rmdir(path);
	/* A write that fails half-way (file size limit, like a full disk) */
	struct rlimit old, small = {64 * 1024, 64 * 1024};
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	setrlimit(RLIMIT_FSIZE, &small);
	snprintf(path, sizeof(path), "%s/too-big", dir);
	err[0] = 0;
	ret = core_write(l->t, path, CORE_STYLE_FULL, NULL, err, sizeof(err));
	setrlimit(RLIMIT_FSIZE, &old);
	CHECK(ret < 0 && err[0] && access(path, F_OK), "a save that ran out of room: %d %s", ret,
	      err);
	d = opendir(dir);
	while (d && (de = readdir(d)))
		CHECK(!strstr(de->d_name, ".tmp-"), "failed save left %s behind", de->d_name);
	if (d)
		closedir(d);
}

/* Every style, or (sparse) one modified-memory core that needs PN_XNUM. */
static void save_cores(struct live *l, const char *dir, bool sparse)
{
	char path[4200], err[512] = "";

	for (int s = 0; s < 3; s++) {
		enum core_style style = s;
		int ret;

		if (sparse && style != CORE_STYLE_MODIFIED)
			continue;
		snprintf(path, sizeof(path), "%s/core.%s", dir,
			 sparse ? "sparse" : core_style_name(style));
		ret = core_write(l->t, path, style, NULL, err, sizeof(err));
		CHECK(!ret, "core_write %s: %s", core_style_name(style), err);
		if (!ret)
			check_core(l, path, style);
	}
	if (sparse) {
		struct core_file cf;

		CHECK(!core_open(path, &cf) && cf.phnum > PN_XNUM &&
			      ((Elf64_Ehdr *)cf.map)->e_phnum == PN_XNUM,
		      "%s: expected PN_XNUM with more than 65535 program headers", path);
	}
}

static void stop_program(struct live *l, pid_t pid)
{
	/* We trace every thread: reap them all (__WALL) or the leader never finishes dying. */
	kill(pid, SIGKILL);
	for (;;) {
		int status;
		pid_t got = waitpid(-1, &status, __WALL);

		if ((got < 0 && errno != EINTR) ||
		    (got == pid && (WIFEXITED(status) || WIFSIGNALED(status))))
			break;
	}
	l->t->ops->destroy(l->t);
}

int main(int argc, char **argv)
{
	struct tgt_callbacks cb = {.on_event = on_event};
	struct live l = {0};
	char dir[4096], err[512] = "";
	bool keep = argc > 2;
	pid_t pid;
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		fprintf(stderr, "usage: test_core CORE_THREADS_PROGRAM [OUTDIR [SPARSE_RUNS]]\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", keep ? argv[2] : "/tmp/test_core.XXXXXX");
	if (keep ? mkdir(dir, 0755) && errno != EEXIST : !mkdtemp(dir))
		return 2;
	pid = start_program(argv[1], argc > 3 ? argv[3] : NULL, &l.bp);
	if (pid < 0)
		return 2;
	cb.ctx = &l;
	l.loop = loop_new();
	ret = linux_target_attach(l.loop, pid, &cb, &l.t, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "attach: %s\n", err);
		kill(pid, SIGKILL);
		return 1;
	}
	ret = stop_at_breakpoint(&l);
	CHECK(!ret, "could not stop at the breakpoint: %s", strerror(-ret));
	if (!ret)
		save_cores(&l, dir, argc > 3);
	if (!ret && argc <= 3) {
		check_executing_flags(&l, dir, argv[1]);
		check_stale_return_address(&l);
		check_unwind_without_files(&l);
		check_failed_saves(&l, dir);
	}
	stop_program(&l, pid);
	free(l.regions);
	loop_free(l.loop);
	if (!keep) {
		char cmd[4200];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd))
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return fails ? 1 : 0;
}
