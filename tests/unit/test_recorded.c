/* tests/unit/test_recorded.c — the recorded target against the live process it was recorded
 * from: recorded_crash runs to its SIGSEGV under the Linux target, its core is written, and the
 * recorded target must give the same threads, registers, signal, siginfo, auxv, mappings and,
 * page by page, the same memory; changes are refused. Then the recorded collector over files. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "collector/collector.h"
#include "check.h"
#include "collector/recorded.h"
#include "server/core/core.h"
#include "server/loop.h"
#include "server/recorded/recorded.h"
#include "server/target.h"

#define PAGE 4096ULL
#define MAX_THREADS 64

static void on_event(void *ctx, const struct tgt_event *ev)
{
	(void)ev;
	loop_stop(ctx, 0);
}

static void on_timeout(struct loop *loop, void *data)
{
	(void)data;
	fprintf(stderr, "the program did not crash in time\n");
	loop_stop(loop, 1);
}

/* Run prog to its first stop after the start (its crash). */
static struct target *run_to_crash(struct loop *loop, char *prog, pid_t *tid)
{
	char *argv[] = {prog, NULL};
	struct tgt_launch_opts lo = {.argv = argv, .disable_aslr = true};
	struct tgt_callbacks cb = {.on_event = on_event, .ctx = loop};
	struct tgt_resume all = {-1, TGT_RESUME_CONTINUE, 0};
	struct tgt_process_info pi;
	struct target *t;
	char err[512];

	if (linux_target_launch(loop, &lo, &cb, &t, err, sizeof(err))) {
		fprintf(stderr, "launch: %s\n", err);
		return NULL;
	}
	t->ops->process_info(t, &pi);
	*tid = pi.pid;
	loop_add_timer(loop, 20000, on_timeout, NULL);
	if (t->ops->resume(t, &all, 1) || loop_run(loop)) {
		t->ops->destroy(t);
		return NULL;
	}
	return t;
}

static void check_threads(struct target *live, struct target *rec, pid_t crashed)
{
	pid_t a[MAX_THREADS], b[MAX_THREADS];
	int n = live->ops->threads(live, a, MAX_THREADS);
	struct tgt_thread_stop st;

	CHECK(n > 0 && rec->ops->threads(rec, b, MAX_THREADS) == n);
	CHECK(recorded_target_first_thread(rec) == crashed);
	for (int i = 0; i < n; i++) {
		struct regcache x, y;
		struct buf si1 = BUF_INIT, si2 = BUF_INIT;

		CHECK(live->ops->read_regs(live, a[i], &x) == 0);
		CHECK(rec->ops->read_regs(rec, a[i], &y) == 0);
		/* Cores keep the registers up to AVX (no AVX-512: see server/regs.h). */
		CHECK(!memcmp(x.bytes, y.bytes, REG_BLOCK_SIZE_BASE));
		CHECK(live->ops->read_siginfo(live, a[i], &si1) == 0);
		CHECK(rec->ops->read_siginfo(rec, a[i], &si2) == 0);
		CHECK(si1.len == si2.len && !memcmp(si1.data, si2.data, si1.len));
		buf_fini(&si1);
		buf_fini(&si2);
	}
	CHECK(rec->ops->thread_stop(rec, crashed, &st) == 0 && st.reason == TGT_STOP_SIGNAL &&
	      st.signo == SIGSEGV);
}

static const struct tgt_region *region_at(const struct tgt_region *r, size_t n, uint64_t addr)
{
	for (size_t i = 0; i < n; i++)
		if (addr >= r[i].start && addr < r[i].end)
			return &r[i];
	return NULL;
}

/* Every live mapping lies in one recorded region with its protection (and file and offset). */
static void check_region(const struct tgt_region *l, const struct tgt_region *rr, size_t rn)
{
	const struct tgt_region *m = region_at(rr, rn, l->start);

	CHECK(m && m->start <= l->start && m->end >= l->end && m->prot == l->prot);
	if (m && l->path[0] == '/') {
		CHECK(!strcmp(m->path, l->path));
		CHECK(m->offset + (l->start - m->start) == l->offset);
	}
	if (m && (!strcmp(l->path, "[stack]") || !strcmp(l->path, "[vdso]")))
		CHECK(!strcmp(m->path, l->path));
}

