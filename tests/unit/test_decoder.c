/* tests/unit/test_decoder.c — decodes a real trace of tests/programs/decode_fib (single-stepped
 * here, encoded by collector/pt_encoder) and checks it against the stepped PCs: instructions,
 * parallel == single-threaded on a multi-megabyte trace, symbols, the fib(10) call tree, exports.
 * Usage: test_decoder PROGRAM */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <intel-pt.h>
#include <yajl/yajl_tree.h>

#include "collector/pt_encoder.h"
#include "decoder/decoder.h"
#include "check.h"

#define MAX_STEPS 200000

/* test_decoder_maps.c (apart: server/target.h and <signal.h> do not mix). */
size_t test_read_maps(pid_t pid, struct tgt_region **out);

/* One stepped run: the PCs executed, the step pairs, the mappings, the child (still stopped). */
struct run {
	pid_t pid;
	uint64_t *pcs;
	size_t npcs;
	struct ptenc_step *steps;
	size_t nsteps;
	struct tgt_region *regions;
	size_t nregions;
};

static ssize_t read_child(void *ctx, uint64_t addr, void *buf, size_t len)
{
	const struct run *r = ctx;
	struct iovec local = {buf, len}, remote = {(void *)(uintptr_t)addr, len};
	ssize_t n = process_vm_readv(r->pid, &local, 1, &remote, 1, 0);

	return n < 0 ? -errno : n;
}

static uint64_t child_pc(pid_t pid)
{
	struct user_regs_struct regs;

	if (ptrace(PTRACE_GETREGS, pid, NULL, &regs) < 0)
		return 0;
	return regs.rip;
}

/* Runs prog to its first int3, single-steps it to the second; the child stays stopped. */
static int run_stepped(const char *prog, struct run *r)
{
	int status;
	uint64_t pc;

	memset(r, 0, sizeof(*r));
	r->pid = fork();
	if (r->pid == 0) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		execl(prog, prog, (char *)NULL);
		_exit(127);
	}
	if (waitpid(r->pid, &status, 0) != r->pid || !WIFSTOPPED(status))
		return -1;
	ptrace(PTRACE_SETOPTIONS, r->pid, NULL, (void *)PTRACE_O_EXITKILL);
	ptrace(PTRACE_CONT, r->pid, NULL, NULL);
	if (waitpid(r->pid, &status, 0) != r->pid || !WIFSTOPPED(status) ||
	    WSTOPSIG(status) != SIGTRAP)
		return -1;
	r->pcs = malloc(MAX_STEPS * sizeof(*r->pcs));
	r->steps = malloc((MAX_STEPS + 2) * sizeof(*r->steps));
	pc = child_pc(r->pid);
	r->steps[r->nsteps++] = (struct ptenc_step){PTENC_RESUME, pc, 0};
	while (r->npcs < MAX_STEPS) {
		uint8_t op = 0;
		uint64_t next;

		if (read_child(r, pc, &op, 1) != 1 || op == 0xcc)
			break;
		ptrace(PTRACE_SINGLESTEP, r->pid, NULL, NULL);
		if (waitpid(r->pid, &status, 0) != r->pid || !WIFSTOPPED(status) ||
		    WSTOPSIG(status) != SIGTRAP)
			return -1;
		next = child_pc(r->pid);
		r->steps[r->nsteps++] = (struct ptenc_step){PTENC_STEP, pc, next};
		if (next != pc) /* a REP string iteration repeats the same instruction */
			r->pcs[r->npcs++] = pc;
		pc = next;
	}
	r->steps[r->nsteps++] = (struct ptenc_step){PTENC_STOP, pc, 0};
	r->nregions = test_read_maps(r->pid, &r->regions);
	return 0;
}

