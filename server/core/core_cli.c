/* server/core/core_cli.c — the `save-core` command (attach to a live process, write its core,
 * detach) and the `core-info` command (threads and the PTSTUB image note of a core, checked
 * against the images on disk by build-id). */
#include <elf.h>
#include <elfutils/libdwelf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <unistd.h>

#include "server/core/core_priv.h"
#include "server/loop.h"

static void cli_ignore_event(void *ctx, const struct tgt_event *ev)
{
	(void)ctx;
	(void)ev;
}

static int save_core_usage(void)
{
	fprintf(stderr, "usage: ptstub save-core --pid PID [--style full|modified-memory|stacks] "
			"-o FILE\n");
	return 2;
}

int save_core_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"style", required_argument, NULL, 's'},
		{"output", required_argument, NULL, 'o'},
		{"quiet", no_argument, NULL, 'q'},
		{NULL, 0, NULL, 0},
	};
	struct tgt_callbacks cb = {.on_event = cli_ignore_event};
	struct core_options opt = {0};
	enum core_style style = CORE_STYLE_MODIFIED;
	const char *out = NULL;
	struct target *t = NULL;
	struct loop *loop = NULL;
	char err[512] = "";
	pid_t pid = 0;
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:s:o:q", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			pid = atoi(optarg);
			break;
		case 's':
			if (core_style_parse(optarg, &style)) {
				fprintf(stderr, "save-core: unknown style '%s'\n", optarg);
				return save_core_usage();
			}
			break;
		case 'o':
			out = optarg;
			break;
		case 'q':
			opt.quiet = true;
			break;
		default:
			return save_core_usage();
		}
	}
	if (pid <= 0 || !out || optind != argc)
		return save_core_usage();
	loop = loop_new();
	if (!loop) {
		fprintf(stderr, "save-core: cannot create the event loop\n");
		return 1;
	}
	ret = linux_target_attach(loop, pid, &cb, &t, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "save-core: cannot attach to %d: %s\n", pid,
			err[0] ? err : strerror(-ret));
		goto out;
	}
	ret = core_write(t, out, style, &opt, err, sizeof(err));
	if (ret)
		fprintf(stderr, "save-core: %s\n", err[0] ? err : strerror(-ret));
	else if (!opt.quiet)
		fprintf(stderr, "save-core: %s core of process %d written to %s\n",
			core_style_name(style), pid, out);
	if (t->ops->is_alive(t))
		t->ops->detach(t);
	t->ops->destroy(t);
out:
	loop_free(loop);
	return ret ? 1 : 0;
}

/* ---- core-info --------------------------------------------------------------------------- */

struct info_ctx {
	int images;
	int warnings;
};

static void info_hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * n] = 0;
}

/* Compare an image's recorded build-id with the file at its path today. */
static void info_check_disk(const struct core_image *img, struct info_ctx *ic)
{
	char want[130], have[130];
	const void *id = NULL;
	ssize_t len = -1;
	int fd;
	Elf *e;

	if (img->path[0] != '/' || !img->build_id_len)
		return;
	fd = open(img->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "warning: %s: %s (it was mapped when the core was written)\n",
			img->path, strerror(errno));
		ic->warnings++;
		return;
	}
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (e)
		len = dwelf_elf_gnu_build_id(e, &id);
	info_hex(img->build_id, img->build_id_len, want);
	if (len <= 0 || (size_t)len != img->build_id_len || memcmp(id, img->build_id, len)) {
		if (len > 0 && len <= 64)
			info_hex(id, len, have);
		else
			snprintf(have, sizeof(have), "none");
		fprintf(stderr,
			"warning: %s no longer matches the core: build-id %s on disk, %s "
			"when the core was written\n",
			img->path, have, want);
		ic->warnings++;
	}
	elf_end(e);
	close(fd);
}

static void info_print_image(const struct core_image *img, void *data)
{
	struct info_ctx *ic = data;
	char id[130];

	info_hex(img->build_id, img->build_id_len, id);
	printf("  %#014llx bias %#014llx %c%c%c%c %-40s %s\n", (unsigned long long)img->hdr_addr,
	       (unsigned long long)img->bias, img->flags & CORE_IMAGE_MAIN ? 'M' : '-',
	       img->flags & CORE_IMAGE_INTERP ? 'I' : '-', img->flags & CORE_IMAGE_VDSO ? 'V' : '-',
	       img->flags & CORE_IMAGE_EXECUTING ? 'X' : '-', id[0] ? id : "(no build-id)",
	       img->path);
	ic->images++;
	info_check_disk(img, ic);
}