/* Every readable page of the mapping reads the same from the recording. */
static size_t check_pages(struct target *live, struct target *rec, const struct tgt_region *l)
{
	static uint8_t a[PAGE], b[PAGE];
	size_t same = 0;

	if (!(l->prot & PROT_READ) || !strncmp(l->path, "[vvar", 5) ||
	    !strcmp(l->path, "[vsyscall]"))
		return 0;
	for (uint64_t p = l->start; p < l->end; p += PAGE) {
		ssize_t n = live->ops->read_memory(live, p, a, PAGE);

		if (n != (ssize_t)PAGE)
			continue;
		CHECK(rec->ops->read_memory(rec, p, b, PAGE) == (ssize_t)PAGE &&
		      !memcmp(a, b, PAGE));
		same++;
	}
	return same;
}

static void check_memory(struct target *live, struct target *rec)
{
	struct tgt_region *lr = NULL, *rr = NULL;
	size_t ln = 0, rn = 0, pages = 0;
	uint64_t *dirty = NULL;
	size_t ndirty = 0;
	struct buf a1 = BUF_INIT, a2 = BUF_INIT;

	CHECK(live->ops->regions(live, &lr, &ln) == 0 && rec->ops->regions(rec, &rr, &rn) == 0);
	for (size_t i = 0; i < ln; i++) {
		check_region(&lr[i], rr, rn);
		pages += check_pages(live, rec, &lr[i]);
		if (!strcmp(lr[i].path, "[stack]")) {
			CHECK(rec->ops->dirty_pages(rec, lr[i].start, lr[i].end, &dirty, &ndirty) ==
			      0);
			CHECK(ndirty > 0 && ndirty <= (lr[i].end - lr[i].start) / PAGE);
		}
	}
	CHECK(pages > 100); /* executable, libc, loader, stack, vdso */
	CHECK(live->ops->read_auxv(live, &a1) == 0 && rec->ops->read_auxv(rec, &a2) == 0);
	CHECK(a1.len && a1.len == a2.len && !memcmp(a1.data, a2.data, a1.len));
	buf_fini(&a1);
	buf_fini(&a2);
	free(dirty);
	free(lr);
	free(rr);
}

static void check_read_only(struct target *rec, pid_t tid)
{
	struct tgt_resume all = {-1, TGT_RESUME_CONTINUE, 0};
	struct regcache rc = {{0}};
	uint8_t byte = 0;

	CHECK(rec->ops->read_only(rec));
	CHECK(rec->ops->resume(rec, &all, 1) == -EROFS);
	CHECK(!strcmp(rec->error, RECORDED_READ_ONLY));
	CHECK(rec->ops->write_memory(rec, 0x1000, &byte, 1) == -EROFS);
	CHECK(rec->ops->write_regs(rec, tid, &rc) == -EROFS);
	CHECK(rec->ops->insert_point(rec, TGT_POINT_SW, 0x1000, 1) == -EROFS);
}

static void write_text(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0 && write(fd, text, len) == (ssize_t)len);
	close(fd);
}

/* Everything a session asks of a target, on whatever opened. */
static void exercise(struct target *t)
{
	static uint8_t page[PAGE];
	pid_t tids[MAX_THREADS];
	struct tgt_region *r = NULL;
	size_t n = 0;
	int nt = t->ops->threads(t, tids, MAX_THREADS);

	for (int i = 0; i < nt && i < MAX_THREADS; i++) {
		struct regcache rc;
		struct tgt_thread_stop st;
		struct buf si = BUF_INIT;

		t->ops->read_regs(t, tids[i], &rc);
		t->ops->thread_stop(t, tids[i], &st);
		t->ops->read_siginfo(t, tids[i], &si);
		buf_fini(&si);
	}
	if (t->ops->regions(t, &r, &n) == 0)
		for (size_t i = 0; i < n; i++) {
			uint64_t *pages = NULL;
			size_t np = 0;

			t->ops->read_memory(t, r[i].start, page, PAGE);
			t->ops->read_memory(t, r[i].end - 8, page, PAGE); /* across the end */
			t->ops->dirty_pages(t, r[i].start, r[i].end, &pages, &np);
			free(pages);
		}
	free(r);
}

/* Bundles come from elsewhere (CI artifacts): a core with damaged headers and notes, or cut
 * short, is refused with a sentence or served as far as it goes, never a crash (run this under
 * ASan/UBSan: ./run test --sanitize). */
