/* tests/unit/test_core.c — the core writer against a real process: core_threads stopped at a
 * breakpoint through the live Linux target; every style is saved, read back and checked page by
 * page against the live process; test_core_unwind.c checks the image note's executing flags.
 * With an output directory, the cores stay there for the debugger checks of
 * test_core_debuggers.py. */
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
#include "server/loop.h"
#include "server/target.h"
#include "test_core.h"

int fails;

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

struct tgt_region *region_of(struct live *l, uint64_t addr)
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

int core_open(const char *path, struct core_file *cf)
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
		check_unwind(&l, dir, argv[1]);
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
