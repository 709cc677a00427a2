/* server/svr4.c — the dynamic linker's list of loaded objects (r_debug / link_map), read
 * through target_ops memory and auxv only, so it serves live and recorded targets alike.
 * Produces GDB's library-list-svr4 document (with lmid, which GDB 13 requires). */
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <string.h>

#include "protocol/xml.h"
#include "server/auxv.h"
#include "server/handlers/handlers.h"

static int read_u64(struct target *t, uint64_t addr, uint64_t *v)
{
	return t->ops->read_memory(t, addr, v, 8) == 8 ? 0 : -EIO;
}

/* The address of the executable's r_debug (DT_DEBUG), 0 if not set yet, -errno if none. */
static int64_t find_r_debug(struct target *t)
{
	struct buf auxv = BUF_INIT;
	int rc = t->ops->read_auxv(t, &auxv);
	uint64_t phdr = auxv_get(&auxv, AT_PHDR), phnum = auxv_get(&auxv, AT_PHNUM);
	buf_fini(&auxv);
	if (rc < 0)
		return rc;
	if (!phdr || !phnum || phnum > 256)
		return -ENOENT;
	uint64_t bias = 0, dynamic = 0;
	for (uint64_t i = 0; i < phnum; i++) {
		Elf64_Phdr ph;
		if (t->ops->read_memory(t, phdr + i * sizeof(ph), &ph, sizeof(ph)) != sizeof(ph))
			return -EIO;
		if (ph.p_type == PT_PHDR)
			bias = phdr - ph.p_vaddr;
		else if (ph.p_type == PT_DYNAMIC)
			dynamic = ph.p_vaddr;
	}
	if (!dynamic)
		return -ENOENT; /* static executable: no dynamic linker list */
	for (uint64_t a = dynamic + bias;; a += sizeof(Elf64_Dyn)) {
		Elf64_Dyn d;
		if (t->ops->read_memory(t, a, &d, sizeof(d)) != sizeof(d))
			return -EIO;
		if (d.d_tag == DT_NULL)
			return 0;
		if (d.d_tag == DT_DEBUG)
			return (int64_t)d.d_un.d_ptr;
	}
}

static void read_string(struct target *t, uint64_t addr, char *out, size_t cap)
{
	ssize_t n = addr ? t->ops->read_memory(t, addr, out, cap - 1) : 0;
	out[n > 0 ? (size_t)n : 0] = 0;
	out[cap - 1] = 0;
}

int svr4_library_list(struct target *t, struct buf *out, bool gdb_extras)
{
	int64_t r_debug = find_r_debug(t);
	if (r_debug < 0)
		return (int)r_debug;
	buf_puts(out, "<library-list-svr4 version=\"1.0\"");
	uint64_t lm = 0;
	if (r_debug && read_u64(t, (uint64_t)r_debug + offsetof(struct r_debug, r_map), &lm) < 0)
		lm = 0;
	/* GDB wants main-lm (for TLS) and lmid (its parser requires it); LLDB, given main-lm,
	 * stops re-reading r_debug at later rendezvous stops and misses libraries. */
	if (lm && gdb_extras)
		buf_printf(out, " main-lm=\"0x%llx\"", (unsigned long long)lm);
	buf_putc(out, '>');
	/* The first entry is the executable itself: only main-lm names it. */
	uint64_t next = 0;
	if (lm && read_u64(t, lm + offsetof(struct link_map, l_next), &next) < 0)
		next = 0;
	for (int guard = 0; next && guard < 4096; guard++) {
		struct link_map m;
		char name[4096];
		if (t->ops->read_memory(t, next, &m, sizeof(m)) != sizeof(m))
			break;
		read_string(t, (uint64_t)m.l_name, name, sizeof(name));
		if (name[0]) {
			buf_puts(out, "<library name=\"");
			xml_escape(out, name);
			buf_printf(out, "\" lm=\"0x%llx\" l_addr=\"0x%llx\" l_ld=\"0x%llx\"",
				   (unsigned long long)next, (unsigned long long)m.l_addr,
				   (unsigned long long)(uintptr_t)m.l_ld);
			if (gdb_extras)
				buf_printf(out, " lmid=\"0x%llx\"", (unsigned long long)r_debug);
			buf_puts(out, "/>");
		}
		next = (uint64_t)(uintptr_t)m.l_next;
	}
	buf_puts(out, "</library-list-svr4>");
	return 0;
}
