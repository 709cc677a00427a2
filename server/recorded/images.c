/* server/recorded/images.c — the images a recorded core lists (its PTSTUB image note), each
 * matched by build-id with the file on disk (or its copy in the bundle), and the files that
 * serve the clean pages of every NT_FILE mapping. A file that is gone or changed is reported
 * and never read: stale bytes would be worse than none. */
#include <elfutils/libdwelf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/core/core_priv.h"
#include "server/recorded/recorded_priv.h"

static void hex_id(const uint8_t *p, size_t n, char *out, size_t cap)
{
	out[0] = 0;
	for (size_t i = 0; i < n && 2 * i + 2 < cap; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

/* The GNU build-id of the ELF file open on fd, as hex ("" if it has none). */
static void file_build_id(int fd, char *out, size_t cap)
{
	Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	const void *id = NULL;
	ssize_t len = e ? dwelf_elf_gnu_build_id(e, &id) : -1;

	out[0] = 0;
	if (len > 0)
		hex_id(id, (size_t)len, out, cap);
	elf_end(e);
}

/* Opens path if it carries the image's build-id; returns the fd, -ENOENT or -ESTALE. */
static int open_matching(struct recorded_image *img, const char *path, char *have, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	have[0] = 0;
	if (fd < 0)
		return -errno;
	if (!img->build_id[0])
		return fd;
	file_build_id(fd, have, cap);
	if (!strcmp(have, img->build_id))
		return fd;
	close(fd);
	return -ESTALE;
}

/* Pick the file an image's pages come from: the bundle's copy first, then its own path. */
static int image_choose(struct recorded_image *img, const char *image_dir, struct buf *diag)
{
	char copy[4096], have[129];
	int fd = -ENOENT, err;

	if (image_dir) {
		snprintf(copy, sizeof(copy), "%s%s", image_dir, img->path);
		fd = open_matching(img, copy, have, sizeof(have));
		if (fd >= 0) {
			snprintf(img->source, sizeof(img->source), "%s", copy);
			img->status = RECORDED_IMAGE_COPY;
			return fd;
		}
		if (fd == -ESTALE)
			buf_printf(diag,
				   "image %s: the copy %s has build-id %s, not the recorded %s: "
				   "not used\n",
				   img->path, copy, have[0] ? have : "(none)", img->build_id);
	}
	fd = open_matching(img, img->path, have, sizeof(have));
	if (fd >= 0) {
		snprintf(img->source, sizeof(img->source), "%s", img->path);
		img->status = img->build_id[0] ? RECORDED_IMAGE_OK : RECORDED_IMAGE_UNCHECKED;
		return fd;
	}
	err = fd;
	if (err == -ESTALE) {
		img->status = RECORDED_IMAGE_MISMATCH;
		buf_printf(diag,
			   "image %s: build-id mismatch: the file on disk has %s, the "
			   "recorded process had %s; its clean pages are not read from it and "
			   "debuggers loading it will show wrong code and symbols\n",
			   img->path, have[0] ? have : "(none)", img->build_id);
	} else {
		img->status = RECORDED_IMAGE_MISSING;
		buf_printf(diag,
			   "image %s: missing (%s); its clean pages (code, read-only data) "
			   "cannot be read and debuggers will not find its symbols\n",
			   img->path, strerror(-err));
	}
	return err;
}

struct note_walk {
	struct rec_target *rt;
};

static void image_add(const struct core_image *ci, void *data)
{
	struct rec_target *rt = ((struct note_walk *)data)->rt;
	struct recorded_image *img = &rt->images[rt->nimages++];

	memset(img, 0, sizeof(*img));
	img->load_address = ci->hdr_addr;
	img->bias = ci->bias;
	img->flags = ci->flags;
	hex_id(ci->build_id, ci->build_id_len, img->build_id, sizeof(img->build_id));
	snprintf(img->path, sizeof(img->path), "%s", ci->path);
}

/* Every NT_FILE mapping gets the file of its image (when usable) or, for files that are not
 * images (no build-id to check), its own path. */
static void open_mappings(struct rec_target *rt, const int *fds)
{
	struct rec_core *c = &rt->core;

	for (size_t i = 0; i < c->nfiles; i++) {
		struct rec_file_map *f = &c->files[i];
		bool is_image = false;

		for (size_t k = 0; k < rt->nimages && !is_image; k++) {
			if (strcmp(rt->images[k].path, f->path))
				continue;
			is_image = true;
			if (fds[k] >= 0)
				f->fd = dup(fds[k]);
		}
		if (!is_image)
			f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
	}
}

int rec_images_load(struct rec_target *rt, const char *image_dir, struct buf *diag)
{
	struct rec_core *c = &rt->core;
	struct note_walk w = {rt};
	size_t count;
	int *fds;

	if (!c->image_note.len) {
		buf_printf(diag,
			   "core: no PTSTUB image note (not written by ptstub): images are not "
			   "checked\n");
		open_mappings(rt, NULL);
		return 0;
	}
	count = c->image_note.len / 24 + 1; /* each entry takes at least 24 bytes */
	rt->images = calloc(count, sizeof(*rt->images));
	if (!rt->images)
		return -ENOMEM;
	if (core_image_note_parse(c->image_note.data, c->image_note.len, image_add, &w) < 0)
		buf_printf(diag, "core: the PTSTUB image note is malformed; %zu images read\n",
			   rt->nimages);
	fds = calloc(rt->nimages ? rt->nimages : 1, sizeof(*fds));
	if (!fds)
		return -ENOMEM;
	for (size_t k = 0; k < rt->nimages; k++) {
		struct recorded_image *img = &rt->images[k];

		fds[k] = -1;
		if (img->flags & CORE_IMAGE_VDSO || img->path[0] != '/')
			img->status = RECORDED_IMAGE_IN_CORE;
		else
			fds[k] = image_choose(img, image_dir, diag);
	}
	open_mappings(rt, fds);
	for (size_t k = 0; k < rt->nimages; k++)
		if (fds[k] >= 0)
			close(fds[k]);
	free(fds);
	return 0;
}

void rec_images_free(struct rec_target *rt)
{
	free(rt->images);
	rt->images = NULL;
	rt->nimages = 0;
}
