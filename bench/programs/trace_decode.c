/* bench/programs/trace_decode.c — decode throughput of ptstub's decoder (decoder/), on one
 * thread and on worker threads, each the median of several decodes of the same trace:
 *
 *   trace_decode synth PROGRAM MIB [SAVE]   single-steps PROGRAM from its first int3 to its
 *                                    second, encodes those steps (collector/pt_encoder) again
 *                                    and again into MIB MiB of PT, and decodes that (SAVE: also
 *                                    write SAVE.pt and SAVE.maps for the file mode);
 *   trace_decode file TRACE MAPS     decodes a saved trace (e.g. from an LLDB bundle) with the
 *                                    code of the mappings listed in MAPS (/proc/PID/maps text).
 *
 * Prints one line: "bytes B insns N records R t1 S t2 S t4 S" (seconds for 1, 2 and 4 workers).
 * Built by bench/trace_bench.py against a build directory's static libraries. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "collector/pt_encoder.h"
#include "decoder/decoder.h"
#include "server/target.h"

#define RUNS 5
#define MAX_REGIONS 512
#define MAX_STEPS (4u << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "trace_decode: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* /proc/PID/maps text -> regions (path, protection, file offset). */
static size_t read_maps(const char *path, struct tgt_region *out)
{
	char line[1024];
	size_t n = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		die(path);
	while (n < MAX_REGIONS && fgets(line, sizeof(line), f)) {
		struct tgt_region *g = &out[n];
		char perms[8] = "";
		int pos = 0;

		memset(g, 0, sizeof(*g));
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %*s %" SCNu64 "%n",
			   &g->start, &g->end, perms, &g->offset, &g->inode, &pos) < 5)
			continue;
		g->prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
			  (perms[2] == 'x' ? PROT_EXEC : 0);
		g->shared = perms[3] == 's';
		sscanf(line + pos, " %511[^\n]", g->path);
		n++;
	}
	fclose(f);
	return n;
}

static pid_t child;

static ssize_t read_child(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = {buf, len}, remote = {(void *)(uintptr_t)addr, len};
	ssize_t n = process_vm_readv(child, &local, 1, &remote, 1, 0);

	(void)ctx;
	return n < 0 ? -errno : n;
}

static uint64_t child_pc(void)
{
	errno = 0;
	long pc = ptrace(PTRACE_PEEKUSER, child, offsetof(struct user_regs_struct, rip), 0);

	if (errno)
		die("PTRACE_PEEKUSER");
	return (uint64_t)pc;
}

/* Steps prog from its first int3 to its second; the child stays stopped there. */
static size_t step_program(const char *prog, struct ptenc_step *steps)
{
	size_t n = 0;
	int status;
	uint64_t pc;

	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		personality(ADDR_NO_RANDOMIZE);
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		execl(prog, prog, "1", (char *)NULL);
		_exit(127);
	}
	waitpid(child, &status, 0);
	ptrace(PTRACE_SETOPTIONS, child, 0, (void *)PTRACE_O_EXITKILL);
	ptrace(PTRACE_CONT, child, 0, 0);
	if (waitpid(child, &status, 0) != child || !WIFSTOPPED(status))
		die("the first int3");
	pc = child_pc();
	steps[n++] = (struct ptenc_step){PTENC_RESUME, pc, 0};
	while (n < MAX_STEPS - 1) {
		uint8_t op = 0;
		uint64_t next;

		if (read_child(NULL, pc, &op, 1) != 1 || op == 0xcc)
			break;
		ptrace(PTRACE_SINGLESTEP, child, 0, 0);
		if (waitpid(child, &status, 0) != child || !WIFSTOPPED(status))
			die("a single step");
		next = child_pc();
		steps[n++] = (struct ptenc_step){PTENC_STEP, pc, next};
		pc = next;
	}
	steps[n++] = (struct ptenc_step){PTENC_STOP, pc, 0};
	return n;
}

