/* decoder/disasm.c — instructions out of blocks: Zydis lengths and branch classes over the image
 * bytes (cached per address, so walking a hot loop decodes each instruction once), and the
 * AT&T / Intel text of one instruction. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <Zydis/Zydis.h>
#include <intel-pt.h>

#include "decoder/decoder.h"
#include "decoder/internal.h"

#define WALKER_CACHE 8192 /* entries, a power of two */

struct walker_entry {
	uint64_t ip; /* 0 = empty */
	uint64_t target;
	uint8_t size, mode, iclass;
	uint8_t bytes[15];
};

struct dec_walker {
	struct dec_image *img;
	ZydisDecoder zy64, zy32, zy16;
	struct walker_entry cache[WALKER_CACHE];
};

struct dec_walker *dec_walker_alloc(struct dec_image *img)
{
	struct dec_walker *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->img = img;
	ZydisDecoderInit(&w->zy64, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	ZydisDecoderInit(&w->zy32, ZYDIS_MACHINE_MODE_LONG_COMPAT_32, ZYDIS_STACK_WIDTH_32);
	ZydisDecoderInit(&w->zy16, ZYDIS_MACHINE_MODE_LONG_COMPAT_16, ZYDIS_STACK_WIDTH_16);
	return w;
}

void dec_walker_free(struct dec_walker *w)
{
	free(w);
}

static const ZydisDecoder *walker_zydis(const struct dec_walker *w, uint8_t mode)
{
	if (mode == ptem_32bit)
		return &w->zy32;
	if (mode == ptem_16bit)
		return &w->zy16;
	return &w->zy64;
}

static uint8_t classify(const ZydisDecodedInstruction *in)
{
	bool direct = in->raw.imm[0].is_relative;

	switch (in->meta.category) {
	case ZYDIS_CATEGORY_COND_BR:
		/* XBEGIN is a COND_BR for Zydis but no branch for PT. */
		return in->mnemonic == ZYDIS_MNEMONIC_XBEGIN ? DEC_IC_OTHER : DEC_IC_COND;
	case ZYDIS_CATEGORY_UNCOND_BR:
		if (in->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR)
			return DEC_IC_FAR;
		return direct ? DEC_IC_JUMP : DEC_IC_IND_JUMP;
	case ZYDIS_CATEGORY_CALL:
		if (in->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR)
			return DEC_IC_FAR;
		return direct ? DEC_IC_CALL : DEC_IC_IND_CALL;
	case ZYDIS_CATEGORY_RET:
		return in->meta.branch_type == ZYDIS_BRANCH_TYPE_NEAR ? DEC_IC_RET : DEC_IC_FAR;
	case ZYDIS_CATEGORY_SYSCALL:
	case ZYDIS_CATEGORY_INTERRUPT:
		return DEC_IC_SYSCALL;
	default:
		return DEC_IC_OTHER;
	}
}

static int walker_decode(struct dec_walker *w, uint64_t ip, uint8_t mode, struct walker_entry *e)
{
	ZydisDecodedInstruction in;
	ssize_t got;

	memset(e, 0, sizeof(*e));
	e->ip = ip;
	e->mode = mode;
	e->iclass = DEC_IC_ERROR;
	got = dec_image_read(w->img, ip, e->bytes, sizeof(e->bytes));
	if (got <= 0)
		return -EFAULT;
	if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(walker_zydis(w, mode), NULL, e->bytes,
							(ZyanUSize)got, &in)))
		return -EILSEQ;
	e->size = in.length;
	e->iclass = classify(&in);
	if (in.raw.imm[0].is_relative)
		e->target = ip + in.length + (uint64_t)in.raw.imm[0].value.s;
	return 0;
}

static void entry_to_insn(const struct walker_entry *e, struct dec_insn *out)
{
	out->ip = e->ip;
	out->target = e->target;
	out->size = e->size;
	out->mode = e->mode;
	out->iclass = e->iclass;
	memcpy(out->bytes, e->bytes, sizeof(out->bytes));
}

/* The cached entry for ip, decoding it on a miss. */
static const struct walker_entry *walker_lookup(struct dec_walker *w, uint64_t ip, uint8_t mode,
						int *err)
{
	struct walker_entry *e = &w->cache[(ip ^ (ip >> 13)) & (WALKER_CACHE - 1)];

	*err = 0;
	if (e->ip == ip && e->mode == mode && ip)
		return e;
	*err = walker_decode(w, ip, mode, e);
	if (*err)
		e->ip = 0; /* do not cache failures */
	return e;
}

int dec_walker_insn(struct dec_walker *w, uint64_t ip, uint8_t mode, struct dec_insn *out)
{
	int err;
	const struct walker_entry *e = walker_lookup(w, ip, mode, &err);

	memset(out, 0, sizeof(*out));
	entry_to_insn(e, out);
	out->ip = ip;
	return err;
}

