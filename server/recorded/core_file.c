/* server/recorded/core_file.c — read an ELF core with libelf: PT_LOADs, and the notes (threads
 * from NT_PRSTATUS with the NT_FPREGSET / NT_X86_XSTATE / NT_SIGINFO after each, NT_PRPSINFO,
 * NT_AUXV, NT_FILE, our PTSTUB image note). */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/core/core_priv.h"
#include "server/recorded/recorded_priv.h"

static int rec_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int rec_fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

static unsigned rec_prot(uint32_t p_flags)
{
	return (p_flags & PF_R ? PROT_READ : 0) | (p_flags & PF_W ? PROT_WRITE : 0) |
	       (p_flags & PF_X ? PROT_EXEC : 0);
}

static int rec_load_cmp(const void *a, const void *b)
{
	const struct rec_load *x = a, *y = b;

	return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

/* PT_LOADs into c->loads; a data run past the end of the file is cut and reported. */
static int rec_read_loads(struct rec_core *c, Elf *e, size_t phnum, struct buf *diag)
{
	uint64_t missing = 0;

	c->loads = calloc(phnum ? phnum : 1, sizeof(*c->loads));
	if (!c->loads)
		return -ENOMEM;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		struct rec_load *l = &c->loads[c->nloads];

		if (!gelf_getphdr(e, i, &ph) || ph.p_type != PT_LOAD || !ph.p_memsz)
			continue;
		*l = (struct rec_load){.vaddr = ph.p_vaddr,
				       .memsz = ph.p_memsz,
				       .offset = ph.p_offset,
				       .filesz = ph.p_filesz,
				       .prot = rec_prot(ph.p_flags)};
		if (l->filesz > l->memsz)
			l->filesz = l->memsz;
		if (l->filesz && l->offset + l->filesz > c->file_size) {
			uint64_t have = l->offset < c->file_size ? c->file_size - l->offset : 0;

			missing += l->filesz - have;
			l->lost = l->filesz - have;
			l->filesz = have;
		}
		c->nloads++;
	}
	qsort(c->loads, c->nloads, sizeof(*c->loads), rec_load_cmp);
	if (missing)
		buf_printf(diag,
			   "core: truncated: %llu bytes of recorded memory are past the end of the "
			   "file (%llu bytes); those pages read as unavailable\n",
			   (unsigned long long)missing, (unsigned long long)c->file_size);
	return 0;
}

static struct rec_thread *rec_add_thread(struct rec_core *c, const struct elf_prstatus *pr)
{
	struct rec_thread *grown = realloc(c->threads, (c->nthreads + 1) * sizeof(*grown));
	struct user_regs_struct u;
	struct rec_thread *th;

	if (!grown)
		return NULL;
	c->threads = grown;
	th = &c->threads[c->nthreads++];
	memset(th, 0, sizeof(*th));
	th->tid = pr->pr_pid;
	th->signo = pr->pr_cursig;
	memcpy(&u, &pr->pr_reg, sizeof(u));
	regcache_from_user(&th->regs, &u);
	return th;
}

/* NT_FILE: count, page size, count × {start, end, offset in pages}, then the paths. */
static int rec_read_file_note(struct rec_core *c, const uint8_t *d, size_t len)
{
	uint64_t count, page;
	const char *name;

	if (len < 16)
		return -EINVAL;
	memcpy(&count, d, 8);
	memcpy(&page, d + 8, 8);
	if (count > (len - 16) / 24)
		return -EINVAL;
	c->files = calloc(count ? count : 1, sizeof(*c->files));
	if (!c->files)
		return -ENOMEM;
	name = (const char *)d + 16 + count * 24;
	for (uint64_t i = 0; i < count; i++) {
		struct rec_file_map *f = &c->files[i];
		uint64_t ent[3];
		size_t left = (const char *)d + len - name, n = strnlen(name, left);

		if (n == left)
			return -EINVAL;
		memcpy(ent, d + 16 + i * 24, sizeof(ent));
		*f = (struct rec_file_map){ent[0], ent[1], ent[2] * page, strdup(name), -1};
		if (!f->path)
			return -ENOMEM;
		c->nfiles++;
		name += n + 1;
	}
	return 0;
}

