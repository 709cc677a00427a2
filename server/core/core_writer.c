/* server/core/core_writer.c — write an ELF core of a stopped target through struct target_ops
 * only: snapshot threads, regions and auxv, plan a PT_LOAD per mapping range (data runs with
 * bytes, clean runs with none), then write into a temporary file that is renamed at the end. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "server/core/core_priv.h"

#define CORE_USER_TOP 0x800000000000ULL
#define CORE_COPY_BYTES (1024 * 1024)
#define CORE_PROGRESS_BYTES (64ULL << 20) /* saves larger than this report progress */
#define CORE_MAX_THREADS 4096

/* What a piece of a mapping contributes to the file. */
enum core_piece_kind {
	CORE_PIECE_CLEAN, /* no bytes in the core (PT_LOAD with p_filesz 0) */
	CORE_PIECE_READ,  /* bytes copied from the target */
	CORE_PIECE_ZERO,  /* bytes in the core, known zero: written as a file hole */
};

struct core_piece {
	uint64_t start, end;
	uint32_t kind;
	uint32_t region; /* index in ctx->regions */
};

struct core_plan {
	struct core_piece *pieces;
	size_t n, cap;
	size_t phnum; /* PT_NOTE + PT_LOADs */
	uint64_t data_bytes, read_bytes;
};

static int core_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int core_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

int core_style_parse(const char *name, enum core_style *out)
{
	static const struct {
		const char *name;
		enum core_style style;
	} names[] = {
		{"modified-memory", CORE_STYLE_MODIFIED},
		{"modified", CORE_STYLE_MODIFIED},
		{"dirty", CORE_STYLE_MODIFIED},
		{"stacks", CORE_STYLE_STACKS},
		{"stack", CORE_STYLE_STACKS},
		{"full", CORE_STYLE_FULL},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(name, names[i].name)) {
			*out = names[i].style;
			return 0;
		}
	}
	return -EINVAL;
}

const char *core_style_name(enum core_style style)
{
	switch (style) {
	case CORE_STYLE_STACKS:
		return "stacks";
	case CORE_STYLE_FULL:
		return "full";
	default:
		return "modified-memory";
	}
}

/* ---- snapshot ---------------------------------------------------------------------------- */

/* The thread's siginfo as the kernel delivered it; for a thread stopped only because the others
 * stopped (or by an interrupt) ptrace's own SIGTRAP event stop is no signal: record SIGSTOP.
 * Every thread gets one (LLDB shows "signal 0" for threads without one when another has it). */
static void core_thread_siginfo(struct core_ctx *c, struct core_thread *th,
				const struct tgt_thread_stop *stop)
{
	struct buf si = BUF_INIT;
	bool own = stop->reason != TGT_STOP_NONE && stop->reason != TGT_STOP_INTERRUPT;
	int32_t signo = own ? stop->signo : SIGSTOP;

	if (own && !c->t->ops->read_siginfo(c->t, th->tid, &si) && si.len >= sizeof(th->siginfo)) {
		memcpy(th->siginfo, si.data, sizeof(th->siginfo));
	} else {
		memset(th->siginfo, 0, sizeof(th->siginfo));
		memcpy(th->siginfo, &signo, sizeof(signo));
	}
	buf_fini(&si);
}

static int core_read_thread(struct core_ctx *c, struct core_thread *th)
{
	struct tgt_thread_stop stop = {.reason = TGT_STOP_SIGNAL};
	int ret = c->t->ops->read_regs(c->t, th->tid, &th->regs);

	if (ret)
		return ret;
	if (c->t->ops->thread_stop)
		c->t->ops->thread_stop(c->t, th->tid, &stop);
	core_thread_siginfo(c, th, &stop);
	memcpy(&th->signo, th->siginfo, sizeof(int32_t));
	if (c->opt.signo)
		th->signo = c->opt.signo;
	return 0;
}

/* threads[0] becomes opt.first_tid, else the first thread stopped for a reason of its own. */
static void core_order_threads(struct core_ctx *c, const bool *has_reason)
{
	size_t first = 0;

	for (size_t i = 0; i < c->nthreads; i++) {
		if (c->opt.first_tid ? c->threads[i].tid == c->opt.first_tid : has_reason[i]) {
			first = i;
			break;
		}
	}
	if (first) {
		struct core_thread tmp = c->threads[0];

		c->threads[0] = c->threads[first];
		c->threads[first] = tmp;
	}
}

