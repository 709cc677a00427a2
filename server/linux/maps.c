/* server/linux/maps.c — what /proc says about the process: mappings, auxv, identity
 * (status + exe), plus the siginfo of a stopped thread and modified pages (server/core). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <unistd.h>

#include "server/core/dirty_pages.h"
#include "server/linux/linux_target.h"

static FILE *lx_proc_open(struct lx_target *lt, const char *what)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/%s", lt->pid, what);
	return fopen(path, "re");
}

/* One line of /proc/PID/maps; false if it does not parse. */
static bool lx_parse_map_line(const char *line, struct tgt_region *r)
{
	char perms[8] = "";
	unsigned long long start, end, offset, inode;
	int path_at = 0;

	memset(r, 0, sizeof(*r));
	if (sscanf(line, "%llx-%llx %7s %llx %*x:%*x %llu %n", &start, &end, perms, &offset, &inode,
		   &path_at) < 5)
		return false;
	r->start = start;
	r->end = end;
	r->offset = offset;
	r->inode = inode;
	r->prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
		  (perms[2] == 'x' ? PROT_EXEC : 0);
	r->shared = perms[3] == 's';
	if (path_at > 0)
		snprintf(r->path, sizeof(r->path), "%s", line + path_at);
	r->path[strcspn(r->path, "\n")] = '\0';
	return true;
}

int lx_regions(struct target *t, struct tgt_region **out, size_t *n)
{
	struct lx_target *lt = lx_of(t);
	struct tgt_region *v = NULL;
	size_t cnt = 0, cap = 0;
	char line[4096 + 256];
	FILE *f = lx_proc_open(lt, "maps");

	if (!f)
		return lx_set_error(lt, -errno, "cannot read /proc/%d/maps: %s", lt->pid,
				    strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (cnt == cap) {
			struct tgt_region *nv = realloc(v, (cap = cap ? cap * 2 : 64) * sizeof(*v));

			if (!nv) {
				free(v);
				fclose(f);
				return -ENOMEM;
			}
			v = nv;
		}
		if (lx_parse_map_line(line, &v[cnt]))
			cnt++;
	}
	fclose(f);
	*out = v;
	*n = cnt;
	return 0;
}

int lx_read_auxv(struct target *t, struct buf *out)
{
	struct lx_target *lt = lx_of(t);
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/auxv", lt->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lx_set_error(lt, -errno, "cannot read %s: %s", path, strerror(errno));
	while ((n = read(fd, buf_tail(out, 4096), 4096)) > 0)
		buf_commit(out, (size_t)n);
	close(fd);
	return n < 0 ? -errno : 0;
}

int lx_read_siginfo(struct target *t, pid_t tid, struct buf *out)
{
	siginfo_t si;

	if (ptrace(PTRACE_GETSIGINFO, tid, 0, &si) < 0)
		return lx_set_error(lx_of(t), -errno, "thread %d has no signal information: %s",
				    tid, strerror(errno));
	buf_append(out, &si, sizeof(si));
	return 0;
}

/* "Name:\tv1\tv2..." lines of /proc/PID/status: the first two numbers after the key. */
static void lx_status_pair(const char *line, const char *key, unsigned *a, unsigned *b)
{
	size_t k = strlen(key);

	if (strncmp(line, key, k) == 0)
		sscanf(line + k, "%u %u", a, b);
}

/* /proc/PID/cmdline with its NULs turned into spaces, cut to fit (cap >= 1). */
static void lx_read_cmdline(pid_t pid, char *out, size_t cap)
{
	char path[64];
	ssize_t n = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, out, cap - 1);
		close(fd);
	}
	if (n < 0)
		n = 0;
	while (n > 0 && out[n - 1] == '\0')
		n--;
	for (ssize_t i = 0; i < n; i++)
		if (out[i] == '\0')
			out[i] = ' ';
	out[n] = '\0';
}

int lx_process_info(struct target *t, struct tgt_process_info *out)
{
	struct lx_target *lt = lx_of(t);
	unsigned ppid = 0, unused = 0, uid = 0, euid = 0, gid = 0, egid = 0;
	char line[512], path[64];
	FILE *f = lx_proc_open(lt, "status");
	ssize_t n;

	if (!f)
		return lx_set_error(lt, -errno, "cannot read /proc/%d/status: %s", lt->pid,
				    strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		lx_status_pair(line, "PPid:", &ppid, &unused);
		lx_status_pair(line, "Uid:", &uid, &euid);
		lx_status_pair(line, "Gid:", &gid, &egid);
	}
	fclose(f);
	memset(out, 0, sizeof(*out));
	*out = (struct tgt_process_info){.pid = lt->pid,
					 .ppid = (pid_t)ppid,
					 .uid = uid,
					 .euid = euid,
					 .gid = gid,
					 .egid = egid};
	snprintf(path, sizeof(path), "/proc/%d/exe", lt->pid);
	n = readlink(path, out->exe, sizeof(out->exe) - 1);
	out->exe[n > 0 ? n : 0] = '\0';
	lx_read_cmdline(lt->pid, out->args, sizeof(out->args));
	return 0;
}

int lx_dirty_pages(struct target *t, uint64_t start, uint64_t end, uint64_t **pages, size_t *n)
{
	struct lx_target *lt = lx_of(t);
	int r = dirty_pages_scan(lt->pid, start, end, DIRTY_AUTO, pages, n);

	if (r < 0)
		return lx_set_error(lt, r, "cannot tell which pages are modified: %s",
				    strerror(-r));
	return r;
}