/* Read the single PT_NOTE segment of an ELF core into a malloc'd buffer. */
static int info_read_notes(int fd, uint8_t **notes, size_t *len)
{
	Elf64_Ehdr eh;
	uint64_t phnum;

	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_type != ET_CORE || eh.e_phentsize != sizeof(Elf64_Phdr))
		return -EINVAL;
	phnum = eh.e_phnum;
	if (phnum == PN_XNUM) {
		Elf64_Shdr sh;

		if (pread(fd, &sh, sizeof(sh), eh.e_shoff) != sizeof(sh))
			return -EINVAL;
		phnum = sh.sh_info;
	}
	for (uint64_t i = 0; i < phnum; i++) {
		Elf64_Phdr ph;

		if (pread(fd, &ph, sizeof(ph), eh.e_phoff + i * sizeof(ph)) != sizeof(ph))
			return -EINVAL;
		if (ph.p_type != PT_NOTE)
			continue;
		*notes = malloc(ph.p_filesz ? ph.p_filesz : 1);
		if (!*notes)
			return -ENOMEM;
		*len = ph.p_filesz;
		if (pread(fd, *notes, *len, ph.p_offset) != (ssize_t)*len)
			return -EIO;
		return 0;
	}
	return -ENOENT;
}

static void info_walk_notes(const uint8_t *p, size_t len, struct info_ctx *ic)
{
	const uint8_t *images = NULL;
	size_t images_len = 0, off = 0;

	while (off + sizeof(Elf64_Nhdr) <= len) {
		const Elf64_Nhdr *nh = (const Elf64_Nhdr *)(p + off);
		const char *name = (const char *)(p + off + sizeof(*nh));
		const uint8_t *desc = (const uint8_t *)name + ((nh->n_namesz + 3) & ~3U);

		if (desc + nh->n_descsz > p + len)
			break;
		if (nh->n_type == NT_PRSTATUS && nh->n_descsz >= sizeof(struct elf_prstatus)) {
			struct elf_prstatus pr;

			memcpy(&pr, desc, sizeof(pr));
			printf("thread %d: signal %d, pc %#llx, sp %#llx\n", pr.pr_pid,
			       pr.pr_cursig, (unsigned long long)pr.pr_reg[16],
			       (unsigned long long)pr.pr_reg[19]);
		} else if (nh->n_type == CORE_NOTE_IMAGES &&
			   nh->n_namesz == sizeof(CORE_NOTE_OWNER) &&
			   !memcmp(name, CORE_NOTE_OWNER, sizeof(CORE_NOTE_OWNER))) {
			images = desc;
			images_len = nh->n_descsz;
		}
		off = desc - p + ((nh->n_descsz + 3) & ~3U);
	}
	if (!images) {
		fprintf(stderr, "warning: no PTSTUB image note (not written by ptstub)\n");
		return;
	}
	printf("images (M main, I loader, V vdso, X executing):\n");
	if (core_image_note_parse(images, images_len, info_print_image, ic) < 0)
		fprintf(stderr, "warning: the image note is malformed\n");
}

int core_info_main(int argc, char **argv)
{
	struct info_ctx ic = {0};
	uint8_t *notes = NULL;
	size_t len = 0;
	int fd, ret;

	if (argc != 2) {
		fprintf(stderr, "usage: ptstub core-info FILE\n");
		return 2;
	}
	elf_version(EV_CURRENT);
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "core-info: cannot open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	ret = info_read_notes(fd, &notes, &len);
	close(fd);
	if (ret) {
		fprintf(stderr, "core-info: %s is not an ELF core with notes: %s\n", argv[1],
			strerror(-ret));
		free(notes);
		return 1;
	}
	info_walk_notes(notes, len, &ic);
	free(notes);
	if (ic.warnings)
		printf("%d image(s), %d warning(s)\n", ic.images, ic.warnings);
	return 0;
}
