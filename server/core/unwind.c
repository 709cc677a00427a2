/* server/core/unwind.c — which images have a frame on some thread's stack. Each thread is
 * unwound with libdw (CFI, or its frame-pointer fallback) over the target's own memory,
 * registers and mappings, so recorded targets unwind like live ones. libdw reads each image
 * from its file when that is the one mapped (same build-id), else from an ELF image rebuilt out
 * of the target's memory. Only where libdw cannot unwind a thread does a return-address scan
 * of its stack take over.
 *
 * Who set CORE_IMAGE_EXECUTING: an image holding the pc of a frame libdw unwound (pc - 1 for
 * callers) is exact. Above the last frame libdw reached when it stopped short (an error, or a
 * stack word it could not read), or from the thread's sp when it could not start, the
 * conservative scan marks images that a stack word returns into just past a call instruction,
 * reading only the pages the target reports modified; such a mark can come from a stale word. */
#include <elf.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/core/core_priv.h"

#define UNWIND_SCAN_BYTES (1024 * 1024) /* stack examined above sp, at most */
#define UNWIND_MAX_FRAMES 1024		/* a corrupt stack must not unwind forever */
#define UNWIND_DWARF_REGS 17		/* rax rdx rcx rbx rsi rdi rbp rsp r8-r15 rip */
#define UNWIND_DWARF_SP 7
#define UNWIND_MAX_PHDRS 64
#define UNWIND_MAX_IMAGE (512ULL << 20) /* an image rebuilt from memory, at most */

/* An image libdw gets from the target's memory (its file is not the one mapped). */
struct unwind_image {
	struct core_ctx *c;
	const struct core_image *img;
	uint8_t *copy; /* its file rebuilt from memory (see unwind_rebuild_image), or NULL */
	size_t len;
};

/* One Dwfl session over a core_ctx. */
struct unwind {
	struct core_ctx *c;
	struct unwind_image *images; /* one per c->images[], the modules' userdata */
	unsigned frames;	     /* frames seen in the thread being unwound */
	uint64_t last_sp;	     /* sp of the last of them, 0 if unknown */
	bool read_failed;	     /* libdw could not read a word of that thread's stack */
	uint64_t *pcs;		     /* where to put the frames' pcs (core_unwind_thread) */
	size_t max_pcs;
};

static void unwind_mark(struct core_image *img)
{
	if (img)
		img->flags |= CORE_IMAGE_EXECUTING;
}

/* ---- fallback: return-address scan ------------------------------------------------------ */

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

/* Scan the modified pages of the stack mapping holding sp, from sp up. */
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

/* ---- modules: every image, at its load bias, as the target maps it ---------------------- */

/* An image's file as far as its PT_LOADs hold it, read from the target: each segment's file
 * bytes at their file offset. Section headers beyond that are dropped; libdw then finds the
 * CFI through PT_GNU_EH_FRAME. (The vDSO's one PT_LOAD is its whole file.) */
static void unwind_rebuild_image(struct unwind_image *ui)
{
	struct target *t = ui->c->t;
	uint64_t hdr = ui->img->hdr_addr;
	Elf64_Phdr ph[UNWIND_MAX_PHDRS];
	Elf64_Ehdr eh;
	size_t nph;

	if (t->ops->read_memory(t, hdr, &eh, sizeof(eh)) != sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(ph[0]) || eh.e_phnum > UNWIND_MAX_PHDRS)
		return;
	nph = eh.e_phnum;
	if (t->ops->read_memory(t, hdr + eh.e_phoff, ph, nph * sizeof(ph[0])) !=
	    (ssize_t)(nph * sizeof(ph[0])))
		return;
	ui->len = 0;
	for (size_t i = 0; i < nph; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_offset + ph[i].p_filesz > ui->len)
			ui->len = ph[i].p_offset + ph[i].p_filesz;
	if (!ui->len || ui->len > UNWIND_MAX_IMAGE || !(ui->copy = calloc(1, ui->len)))
		return;
	/* unreadable parts stay zero: libdw loses what they held, nothing else */
	for (size_t i = 0; i < nph; i++)
		if (ph[i].p_type == PT_LOAD)
			t->ops->read_memory(t, ui->img->bias + ph[i].p_vaddr,
					    ui->copy + ph[i].p_offset, ph[i].p_filesz);
	if (eh.e_shoff + (uint64_t)eh.e_shnum * eh.e_shentsize > ui->len) {
		Elf64_Ehdr *copy_eh = (Elf64_Ehdr *)ui->copy;

		copy_eh->e_shoff = 0;
		copy_eh->e_shnum = 0;
		copy_eh->e_shstrndx = SHN_UNDEF;
	}
}

/* For modules reported without a file (see unwind_report_image): the image rebuilt from the
 * target's memory, else a file from a debug directory by build-id. */