static int core_snapshot_threads(struct core_ctx *c, char *err, size_t errlen)
{
	pid_t tids[CORE_MAX_THREADS];
	bool has_reason[CORE_MAX_THREADS] = {0};
	int n = c->t->ops->threads(c->t, tids, CORE_MAX_THREADS);

	if (n <= 0)
		return core_fail(err, errlen, n ? n : -ESRCH, "the process has no threads left");
	if (n > CORE_MAX_THREADS)
		n = CORE_MAX_THREADS;
	c->threads = calloc(n, sizeof(*c->threads));
	if (!c->threads)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		struct tgt_thread_stop stop = {0};
		int ret;

		c->threads[i].tid = tids[i];
		ret = core_read_thread(c, &c->threads[i]);
		if (ret)
			return core_fail(err, errlen, ret,
					 "cannot read the registers of thread %d: %s", tids[i],
					 strerror(-ret));
		if (c->t->ops->thread_stop && !c->t->ops->thread_stop(c->t, tids[i], &stop))
			has_reason[i] = stop.reason != TGT_STOP_NONE;
	}
	c->nthreads = n;
	core_order_threads(c, has_reason);
	return 0;
}

static int core_snapshot(struct core_ctx *c, char *err, size_t errlen)
{
	int ret = c->t->ops->process_info(c->t, &c->pinfo);

	if (ret)
		return core_fail(err, errlen, ret, "cannot describe the process: %s",
				 strerror(-ret));
	ret = c->t->ops->regions(c->t, &c->regions, &c->nregions);
	if (ret)
		return core_fail(err, errlen, ret, "cannot list the memory mappings: %s",
				 strerror(-ret));
	ret = c->t->ops->read_auxv(c->t, &c->auxv);
	if (ret)
		return core_fail(err, errlen, ret, "cannot read the auxiliary vector: %s",
				 strerror(-ret));
	ret = core_snapshot_threads(c, err, errlen);
	if (ret)
		return ret;
	ret = core_find_images(c);
	if (ret)
		return core_fail(err, errlen, ret, "out of memory listing images");
	core_mark_executing(c);
	return 0;
}

/* ---- plan -------------------------------------------------------------------------------- */

static bool core_region_is_special(const struct tgt_region *r)
{
	return !(r->prot & PROT_READ) || r->start >= CORE_USER_TOP ||
	       !strncmp(r->path, "[vvar", 5) || !strcmp(r->path, "[vsyscall]");
}

static bool core_region_is_stack(const struct core_ctx *c, const struct tgt_region *r)
{
	if (!strcmp(r->path, "[stack]"))
		return true;
	for (size_t i = 0; i < c->nthreads; i++) {
		uint64_t sp = regcache_get_u64(&c->threads[i].regs, RN_RSP);

		if (sp >= r->start && sp < r->end)
			return true;
	}
	return false;
}

static const struct core_image *core_image_named(const struct core_ctx *c, const char *path)
{
	for (size_t i = 0; i < c->nimages; i++)
		if (!strcmp(c->images[i].path, path))
			return &c->images[i];
	return NULL;
}

/* A private writable mapping of an image, or the anonymous .bss tail right after one. */
static bool core_region_is_image_data(const struct core_ctx *c, size_t idx)
{
	const struct tgt_region *r = &c->regions[idx];

	if (r->shared || !(r->prot & PROT_WRITE))
		return false;
	if (r->path[0] == '/')
		return core_image_named(c, r->path) != NULL;
	if (r->path[0] || !idx)
		return false;
	const struct tgt_region *prev = &c->regions[idx - 1];
	return prev->end == r->start && prev->path[0] == '/' && (prev->prot & PROT_WRITE) &&
	       core_image_named(c, prev->path);
}

/* How a region is treated when no dirty page says otherwise, per style (spec §2.4, §3.4).
 * *dirty says whether its modified pages are added with their bytes. */
static enum core_piece_kind core_region_base(const struct core_ctx *c, size_t idx, bool *dirty)
{
	const struct tgt_region *r = &c->regions[idx];
	bool anon = r->path[0] != '/' && strcmp(r->path, "[vdso]");

	*dirty = false;
	if (core_region_is_special(r))
		return CORE_PIECE_CLEAN;
	if (!strcmp(r->path, "[vdso]"))
		return CORE_PIECE_READ;
	*dirty = true;
	switch (c->style) {
	case CORE_STYLE_FULL:
		if (anon)
			return r->shared ? CORE_PIECE_CLEAN : CORE_PIECE_ZERO;
		return CORE_PIECE_READ;
	case CORE_STYLE_STACKS:
		*dirty = core_region_is_stack(c, r);
		return CORE_PIECE_CLEAN;
	default:
		if (core_region_is_image_data(c, idx))
			return anon ? CORE_PIECE_ZERO : CORE_PIECE_READ;
		return CORE_PIECE_CLEAN;
	}
}

