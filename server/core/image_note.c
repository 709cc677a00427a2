/* server/core/image_note.c — the images (executable, libraries, loader, vDSO) mapped in a
 * target, with their build-ids read from memory, and our image note that records them.
 *
 * Image note: owner "PTSTUB", n_type 0x5054494d ("PTIM"), 4-byte padded like every note.
 * desc = u32 version (1), u32 count, then count entries, each 8-byte aligned:
 *   u64 load_address  where the image's ELF header is mapped
 *   u64 load_bias     load_address minus the first PT_LOAD's page-aligned p_vaddr
 *   u32 flags         1 main executable, 2 dynamic loader, 4 vDSO,
 *                     8 executing (a frame of some thread's stack is in it: unwind.c)
 *   u16 build_id_len  bytes of the GNU build-id (0 if none)
 *   u16 path_len      bytes of the path including its NUL
 *   build_id bytes, path bytes, zero padding to a multiple of 8. */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "server/auxv.h"
#include "server/core/core_priv.h"

#define IMAGE_MAX_PHDRS 64
#define IMAGE_MAX_NOTES 4096

static bool image_read(struct core_ctx *c, uint64_t addr, void *buf, size_t len)
{
	return c->t->ops->read_memory(c->t, addr, buf, len) == (ssize_t)len;
}

/* Find NT_GNU_BUILD_ID in a PT_NOTE segment's bytes. */
static void image_build_id_from_notes(struct core_image *img, const uint8_t *p, size_t len)
{
	size_t off = 0;

	while (off + sizeof(Elf64_Nhdr) <= len) {
		const Elf64_Nhdr *nh = (const Elf64_Nhdr *)(p + off);
		size_t name_off = off + sizeof(*nh);
		size_t desc_off = name_off + ((nh->n_namesz + 3) & ~3U);

		if (desc_off + nh->n_descsz > len)
			return;
		if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
		    !memcmp(p + name_off, "GNU", 4) && nh->n_descsz <= sizeof(img->build_id)) {
			memcpy(img->build_id, p + desc_off, nh->n_descsz);
			img->build_id_len = nh->n_descsz;
			return;
		}
		off = desc_off + ((nh->n_descsz + 3) & ~3U);
	}
}

/* Read the ELF header and program headers at img->hdr_addr: load bias and build-id. */
static void image_inspect(struct core_ctx *c, struct core_image *img)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[IMAGE_MAX_PHDRS];
	uint8_t notes[IMAGE_MAX_NOTES];
	size_t nph;

	img->bias = img->hdr_addr;
	if (!image_read(c, img->hdr_addr, &eh, sizeof(eh)) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr))
		return;
	nph = eh.e_phnum < IMAGE_MAX_PHDRS ? eh.e_phnum : IMAGE_MAX_PHDRS;
	if (!image_read(c, img->hdr_addr + eh.e_phoff, ph, nph * sizeof(ph[0])))
		return;
	for (size_t i = 0; i < nph; i++) {
		if (ph[i].p_type == PT_LOAD) {
			img->bias = img->hdr_addr - (ph[i].p_vaddr & ~(CORE_PAGE - 1));
			break;
		}
	}
	for (size_t i = 0; i < nph && !img->build_id_len; i++) {
		size_t len = ph[i].p_filesz < sizeof(notes) ? ph[i].p_filesz : sizeof(notes);

		if (ph[i].p_type == PT_NOTE && image_read(c, img->bias + ph[i].p_vaddr, notes, len))
			image_build_id_from_notes(img, notes, len);
	}
}

static bool image_is_mapped_elf(struct core_ctx *c, const struct tgt_region *r)
{
	uint8_t magic[SELFMAG];

	if (r->offset || !(r->prot & PROT_READ) || r->shared)
		return false;
	if (r->path[0] != '/' && strcmp(r->path, "[vdso]"))
		return false;
	return image_read(c, r->start, magic, sizeof(magic)) && !memcmp(magic, ELFMAG, SELFMAG);
}

