/* decoder/export.c — decoded traces as JSON (records, instructions, calls) written into a
 * caller's yajl generator, and the call tree as a Chrome trace file (Perfetto,
 * chrome://tracing): one complete ("X") event per call, nested by time. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <intel-pt.h>

#include "decoder/decoder.h"
#include "decoder/internal.h"

static const char *const event_names[DEC_EV_COUNT] = {
	[DEC_EV_ENABLED] = "enabled",	[DEC_EV_RESUMED] = "resumed",
	[DEC_EV_DISABLED] = "disabled", [DEC_EV_ASYNC_DISABLED] = "async-disabled",
	[DEC_EV_OVERFLOW] = "overflow", [DEC_EV_EXEC_MODE] = "exec-mode",
};

const char *dec_event_name(unsigned event)
{
	return event < DEC_EV_COUNT ? event_names[event] : "unknown";
}

uint64_t dec_tsc_to_ns(const struct dec_tsc_conv *c, uint64_t tsc)
{
	uint64_t quot = tsc >> c->time_shift, rem = tsc & ((1ull << c->time_shift) - 1);

	return c->time_zero + quot * c->time_mult + ((rem * c->time_mult) >> c->time_shift);
}

static void put_key(yajl_gen g, const char *key)
{
	yajl_gen_string(g, (const unsigned char *)key, strlen(key));
}

static void put_str(yajl_gen g, const char *key, const char *v)
{
	put_key(g, key);
	if (v)
		yajl_gen_string(g, (const unsigned char *)v, strlen(v));
	else
		yajl_gen_null(g);
}

static void put_u64(yajl_gen g, const char *key, uint64_t v)
{
	put_key(g, key);
	yajl_gen_integer(g, (long long)v);
}

static void put_bool(yajl_gen g, const char *key, bool v)
{
	put_key(g, key);
	yajl_gen_bool(g, v);
}

/* "tsc" and, when the conversion is known, "ns". */
static void put_time(yajl_gen g, uint64_t tsc, const struct dec_json_opts *o)
{
	if (!o->timestamps || !tsc)
		return;
	put_u64(g, "tsc", tsc);
	if (o->tsc_conv && o->tsc_conv->valid)
		put_u64(g, "ns", dec_tsc_to_ns(o->tsc_conv, tsc));
}

static unsigned mode_bits(uint8_t mode)
{
	return mode == ptem_32bit ? 32 : mode == ptem_16bit ? 16 : 64;
}

/* "function", "offset" (and "file", "line") of addr, as far as known. */
static void put_symbol(yajl_gen g, struct dec_symbols *syms, uint64_t addr, bool source)
{
	struct dec_symbol sym;

	if (!syms || dec_symbols_lookup(syms, addr, source, &sym) < 0 || !sym.function)
		return;
	put_str(g, "function", sym.function);
	put_u64(g, "offset", sym.offset);
	if (sym.file) {
		put_str(g, "file", sym.file);
		put_u64(g, "line", (uint64_t)sym.line);
	}
}

/* One record that is not a block: a gap or an event. */
static void put_marker(yajl_gen g, const struct dec_record *r, const struct dec_json_opts *o)
{
	yajl_gen_map_open(g);
	if (r->kind == DEC_REC_GAP) {
		put_str(g, "kind", "gap");
		put_str(g, "error", dec_errname(r->error));
		put_str(g, "message", dec_errstr(r->error));
	} else {
		put_str(g, "kind", "event");
		put_str(g, "event", dec_event_name(r->event));
		if (r->ip)
			put_u64(g, "ip", r->ip);
	}
	put_u64(g, "index", r->insn);
	put_u64(g, "trace_offset", r->offset);
	put_time(g, r->tsc, o);
	yajl_gen_map_close(g);
}