/* Encodes the run's steps repeat times into one trace. */
static int encode(struct run *r, unsigned repeat, bool tsc, struct buf *out)
{
	struct ptenc_config cfg = PTENC_CONFIG_INIT;
	struct ptenc *e;

	cfg.ring_size = 256 << 20;
	cfg.psb_period = 2048;
	cfg.tsc = tsc;
	e = ptenc_alloc(&cfg, read_child, r);
	if (!e)
		return -ENOMEM;
	for (unsigned k = 0; k < repeat; k++)
		ptenc_replay(e, r->steps, r->nsteps);
	ptenc_read(e, out);
	ptenc_free(e);
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Every decoded instruction equals the stepped PC at the same index (repeated). */
static void check_insns(struct dec_image *img, const struct dec_trace *t, const struct run *r,
			unsigned repeat)
{
	struct dec_walker *w = dec_walker_alloc(img);
	struct dec_insn *buf = malloc(4096 * sizeof(*buf));
	uint64_t i = 0, mismatches = 0;

	CHECK(t->ngaps == 0);
	CHECK(t->ninsn == r->npcs * repeat);
	while (i < t->ninsn) {
		ssize_t n = dec_trace_insns(w, t, i, 4096, buf);

		CHECK(n > 0);
		if (n <= 0)
			break;
		for (ssize_t k = 0; k < n; k++, i++)
			if (buf[k].ip != r->pcs[i % r->npcs] || buf[k].index != i)
				if (mismatches++ < 5)
					fprintf(stderr,
						"insn %" PRIu64 ": %#" PRIx64 " != %#" PRIx64 "\n",
						i, buf[k].ip, r->pcs[i % r->npcs]);
	}
	CHECK(mismatches == 0);
	free(buf);
	dec_walker_free(w);
}

static void test_single(struct run *r, struct dec_cache *cache)
{
	struct buf pt = BUF_INIT;
	struct dec_image *files, *mem;
	struct dec_trace t1, t2;

	CHECK(encode(r, 1, true, &pt) == 0);
	/* Code from the ELF files only, then from the live process only. */
	CHECK(dec_image_alloc(cache, r->regions, r->nregions, NULL, NULL, &files) == 0);
	CHECK(dec_image_alloc(NULL, NULL, 0, read_child, r, &mem) == 0);
	dec_trace_init(&t1);
	dec_trace_init(&t2);
	CHECK(dec_decode(files, pt.data, pt.len, NULL, &t1) == 0);
	CHECK(dec_decode(mem, pt.data, pt.len, NULL, &t2) == 0);
	fprintf(stderr, "single: %zu bytes, %" PRIu64 " insns, %zu records\n", pt.len, t1.ninsn,
		t1.n);
	check_insns(files, &t1, r, 1);
	check_insns(mem, &t2, r, 1);
	CHECK(t1.has_tsc);
	/* getpid: tracing stops at the syscall and resumes after it. */
	{
		int disabled = 0, resumed = 0;

		for (size_t i = 0; i < t1.n; i++)
			if (t1.recs[i].kind == DEC_REC_EVENT) {
				disabled += t1.recs[i].event == DEC_EV_DISABLED;
				resumed += t1.recs[i].event == DEC_EV_RESUMED;
			}
		CHECK(disabled >= 1 && resumed >= 1);
	}
	dec_trace_fini(&t1);
	dec_trace_fini(&t2);
	dec_image_free(files);
	dec_image_free(mem);
	buf_fini(&pt);
}

static void test_parallel(struct run *r, struct dec_cache *cache)
{
	struct dec_options par = {.threads = 4, .min_segment = 16384};
	unsigned repeat = 1;
	struct buf pt = BUF_INIT;
	struct dec_image *img;
	struct dec_trace t1, t4;
	double t0, t_single, t_par;

	/* At least 3 MiB of trace. */
	CHECK(encode(r, 1, false, &pt) == 0);
	repeat = (unsigned)((3u << 20) / (pt.len ? pt.len : 1)) + 1;
	buf_reset(&pt);
	CHECK(encode(r, repeat, false, &pt) == 0);
	CHECK(dec_image_alloc(cache, r->regions, r->nregions, NULL, NULL, &img) == 0);
	dec_trace_init(&t1);
	dec_trace_init(&t4);
	/* Twice each; the second run shows the speed with warm sections. */
	for (int run = 0; run < 2; run++) {
		dec_trace_fini(&t1);
		dec_trace_fini(&t4);
		t0 = now();
		CHECK(dec_decode(img, pt.data, pt.len, NULL, &t1) == 0);
		t_single = now() - t0;
		t0 = now();
		CHECK(dec_decode(img, pt.data, pt.len, &par, &t4) == 0);
		t_par = now() - t0;
	}
	fprintf(stderr,
		"parallel: %zu bytes, %" PRIu64 " insns; single %.1f M insn/s, 4 threads %.1f M "
		"insn/s\n",
		pt.len, t1.ninsn, t1.ninsn / t_single / 1e6, t4.ninsn / t_par / 1e6);
	CHECK(t1.n == t4.n);
	CHECK(t1.ninsn == t4.ninsn);
	{
		size_t diff = 0;

		for (size_t i = 0; i < t1.n && i < t4.n; i++)
			if (memcmp(&t1.recs[i], &t4.recs[i], sizeof(t1.recs[i])) && diff++ < 3)
				fprintf(stderr,
					"record %zu: %#" PRIx64 "+%u @%" PRIu64 " k%d vs %#" PRIx64
					"+%u @%" PRIu64 " k%d\n",
					i, t1.recs[i].ip, t1.recs[i].ninsn, t1.recs[i].offset,
					t1.recs[i].kind, t4.recs[i].ip, t4.recs[i].ninsn,
					t4.recs[i].offset, t4.recs[i].kind);
		CHECK(diff == 0);
	}
	check_insns(img, &t4, r, repeat);
	/* Damaged trace: errors become gaps at the same places either way. */
	for (size_t at = pt.len / 7; at < pt.len; at += pt.len / 7)
		memset(pt.data + at, 0xd5, 3);
	dec_trace_fini(&t1);
	dec_trace_fini(&t4);
	CHECK(dec_decode(img, pt.data, pt.len, NULL, &t1) == 0);
	CHECK(dec_decode(img, pt.data, pt.len, &par, &t4) == 0);
	fprintf(stderr, "damaged: %" PRIu64 " gaps, %" PRIu64 " insns\n", t1.ngaps, t1.ninsn);
	CHECK(t1.ngaps > 0 && t1.ngaps == t4.ngaps);
	CHECK(t1.n == t4.n && !memcmp(t1.recs, t4.recs, t1.n * sizeof(*t1.recs)));
	dec_trace_fini(&t1);
	dec_trace_fini(&t4);
	dec_image_free(img);
	buf_fini(&pt);
}

/* The name of the function holding addr ("" when none). */
static const char *fn_name(struct dec_symbols *syms, uint64_t addr)
{
	struct dec_symbol sym;

	if (dec_symbols_lookup(syms, addr, false, &sym) < 0 || !sym.function)
		return "";
	return sym.function;
}

static void test_symbols_disasm(struct run *r, struct dec_symbols *syms, struct dec_walker *w,
				const struct dec_trace *t)
{
	struct dec_insn *insns = calloc(t->ninsn, sizeof(*insns));
	bool seen_fib = false, seen_call = false, seen_att = false;

	CHECK(dec_trace_insns(w, t, 0, t->ninsn, insns) == (ssize_t)t->ninsn);
	CHECK(!strcmp(fn_name(syms, insns[0].ip), "main"));
	for (uint64_t i = 0; i < t->ninsn; i++) {
		struct dec_symbol sym;
		char att[128], intel[128];

		CHECK(dec_disasm(&insns[i], false, att, sizeof(att)) > 0);
		CHECK(dec_disasm(&insns[i], true, intel, sizeof(intel)) > 0);
		if (strchr(att, '%')) {
			seen_att = true;
			CHECK(!strchr(intel, '%'));
		}
		if (insns[i].iclass == DEC_IC_CALL &&
		    !strcmp(fn_name(syms, insns[i].target), "fib")) {
			seen_call = true;
			CHECK(!strncmp(att, "call", 4));
		}
		if (!seen_fib && !strcmp(fn_name(syms, insns[i].ip), "fib")) {
			const char *base;

			seen_fib = true;
			CHECK(dec_symbols_lookup(syms, insns[i].ip, true, &sym) == 0);
			CHECK(sym.offset == 0 && sym.size > 0);
			base = sym.file ? strrchr(sym.file, '/') : NULL;
			CHECK(base && !strcmp(base, "/decode_fib.c"));
			CHECK(sym.line > 0);
		}
	}
	CHECK(seen_fib && seen_call && seen_att);
	/* The newest ten instructions, by pagination from the newest end. */
	{
		uint64_t first, n = dec_page(t->ninsn, 0, 10, true, &first);

		CHECK(n == 10 && first == t->ninsn - 10);
		CHECK(dec_trace_insns(w, t, first, n, insns) == 10);
		for (uint64_t i = 0; i < n; i++)
			CHECK(insns[i].ip == r->pcs[r->npcs - 10 + i]);
		CHECK(dec_page(100, 95, 10, false, &first) == 5 && first == 95);
		CHECK(dec_page(100, 100, 10, true, &first) == 0);
	}
	free(insns);
}

static void test_calls(struct run *r, struct dec_symbols *syms, const struct dec_calls *c)
{
	uint64_t nfib = 0, nops = 0;
	uint32_t fib_min = UINT32_MAX, fib_max = 0;

	CHECK(c->n > 0 && c->calls[0].depth == 0 && c->calls[0].parent < 0);
	CHECK(!strcmp(fn_name(syms, c->calls[0].function), "main"));
	for (size_t i = 0; i < c->n; i++) {
		const struct dec_call *call = &c->calls[i];
		const char *fn = fn_name(syms, call->function);

		if (call->parent >= 0) {
			const struct dec_call *up = &c->calls[call->parent];

			CHECK(call->depth == up->depth + 1);
			CHECK(call->first >= up->first &&
			      call->first + call->ninsn <= up->first + up->ninsn);
		}
		if (!strcmp(fn, "twice") || !strcmp(fn, "plus_one"))
			nops++;
		if (strcmp(fn, "fib"))
			continue;
		nfib++;
		fib_min = call->depth < fib_min ? call->depth : fib_min;
		fib_max = call->depth > fib_max ? call->depth : fib_max;
		CHECK(call->ncalls == 0 || call->ncalls == 2);
		CHECK(!call->truncated);
		/* The instruction after a call is back in its caller. */
		CHECK(call->first + call->ninsn < r->npcs);
		if (call->depth == fib_min)
			CHECK(!strcmp(fn_name(syms, r->pcs[call->first + call->ninsn]), "main"));
	}
	CHECK(nfib == 177);
	CHECK(fib_max - fib_min + 1 == 10);
	CHECK(nops == 33); /* i in [0, 50) with i % 3 != 0 */
	fprintf(stderr, "calls: %zu, fib %" PRIu64 " at depths %u..%u\n", c->n, nfib, fib_min,
		fib_max);
}

static void collect(void *ctx, const char *s, size_t len)
{
	buf_append(ctx, s, len);
}

static void test_exports(struct dec_symbols *syms, struct dec_walker *w, const struct dec_trace *t,
			 const struct dec_calls *c)
{
	struct dec_json_opts o = {
		.symbols = true, .source = true, .disassembly = true, .timestamps = true};
	struct buf out = BUF_INIT;
	char err[256] = "";
	yajl_val doc, events;
	yajl_gen g = yajl_gen_alloc(NULL);
	const char *events_path[] = {"traceEvents", NULL};
	FILE *f;

	yajl_gen_config(g, yajl_gen_print_callback, collect, &out);
	yajl_gen_map_open(g);
	yajl_gen_string(g, (const unsigned char *)"insns", 5);
	CHECK(dec_json_insns(g, w, t, 0, 100, syms, &o) == 0);
	yajl_gen_string(g, (const unsigned char *)"records", 7);
	CHECK(dec_json_records(g, t, 0, 50, syms, &o) == 0);
	yajl_gen_string(g, (const unsigned char *)"calls", 5);
	CHECK(dec_json_calls(g, c, 0, 20, syms) == 0);
	yajl_gen_string(g, (const unsigned char *)"summary", 7);
	CHECK(dec_json_summary(g, w, syms, t, 3, NULL) == 0);
	yajl_gen_map_close(g);
	yajl_gen_free(g);
	doc = yajl_tree_parse(out.data, err, sizeof(err));
	CHECK(doc != NULL);
	if (doc) {
		const char *p_insns[] = {"insns", NULL}, *p_recs[] = {"records", NULL};
		yajl_val insns = yajl_tree_get(doc, p_insns, yajl_t_array);
		yajl_val recs = yajl_tree_get(doc, p_recs, yajl_t_array);

		CHECK(insns && YAJL_GET_ARRAY(insns)->len >= 100);
		CHECK(recs && YAJL_GET_ARRAY(recs)->len == 50);
		{
			const char *p_top[] = {"summary", "top_functions", NULL};
			const char *p_n[] = {"summary", "instructions", NULL};
			const char *p_fn[] = {"function", NULL};
			yajl_val top = yajl_tree_get(doc, p_top, yajl_t_array);
			yajl_val n = yajl_tree_get(doc, p_n, yajl_t_number);
			yajl_val fn0 = top && YAJL_GET_ARRAY(top)->len
					       ? yajl_tree_get(YAJL_GET_ARRAY(top)->values[0], p_fn,
							       yajl_t_string)
					       : NULL;

			CHECK(n && (uint64_t)YAJL_GET_INTEGER(n) == t->ninsn);
			const char *name = fn0 ? YAJL_GET_STRING(fn0) : NULL;

			CHECK(name && !strcmp(name, "fib"));
		}
		yajl_tree_free(doc);
	}
	/* Chrome trace: one event per call, each inside its caller's time span. */
	buf_reset(&out);
	f = tmpfile();
	CHECK(dec_chrome_trace(f, c, syms, 1, 1, 0) == 0);
	rewind(f);
	buf_reserve(&out, 1 << 20);
	out.len = fread(out.data, 1, out.cap, f);
	out.data[out.len] = 0;
	fclose(f);
	doc = yajl_tree_parse(out.data, err, sizeof(err));
	CHECK(doc != NULL);
	events = doc ? yajl_tree_get(doc, events_path, yajl_t_array) : NULL;
	CHECK(events && YAJL_GET_ARRAY(events)->len == c->n);
	if (events && YAJL_GET_ARRAY(events)->len == c->n) {
		size_t nfib = 0;

		for (size_t i = 0; i < c->n; i++) {
			yajl_val e = YAJL_GET_ARRAY(events)->values[i];
			const char *p_name[] = {"name", NULL}, *p_ts[] = {"ts", NULL},
				   *p_dur[] = {"dur", NULL};
			const char *name = YAJL_GET_STRING(yajl_tree_get(e, p_name, yajl_t_string));
			double ts = YAJL_GET_DOUBLE(yajl_tree_get(e, p_ts, yajl_t_number));
			double dur = YAJL_GET_DOUBLE(yajl_tree_get(e, p_dur, yajl_t_number));

			nfib += name && !strcmp(name, "fib");
			if (c->calls[i].parent >= 0) {
				yajl_val up = YAJL_GET_ARRAY(events)->values[c->calls[i].parent];
				double uts =
					YAJL_GET_DOUBLE(yajl_tree_get(up, p_ts, yajl_t_number));
				double udur =
					YAJL_GET_DOUBLE(yajl_tree_get(up, p_dur, yajl_t_number));

				CHECK(ts >= uts && ts + dur <= uts + udur);
			}
		}
		CHECK(nfib == 177);
	}
	yajl_tree_free(doc);
	buf_fini(&out);
}

/* Walks BTS blocks oldest to newest as GDB does; true when they give back pcs[first..npcs)
 * and then pc. */
static bool bts_walk_matches(struct run *r, struct dec_walker *w,
			     const struct dec_bts_block *blocks, ssize_t n, uint64_t first,
			     uint64_t pc)
{
	uint64_t at = first;

	for (ssize_t i = n - 1; i >= 0 && at <= r->npcs; i--) {
		uint64_t ip = blocks[i].begin;

		for (;;) {
			struct dec_insn in;

			if (at == r->npcs ? ip != pc : ip != r->pcs[at])
				break;
			at++;
			if (ip == blocks[i].end || dec_walker_insn(w, ip, ptem_64bit, &in))
				break;
			ip += in.size;
		}
	}
	return at == r->npcs + 1;
}

/* BTS blocks are linear runs, newest first, the first ending at the stop PC; walking them
 * oldest to newest gives back every instruction, and a delta from any instruction on gives
 * back the rest. */
static void test_views(struct run *r, struct dec_symbols *syms, struct dec_walker *w,
		       const struct dec_trace *t, const struct dec_calls *c)
{
	uint64_t pc = r->steps[r->nsteps - 1].from;
	struct dec_bts_block *blocks;
	struct dec_fn_count top[4];
	struct buf text = BUF_INIT;
	struct dec_text_opts o = {.source = true};
	ssize_t n = dec_bts_blocks(w, t, pc, &blocks);

	CHECK(n > 100);
	CHECK(n > 0 && blocks[0].end == pc);
	CHECK(n > 0 && bts_walk_matches(r, w, blocks, n, 0, pc));
	for (uint64_t first = t->ninsn / 2; first <= t->ninsn; first += t->ninsn / 2) {
		struct dec_bts_block *delta;
		ssize_t k = dec_bts_blocks_since(w, t, first, pc, &delta);

		CHECK(k > 0 && k <= n && delta[0].end == pc);
		CHECK(k > 0 && delta[k - 1].begin == (first < r->npcs ? r->pcs[first] : pc));
		CHECK(k > 0 && bts_walk_matches(r, w, delta, k, first, pc));
		free(delta);
	}
	dec_bts_xml(blocks, (size_t)n, &text);
	CHECK(strstr(text.data, "<btrace version=\"1.0\">") != NULL);
	free(blocks);
	/* fib runs most instructions. */
	CHECK(dec_top_functions(w, syms, t, top, 4) >= 3);
	CHECK(!strcmp(fn_name(syms, top[0].function), "fib"));
	CHECK(top[0].ninsn > top[1].ninsn);
	buf_reset(&text);
	CHECK(dec_text_insns(&text, w, t, 0, t->ninsn, syms, &o) == 0);
	CHECK(strstr(text.data, "`fib at ") != NULL);
	CHECK(strstr(text.data, "    [0] 0x") != NULL);
	CHECK(strstr(text.data, "event: disabled") != NULL);
	buf_reset(&text);
	dec_text_calls(&text, c, 0, c->n, syms);
	CHECK(strstr(text.data, "[1]   fib (entry") != NULL);
	buf_fini(&text);
}

static void test_analysis(struct run *r, struct dec_cache *cache)
{
	struct buf pt = BUF_INIT;
	struct dec_symbols *syms;
	struct dec_walker *w;
	struct dec_image *img;
	struct dec_calls calls;
	struct dec_trace t;

	CHECK(encode(r, 1, true, &pt) == 0);
	CHECK(dec_image_alloc(cache, r->regions, r->nregions, NULL, NULL, &img) == 0);
	CHECK(dec_symbols_alloc(r->regions, r->nregions, &syms) == 0);
	w = dec_walker_alloc(img);
	dec_trace_init(&t);
	dec_calls_init(&calls);
	CHECK(dec_decode(img, pt.data, pt.len, NULL, &t) == 0);
	test_symbols_disasm(r, syms, w, &t);
	CHECK(dec_calls_build(w, syms, &t, &calls) == 0);
	test_calls(r, syms, &calls);
	test_exports(syms, w, &t, &calls);
	test_views(r, syms, w, &t, &calls);
	dec_calls_fini(&calls);
	dec_trace_fini(&t);
	dec_walker_free(w);
	dec_symbols_free(syms);
	dec_image_free(img);
	buf_fini(&pt);
}

int main(int argc, char **argv)
{
	struct dec_cache *cache = dec_cache_alloc();
	struct run r;

	if (argc < 2) {
		fprintf(stderr, "usage: %s PROGRAM\n", argv[0]);
		return 2;
	}
	if (run_stepped(argv[1], &r) < 0) {
		fprintf(stderr, "could not step %s\n", argv[1]);
		return 1;
	}
	fprintf(stderr, "stepped %zu instructions\n", r.npcs);
	CHECK(r.npcs > 1000);
	test_single(&r, cache);
	test_parallel(&r, cache);
	test_analysis(&r, cache);
	kill(r.pid, SIGKILL);
	waitpid(r.pid, NULL, 0);
	dec_cache_free(cache);
	free(r.pcs);
	free(r.steps);
	free(r.regions);
	return check_result("test_decoder");
}
