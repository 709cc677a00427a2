/* tests/unit/test_soft_pt_fidelity.c — runs a test program under a small ptrace single-stepper,
 * feeds the steps to pt_encoder, decodes the bytes with libipt's instruction-flow decoder and
 * checks the decoded instructions equal the stepped PCs, one for one, per thread.
 * Usage: test_soft_pt_fidelity PROGRAM KIND [wrap]   ("wrap": 4 KiB ring, compare the suffix) */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <intel-pt.h>

#include "collector/pt_encoder.h"

#define MAX_STEPS 400000
#define MAX_THREADS 8

struct pcs {
	uint64_t *v;
	size_t n, cap;
};

struct thread {
	pid_t tid;
	bool have_last, pending_async, exited;
	uint64_t last;
	struct ptenc *enc;
	struct pcs truth;
};

struct run {
	pid_t pid;
	struct thread threads[MAX_THREADS];
	size_t nthreads;
	size_t steps;
	struct ptenc_config cfg;
	uint8_t *vdso; /* copy of [vdso], read while the process was alive */
	uint64_t vdso_start, vdso_len;
	struct pt_image *image;
};

static void pcs_push(struct pcs *p, uint64_t pc)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 4096;
		p->v = realloc(p->v, p->cap * sizeof(*p->v));
		if (!p->v)
			abort();
	}
	p->v[p->n++] = pc;
}

static ssize_t read_mem(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct run *r = ctx;
	struct iovec local = {buf, len}, remote = {(void *)addr, len};
	ssize_t n = process_vm_readv(r->pid, &local, 1, &remote, 1, 0);

	/* A read may cross into an unmapped page: retry up to the page end. */
	if (n < 0 && (addr & 4095) + len > 4096) {
		remote.iov_len = local.iov_len = 4096 - (addr & 4095);
		n = process_vm_readv(r->pid, &local, 1, &remote, 1, 0);
	}
	return n < 0 ? -errno : n;
}

static uint64_t get_pc(pid_t tid)
{
	struct user_regs_struct regs;

	if (ptrace(PTRACE_GETREGS, tid, NULL, &regs) < 0)
		return 0;
	return regs.rip;
}

static bool signal_caught(pid_t tid, int sig)
{
	char path[64], line[256];
	unsigned long long mask = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "SigCgt: %llx", &mask) == 1)
			break;
	fclose(f);
	return mask & (1ull << (sig - 1));
}

static struct thread *thread_get(struct run *r, pid_t tid)
{
	for (size_t i = 0; i < r->nthreads; i++)
		if (r->threads[i].tid == tid)
			return &r->threads[i];
	if (r->nthreads == MAX_THREADS)
		abort();
	struct thread *t = &r->threads[r->nthreads++];
	memset(t, 0, sizeof(*t));
	t->tid = tid;
	t->enc = ptenc_alloc(&r->cfg, read_mem, r);
	if (!t->enc)
		abort();
	return t;
}

/* The thread is now at pc after one ptrace stop. */
static void on_position(struct run *r, struct thread *t, uint64_t pc)
{
	if (!t->have_last) {
		t->have_last = true;
		ptenc_resume(t->enc, pc);
	} else if (t->pending_async) {
		ptenc_async(t->enc, t->last, pc);
	} else {
		if (pc != t->last)
			pcs_push(&t->truth, t->last);
		if (ptenc_step(t->enc, t->last, pc) < 0)
			fprintf(stderr, "ptenc_step %#" PRIx64 " -> %#" PRIx64 " failed\n", t->last,
				pc);
		r->steps++;
	}
	t->pending_async = false;
	t->last = pc;
}

/* Copies [vdso] and adds every file-backed executable mapping to the image. */
static void snapshot_image(struct run *r)
{
	char path[64], line[1024], file[512];
	unsigned long long start, end, off;
	char perms[8];
	FILE *f;

	r->image = pt_image_alloc("fidelity");
	snprintf(path, sizeof(path), "/proc/%d/maps", r->pid);
	f = fopen(path, "r");
	if (!f)
		abort();
	while (fgets(line, sizeof(line), f)) {
		file[0] = 0;
		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %511s", &start, &end, perms, &off,
			   file) < 4 ||
		    perms[2] != 'x')
			continue;
		if (file[0] == '/') {
			int err = pt_image_add_file(r->image, file, off, end - start, NULL, start);
			if (err < 0)
				fprintf(stderr, "add %s: %s\n", file, pt_errstr(pt_errcode(err)));
		} else if (!strcmp(file, "[vdso]")) {
			r->vdso_start = start;
			r->vdso_len = end - start;
			r->vdso = malloc(r->vdso_len);
			if (read_mem(r, start, r->vdso, r->vdso_len) != (ssize_t)r->vdso_len)
				abort();
		}
	}
	fclose(f);
}

