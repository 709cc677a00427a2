/* decoder/symbols.c — address to function + offset and file:line with libdwfl (libdw), over the
 * ELF files a target maps. Each file mapped at file offset 0 is one module, loaded where that
 * mapping starts (so PIE and shared libraries get their bias). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <elfutils/libdwfl.h>

#include "decoder/decoder.h"
#include "server/target.h"

struct dec_symbols {
	Dwfl *dwfl;
};

static const Dwfl_Callbacks symbols_callbacks = {
	.find_elf = dwfl_linux_proc_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
};

int dec_symbols_alloc(const struct tgt_region *regions, size_t n, struct dec_symbols **out)
{
	struct dec_symbols *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->dwfl = dwfl_begin(&symbols_callbacks);
	if (!s->dwfl) {
		free(s);
		return -ENOMEM;
	}
	dwfl_report_begin(s->dwfl);
	for (size_t i = 0; i < n; i++) {
		const struct tgt_region *r = &regions[i];
		bool seen = false;

		if (r->path[0] != '/' || r->offset != 0)
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = regions[j].offset == 0 && !strcmp(regions[j].path, r->path);
		/* A file that is no ELF (or is gone) is simply not a module. */
		if (!seen)
			dwfl_report_elf(s->dwfl, r->path, r->path, -1, r->start, false);
	}
	dwfl_report_end(s->dwfl, NULL, NULL);
	*out = s;
	return 0;
}

void dec_symbols_free(struct dec_symbols *s)
{
	if (!s)
		return;
	dwfl_end(s->dwfl);
	free(s);
}

static void symbols_source(Dwfl_Module *mod, uint64_t addr, struct dec_symbol *out)
{
	Dwfl_Line *line = dwfl_module_getsrc(mod, addr);
	int lineno = 0;

	if (!line)
		return;
	out->file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
	out->line = lineno;
}

int dec_symbols_lookup(struct dec_symbols *s, uint64_t addr, bool source, struct dec_symbol *out)
{
	Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, addr);
	GElf_Off off = 0;
	GElf_Sym sym;

	memset(out, 0, sizeof(*out));
	if (!mod)
		return -ENOENT;
	out->module = dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
	out->function = dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
	if (out->function) {
		out->offset = off;
		out->start = addr - off;
		out->size = sym.st_size;
	}
	if (source)
		symbols_source(mod, addr, out);
	return 0;
}
