/* decoder/view.c — the decoded trace shown other ways: GDB's BTS blocks (newest first, linear
 * runs), the text LLDB's `thread trace dump instructions / function-calls` prints, and
 * instruction counts per function for summaries. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "decoder/decoder.h"
#include "decoder/internal.h"

/* ---- BTS blocks ---- */

struct bts_ctx {
	struct dec_bts_block *blocks;
	size_t n, cap;
	uint64_t begin, next; /* the open run: first instruction, address after its last */
	uint64_t last;	      /* its last instruction */
	bool open;
};

static int bts_push(struct bts_ctx *b, uint64_t begin, uint64_t end)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 256;
		struct dec_bts_block *p = realloc(b->blocks, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		b->blocks = p;
		b->cap = cap;
	}
	b->blocks[b->n].begin = begin;
	b->blocks[b->n++].end = end;
	return 0;
}

/* Extends the open run with the instruction at ip, or closes it and opens a new one. */
static int bts_add(struct bts_ctx *b, uint64_t ip, uint64_t size)
{
	int err = 0;

	if (b->open && ip != b->next)
		err = bts_push(b, b->begin, b->last);
	if (!b->open || ip != b->next)
		b->begin = ip;
	b->open = true;
	b->last = ip;
	b->next = ip + size;
	return err;
}

static int bts_insn(void *ctx, const struct dec_insn *in)
{
	return bts_add(ctx, in->ip, in->size);
}

ssize_t dec_bts_blocks(struct dec_walker *w, const struct dec_trace *t, uint64_t pc,
		       struct dec_bts_block **out)
{
	return dec_bts_blocks_since(w, t, 0, pc, out);
}

ssize_t dec_bts_blocks_since(struct dec_walker *w, const struct dec_trace *t, uint64_t first,
			     uint64_t pc, struct dec_bts_block **out)
{
	struct bts_ctx b = {0};
	struct dec_visitor v = {bts_insn, NULL, &b};
	int err = first < t->ninsn ? dec_trace_visit(w, t, first, t->ninsn - first, &v) : 0;

	if (!err && pc)
		err = bts_add(&b, pc, 0);
	if (!err && b.open)
		err = bts_push(&b, b.begin, b.last);
	if (err) {
		free(b.blocks);
		*out = NULL;
		return err;
	}
	for (size_t i = 0; i < b.n / 2; i++) {
		struct dec_bts_block tmp = b.blocks[i];

		b.blocks[i] = b.blocks[b.n - 1 - i];
		b.blocks[b.n - 1 - i] = tmp;
	}
	*out = b.blocks;
	return (ssize_t)b.n;
}

void dec_bts_xml(const struct dec_bts_block *blocks, size_t n, struct buf *out)
{
	buf_puts(out, "<!DOCTYPE btrace SYSTEM \"btrace.dtd\">\n<btrace version=\"1.0\">\n");
	for (size_t i = 0; i < n; i++)
		buf_printf(out, "<block begin=\"0x%" PRIx64 "\" end=\"0x%" PRIx64 "\"/>\n",
			   blocks[i].begin, blocks[i].end);
	buf_puts(out, "</btrace>\n");
}

/* ---- text ---- */

struct text_ctx {
	struct buf *out;
	struct dec_symbols *syms;
	const struct dec_text_opts *o;
	uint64_t fn_start, fn_end; /* the function of the last header, [0, 0) if none */
	bool header;		   /* a header was printed since the last marker */
};

static const char *base_name(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;

	return slash ? slash + 1 : path ? path : "?";
}

/* Prints a function header when ip left the function of the previous header. */
static void text_header(struct text_ctx *x, uint64_t ip, struct dec_symbol *sym)
{
	if (x->header && ip >= x->fn_start && ip < x->fn_end) {
		sym->offset = ip - x->fn_start;
		sym->function = "";
		return;
	}
	if (!x->syms || dec_symbols_lookup(x->syms, ip, x->o->source, sym) < 0 || !sym->function) {
		memset(sym, 0, sizeof(*sym));
		if (!x->header || x->fn_end)
			buf_printf(x->out, "  %s`0x%" PRIx64 "\n", base_name(sym->module), ip);
		x->fn_start = x->fn_end = 0;
		x->header = true;
		return;
	}
	buf_printf(x->out, "  %s`%s", base_name(sym->module), sym->function);
	if (sym->offset)
		buf_printf(x->out, " + %" PRIu64, sym->offset);
	if (sym->file)
		buf_printf(x->out, " at %s:%d", base_name(sym->file), sym->line);
	buf_putc(x->out, '\n');
	x->fn_start = sym->start;
	x->fn_end = sym->start + (sym->size ? sym->size : 1);
	x->header = true;
}

static int text_insn(void *ctx, const struct dec_insn *in)
{
	struct text_ctx *x = ctx;
	struct dec_symbol sym;
	char text[128];

	text_header(x, in->ip, &sym);
	if (dec_disasm(in, x->o->intel, text, sizeof(text)) < 0)
		snprintf(text, sizeof(text), "<undecodable>");
	buf_printf(x->out, "    [%" PRIu64 "] 0x%016" PRIx64, in->index, in->ip);
	if (sym.function)
		buf_printf(x->out, " <+%" PRIu64 ">", sym.offset);
	buf_printf(x->out, ": %s", text);
	if (x->o->timestamps && in->tsc)
		buf_printf(x->out, "  tsc %" PRIu64, in->tsc);
	buf_putc(x->out, '\n');
	return 0;
}