static int core_plan_add(struct core_plan *p, uint64_t start, uint64_t end,
			 enum core_piece_kind kind, size_t region)
{
	if (start >= end)
		return 0;
	if (p->n && p->pieces[p->n - 1].end == start && p->pieces[p->n - 1].kind == kind &&
	    p->pieces[p->n - 1].region == region) {
		p->pieces[p->n - 1].end = end;
		return 0;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		struct core_piece *np = realloc(p->pieces, cap * sizeof(*np));

		if (!np)
			return -ENOMEM;
		p->pieces = np;
		p->cap = cap;
	}
	p->pieces[p->n++] = (struct core_piece){start, end, kind, region};
	return 0;
}

static bool core_region_has_header(const struct core_ctx *c, const struct tgt_region *r)
{
	for (size_t i = 0; i < c->nimages; i++)
		if (c->images[i].hdr_addr == r->start)
			return true;
	return false;
}

/* Pieces of one region: its base kind, with the modified pages (and an image's ELF header
 * page) as READ runs over it. */
static int core_plan_region(struct core_ctx *c, struct core_plan *p, size_t idx)
{
	const struct tgt_region *r = &c->regions[idx];
	bool want_dirty;
	enum core_piece_kind base = core_region_base(c, idx, &want_dirty);
	uint64_t *pages = NULL, pos = r->start;
	size_t n = 0;
	int ret = 0;

	if (base != CORE_PIECE_READ && !core_region_is_special(r) && core_region_has_header(c, r))
		ret = core_plan_add(p, r->start, r->start + CORE_PAGE, CORE_PIECE_READ, idx);
	if (ret)
		return ret;
	if (p->n && p->pieces[p->n - 1].region == idx)
		pos = p->pieces[p->n - 1].end;
	if (base != CORE_PIECE_READ && want_dirty) {
		ret = c->t->ops->dirty_pages(c->t, r->start, r->end, &pages, &n);
		if (ret == -EOPNOTSUPP && (r->prot & PROT_WRITE)) {
			base = CORE_PIECE_READ; /* cannot tell: keep every writable byte */
			ret = 0;
		}
		if (ret)
			goto out;
	}
	for (size_t i = 0; i < n && !ret; i++) {
		if (pages[i] < pos)
			continue;
		ret = core_plan_add(p, pos, pages[i], base, idx);
		if (!ret)
			ret = core_plan_add(p, pages[i], pages[i] + CORE_PAGE, CORE_PIECE_READ,
					    idx);
		pos = pages[i] + CORE_PAGE;
	}
	if (!ret)
		ret = core_plan_add(p, pos, r->end, base, idx);
out:
	free(pages);
	return ret;
}

static bool core_piece_has_data(const struct core_piece *pc)
{
	return pc->kind != CORE_PIECE_CLEAN;
}

/* Consecutive data pieces of one region share a PT_LOAD; each clean piece has its own. */
static bool core_piece_continues(const struct core_piece *prev, const struct core_piece *pc)
{
	return prev && prev->region == pc->region && prev->end == pc->start &&
	       core_piece_has_data(prev) && core_piece_has_data(pc);
}

static int core_plan_build(struct core_ctx *c, struct core_plan *p, char *err, size_t errlen)
{
	for (size_t i = 0; i < c->nregions; i++) {
		int ret = core_plan_region(c, p, i);

		if (ret)
			return core_fail(err, errlen, ret,
					 "cannot find the modified pages of %#llx: %s",
					 (unsigned long long)c->regions[i].start, strerror(-ret));
	}
	p->phnum = 1;
	for (size_t i = 0; i < p->n; i++) {
		const struct core_piece *pc = &p->pieces[i];

		if (!core_piece_continues(i ? pc - 1 : NULL, pc))
			p->phnum++;
		if (core_piece_has_data(pc))
			p->data_bytes += pc->end - pc->start;
		if (pc->kind == CORE_PIECE_READ)
			p->read_bytes += pc->end - pc->start;
	}
	return 0;
}

/* ---- write ------------------------------------------------------------------------------- */

struct core_out {
	struct core_ctx *c;
	int fd;
	uint64_t copied, next_report, total;
	uint8_t *copy;
	char *err;
	size_t errlen;
};

