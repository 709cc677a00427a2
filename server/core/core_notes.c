/* server/core/core_notes.c — the notes of a core in the kernel's order (spec §5 item 4):
 * PRSTATUS of the first thread, PRPSINFO, its SIGINFO, AUXV, FILE, its FPREGSET and XSTATE, our
 * image note, then PRSTATUS, SIGINFO, FPREGSET, XSTATE of every other thread. */
#include <cpuid.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/procfs.h>

#include "server/core/core_priv.h"

static size_t note_pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

void core_note_put(struct buf *out, const char *owner, uint32_t type, const void *desc, size_t len)
{
	Elf64_Nhdr nh = {.n_namesz = strlen(owner) + 1, .n_descsz = len, .n_type = type};
	static const char zeros[4];

	buf_append(out, &nh, sizeof(nh));
	buf_append(out, owner, nh.n_namesz);
	buf_append(out, zeros, note_pad4(nh.n_namesz) - nh.n_namesz);
	buf_append(out, desc, len);
	buf_append(out, zeros, note_pad4(len) - len);
}

static void note_prstatus(const struct core_ctx *c, const struct core_thread *th, struct buf *out)
{
	struct elf_prstatus pr;
	struct user_regs_struct u;

	memset(&pr, 0, sizeof(pr));
	pr.pr_info.si_signo = th->signo;
	pr.pr_cursig = th->signo;
	pr.pr_pid = th->tid;
	pr.pr_ppid = c->pinfo.ppid;
	pr.pr_pgrp = c->pinfo.pid;
	pr.pr_sid = c->pinfo.pid;
	regcache_to_user(&th->regs, &u);
	memcpy(&pr.pr_reg, &u, sizeof(pr.pr_reg));
	pr.pr_fpvalid = 1;
	core_note_put(out, "CORE", NT_PRSTATUS, &pr, sizeof(pr));
}

static void note_prpsinfo(const struct core_ctx *c, struct buf *out)
{
	struct elf_prpsinfo ps;
	const char *base = strrchr(c->pinfo.exe, '/');

	memset(&ps, 0, sizeof(ps));
	ps.pr_state = 3;
	ps.pr_sname = 't';
	ps.pr_uid = c->pinfo.uid;
	ps.pr_gid = c->pinfo.gid;
	ps.pr_pid = c->pinfo.pid;
	ps.pr_ppid = c->pinfo.ppid;
	ps.pr_pgrp = c->pinfo.pid;
	ps.pr_sid = c->pinfo.pid;
	snprintf(ps.pr_fname, sizeof(ps.pr_fname), "%.15s", base ? base + 1 : c->pinfo.exe);
	snprintf(ps.pr_psargs, sizeof(ps.pr_psargs), "%.79s",
		 c->pinfo.args[0] ? c->pinfo.args : c->pinfo.exe);
	core_note_put(out, "CORE", NT_PRPSINFO, &ps, sizeof(ps));
}

/* NT_FILE: every file-backed mapping, the executable's first (LLDB 19 takes entry 0 for the
 * main executable), offsets in pages of 4096 like the kernel. */
static void note_file(const struct core_ctx *c, struct buf *out)
{
	struct buf desc = BUF_INIT, names = BUF_INIT;
	uint64_t count = 0, page = CORE_PAGE;

	buf_append(&desc, &count, 8);
	buf_append(&desc, &page, 8);
	for (int exe_pass = 1; exe_pass >= 0; exe_pass--) {
		for (size_t i = 0; i < c->nregions; i++) {
			const struct tgt_region *r = &c->regions[i];
			uint64_t ent[3] = {r->start, r->end, r->offset / CORE_PAGE};
			bool is_exe = c->pinfo.exe[0] && !strcmp(r->path, c->pinfo.exe);

			if (r->path[0] != '/' || is_exe != exe_pass)
				continue;
			buf_append(&desc, ent, sizeof(ent));
			buf_append(&names, r->path, strlen(r->path) + 1);
			count++;
		}
	}
	memcpy(desc.data, &count, 8);
	buf_append(&desc, names.data, names.len);
	core_note_put(out, "CORE", NT_FILE, desc.data, desc.len);
	buf_fini(&desc);
	buf_fini(&names);
}

/* The XSAVE area size GDB 13 expects for a given XCR0 (it warns "too small" below that and
 * ignores the note): fixed offsets of the standard format up to PKRU. */
static size_t xstate_gdb_size(uint64_t xcr0)
{
	if (xcr0 & (1 << 9))
		return 2696; /* PKRU */
	if (xcr0 & 0xe0)
		return 2688; /* AVX-512 */
	if (xcr0 & 0x18)
		return 1088; /* MPX */
	return xcr0 & 4 ? 832 : 576;
}

/* Size of the XSAVE area for the features this CPU has enabled, and XCR0 itself. */
static size_t xstate_size(uint64_t *xcr0)
{
	unsigned a, b, cx, d;
	size_t gdb;

	*xcr0 = regs_host_xcr0();
	if (*xcr0 == 3)
		return 576;
	__cpuid_count(0xd, 0, a, b, cx, d);
	gdb = xstate_gdb_size(*xcr0);
	return b < gdb ? gdb : b;
}

static void note_fp(const struct core_thread *th, struct buf *out)
{
	uint8_t fx[512] = {0}; /* regcache_to_fxsave keeps the bytes it has no register for */
	uint64_t xcr0, bv;
	size_t xsize = xstate_size(&xcr0);
	uint8_t *xs = calloc(1, xsize);

	regcache_to_fxsave(&th->regs, fx);
	core_note_put(out, "CORE", NT_FPREGSET, fx, sizeof(fx));
	if (!xs)
		return;
	regcache_to_xstate(&th->regs, xs, xsize);
	/* XCR0 in the software-reserved bytes tells GDB which register layout this is. */
	memcpy(xs + 464, &xcr0, 8);
	memcpy(&bv, xs + 512, 8);
	bv |= xcr0 & 7;
	memcpy(xs + 512, &bv, 8);
	core_note_put(out, "LINUX", NT_X86_XSTATE, xs, xsize);
	free(xs);
}

static void note_thread(const struct core_ctx *c, const struct core_thread *th, bool first,
			struct buf *out)
{
	note_prstatus(c, th, out);
	if (first) {
		note_prpsinfo(c, out);
		core_note_put(out, "CORE", NT_SIGINFO, th->siginfo, sizeof(th->siginfo));
		core_note_put(out, "CORE", NT_AUXV, c->auxv.data, c->auxv.len);
		note_file(c, out);
	} else {
		core_note_put(out, "CORE", NT_SIGINFO, th->siginfo, sizeof(th->siginfo));
	}
	note_fp(th, out);
	if (first)
		core_put_image_note(c, out);
}

void core_build_notes(const struct core_ctx *c, struct buf *out)
{
	for (size_t i = 0; i < c->nthreads; i++)
		note_thread(c, &c->threads[i], i == 0, out);
}