int dec_json_records(yajl_gen g, const struct dec_trace *t, size_t first, size_t count,
		     struct dec_symbols *syms, const struct dec_json_opts *o)
{
	yajl_gen_array_open(g);
	for (size_t i = first; i < t->n && i < first + count; i++) {
		const struct dec_record *r = &t->recs[i];

		if (r->kind != DEC_REC_BLOCK) {
			put_marker(g, r, o);
			continue;
		}
		yajl_gen_map_open(g);
		put_str(g, "kind", "block");
		put_u64(g, "ip", r->ip);
		put_u64(g, "end", r->end_ip);
		put_u64(g, "index", r->insn);
		put_u64(g, "insns", r->ninsn);
		put_u64(g, "mode", mode_bits(r->mode));
		put_time(g, r->tsc, o);
		if (o->symbols)
			put_symbol(g, syms, r->ip, o->source);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	return 0;
}

static void put_insn(yajl_gen g, const struct dec_insn *in, struct dec_symbols *syms,
		     const struct dec_json_opts *o)
{
	char text[128];

	yajl_gen_map_open(g);
	put_str(g, "kind", "insn");
	put_u64(g, "index", in->index);
	put_u64(g, "ip", in->ip);
	put_u64(g, "size", in->size);
	put_time(g, in->tsc, o);
	if (o->symbols)
		put_symbol(g, syms, in->ip, o->source);
	if (o->disassembly && dec_disasm(in, o->intel, text, sizeof(text)) >= 0)
		put_str(g, "text", text);
	yajl_gen_map_close(g);
}

struct json_insns_ctx {
	yajl_gen g;
	struct dec_symbols *syms;
	const struct dec_json_opts *o;
};

static int json_insn(void *ctx, const struct dec_insn *in)
{
	struct json_insns_ctx *j = ctx;

	put_insn(j->g, in, j->syms, j->o);
	return 0;
}

static int json_marker(void *ctx, const struct dec_record *rec)
{
	struct json_insns_ctx *j = ctx;

	put_marker(j->g, rec, j->o);
	return 0;
}

int dec_json_insns(yajl_gen g, struct dec_walker *w, const struct dec_trace *t, uint64_t first,
		   uint64_t count, struct dec_symbols *syms, const struct dec_json_opts *o)
{
	struct json_insns_ctx j = {g, syms, o};
	struct dec_visitor v = {json_insn, json_marker, &j};
	int err;

	yajl_gen_array_open(g);
	err = dec_trace_visit(w, t, first, count, &v);
	yajl_gen_array_close(g);
	return err;
}

int dec_json_calls(yajl_gen g, const struct dec_calls *c, size_t first, size_t count,
		   struct dec_symbols *syms)
{
	yajl_gen_array_open(g);
	for (size_t i = first; i < c->n && i < first + count; i++) {
		const struct dec_call *call = &c->calls[i];
		struct dec_symbol sym;

		yajl_gen_map_open(g);
		put_u64(g, "index", i);
		if (syms && !dec_symbols_lookup(syms, call->function, false, &sym) && sym.function)
			put_str(g, "function", sym.function);
		put_u64(g, "address", call->function);
		put_u64(g, "entry", call->entry);
		put_u64(g, "depth", call->depth);
		put_key(g, "parent");
		yajl_gen_integer(g, call->parent);
		put_u64(g, "first", call->first);
		put_u64(g, "insns", call->ninsn);
		put_u64(g, "calls", call->ncalls);
		if (call->tsc_begin) {
			put_u64(g, "tsc_begin", call->tsc_begin);
			put_u64(g, "tsc_end", call->tsc_end);
		}
		put_bool(g, "tail", call->tail);
		put_bool(g, "truncated", call->truncated);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	return 0;
}

int dec_json_summary(yajl_gen g, struct dec_walker *w, struct dec_symbols *syms,
		     const struct dec_trace *t, size_t top, const struct dec_tsc_conv *conv)
{
	struct dec_fn_count *fns = calloc(top ? top : 1, sizeof(*fns));
	unsigned errors[pte_bad_cpu + 1] = {0};
	uint64_t tsc_first = 0, tsc_last = 0;
	ssize_t nfns;

	if (!fns)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		const struct dec_record *r = &t->recs[i];

		if (r->kind == DEC_REC_GAP && -r->error >= 0 && -r->error <= pte_bad_cpu)
			errors[-r->error]++;
		if (r->tsc && !tsc_first)
			tsc_first = r->tsc;
		if (r->tsc)
			tsc_last = r->tsc;
	}
	nfns = dec_top_functions(w, syms, t, fns, top);
	yajl_gen_map_open(g);
	put_u64(g, "instructions", t->ninsn);
	put_u64(g, "records", t->n);
	put_u64(g, "gaps", t->ngaps);
	put_key(g, "errors");
	yajl_gen_map_open(g);
	for (int e = 1; e <= pte_bad_cpu; e++)
		if (errors[e])
			put_u64(g, dec_errname(-e), errors[e]);
	yajl_gen_map_close(g);
	if (tsc_first) {
		put_u64(g, "tsc_first", tsc_first);
		put_u64(g, "tsc_last", tsc_last);
		if (conv && conv->valid) {
			put_u64(g, "ns_first", dec_tsc_to_ns(conv, tsc_first));
			put_u64(g, "ns_last", dec_tsc_to_ns(conv, tsc_last));
		}
	}
	put_key(g, "top_functions");
	yajl_gen_array_open(g);
	for (ssize_t i = 0; i < nfns; i++) {
		struct dec_symbol sym;

		yajl_gen_map_open(g);
		if (syms && !dec_symbols_lookup(syms, fns[i].function, false, &sym))
			put_str(g, "function", sym.function);
		put_u64(g, "address", fns[i].function);
		put_u64(g, "instructions", fns[i].ninsn);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	free(fns);
	return nfns < 0 ? (int)nfns : 0;
}

static void write_file(void *ctx, const char *s, size_t len)
{
	fwrite(s, 1, len, ctx);
}

/* Start and duration of a call in microseconds. */
static void call_time(const struct dec_call *call, uint64_t tsc0, double tsc_per_us, double *ts,
		      double *dur)
{
	if (tsc_per_us > 0 && call->tsc_begin && call->tsc_end >= call->tsc_begin) {
		*ts = (double)(call->tsc_begin - tsc0) / tsc_per_us;
		*dur = (double)(call->tsc_end - call->tsc_begin) / tsc_per_us;
	} else {
		*ts = (double)call->first;
		*dur = (double)call->ninsn;
	}
}

int dec_chrome_trace(FILE *f, const struct dec_calls *c, struct dec_symbols *syms, int pid, int tid,
		     double tsc_per_us)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	uint64_t tsc0 = c->n ? c->calls[0].tsc_begin : 0;
	char name[64];