ssize_t dec_walker_block(struct dec_walker *w, const struct dec_record *rec, uint32_t skip,
			 struct dec_insn *out, size_t max)
{
	uint64_t ip = rec->ip;
	size_t n = 0;

	for (uint32_t k = 0; k < rec->ninsn && n < max; k++) {
		int err;
		const struct walker_entry *e = walker_lookup(w, ip, rec->mode, &err);

		if (err)
			return n ? (ssize_t)n : -EILSEQ;
		if (k >= skip) {
			entry_to_insn(e, &out[n]);
			out[n].index = rec->insn + k;
			out[n].tsc = rec->tsc;
			n++;
		}
		/* Inside a block the decoder followed direct jumps and calls by itself. */
		if (e->iclass == DEC_IC_JUMP || e->iclass == DEC_IC_CALL)
			ip = e->target;
		else
			ip += e->size;
	}
	return (ssize_t)n;
}

ssize_t dec_trace_insns(struct dec_walker *w, const struct dec_trace *t, uint64_t first,
			size_t count, struct dec_insn *out)
{
	size_t r = dec_trace_find_insn(t, first), n = 0;

	for (; r < t->n && n < count; r++) {
		const struct dec_record *rec = &t->recs[r];
		uint32_t skip;
		ssize_t got;

		if (rec->kind != DEC_REC_BLOCK)
			continue;
		skip = first + n > rec->insn ? (uint32_t)(first + n - rec->insn) : 0;
		got = dec_walker_block(w, rec, skip, out + n, count - n);
		if (got < 0)
			return n ? (ssize_t)n : got;
		n += (size_t)got;
		if (got < (ssize_t)(rec->ninsn - skip) && n < count)
			break; /* the block could not be walked to its end */
	}
	return (ssize_t)n;
}

int dec_trace_visit(struct dec_walker *w, const struct dec_trace *t, uint64_t first, uint64_t count,
		    const struct dec_visitor *v)
{
	struct dec_insn insns[64];
	uint64_t end = first + count;
	int err;

	for (size_t r = dec_trace_find_insn(t, first); r < t->n; r++) {
		const struct dec_record *rec = &t->recs[r];
		uint64_t at;

		if (rec->kind != DEC_REC_BLOCK) {
			if (rec->insn >= end)
				break;
			if (rec->insn > first && v->marker && (err = v->marker(v->ctx, rec)))
				return err;
			continue;
		}
		if (rec->insn >= end)
			break;
		at = rec->insn > first ? rec->insn : first;
		while (at < end && at < rec->insn + rec->ninsn) {
			size_t want = end - at < 64 ? (size_t)(end - at) : 64;
			ssize_t n =
				dec_walker_block(w, rec, (uint32_t)(at - rec->insn), insns, want);

			if (n <= 0)
				return -EILSEQ;
			for (ssize_t i = 0; i < n; i++)
				if ((err = v->insn(v->ctx, &insns[i])))
					return err;
			at += (uint64_t)n;
		}
	}
	return 0;
}

int dec_disasm(const struct dec_insn *in, bool intel, char *out, size_t cap)
{
	ZydisDecoder zy;
	ZydisFormatter fmt;
	ZydisDecodedInstruction insn;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];

	if (in->mode == ptem_32bit)
		ZydisDecoderInit(&zy, ZYDIS_MACHINE_MODE_LONG_COMPAT_32, ZYDIS_STACK_WIDTH_32);
	else
		ZydisDecoderInit(&zy, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	if (!in->size ||
	    !ZYAN_SUCCESS(ZydisDecoderDecodeFull(&zy, in->bytes, in->size, &insn, ops)))
		return -EILSEQ;
	ZydisFormatterInit(&fmt, intel ? ZYDIS_FORMATTER_STYLE_INTEL : ZYDIS_FORMATTER_STYLE_ATT);
	/* Numbers as GDB and LLDB print them: lowercase hex, no zero padding. */
	ZydisFormatterSetProperty(&fmt, ZYDIS_FORMATTER_PROP_HEX_UPPERCASE, ZYAN_FALSE);
	ZydisFormatterSetProperty(&fmt, ZYDIS_FORMATTER_PROP_ADDR_PADDING_ABSOLUTE,
				  ZYDIS_PADDING_DISABLED);
	ZydisFormatterSetProperty(&fmt, ZYDIS_FORMATTER_PROP_ADDR_PADDING_RELATIVE,
				  ZYDIS_PADDING_DISABLED);
	ZydisFormatterSetProperty(&fmt, ZYDIS_FORMATTER_PROP_DISP_PADDING, ZYDIS_PADDING_DISABLED);
	ZydisFormatterSetProperty(&fmt, ZYDIS_FORMATTER_PROP_IMM_PADDING, ZYDIS_PADDING_DISABLED);
	if (!ZYAN_SUCCESS(ZydisFormatterFormatInstruction(
		    &fmt, &insn, ops, insn.operand_count_visible, out, cap, in->ip, NULL)))
		return -EILSEQ;
	return (int)strlen(out);
}