static int vdso_read(uint8_t *buf, size_t size, const struct pt_asid *asid, uint64_t ip, void *ctx)
{
	struct run *r = ctx;

	(void)asid;
	if (!r->vdso || ip < r->vdso_start || ip >= r->vdso_start + r->vdso_len)
		return -pte_nomap;
	if (size > r->vdso_start + r->vdso_len - ip)
		size = r->vdso_start + r->vdso_len - ip;
	memcpy(buf, r->vdso + (ip - r->vdso_start), size);
	return (int)size;
}

/* Single-steps from the first int3 marker to the second (or MAX_STEPS / exit). */
static int trace_program(struct run *r, const char *prog, const char *kind)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		char *argv[] = {(char *)prog, (char *)kind, NULL};
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		execv(prog, argv);
		_exit(127);
	}
	r->pid = pid;
	if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status))
		return -1;
	ptrace(PTRACE_SETOPTIONS, pid, NULL,
	       PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL);
	/* Run to the start marker. */
	do {
		ptrace(PTRACE_CONT, pid, NULL, NULL);
		if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status))
			return -1;
	} while (WSTOPSIG(status) != SIGTRAP || (status >> 16));
	on_position(r, thread_get(r, pid), get_pc(pid));
	ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL);

	for (;;) {
		pid_t tid = waitpid(-1, &status, __WALL);
		struct thread *t;
		int sig, event;
		uint64_t pc;

		if (tid < 0)
			return -1;
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			if (tid == pid)
				return -1; /* ended before the end marker */
			continue;
		}
		t = thread_get(r, tid);
		sig = WSTOPSIG(status);
		event = status >> 16;
		pc = get_pc(tid);
		if (event == PTRACE_EVENT_EXIT) {
			on_position(r, t, pc);
			ptenc_stop(t->enc, pc);
			t->exited = true;
			ptrace(PTRACE_CONT, tid, NULL, NULL);
			continue;
		}
		if (sig == SIGSTOP && !t->have_last) { /* a new thread's first stop */
			on_position(r, t, pc);
			ptrace(PTRACE_SINGLESTEP, tid, NULL, NULL);
			continue;
		}
		on_position(r, t, pc);
		if (sig == SIGTRAP || event) {
			uint8_t byte = 0;

			if (tid == pid && read_mem(r, pc, &byte, 1) == 1 && byte == 0xcc)
				break; /* end marker */
			if (r->steps >= MAX_STEPS)
				break;
			sig = 0;
		} else if (signal_caught(tid, sig)) {
			t->pending_async = true; /* next stop: handler entry, nothing executed */
		}
		ptrace(PTRACE_SINGLESTEP, tid, NULL, (void *)(long)sig);
	}
	for (size_t i = 0; i < r->nthreads; i++)
		if (!r->threads[i].exited)
			ptenc_stop(r->threads[i].enc, get_pc(r->threads[i].tid));
	snapshot_image(r);
	pt_image_set_callback(r->image, vdso_read, r);
	return 0;
}

/* Decodes from a sync point until an error or the end; with stop_ip, also stops when the
 * trace is used up (pts_eos) and the next instruction would be *stop_ip. */
static int decode_run(struct pt_insn_decoder *dec, int status, struct pcs *out,
		      const uint64_t *stop_ip)
{
	bool eos = false;

	while (status >= 0) {
		struct pt_insn insn;
		struct pt_event ev;

		while (status >= 0 && (status & pts_event_pending))
			status = pt_insn_event(dec, &ev, sizeof(ev));
		if (status < 0)
			break;
		eos = eos || (status & pts_eos);
		memset(&insn, 0, sizeof(insn));
		status = pt_insn_next(dec, &insn, sizeof(insn));
		if (insn.iclass == ptic_error || (eos && stop_ip && insn.ip == *stop_ip))
			break;
		pcs_push(out, insn.ip);
	}
	return status;
}

static int decode(struct run *r, const struct buf *trace, struct pcs *out)
{
	struct pt_config cfg;
	struct pt_insn_decoder *dec;
	int status, errors = 0;

	pt_config_init(&cfg);
	cfg.begin = (uint8_t *)trace->data;
	cfg.end = (uint8_t *)trace->data + trace->len;
	dec = pt_insn_alloc_decoder(&cfg);
	if (!dec)
		return -1;
	pt_insn_set_image(dec, r->image);
	while ((status = pt_insn_sync_forward(dec)) >= 0) {
		status = decode_run(dec, status, out, NULL);
		if (status != -pte_eos) {
			uint64_t off = 0;

			pt_insn_get_offset(dec, &off);
			fprintf(stderr, "decode error at offset %#" PRIx64 ": %s\n", off,
				pt_errstr(pt_errcode(status)));
			errors++;
		}
	}
	pt_insn_free_decoder(dec);
	return errors ? -1 : 0;
}

