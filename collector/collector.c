/* collector/collector.c — backend choice (hardware intel_pt PMU, else software PT, or forced)
 * and the checks every backend shares. */
#include <fcntl.h>
#include "collector/collector.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "server/target.h"

int col_backend_parse(const char *s, enum col_backend *out)
{
	static const struct {
		const char *name;
		enum col_backend backend;
	} names[] = {
		{"auto", COL_BACKEND_AUTO},   {"hw", COL_BACKEND_HW},
		{"hardware", COL_BACKEND_HW}, {"sw", COL_BACKEND_SW},
		{"software", COL_BACKEND_SW},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i].name)) {
			*out = names[i].backend;
			return 0;
		}
	return -EINVAL;
}

bool col_hw_available(const char *sysfs_dir)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/type", sysfs_dir ? sysfs_dir : COL_INTEL_PT_SYSFS);
	return access(path, R_OK) == 0;
}

int col_check_trace_size(uint64_t size, char *err, size_t errlen)
{
	if (size >= COL_MIN_TRACE_SIZE && size <= COL_MAX_TRACE_SIZE && !(size & (size - 1)))
		return 0;
	snprintf(
		err, errlen,
		"The intel pt trace size must be a power of 2 greater than or equal to 4096 (2^12) "
		"bytes. It was %llu.",
		(unsigned long long)size);
	if (size > COL_MAX_TRACE_SIZE)
		snprintf(err, errlen,
			 "The intel pt trace size %llu is larger than this server's limit of %llu "
			 "bytes (COL_MAX_TRACE_SIZE).",
			 (unsigned long long)size, COL_MAX_TRACE_SIZE);
	return -EINVAL;
}

int col_create(enum col_backend which, struct target *t, const char *sysfs_dir,
	       struct collector **out, char *err, size_t errlen)
{
	int ret;

	*out = NULL;
	if (which == COL_BACKEND_AUTO)
		which = col_hw_available(sysfs_dir) ? COL_BACKEND_HW : COL_BACKEND_SW;
	if (which == COL_BACKEND_HW)
		return perfpt_create(t, sysfs_dir, out, err, errlen);
	ret = softpt_create(t, out, err, errlen);
	if (ret == 0 && !col_hw_available(sysfs_dir))
		snprintf((*out)->warnings, sizeof((*out)->warnings),
			 "intel_pt PMU not found: this CPU or VM has no Intel PT; using the "
			 "software backend (single-stepping, much slower than hardware), which "
			 "reports an emulated GenuineIntel cpu (family 6, model 122) so decoders "
			 "accept the trace.");
	return ret;
}

void col_destroy(struct collector *c)
{
	if (c)
		c->ops->destroy(c);
}

int col_fail(struct collector *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	return err;
}

int col_check_process_limit(struct collector *c, const struct col_config *cfg, size_t n)
{
	if ((uint64_t)n * cfg->trace_size <= cfg->process_buffer_size_limit)
		return 0;
	return col_fail(c, -ENOSPC,
			"The process can't be traced because the process trace size limit has "
			"been reached. Consider retracing with a higher limit.");
}

int col_process_threads(struct collector *c, struct col_config *cfg, pid_t *tids, size_t max)
{
	struct target *t = c->target;
	int n, err;

	if ((err = col_check_trace_size(cfg->trace_size, c->error, sizeof(c->error))))
		return err;
	if (!cfg->process_buffer_size_limit)
		cfg->process_buffer_size_limit = COL_DEFAULT_PROCESS_LIMIT;
	n = t->ops->threads(t, tids, max);
	if (n < 0)
		return col_fail(c, n, "can't list the threads of the process: %s", strerror(-n));
	if ((size_t)n > max)
		n = (int)max;
	if ((err = col_check_process_limit(c, cfg, (size_t)n)))
		return err;
	return n;
}

int col_read_file(const char *path, struct buf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	do {
		n = read(fd, buf_tail(out, 65536), 65536);
		if (n > 0)
			buf_commit(out, (size_t)n);
		else if (n < 0 && errno != EINTR)
			err = -errno;
	} while (n != 0 && !err);
	close(fd);
	return err;
}