int core_find_images(struct core_ctx *c)
{
	uint64_t interp = auxv_get(&c->auxv, AT_BASE), vdso = auxv_get(&c->auxv, AT_SYSINFO_EHDR);

	c->images = calloc(c->nregions ? c->nregions : 1, sizeof(*c->images));
	if (!c->images)
		return -ENOMEM;
	for (size_t i = 0; i < c->nregions; i++) {
		const struct tgt_region *r = &c->regions[i];
		struct core_image *img = &c->images[c->nimages];

		if (!image_is_mapped_elf(c, r))
			continue;
		img->hdr_addr = r->start;
		snprintf(img->path, sizeof(img->path), "%s", r->path);
		if (c->pinfo.exe[0] && !strcmp(r->path, c->pinfo.exe))
			img->flags |= CORE_IMAGE_MAIN;
		if (r->start == interp)
			img->flags |= CORE_IMAGE_INTERP;
		if (r->start == vdso || !strcmp(r->path, "[vdso]"))
			img->flags |= CORE_IMAGE_VDSO;
		image_inspect(c, img);
		c->nimages++;
	}
	return 0;
}

struct core_image *core_image_at(const struct core_ctx *c, uint64_t addr)
{
	for (size_t i = 0; i < c->nregions; i++) {
		const struct tgt_region *r = &c->regions[i];

		if (addr < r->start || addr >= r->end)
			continue;
		if (!(r->prot & PROT_EXEC))
			return NULL;
		for (size_t k = 0; k < c->nimages; k++)
			if (!strcmp(c->images[k].path, r->path))
				return &c->images[k];
		return NULL;
	}
	return NULL;
}

void core_put_image_note(const struct core_ctx *c, struct buf *out)
{
	struct buf desc = BUF_INIT;
	uint32_t head[2] = {CORE_IMAGE_NOTE_VERSION, c->nimages};
	static const uint8_t zeros[8];

	buf_append(&desc, head, sizeof(head));
	for (size_t i = 0; i < c->nimages; i++) {
		const struct core_image *img = &c->images[i];
		uint16_t id_len = img->build_id_len, path_len = strlen(img->path) + 1;
		size_t start = desc.len;

		buf_append(&desc, &img->hdr_addr, 8);
		buf_append(&desc, &img->bias, 8);
		buf_append(&desc, &img->flags, 4);
		buf_append(&desc, &id_len, 2);
		buf_append(&desc, &path_len, 2);
		buf_append(&desc, img->build_id, id_len);
		buf_append(&desc, img->path, path_len);
		buf_append(&desc, zeros, (8 - (desc.len - start) % 8) % 8);
	}
	core_note_put(out, CORE_NOTE_OWNER, CORE_NOTE_IMAGES, desc.data, desc.len);
	buf_fini(&desc);
}

int core_image_note_parse(const void *desc, size_t len, core_image_proc *proc, void *data)
{
	const uint8_t *p = desc;
	uint32_t head[2];
	size_t off = sizeof(head);

	if (len < sizeof(head))
		return -EINVAL;
	memcpy(head, p, sizeof(head));
	if (head[0] != CORE_IMAGE_NOTE_VERSION)
		return -EINVAL;
	for (uint32_t i = 0; i < head[1]; i++) {
		struct core_image img = {0};
		uint16_t id_len, path_len;

		if (off + 24 > len)
			return -EINVAL;
		memcpy(&img.hdr_addr, p + off, 8);
		memcpy(&img.bias, p + off + 8, 8);
		memcpy(&img.flags, p + off + 16, 4);
		memcpy(&id_len, p + off + 20, 2);
		memcpy(&path_len, p + off + 22, 2);
		if (id_len > sizeof(img.build_id) || !path_len || path_len > sizeof(img.path) ||
		    off + 24 + id_len + path_len > len)
			return -EINVAL;
		memcpy(img.build_id, p + off + 24, id_len);
		img.build_id_len = id_len;
		memcpy(img.path, p + off + 24 + id_len, path_len);
		img.path[path_len - 1] = 0;
		off += (24 + id_len + path_len + 7) & ~(size_t)7;
		proc(&img, data);
	}
	return head[1];
}