	if (!g)
		return -ENOMEM;
	yajl_gen_config(g, yajl_gen_print_callback, write_file, f);
	for (size_t i = 0; i < c->n; i++)
		if (c->calls[i].tsc_begin && c->calls[i].tsc_begin < tsc0)
			tsc0 = c->calls[i].tsc_begin;
	yajl_gen_map_open(g);
	put_key(g, "traceEvents");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < c->n; i++) {
		const struct dec_call *call = &c->calls[i];
		struct dec_symbol sym;
		const char *fn = NULL;
		double ts, dur;

		if (syms && !dec_symbols_lookup(syms, call->function, false, &sym))
			fn = sym.function;
		if (!fn) {
			snprintf(name, sizeof(name), "%#llx", (unsigned long long)call->function);
			fn = name;
		}
		call_time(call, tsc0, tsc_per_us, &ts, &dur);
		yajl_gen_map_open(g);
		put_str(g, "name", fn);
		put_str(g, "ph", "X");
		put_key(g, "ts");
		yajl_gen_double(g, ts);
		put_key(g, "dur");
		yajl_gen_double(g, dur);
		put_u64(g, "pid", (uint64_t)pid);
		put_u64(g, "tid", (uint64_t)tid);
		put_key(g, "args");
		yajl_gen_map_open(g);
		put_u64(g, "insns", call->ninsn);
		put_u64(g, "depth", call->depth);
		yajl_gen_map_close(g);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	put_str(g, "displayTimeUnit", "ns");
	yajl_gen_map_close(g);
	yajl_gen_free(g);
	return ferror(f) ? -EIO : 0;
}