static void check_damaged(const char *core, const char *dir)
{
	struct buf orig = BUF_INIT;
	char path[4200];
	unsigned seed = 12345, opened = 0, refused = 0;

	snprintf(path, sizeof(path), "%s/damaged", dir);
	CHECK(col_read_file(core, &orig) == 0 && orig.len > 4096);
	for (int round = 0; round < 300 && orig.len > 4096; round++) {
		struct buf diag = BUF_INIT;
		struct target *t = NULL;
		char err[512] = "";
		size_t len = orig.len, head = len < 32768 ? len : 32768;
		uint8_t *bytes = malloc(len);

		memcpy(bytes, orig.data, len);
		for (int k = (int)(rand_r(&seed) % 16) + 1; k > 0; k--)
			bytes[rand_r(&seed) % head] = (uint8_t)rand_r(&seed);
		if (round % 5 == 0)
			len = rand_r(&seed) % len;
		write_text(path, (const char *)bytes, len);
		if (recorded_target_open(path, NULL, &t, &diag, err, sizeof(err)) == 0) {
			exercise(t);
			t->ops->destroy(t);
			opened++;
		} else {
			CHECK(err[0] != 0);
			refused++;
		}
		buf_fini(&diag);
		free(bytes);
	}
	CHECK(opened > 0 && refused > 0);
	buf_fini(&orig);
	unlink(path);
}

static void check_target(char *prog, const char *dir)
{
	struct loop *loop = loop_new();
	pid_t tid = 0;
	struct target *live = loop ? run_to_crash(loop, prog, &tid) : NULL, *rec = NULL;
	char core[4096], err[512] = "";
	struct buf diag = BUF_INIT;
	const struct recorded_image *imgs;
	size_t nimgs;

	CHECK(live != NULL);
	if (!live)
		return;
	snprintf(core, sizeof(core), "%s/core", dir);
	CHECK(core_write(live, core, CORE_STYLE_MODIFIED, NULL, err, sizeof(err)) == 0);
	CHECK(recorded_target_open(core, NULL, &rec, &diag, err, sizeof(err)) == 0);
	if (rec) {
		CHECK(diag.len == 0); /* the images are all on disk, unchanged */
		nimgs = recorded_target_images(rec, &imgs);
		CHECK(nimgs >= 3 && imgs[0].status == RECORDED_IMAGE_OK && imgs[0].build_id[0]);
		check_threads(live, rec, tid);
		check_memory(live, rec);
		check_read_only(rec, tid);
		rec->ops->destroy(rec);
	}
	if (diag.len)
		fprintf(stderr, "diagnostics: %s", diag.data);
	buf_fini(&diag);
	live->ops->kill(live);
	live->ops->destroy(live);
	loop_free(loop);
	check_damaged(core, dir);
	unlink(core);
}

static void check_collector(const char *dir)
{
	static const char pt[] = "\x02\x82\x02\x82 recorded bytes";
	char file[4096], missing[4096];
	const char *files[] = {file, missing};
	pid_t tids[] = {100, 101};
	struct recpt_source src = {sizeof(src),
				   tids,
				   files,
				   2,
				   "processor : 0\nvendor_id : GenuineIntel\ncpu family : 6\n"
				   "model : 85\nstepping : 4\n",
				   NULL};
	struct col_thread_state ts[4];
	struct col_state st;
	struct col_cpu cpu;
	struct col_config cfg = COL_CONFIG_INIT;
	struct col_tsc_conversion conv;
	struct collector *c = NULL;
	struct buf out = BUF_INIT;
	char err[256];

	snprintf(file, sizeof(file), "%s/100.pt", dir);
	snprintf(missing, sizeof(missing), "%s/101.pt", dir);
	write_text(file, pt, sizeof(pt));
	CHECK(recpt_create(NULL, &src, &c, err, sizeof(err)) == 0);
	if (!c)
		return;
	c->ops->state(c, &st);
	CHECK(st.process_traced && st.nthreads == 1);
	CHECK(c->ops->threads(c, ts, 4) == 1 && ts[0].tid == 100 && ts[0].trace_size == sizeof(pt));
	CHECK(c->ops->read_thread(c, 100, &out) == sizeof(pt) && !memcmp(out.data, pt, sizeof(pt)));
	CHECK(c->ops->read_thread(c, 101, &out) == -ENOENT);
	CHECK(strstr(c->warnings, "thread 101") != NULL);
	CHECK(c->ops->start_thread(c, 100, &cfg) == 0 && c->ops->start_thread(c, 101, &cfg) < 0);
	c->ops->cpu_identity(c, &cpu);
	CHECK(!strcmp(cpu.vendor, "GenuineIntel") && cpu.family == 6 && cpu.model == 85 &&
	      cpu.stepping == 4);
	CHECK(c->ops->tsc_conversion(c, &conv) == -EOPNOTSUPP);
	col_destroy(c);
	buf_fini(&out);
	unlink(file);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/ptstub-test-recorded-XXXXXX";

	if (argc != 2 || !mkdtemp(dir)) {
		fprintf(stderr, "usage: test_recorded RECORDED_CRASH\n");
		return 2;
	}
	check_target(argv[1], dir);
	check_collector(dir);
	rmdir(dir);
	return check_result("test_recorded");
}