static void rec_read_prpsinfo(struct rec_core *c, const uint8_t *d, size_t len)
{
	struct elf_prpsinfo ps;

	if (len < sizeof(ps))
		return;
	memcpy(&ps, d, sizeof(ps));
	c->pinfo.pid = ps.pr_pid;
	c->pinfo.ppid = ps.pr_ppid;
	c->pinfo.uid = c->pinfo.euid = ps.pr_uid;
	c->pinfo.gid = c->pinfo.egid = ps.pr_gid;
	snprintf(c->fname, sizeof(c->fname), "%.16s", ps.pr_fname);
	snprintf(c->pinfo.args, sizeof(c->pinfo.args), "%.*s", (int)sizeof(ps.pr_psargs),
		 ps.pr_psargs);
}

/* One note; th is the thread of the last NT_PRSTATUS (the others apply to it). */
static int rec_note(struct rec_core *c, const GElf_Nhdr *nh, const char *name, const uint8_t *d,
		    struct rec_thread **th)
{
	bool is_core = nh->n_namesz == 5 && !memcmp(name, "CORE", 5);
	bool is_linux = nh->n_namesz == 6 && !memcmp(name, "LINUX", 6);

	if (nh->n_namesz == sizeof(CORE_NOTE_OWNER) &&
	    !memcmp(name, CORE_NOTE_OWNER, nh->n_namesz) && nh->n_type == CORE_NOTE_IMAGES) {
		buf_reset(&c->image_note);
		buf_append(&c->image_note, d, nh->n_descsz);
		return 0;
	}
	if (is_core && nh->n_type == NT_PRSTATUS && nh->n_descsz >= sizeof(struct elf_prstatus)) {
		struct elf_prstatus pr;

		memcpy(&pr, d, sizeof(pr));
		*th = rec_add_thread(c, &pr);
		return *th ? 0 : -ENOMEM;
	}
	if (is_core && nh->n_type == NT_PRPSINFO)
		rec_read_prpsinfo(c, d, nh->n_descsz);
	else if (is_core && nh->n_type == NT_AUXV)
		buf_append(&c->auxv, d, nh->n_descsz);
	else if (is_core && nh->n_type == NT_FILE && !c->files)
		return rec_read_file_note(c, d, nh->n_descsz);
	else if (*th && is_core && nh->n_type == NT_FPREGSET && nh->n_descsz >= 512)
		regcache_from_fxsave(&(*th)->regs, d);
	else if (*th && is_linux && nh->n_type == NT_X86_XSTATE)
		regcache_from_xstate(&(*th)->regs, d, nh->n_descsz);
	else if (*th && is_core && nh->n_type == NT_SIGINFO && nh->n_descsz >= 128) {
		memcpy((*th)->siginfo, d, 128);
		(*th)->has_siginfo = true;
	}
	return 0;
}

static int rec_read_notes(struct rec_core *c, Elf *e, size_t phnum)
{
	struct rec_thread *th = NULL;

	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		Elf_Data *data;
		GElf_Nhdr nh;
		size_t off = 0, name_off, desc_off;

		if (!gelf_getphdr(e, i, &ph) || ph.p_type != PT_NOTE)
			continue;
		data = elf_getdata_rawchunk(e, ph.p_offset, ph.p_filesz, ELF_T_NHDR);
		if (!data)
			return -EINVAL;
		while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
			int ret = rec_note(c, &nh, (const char *)data->d_buf + name_off,
					   (const uint8_t *)data->d_buf + desc_off, &th);

			if (ret)
				return ret;
		}
	}
	return 0;
}

