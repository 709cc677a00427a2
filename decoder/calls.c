/* decoder/calls.c — the call tree of a decoded trace: calls open a callee, returns close it,
 * a jump out of the current function into another one (by symbols) is a tail call. Each call
 * gets its instruction count (callees included) and its TSC span. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "decoder/decoder.h"

/* What the previous instruction leaves the next one to do. */
enum calls_pending { PENDING_NONE, PENDING_CALL, PENDING_RET, PENDING_JUMP };

struct calls_frame {
	int32_t call;		   /* index in the output */
	uint64_t fn_start, fn_end; /* its function's range, [0, 0) if unknown */
};

struct calls_state {
	struct dec_calls *out;
	struct dec_symbols *syms;
	struct calls_frame *stack; /* open calls, innermost last */
	size_t depth, cap;
	uint64_t fn_start, fn_end; /* the innermost call's function range, [0, 0) if unknown */
	enum calls_pending pending;
};

void dec_calls_init(struct dec_calls *c)
{
	memset(c, 0, sizeof(*c));
}

void dec_calls_fini(struct dec_calls *c)
{
	free(c->calls);
	dec_calls_init(c);
}

/* The function holding ip: its start (ip itself without symbols) and range. */
static uint64_t calls_function(struct calls_state *s, uint64_t ip, uint64_t *end)
{
	struct dec_symbol sym;

	*end = 0;
	if (!s->syms || dec_symbols_lookup(s->syms, ip, false, &sym) < 0 || !sym.function)
		return ip;
	*end = sym.start + (sym.size ? sym.size : 1);
	return sym.start;
}

static int calls_open(struct calls_state *s, const struct dec_insn *in, bool tail)
{
	struct dec_calls *c = s->out;
	struct dec_call *call;
	uint64_t end;

	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 256;
		struct dec_call *p = realloc(c->calls, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		c->calls = p;
		c->cap = cap;
	}
	if (s->depth == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct calls_frame *p = realloc(s->stack, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		s->stack = p;
		s->cap = cap;
	}
	call = &c->calls[c->n];
	memset(call, 0, sizeof(*call));
	call->entry = in->ip;
	call->function = calls_function(s, in->ip, &end);
	call->first = in->index;
	call->tsc_begin = in->tsc;
	call->tail = tail;
	call->parent = s->depth ? s->stack[s->depth - 1].call : -1;
	call->depth = (uint32_t)s->depth;
	if (call->parent >= 0)
		c->calls[call->parent].ncalls++;
	if (call->depth > c->max_depth)
		c->max_depth = call->depth;
	s->fn_start = end ? call->function : 0;
	s->fn_end = end;
	s->stack[s->depth].call = (int32_t)c->n++;
	s->stack[s->depth].fn_start = s->fn_start;
	s->stack[s->depth++].fn_end = s->fn_end;
	return 0;
}

/* Closes the innermost call; next is the index of the first instruction after it. */
static void calls_close(struct calls_state *s, uint64_t next, uint64_t tsc, bool truncated)
{
	struct dec_call *call = &s->out->calls[s->stack[--s->depth].call];

	call->ninsn = next - call->first;
	call->tsc_end = tsc;
	call->truncated = truncated;
	s->fn_start = s->depth ? s->stack[s->depth - 1].fn_start : 0;
	s->fn_end = s->depth ? s->stack[s->depth - 1].fn_end : 0;
}

/* A return with no open caller: the caller becomes a new root above every call so far. */
static int calls_new_root(struct calls_state *s, const struct dec_insn *in)
{
	struct dec_calls *c = s->out;
	size_t old = c->n;
	int err;

	err = calls_open(s, in, false);
	if (err)
		return err;
	c->calls[old].first = 0;
	for (size_t i = 0; i < old; i++) {
		c->calls[i].depth++;
		if (c->calls[i].parent < 0) {
			c->calls[i].parent = (int32_t)old;
			c->calls[old].ncalls++;
		}
	}
	c->max_depth = old ? c->max_depth + 1 : c->max_depth;
	return 0;
}

static int calls_insn(struct calls_state *s, const struct dec_insn *in)
{
	enum calls_pending p = s->pending;
	int err = 0;

	s->pending = PENDING_NONE;
	if (!s->depth)
		err = calls_open(s, in, false);
	else if (p == PENDING_CALL)
		err = calls_open(s, in, false);
	else if (p == PENDING_RET) {
		calls_close(s, in->index, in->tsc, false);
		if (!s->depth)
			err = calls_new_root(s, in);
	} else if (p == PENDING_JUMP && s->fn_end &&
		   (in->ip < s->fn_start || in->ip >= s->fn_end)) {
		calls_close(s, in->index, in->tsc, false);
		err = calls_open(s, in, true);
	}
	switch (in->iclass) {
	case DEC_IC_CALL:
	case DEC_IC_IND_CALL:
		s->pending = PENDING_CALL;
		break;
	case DEC_IC_RET:
		s->pending = PENDING_RET;
		break;
	case DEC_IC_JUMP:
	case DEC_IC_IND_JUMP:
	case DEC_IC_COND:
		s->pending = PENDING_JUMP;
		break;
	default:
		break;
	}
	return err;
}

static void calls_close_all(struct calls_state *s, uint64_t next, uint64_t tsc)
{
	while (s->depth)
		calls_close(s, next, tsc, true);
	s->pending = PENDING_NONE;
}

int dec_calls_build(struct dec_walker *w, struct dec_symbols *syms, const struct dec_trace *t,
		    struct dec_calls *out)
{
	struct calls_state s = {.out = out, .syms = syms};
	struct dec_insn insns[256];
	uint64_t last_tsc = 0;
	int err = 0;

	for (size_t r = 0; r < t->n && !err; r++) {
		const struct dec_record *rec = &t->recs[r];

		if (rec->kind == DEC_REC_GAP)
			calls_close_all(&s, rec->insn, rec->tsc);
		if (rec->kind != DEC_REC_BLOCK)
			continue;
		for (uint32_t done = 0; done < rec->ninsn && !err;) {
			ssize_t n = dec_walker_block(w, rec, done, insns, 256);

			if (n <= 0) {
				err = -EILSEQ;
				break;
			}
			for (ssize_t i = 0; i < n && !err; i++)
				err = calls_insn(&s, &insns[i]);
			done += (uint32_t)n;
		}
		last_tsc = rec->tsc;
	}
	calls_close_all(&s, t->ninsn, last_tsc);
	free(s.stack);
	return err;
}