static int core_pwrite(struct core_out *o, const void *data, size_t len, uint64_t off)
{
	const uint8_t *p = data;

	while (len) {
		ssize_t n = pwrite(o->fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == ENOSPC || errno == EDQUOT))
			return core_fail(o->err, o->errlen, -errno,
					 "the disk is full (%llu bytes written so far)",
					 (unsigned long long)off);
		if (n <= 0)
			return core_fail(o->err, o->errlen, n < 0 ? -errno : -EIO,
					 "cannot write the core: %s",
					 strerror(n < 0 ? errno : EIO));
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

static bool core_page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;

	for (size_t i = 0; i < CORE_PAGE / 8; i++)
		if (w[i])
			return false;
	return true;
}

/* Write the non-zero pages of buf (len bytes destined for file offset off); zero pages stay
 * holes. */
static int core_write_sparse(struct core_out *o, const uint8_t *buf, size_t len, uint64_t off)
{
	size_t run = 0;

	for (size_t pos = 0; pos <= len; pos += CORE_PAGE) {
		bool zero = pos == len || core_page_is_zero(buf + pos);
		int ret;

		if (!zero)
			continue;
		if (pos > run) {
			ret = core_pwrite(o, buf + run, pos - run, off + run);
			if (ret)
				return ret;
		}
		run = pos + CORE_PAGE;
	}
	return 0;
}

static void core_progress(struct core_out *o, size_t len)
{
	o->copied += len;
	if (o->c->opt.quiet || o->total < CORE_PROGRESS_BYTES || o->copied < o->next_report)
		return;
	fprintf(stderr, "save-core: %llu of %llu MiB copied (%llu%%)\n",
		(unsigned long long)(o->copied >> 20), (unsigned long long)(o->total >> 20),
		(unsigned long long)(o->copied * 100 / o->total));
	o->next_report += o->total / 10;
}

/* Copy [addr, addr+len) of the target to file offset off. Unreadable pages stay holes; a target
 * that died is an error. */
static int core_copy(struct core_out *o, uint64_t addr, uint64_t len, uint64_t off)
{
	struct target *t = o->c->t;

	while (len) {
		size_t chunk = len < CORE_COPY_BYTES ? len : CORE_COPY_BYTES;
		ssize_t got = t->ops->read_memory(t, addr, o->copy, chunk);
		int ret;

		if (got <= 0 && !t->ops->is_alive(t))
			return core_fail(o->err, o->errlen, -ESRCH,
					 "the process died while its core was being written");
		if (got < 0)
			got = 0;
		got &= ~(ssize_t)(CORE_PAGE - 1);
		ret = core_write_sparse(o, o->copy, got, off);
		if (ret)
			return ret;
		if ((size_t)got < chunk)
			got += CORE_PAGE; /* skip the unreadable page */
		if ((uint64_t)got > len)
			got = len;
		addr += got;
		off += got;
		len -= got;
		core_progress(o, got);
	}
	return 0;
}

static uint32_t core_pflags(unsigned prot)
{
	return (prot & PROT_READ ? PF_R : 0) | (prot & PROT_WRITE ? PF_W : 0) |
	       (prot & PROT_EXEC ? PF_X : 0);
}

/* ELF header, program headers, the PN_XNUM section header when needed, and the notes. */
static int core_write_headers(struct core_out *o, const struct core_plan *p,
			      const struct buf *notes, Elf64_Phdr *ph)
{
	bool xnum = p->phnum >= PN_XNUM;
	uint64_t phoff = sizeof(Elf64_Ehdr), shoff = phoff + p->phnum * sizeof(Elf64_Phdr);
	uint64_t note_off = shoff + (xnum ? sizeof(Elf64_Shdr) : 0);
	Elf64_Ehdr eh = {
		.e_ident = {ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB,
			    EV_CURRENT},
		.e_type = ET_CORE,
		.e_machine = EM_X86_64,
		.e_version = EV_CURRENT,
		.e_phoff = phoff,
		.e_ehsize = sizeof(Elf64_Ehdr),
		.e_phentsize = sizeof(Elf64_Phdr),
		.e_phnum = xnum ? PN_XNUM : p->phnum,
	};
	Elf64_Shdr sh = {.sh_info = p->phnum};
	int ret;

	if (xnum) {
		eh.e_shoff = shoff;
		eh.e_shentsize = sizeof(Elf64_Shdr);
		eh.e_shnum = 1;
	}
	ph[0] = (Elf64_Phdr){
		.p_type = PT_NOTE, .p_offset = note_off, .p_filesz = notes->len, .p_align = 4};
	ret = core_pwrite(o, &eh, sizeof(eh), 0);
	if (!ret)
		ret = core_pwrite(o, ph, p->phnum * sizeof(*ph), phoff);
	if (!ret && xnum)
		ret = core_pwrite(o, &sh, sizeof(sh), shoff);
	if (!ret)
		ret = core_pwrite(o, notes->data, notes->len, note_off);
	return ret;
}