/* The steps encoded again and again until the trace holds mib MiB. */
static void synthesize(const struct ptenc_step *steps, size_t n, size_t mib, struct buf *out)
{
	struct ptenc_config cfg = PTENC_CONFIG_INIT;
	struct ptenc *e;
	struct ptenc_stats st;

	cfg.ring_size = (mib + 16) << 20;
	e = ptenc_alloc(&cfg, read_child, NULL);
	if (!e)
		die("ptenc_alloc");
	do {
		ptenc_replay(e, steps, n);
		ptenc_get_stats(e, &st);
	} while (st.bytes < mib << 20);
	ptenc_read(e, out);
	ptenc_free(e);
}

static void read_file(const char *path, struct buf *out)
{
	char chunk[1 << 16];
	size_t got;
	FILE *f = fopen(path, "rb");

	if (!f)
		die(path);
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(out, chunk, got);
	fclose(f);
}

/* prefix.pt = the trace, prefix.maps = a copy of the child's maps. */
static void save(const char *prefix, const struct buf *pt, const char *maps)
{
	char path[4096], line[1024];
	FILE *in = fopen(maps, "r"), *out;

	snprintf(path, sizeof(path), "%s.pt", prefix);
	out = fopen(path, "wb");
	if (!out || fwrite(pt->data, 1, pt->len, out) != pt->len || fclose(out))
		die(path);
	snprintf(path, sizeof(path), "%s.maps", prefix);
	out = fopen(path, "w");
	if (!in || !out)
		die(path);
	while (fgets(line, sizeof(line), in))
		fputs(line, out);
	fclose(in);
	if (fclose(out))
		die(path);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median seconds of RUNS decodes with threads workers; *ninsn = instructions decoded. */
static double time_decode(struct dec_image *img, const struct buf *pt, unsigned threads,
			  uint64_t *ninsn, size_t *nrecs)
{
	struct dec_options o = {.threads = threads};
	double t[RUNS];

	for (int r = 0; r < RUNS; r++) {
		struct dec_trace tr;

		dec_trace_init(&tr);
		double t0 = now();

		if (dec_decode(img, pt->data, pt->len, &o, &tr) < 0)
			die("dec_decode");
		t[r] = now() - t0;
		*ninsn = tr.ninsn;
		*nrecs = tr.n;
		dec_trace_fini(&tr);
	}
	qsort(t, RUNS, sizeof(t[0]), cmp_double);
	return t[RUNS / 2];
}

int main(int argc, char **argv)
{
	static struct tgt_region regions[MAX_REGIONS];
	struct buf pt = BUF_INIT;
	struct dec_image *img;
	size_t nregions;
	uint64_t n1 = 0, n2 = 0, n4 = 0;
	size_t recs = 0;

	if ((argc == 4 || argc == 5) && strcmp(argv[1], "synth") == 0) {
		struct ptenc_step *steps = malloc(MAX_STEPS * sizeof(*steps));
		char maps[64];

		if (!steps)
			die("malloc");
		size_t n = step_program(argv[2], steps);

		synthesize(steps, n, strtoul(argv[3], NULL, 0), &pt);
		snprintf(maps, sizeof(maps), "/proc/%d/maps", child);
		nregions = read_maps(maps, regions);
		free(steps);
		if (argc == 5)
			save(argv[4], &pt, maps);
	} else if (argc == 4 && strcmp(argv[1], "file") == 0) {
		read_file(argv[2], &pt);
		nregions = read_maps(argv[3], regions);
	} else {
		fprintf(stderr, "usage: trace_decode synth PROGRAM MIB [SAVE] | file TRACE MAPS\n");
		return 2;
	}
	/* Code from the files only (no callback): the child may go away now. */
	if (dec_image_alloc(NULL, regions, nregions, NULL, NULL, &img) < 0)
		die("dec_image_alloc");
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	double t1 = time_decode(img, &pt, 1, &n1, &recs);
	double t2 = time_decode(img, &pt, 2, &n2, &recs);
	double t4 = time_decode(img, &pt, 4, &n4, &recs);

	if (n1 != n2 || n1 != n4) {
		fprintf(stderr,
			"trace_decode: workers disagree: %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", n1,
			n2, n4);
		return 1;
	}
	printf("bytes %zu insns %" PRIu64 " records %zu t1 %.6f t2 %.6f t4 %.6f\n", pt.len, n1,
	       recs, t1, t2, t4);
	dec_image_free(img);
	buf_fini(&pt);
	return 0;
}