static int text_marker(void *ctx, const struct dec_record *rec)
{
	struct text_ctx *x = ctx;

	if (rec->kind == DEC_REC_GAP)
		buf_printf(x->out, "    [%" PRIu64 "] error: %s: %s (trace offset %" PRIu64 ")\n",
			   rec->insn, dec_errname(rec->error), dec_errstr(rec->error), rec->offset);
	else
		buf_printf(x->out, "    [%" PRIu64 "] event: %s\n", rec->insn,
			   dec_event_name(rec->event));
	x->header = false;
	return 0;
}

int dec_text_insns(struct buf *out, struct dec_walker *w, const struct dec_trace *t, uint64_t first,
		   uint64_t count, struct dec_symbols *syms, const struct dec_text_opts *o)
{
	struct text_ctx x = {.out = out, .syms = syms, .o = o};
	struct dec_visitor v = {text_insn, text_marker, &x};

	return dec_trace_visit(w, t, first, count, &v);
}

void dec_text_calls(struct buf *out, const struct dec_calls *c, size_t first, size_t count,
		    struct dec_symbols *syms)
{
	for (size_t i = first; i < c->n && i < first + count; i++) {
		const struct dec_call *call = &c->calls[i];
		struct dec_symbol sym;

		buf_printf(out, "[%zu] %*s", i, (int)(2 * call->depth), "");
		if (syms && !dec_symbols_lookup(syms, call->function, false, &sym) && sym.function)
			buf_puts(out, sym.function);
		else
			buf_printf(out, "0x%" PRIx64, call->function);
		buf_printf(out,
			   " (entry 0x%" PRIx64 ") insns %" PRIu64 " [%" PRIu64 "..%" PRIu64
			   "]%s%s\n",
			   call->entry, call->ninsn, call->first,
			   call->ninsn ? call->first + call->ninsn - 1 : call->first,
			   call->tail ? " tail" : "", call->truncated ? " truncated" : "");
	}
}

/* ---- instructions per function ---- */

struct fn_table {
	struct dec_fn_count *slots; /* open addressing by function; ninsn 0 = empty */
	size_t cap, used;
	struct dec_symbols *syms;
	uint64_t fn, fn_start, fn_end; /* the current function and its range */
	struct dec_fn_count *cur;
};

static struct dec_fn_count *fn_slot(struct dec_fn_count *slots, size_t cap, uint64_t fn)
{
	size_t i = (size_t)((fn * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);

	while (slots[i].ninsn && slots[i].function != fn)
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

static int fn_grow(struct fn_table *f)
{
	size_t cap = f->cap ? 2 * f->cap : 1024;
	struct dec_fn_count *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < f->cap; i++)
		if (f->slots[i].ninsn)
			*fn_slot(slots, cap, f->slots[i].function) = f->slots[i];
	free(f->slots);
	f->slots = slots;
	f->cap = cap;
	f->cur = NULL;
	return 0;
}

static int fn_insn(void *ctx, const struct dec_insn *in)
{
	struct fn_table *f = ctx;

	if (!f->cur || in->ip < f->fn_start || in->ip >= f->fn_end) {
		struct dec_symbol sym;

		f->fn = in->ip;
		f->fn_start = f->fn_end = 0;
		if (f->syms && !dec_symbols_lookup(f->syms, in->ip, false, &sym) && sym.function) {
			f->fn = f->fn_start = sym.start;
			f->fn_end = sym.start + (sym.size ? sym.size : 1);
		}
		if ((f->used + 1) * 2 > f->cap && fn_grow(f))
			return -ENOMEM;
		f->cur = fn_slot(f->slots, f->cap, f->fn);
		if (!f->cur->ninsn) {
			f->cur->function = f->fn;
			f->used++;
		}
	}
	f->cur->ninsn++;
	return 0;
}

static int fn_count_cmp(const void *a, const void *b)
{
	const struct dec_fn_count *x = a, *y = b;

	return x->ninsn > y->ninsn ? -1 : x->ninsn < y->ninsn;
}

ssize_t dec_top_functions(struct dec_walker *w, struct dec_symbols *syms, const struct dec_trace *t,
			  struct dec_fn_count *out, size_t max)
{
	struct fn_table f = {.syms = syms};
	struct dec_visitor v = {fn_insn, NULL, &f};
	size_t n = 0;
	int err = fn_grow(&f);

	if (!err)
		err = dec_trace_visit(w, t, 0, t->ninsn, &v);
	if (err) {
		free(f.slots);
		return err;
	}
	for (size_t i = 0; i < f.cap; i++)
		if (f.slots[i].ninsn)
			f.slots[n++] = f.slots[i];
	qsort(f.slots, n, sizeof(*f.slots), fn_count_cmp);
	n = n < max ? n : max;
	memcpy(out, f.slots, n * sizeof(*out));
	free(f.slots);
	return (ssize_t)n;
}