/* Fill the PT_LOADs (ph[1..]) and give each piece its file offset (in piece_off). */
static uint64_t core_layout(const struct core_ctx *c, const struct core_plan *p, uint64_t data_off,
			    Elf64_Phdr *ph, uint64_t *piece_off)
{
	size_t k = 0;

	for (size_t i = 0; i < p->n; i++) {
		const struct core_piece *pc = &p->pieces[i];
		uint64_t size = pc->end - pc->start;

		if (!core_piece_continues(i ? pc - 1 : NULL, pc)) {
			k++;
			ph[k] = (Elf64_Phdr){.p_type = PT_LOAD,
					     .p_offset = data_off,
					     .p_vaddr = pc->start,
					     .p_flags = core_pflags(c->regions[pc->region].prot),
					     .p_align = CORE_PAGE};
		}
		piece_off[i] = data_off;
		ph[k].p_memsz += size;
		if (core_piece_has_data(pc)) {
			ph[k].p_filesz += size;
			data_off += size;
		}
	}
	return data_off;
}

static int core_write_file(struct core_out *o, const struct core_plan *p)
{
	struct buf notes = BUF_INIT;
	Elf64_Phdr *ph = calloc(p->phnum, sizeof(*ph));
	uint64_t *piece_off = calloc(p->n ? p->n : 1, sizeof(*piece_off));
	uint64_t data_off, end;
	int ret = -ENOMEM;

	if (!ph || !piece_off)
		goto out;
	core_build_notes(o->c, &notes);
	data_off = sizeof(Elf64_Ehdr) + p->phnum * sizeof(Elf64_Phdr) +
		   (p->phnum >= PN_XNUM ? sizeof(Elf64_Shdr) : 0) + notes.len;
	data_off = (data_off + CORE_PAGE - 1) & ~(CORE_PAGE - 1);
	end = core_layout(o->c, p, data_off, ph, piece_off);
	ret = core_write_headers(o, p, &notes, ph);
	for (size_t i = 0; i < p->n && !ret; i++)
		if (p->pieces[i].kind == CORE_PIECE_READ)
			ret = core_copy(o, p->pieces[i].start,
					p->pieces[i].end - p->pieces[i].start, piece_off[i]);
	if (!ret && ftruncate(o->fd, end))
		ret = core_fail(o->err, o->errlen, -errno, "cannot size the core: %s",
				strerror(errno));
out:
	buf_fini(&notes);
	free(ph);
	free(piece_off);
	return ret;
}

static void core_ctx_fini(struct core_ctx *c)
{
	free(c->regions);
	free(c->threads);
	free(c->images);
	buf_fini(&c->auxv);
}

int core_write(struct target *t, const char *path, enum core_style style,
	       const struct core_options *opt, char *err, size_t errlen)
{
	struct core_ctx c = {.t = t, .style = style};
	struct core_plan plan = {0};
	struct core_out o = {.c = &c, .fd = -1, .err = err, .errlen = errlen};
	char *tmp = NULL;
	int ret;

	if (opt)
		c.opt = *opt;
	buf_init(&c.auxv);
	ret = core_snapshot(&c, err, errlen);
	if (!ret)
		ret = core_plan_build(&c, &plan, err, errlen);
	if (ret)
		goto out;
	if (asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0 || !(o.copy = malloc(CORE_COPY_BYTES))) {
		ret = -ENOMEM;
		goto out;
	}
	o.fd = mkostemp(tmp, O_CLOEXEC);
	if (o.fd < 0) {
		ret = core_fail(err, errlen, -errno, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	o.total = plan.read_bytes;
	o.next_report = o.total / 10;
	ret = core_write_file(&o, &plan);
	if (close(o.fd) && !ret)
		ret = core_fail(err, errlen, -errno, "cannot write the core: %s", strerror(errno));
	o.fd = -1;
	if (!ret && rename(tmp, path))
		ret = core_fail(err, errlen, -errno, "cannot rename %s to %s: %s", tmp, path,
				strerror(errno));
	if (ret)
		unlink(tmp);
	else if (!c.opt.quiet && o.total >= CORE_PROGRESS_BYTES)
		fprintf(stderr, "save-core: wrote %s (%llu MiB of memory)\n", path,
			(unsigned long long)(plan.data_bytes >> 20));
out:
	if (o.fd >= 0)
		close(o.fd);
	free(tmp);
	free(o.copy);
	free(plan.pieces);
	core_ctx_fini(&c);
	return ret;
}
