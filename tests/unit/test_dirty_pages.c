/* tests/unit/test_dirty_pages.c — dirty_pages_scan against a real child: it writes a known
 * scattered set of pages in a fresh 4 GiB mapping, reads others, copies-on-write one page of a
 * private file mapping, then waits; both scan methods must return exactly the written set. */
#include "server/core/dirty_pages.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ULL
#define REGION_PAGES (1ULL << 20) /* 4 GiB */
#define WRITTEN 100000
#define READ_ONLY 2000

struct layout {
	uint64_t region;   /* the 4 GiB anonymous mapping */
	uint64_t file_map; /* 4 pages of a private file mapping, page 1 written */
	uint64_t shared;   /* 8 pages of shared anonymous memory, pages 2 and 3 written */
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Page indexes to write (sorted, unique, some in adjacent runs) and to only read. */
static size_t pick_pages(uint64_t *written, uint64_t *read_only)
{
	size_t n = 0;

	while (n < WRITTEN) {
		uint64_t first = rng() % REGION_PAGES, len = 1 + rng() % 4;

		for (uint64_t i = 0; i < len && n < WRITTEN && first + i < REGION_PAGES; i++)
			written[n++] = first + i;
	}
	qsort(written, n, sizeof(*written), cmp_u64);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (!u || written[u - 1] != written[i])
			written[u++] = written[i];
	for (size_t i = 0; i < READ_ONLY;) {
		uint64_t p = rng() % REGION_PAGES;

		if (!bsearch(&p, written, u, sizeof(*written), cmp_u64))
			read_only[i++] = p;
	}
	return u;
}

static void child(int fd, const uint64_t *written, size_t n, const uint64_t *read_only)
{
	struct layout l;
	uint8_t *region = mmap(NULL, REGION_PAGES * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	FILE *tmp = tmpfile();
	uint8_t *file_map, *shared;
	volatile uint8_t sink = 0;

	if (region == MAP_FAILED || !tmp)
		_exit(2);
	for (int i = 0; i < 4 * 4096; i++)
		fputc('f', tmp);
	fflush(tmp);
	file_map = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fileno(tmp), 0);
	shared = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (file_map == MAP_FAILED || shared == MAP_FAILED)
		_exit(2);
	for (size_t i = 0; i < n; i++)
		region[written[i] * PAGE + (i % 4000)] = (uint8_t)(1 + i % 250);
	for (size_t i = 0; i < READ_ONLY; i++)
		sink += region[read_only[i] * PAGE];
	sink += file_map[0] + file_map[2 * PAGE];
	file_map[PAGE + 5] = 'w';
	shared[2 * PAGE] = 1;
	shared[3 * PAGE] = 1;
	l.region = (uintptr_t)region;
	l.file_map = (uintptr_t)file_map;
	l.shared = (uintptr_t)shared;
	if (write(fd, &l, sizeof(l)) != sizeof(l))
		_exit(3);
	pause();
	_exit(sink == 255 ? 0 : 0);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int expect_pages(const char *what, pid_t pid, enum dirty_method method, uint64_t start,
			uint64_t end, const uint64_t *want, size_t nwant)
{
	uint64_t *pages = NULL;
	size_t n = 0;
	double t0 = now();
	int ret = dirty_pages_scan(pid, start, end, method, &pages, &n);
	int bad = 0;

	if (ret) {
		fprintf(stderr, "%s: dirty_pages_scan failed: %s\n", what, strerror(-ret));
		return 1;
	}
	if (n != nwant) {
		fprintf(stderr, "%s: %zu pages found, %zu expected\n", what, n, nwant);
		bad = 1;
	}
	for (size_t i = 0; i < n && i < nwant; i++) {
		if (pages[i] != want[i]) {
			fprintf(stderr, "%s: page %zu is %#llx, expected %#llx\n", what, i,
				(unsigned long long)pages[i], (unsigned long long)want[i]);
			bad = 1;
			break;
		}
	}
	printf("%s: %zu pages in %.1f ms%s\n", what, n, (now() - t0) * 1e3, bad ? " WRONG" : "");
	free(pages);
	return bad;
}

int main(void)
{
	uint64_t *written = malloc(WRITTEN * sizeof(uint64_t));
	uint64_t *read_only = malloc(READ_ONLY * sizeof(uint64_t));
	uint64_t *want = malloc(WRITTEN * sizeof(uint64_t));
	struct layout l;
	int pipefd[2], bad = 0;
	size_t n;
	pid_t pid;

	if (!written || !read_only || !want || pipe(pipefd))
		return 1;
	n = pick_pages(written, read_only);
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		close(pipefd[0]);
		child(pipefd[1], written, n, read_only);
	}
	close(pipefd[1]);
	if (read(pipefd[0], &l, sizeof(l)) != sizeof(l)) {
		fprintf(stderr, "child failed to set up its mappings\n");
		return 1;
	}
	kill(pid, SIGSTOP);
	waitpid(pid, NULL, WUNTRACED);

	for (size_t i = 0; i < n; i++)
		want[i] = l.region + written[i] * PAGE;
	uint64_t file_want[] = {l.file_map + PAGE};
	uint64_t shared_want[] = {l.shared + 2 * PAGE, l.shared + 3 * PAGE};
	const struct {
		const char *name;
		enum dirty_method method;
	} methods[] = {{"scan", DIRTY_PAGEMAP_SCAN}, {"pagemap", DIRTY_PAGEMAP}};

	for (size_t m = 0; m < 2; m++) {
		char what[64];

		snprintf(what, sizeof(what), "%s 4GiB anon", methods[m].name);
		bad |= expect_pages(what, pid, methods[m].method, l.region,
				    l.region + REGION_PAGES * PAGE, want, n);
		snprintf(what, sizeof(what), "%s private file", methods[m].name);
		bad |= expect_pages(what, pid, methods[m].method, l.file_map, l.file_map + 4 * PAGE,
				    file_want, 1);
		snprintf(what, sizeof(what), "%s shared anon", methods[m].name);
		bad |= expect_pages(what, pid, methods[m].method, l.shared, l.shared + 8 * PAGE,
				    shared_want, 2);
	}
	/* The environment forces the fallback when the argument leaves the choice open. */
	setenv("PTSTUB_DIRTY_METHOD", "pagemap", 1);
	bad |= expect_pages("auto+env 4GiB anon", pid, DIRTY_AUTO, l.region,
			    l.region + REGION_PAGES * PAGE, want, n);
	/* A second scan finds the same set: looking faulted nothing in. */
	unsetenv("PTSTUB_DIRTY_METHOD");
	bad |= expect_pages("auto again", pid, DIRTY_AUTO, l.region, l.region + REGION_PAGES * PAGE,
			    want, n);

	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	free(written);
	free(read_only);
	free(want);
	return bad;
}