static int unwind_find_elf(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr base,
			   char **file_name, Elf **elfp)
{
	struct unwind_image *ui = *userdata;

	if (!ui->copy)
		unwind_rebuild_image(ui);
	if (ui->copy) {
		*elfp = elf_memory((char *)ui->copy, ui->len);
		if (*elfp)
			return -1;
	}
	return dwfl_build_id_find_elf(mod, userdata, name, base, file_name, elfp);
}

static const Dwfl_Callbacks unwind_dwfl_callbacks = {
	.find_elf = unwind_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
};

/* Open the image's file if it is the one mapped: its build-id (when we know it) matches. */
static int unwind_open_image_file(const struct core_image *img)
{
	const void *id;
	Elf *elf;
	int fd, len;

	if (img->path[0] != '/')
		return -ENOENT;
	fd = open(img->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !img->build_id_len)
		return fd < 0 ? -errno : fd;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	len = elf ? dwelf_elf_gnu_build_id(elf, &id) : -1;
	if (len != (int)img->build_id_len || memcmp(id, img->build_id, len)) {
		elf_end(elf);
		close(fd);
		return -ESTALE;
	}
	elf_end(elf);
	return fd;
}

/* [lowest start, highest end) of the mappings of the image's file (only its own for [vdso]). */
static void unwind_image_extent(const struct core_ctx *c, const struct core_image *img,
				uint64_t *low, uint64_t *high)
{
	*low = img->hdr_addr;
	*high = img->hdr_addr + CORE_PAGE;
	for (size_t i = 0; i < c->nregions; i++) {
		const struct tgt_region *r = &c->regions[i];
		bool same_file = img->path[0] == '/' && !strcmp(r->path, img->path) &&
				 r->start > img->hdr_addr;

		if ((r->start == img->hdr_addr || same_file) && r->end > *high)
			*high = r->end;
	}
}

static void unwind_report_image(struct unwind *u, Dwfl *dwfl, struct unwind_image *ui)
{
	const struct core_image *img = ui->img;
	int fd = unwind_open_image_file(img);
	uint64_t low, high;
	Dwfl_Module *mod;
	void **userdata;

	/* The file on disk is the one mapped: libdw reads it at the image's bias. */
	if (fd >= 0 && dwfl_report_elf(dwfl, img->path, img->path, fd, img->bias, true))
		return;
	if (fd >= 0)
		close(fd);
	/* Otherwise the module's address range only; unwind_find_elf supplies its ELF. */
	unwind_image_extent(u->c, img, &low, &high);
	mod = dwfl_report_module(dwfl, img->path, low, high);
	if (!mod)
		return;
	if (img->build_id_len)
		dwfl_module_report_build_id(mod, img->build_id, img->build_id_len, 0);
	dwfl_module_info(mod, &userdata, NULL, NULL, NULL, NULL, NULL, NULL);
	*userdata = ui;
}

/* ---- threads: registers and memory through target_ops ----------------------------------- */

static struct core_thread *unwind_thread(struct core_ctx *c, pid_t tid)
{
	for (size_t i = 0; i < c->nthreads; i++)
		if (c->threads[i].tid == tid)
			return &c->threads[i];
	return NULL;
}

/* The threads are the core_ctx's snapshot (target->ops->threads and ->read_regs), so the
 * unwind starts from the registers the core records. */
static pid_t unwind_next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	struct core_ctx *c = ((struct unwind *)arg)->c;
	struct core_thread *th = *thread_argp;
	size_t next = th ? (size_t)(th - c->threads) + 1 : 0;

	(void)dwfl;
	if (next >= c->nthreads)
		return 0;
	*thread_argp = &c->threads[next];
	return c->threads[next].tid;
}

static bool unwind_get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
	struct core_thread *th = unwind_thread(((struct unwind *)arg)->c, tid);

	(void)dwfl;
	*thread_argp = th;
	return th != NULL;
}

/* libdw takes a word it cannot read for the end of the stack (the register it would restore
 * is left undefined), so a failed read is remembered: that unwind may have stopped short. */
static bool unwind_memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	struct unwind *u = arg;
	struct target *t = u->c->t;

	(void)dwfl;
	if (t->ops->read_memory(t, addr, result, sizeof(*result)) == sizeof(*result))
		return true;
	u->read_failed = true;
	return false;
}

