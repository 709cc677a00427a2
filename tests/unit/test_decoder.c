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
		for (size_t i = 0; i < r->nsteps; i++) {
			const struct ptenc_step *s = &r->steps[i];

			if (s->kind == PTENC_RESUME)
				ptenc_resume(e, s->from);
			else if (s->kind == PTENC_STOP)
				ptenc_stop(e, s->from);
			else
				ptenc_step(e, s->from, s->to);
		}
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
	dec_trace_fini(&t1);
	dec_trace_fini(&t4);
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
	kill(r.pid, SIGKILL);
	waitpid(r.pid, NULL, 0);
	dec_cache_free(cache);
	free(r.pcs);
	free(r.steps);
	free(r.regions);
	return check_result("test_decoder");
}