/* The executable: the image note's main image, else NT_FILE entry 0 (writers put it first). */
static void rec_find_exe(const struct core_image *img, void *data)
{
	struct rec_core *c = data;

	if (img->flags & CORE_IMAGE_MAIN)
		snprintf(c->pinfo.exe, sizeof(c->pinfo.exe), "%s", img->path);
}

static int rec_core_parse(struct rec_core *c, Elf *e, const char *path, struct buf *diag, char *err,
			  size_t errlen)
{
	GElf_Ehdr eh;
	size_t phnum;
	int ret;

	if (!gelf_getehdr(e, &eh) || eh.e_type != ET_CORE || eh.e_machine != EM_X86_64 ||
	    gelf_getclass(e) != ELFCLASS64)
		return rec_fail(err, errlen, -EINVAL, "%s is not an x86-64 ELF core file", path);
	if (elf_getphdrnum(e, &phnum))
		return rec_fail(err, errlen, -EINVAL, "%s: cannot read the program headers: %s",
				path, elf_errmsg(-1));
	if (eh.e_phoff + (eh.e_phnum == PN_XNUM ? phnum : eh.e_phnum) * sizeof(Elf64_Phdr) >
	    c->file_size)
		return rec_fail(err, errlen, -EINVAL,
				"%s is truncated (%llu bytes): its program headers are missing",
				path, (unsigned long long)c->file_size);
	ret = rec_read_loads(c, e, phnum, diag);
	if (!ret)
		ret = rec_read_notes(c, e, phnum);
	if (ret)
		return rec_fail(err, errlen, ret, "%s: cannot read the notes: %s", path,
				ret == -ENOMEM ? "out of memory" : "malformed or truncated");
	if (!c->nthreads)
		return rec_fail(err, errlen, -EINVAL, "%s has no thread (no NT_PRSTATUS note)",
				path);
	if (!c->auxv.len)
		buf_printf(diag, "core: no NT_AUXV note: debuggers cannot find the load "
				 "addresses of the images\n");
	if (!c->files)
		buf_printf(diag, "core: no NT_FILE note: clean file-backed pages cannot be read\n");
	if (c->image_note.len)
		core_image_note_parse(c->image_note.data, c->image_note.len, rec_find_exe, c);
	if (!c->pinfo.exe[0] && c->nfiles)
		snprintf(c->pinfo.exe, sizeof(c->pinfo.exe), "%s", c->files[0].path);
	if (!c->pinfo.pid)
		c->pinfo.pid = c->threads[0].tid;
	return 0;
}

int rec_core_load(struct rec_core *c, const char *path, struct buf *diag, char *err, size_t errlen)
{
	struct stat st;
	Elf *e;
	int ret;

	memset(c, 0, sizeof(*c));
	buf_init(&c->auxv);
	buf_init(&c->image_note);
	c->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (c->fd < 0)
		return rec_fail(err, errlen, -errno, "cannot open the core %s: %s", path,
				strerror(errno));
	if (fstat(c->fd, &st) == 0)
		c->file_size = st.st_size;
	elf_version(EV_CURRENT);
	e = elf_begin(c->fd, ELF_C_READ_MMAP, NULL);
	if (!e)
		return rec_fail(err, errlen, -EINVAL, "%s is not an ELF file: %s", path,
				elf_errmsg(-1));
	ret = rec_core_parse(c, e, path, diag, err, errlen);
	elf_end(e);
	return ret;
}

void rec_core_free(struct rec_core *c)
{
	if (c->fd >= 0)
		close(c->fd);
	for (size_t i = 0; i < c->nfiles; i++) {
		free(c->files[i].path);
		if (c->files[i].fd >= 0)
			close(c->files[i].fd);
	}
	free(c->files);
	free(c->loads);
	free(c->threads);
	buf_fini(&c->auxv);
	buf_fini(&c->image_note);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}