static bool unwind_set_initial_registers(Dwfl_Thread *thread, void *arg)
{
	static const enum reg_num dwarf_order[UNWIND_DWARF_REGS] = {
		RN_RAX, RN_RDX, RN_RCX, RN_RBX, RN_RSI, RN_RDI, RN_RBP, RN_RSP, RN_R8,
		RN_R9,	RN_R10, RN_R11, RN_R12, RN_R13, RN_R14, RN_R15, RN_RIP,
	};
	const struct core_thread *th = arg;
	Dwarf_Word regs[UNWIND_DWARF_REGS];

	for (int i = 0; i < UNWIND_DWARF_REGS; i++)
		regs[i] = regcache_get_u64(&th->regs, dwarf_order[i]);
	if (!dwfl_thread_state_registers(thread, 0, UNWIND_DWARF_REGS, regs))
		return false;
	dwfl_thread_state_register_pc(thread, regcache_get_u64(&th->regs, RN_RIP));
	return true;
}

static const Dwfl_Thread_Callbacks unwind_thread_callbacks = {
	.next_thread = unwind_next_thread,
	.get_thread = unwind_get_thread,
	.memory_read = unwind_memory_read,
	.set_initial_registers = unwind_set_initial_registers,
};

/* ---- frames ------------------------------------------------------------------------------ */

static int unwind_frame(Dwfl_Frame *frame, void *arg)
{
	struct unwind *u = arg;
	Dwarf_Addr pc;
	Dwarf_Word sp;
	bool activation;

	if (!dwfl_frame_pc(frame, &pc, &activation))
		return DWARF_CB_ABORT;
	/* a caller's pc is its return address: the call itself is the byte before */
	if (!activation)
		pc--;
	if (u->frames < u->max_pcs)
		u->pcs[u->frames] = pc;
	unwind_mark(core_image_at(u->c, pc));
	if (dwfl_frame_reg(frame, UNWIND_DWARF_SP, &sp) == 0)
		u->last_sp = sp;
	return ++u->frames < UNWIND_MAX_FRAMES ? DWARF_CB_OK : DWARF_CB_ABORT;
}

/* Unwind one thread with libdw. Returns true if it reached the outermost frame. */
static bool unwind_libdw(struct unwind *u, Dwfl *dwfl, pid_t tid)
{
	int ret;

	u->frames = 0;
	u->last_sp = 0;
	u->read_failed = false;
	ret = dwfl ? dwfl_getthread_frames(dwfl, tid, unwind_frame, u) : -1;
	return (ret == 0 && !u->read_failed) || u->frames >= UNWIND_MAX_FRAMES;
}

/* Unwind one thread with libdw; where libdw stops short (an error, or a stack word it could
 * not read), scan the stack above the last frame it reached (above sp if it reached none). */
static void unwind_one_thread(struct unwind *u, Dwfl *dwfl, const struct core_thread *th)
{
	if (unwind_libdw(u, dwfl, th->tid))
		return;
	if (!u->frames)
		unwind_mark(core_image_at(u->c, regcache_get_u64(&th->regs, RN_RIP)));
	unwind_scan_stack(u->c, u->last_sp ? u->last_sp : regcache_get_u64(&th->regs, RN_RSP));
}

static Dwfl *unwind_begin(struct unwind *u)
{
	struct core_ctx *c = u->c;
	Dwfl *dwfl = dwfl_begin(&unwind_dwfl_callbacks);

	u->images = calloc(c->nimages ? c->nimages : 1, sizeof(*u->images));
	if (!dwfl || !u->images) {
		dwfl_end(dwfl);
		return NULL;
	}
	elf_version(EV_CURRENT);
	dwfl_report_begin(dwfl);
	for (size_t i = 0; i < c->nimages; i++) {
		u->images[i] = (struct unwind_image){.c = c, .img = &c->images[i]};
		unwind_report_image(u, dwfl, &u->images[i]);
	}
	if (dwfl_report_end(dwfl, NULL, NULL) ||
	    !dwfl_attach_state(dwfl, NULL, c->pinfo.pid, &unwind_thread_callbacks, u)) {
		dwfl_end(dwfl);
		return NULL;
	}
	return dwfl;
}

static void unwind_end(struct unwind *u, Dwfl *dwfl)
{
	dwfl_end(dwfl); /* before the copies it may still map */
	for (size_t i = 0; u->images && i < u->c->nimages; i++)
		free(u->images[i].copy);
	free(u->images);
}

void core_mark_executing(struct core_ctx *c)
{
	struct unwind u = {.c = c};
	Dwfl *dwfl = unwind_begin(&u);

	for (size_t i = 0; i < c->nthreads; i++)
		unwind_one_thread(&u, dwfl, &c->threads[i]);
	unwind_end(&u, dwfl);
}

int core_unwind_thread(struct core_ctx *c, pid_t tid, uint64_t *pcs, size_t max, bool *complete)
{
	struct unwind u = {.c = c, .pcs = pcs, .max_pcs = max};
	Dwfl *dwfl = unwind_begin(&u);

	if (!dwfl) {
		unwind_end(&u, dwfl);
		return -ENOEXEC;
	}
	*complete = unwind_libdw(&u, dwfl, tid);
	unwind_end(&u, dwfl);
	return u.frames;
}