/* LLDB's way (intel-pt.md §3.10): split at PSBs with a query decoder, decode each block with
 * a fresh decoder over its bytes only, and end a block where the next one starts (its PSB+
 * FUP IP) once the block's trace is used up. */
static int decode_split(struct run *r, const struct buf *trace, struct pcs *out)
{
	uint64_t offs[4096], ips[4096];
	bool has_ip[4096];
	size_t n = 0;
	struct pt_config cfg;
	struct pt_query_decoder *q;
	int errors = 0;

	pt_config_init(&cfg);
	cfg.begin = (uint8_t *)trace->data;
	cfg.end = (uint8_t *)trace->data + trace->len;
	q = pt_qry_alloc_decoder(&cfg);
	for (;;) {
		uint64_t ip = 0;
		int status = pt_qry_sync_forward(q, &ip);

		if (status < 0 || n == 4096)
			break;
		pt_qry_get_sync_offset(q, &offs[n]);
		ips[n] = ip;
		has_ip[n++] = !(status & pts_ip_suppressed);
	}
	pt_qry_free_decoder(q);
	for (size_t b = 0; b < n; b++) {
		struct pt_insn_decoder *dec;
		int status;

		cfg.begin = (uint8_t *)trace->data + offs[b];
		cfg.end = (uint8_t *)trace->data + (b + 1 < n ? offs[b + 1] : trace->len);
		dec = pt_insn_alloc_decoder(&cfg);
		pt_insn_set_image(dec, r->image);
		status = pt_insn_sync_forward(dec);
		status = decode_run(dec, status, out,
				    b + 1 < n && has_ip[b + 1] ? &ips[b + 1] : NULL);
		if (status < 0 && status != -pte_eos) {
			fprintf(stderr, "split decode: block %zu: %s\n", b,
				pt_errstr(pt_errcode(status)));
			errors++;
		}
		pt_insn_free_decoder(dec);
	}
	return errors ? -1 : 0;
}

/* Decoded must equal the truth (whole trace) or its suffix (wrapped ring). */
static int compare(const struct pcs *truth, const struct pcs *got, bool suffix)
{
	size_t base = 0;

	if (suffix) {
		if (got->n == 0 || got->n > truth->n)
			return fprintf(stderr, "wrap: %zu decoded of %zu\n", got->n, truth->n), -1;
		base = truth->n - got->n;
	} else if (got->n != truth->n) {
		fprintf(stderr, "count: decoded %zu, stepped %zu\n", got->n, truth->n);
	}
	for (size_t i = 0; i + base < truth->n && i < got->n; i++)
		if (truth->v[i + base] != got->v[i]) {
			fprintf(stderr,
				"first mismatch at #%zu: stepped %#" PRIx64 ", decoded %#" PRIx64
				"\n",
				i + base, truth->v[i + base], got->v[i]);
			return -1;
		}
	return got->n + base == truth->n ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct run r;
	bool wrap = argc > 3 && !strcmp(argv[3], "wrap");
	int failed = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: %s PROGRAM KIND [wrap]\n", argv[0]);
		return 2;
	}
	memset(&r, 0, sizeof(r));
	r.cfg = (struct ptenc_config)PTENC_CONFIG_INIT;
	r.cfg.ring_size = wrap ? 4096 : 64 << 20;
	r.cfg.psb_period = wrap ? 512 : 2048;
	if (trace_program(&r, argv[1], argv[2]) < 0) {
		fprintf(stderr, "%s %s: tracing failed\n", argv[1], argv[2]);
		kill(r.pid, SIGKILL);
		return 1;
	}
	for (size_t i = 0; i < r.nthreads; i++) {
		struct thread *t = &r.threads[i];
		struct buf trace = BUF_INIT;
		struct pcs got = {0}, split = {0};
		struct ptenc_stats st;

		ptenc_read(t->enc, &trace);
		ptenc_get_stats(t->enc, &st);
		if (decode(&r, &trace, &got) < 0 || compare(&t->truth, &got, wrap) < 0)
			failed = 1;
		if (decode_split(&r, &trace, &split) < 0 || compare(&t->truth, &split, wrap) < 0)
			failed = 1, fprintf(stderr, "LLDB-style split decode differs\n");
		if (wrap && trace.len > r.cfg.ring_size)
			failed = 1, fprintf(stderr, "ring holds %zu bytes\n", trace.len);
		printf("%s tid %d: %zu stepped, %zu decoded, %zu bytes, %" PRIu64 " async: %s\n",
		       argv[2], t->tid, t->truth.n, got.n, trace.len, st.async,
		       failed ? "FAIL" : "ok");
		if (t->truth.n == 0)
			failed = 1;
		buf_fini(&trace);
		free(got.v);
		free(split.v);
		free(t->truth.v);
		ptenc_free(t->enc);
	}
	kill(r.pid, SIGKILL);
	waitpid(r.pid, NULL, 0);
	pt_image_free(r.image);
	free(r.vdso);
	return failed;
}
