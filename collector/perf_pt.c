/* collector/perf_pt.c — the hardware backend: Intel PT through perf_event_open, as
 * lldb-server does it (per-thread events, or per-cpu events with context-switch records),
 * AUX rings mapped read-only (overwrite mode), config bits from sysfs. Intel hosts only. */
#include "collector/perf_pt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "server/target.h"

#define CONTEXT_SWITCH_PAGES 8 /* 32 KiB of switch records per cpu, like LLDB */
#define MAX_CPUS 1024

/* ---- pure helpers (unit-tested) ---- */

/* Reads a small sysfs file into text; -errno when missing. */
static int read_text(const char *dir, const char *name, char *text, size_t cap)
{
	char path[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, text, cap - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	text[n] = 0;
	return 0;
}

int perfpt_parse_format(const char *text, int *first, int *last)
{
	char *end;
	long a, b;

	if (strncmp(text, "config:", 7))
		return -EINVAL;
	a = strtol(text + 7, &end, 10);
	if (end == text + 7 || a < 0 || a > 63)
		return -EINVAL;
	b = a;
	if (*end == '-') {
		const char *s = end + 1;

		b = strtol(s, &end, 10);
		if (end == s || b < a || b > 63)
			return -EINVAL;
	}
	*first = (int)a;
	if (last)
		*last = (int)b;
	return 0;
}

static int format_bit(const char *dir, const char *term)
{
	char name[64], text[64];
	int bit;

	snprintf(name, sizeof(name), "format/%s", term);
	if (read_text(dir, name, text, sizeof(text)) < 0 ||
	    perfpt_parse_format(text, &bit, NULL) < 0)
		return -1;
	return bit;
}

int perfpt_pmu_load(const char *dir, struct perfpt_pmu *out, char *err, size_t errlen)
{
	char text[64], *end;
	unsigned long v;

	memset(out, 0, sizeof(*out));
	if (read_text(dir, "type", text, sizeof(text)) < 0) {
		snprintf(err, errlen,
			 "intel_pt PMU not found (can't open the file '%s/type'): this CPU or VM "
			 "has "
			 "no Intel PT; use the software backend",
			 dir);
		return -ENODEV;
	}
	v = strtoul(text, &end, 10);
	if (end == text) {
		snprintf(err, errlen, "'%s/type' does not hold a PMU type number", dir);
		return -EINVAL;
	}
	out->type = (uint32_t)v;
	out->tsc_bit = format_bit(dir, "tsc");
	out->psb_period_shift = format_bit(dir, "psb_period");
	if (read_text(dir, "caps/psb_cyc", text, sizeof(text)) == 0)
		out->psb_cyc = strtoul(text, NULL, 16) != 0;
	if (read_text(dir, "caps/psb_periods", text, sizeof(text)) == 0)
		out->psb_periods = (uint32_t)strtoul(text, NULL, 16);
	return 0;
}

int perfpt_build_attr(const struct perfpt_pmu *pmu, const struct col_config *cfg, bool per_cpu,
		      struct perf_event_attr *attr, char *err, size_t errlen)
{
	memset(attr, 0, sizeof(*attr));
	attr->size = sizeof(*attr);
	attr->type = pmu->type;
	attr->exclude_kernel = 1;
	attr->exclude_hv = 1;
	attr->exclude_idle = 1;
	attr->disabled = per_cpu;
	if (cfg->enable_tsc || per_cpu) {
		if (pmu->tsc_bit < 0) {
			snprintf(err, errlen,
				 "TSC is unsupported: the intel_pt PMU has no "
				 "format/tsc entry.");
			return -EOPNOTSUPP;
		}
		attr->config |= 1ull << pmu->tsc_bit;
	}
	if (cfg->psb_period >= 0) {
		size_t len;

		if (!pmu->psb_cyc || pmu->psb_period_shift < 0) {
			snprintf(err, errlen, "psb_period is unsupported in the system.");
			return -EOPNOTSUPP;
		}
		if (cfg->psb_period > 31 || !(pmu->psb_periods & (1u << cfg->psb_period))) {
			len = (size_t)snprintf(err, errlen,
					       "Invalid psb_period. Valid values are: ");
			for (int k = 0, first = 1; k < 32 && len < errlen; k++)
				if (pmu->psb_periods & (1u << k)) {
					len += (size_t)snprintf(err + len, errlen - len, "%s%d",
								first ? "" : ", ", k);
					first = 0;
				}
			return -EINVAL;
		}
		attr->config |= (uint64_t)cfg->psb_period << pmu->psb_period_shift;
	}
	return 0;
}

void perfpt_context_switch_attr(struct perf_event_attr *attr)
{
	memset(attr, 0, sizeof(*attr));
	attr->size = sizeof(*attr);
	attr->type = PERF_TYPE_SOFTWARE;
	attr->config = PERF_COUNT_SW_DUMMY;
	attr->sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME;
	attr->context_switch = 1;
	attr->sample_id_all = 1;
	attr->exclude_kernel = 1;
	attr->exclude_hv = 1;
}

size_t perfpt_aux_pages(uint64_t trace_size, size_t page_size)
{
	uint64_t pages = (trace_size + page_size - 1) / page_size;
	size_t p = 1;

	while (p * 2 <= pages)
		p *= 2;
	return p;
}

void perfpt_copy_aux(const uint8_t *aux, size_t size, uint64_t head, struct buf *out)
{
	size_t h = (size_t)(head % size);

	buf_append(out, aux + h, size - h);
	buf_append(out, aux, h);
}

void perfpt_copy_data(const uint8_t *data, size_t size, uint64_t head, struct buf *out)
{
	if (head <= size) {
		buf_append(out, data, (size_t)head);
		return;
	}
	perfpt_copy_aux(data, size, head, out);
}

int perfpt_tsc_from_page(const struct perf_event_mmap_page *pg, struct col_tsc_conversion *out,
			 char *err, size_t errlen)
{
	const char *missing = !pg->cap_user_time	? "cap_user_time"
			      : !pg->cap_user_time_zero ? "cap_user_time_zero"
							: NULL;

	if (missing) {
		snprintf(err, errlen,
			 "Can't get TSC to real time conversion values. perf_event capability "
			 "'%s' not supported.",
			 missing);
		return -EOPNOTSUPP;
	}
	out->time_mult = pg->time_mult;
	out->time_shift = pg->time_shift;
	out->time_zero = pg->time_zero;
	return 0;
}

uint64_t col_tsc_to_ns(const struct col_tsc_conversion *conv, uint64_t tsc)
{
	uint64_t q = tsc >> conv->time_shift;
	uint64_t r = tsc & ((1ull << conv->time_shift) - 1);

	return conv->time_zero + q * conv->time_mult + ((r * conv->time_mult) >> conv->time_shift);
}

size_t perfpt_parse_cpus(const char *cpuinfo, int *cpus, size_t max)
{
	size_t n = 0;

	for (const char *line = cpuinfo; line && *line;) {
		const char *nl = strchr(line, '\n');
		int id;

		if (!strncmp(line, "processor", 9) && sscanf(line, "processor : %d", &id) == 1) {
			if (n < max)
				cpus[n] = id;
			n++;
		}
		line = nl ? nl + 1 : NULL;
	}
	return n;
}

/* ---- perf events ---- */

static long perf_open(struct perf_event_attr *attr, pid_t pid, int cpu, int group,
		      unsigned long flags)
{
	return syscall(SYS_perf_event_open, attr, pid, cpu, group, flags | PERF_FLAG_FD_CLOEXEC);
}

static int paranoid_level(void)
{
	char text[16];

	if (read_text("/proc/sys/kernel", "perf_event_paranoid", text, sizeof(text)) < 0)
		return 2;
	return atoi(text);
}

static int open_error(int err, bool per_cpu, char *msg, size_t cap)
{
	size_t len = (size_t)snprintf(msg, cap, "perf event syscall failed: %s", strerror(err));

	if ((err == EACCES || err == EPERM) && len < cap)
		len += (size_t)snprintf(msg + len, cap - len,
					" (/proc/sys/kernel/perf_event_paranoid is %d; tracing "
					"needs 2 or less, per-cpu tracing 0 or less, or "
					"CAP_PERFMON)",
					paranoid_level());
	if (per_cpu && len < cap)
		snprintf(msg + len, cap - len,
			 " You might need to rerun as sudo or to set "
			 "/proc/sys/kernel/perf_event_paranoid to a value of 0 or -1. You can use "
			 "`sudo sysctl -w kernel.perf_event_paranoid=-1` for that.");
	return -err;
}

/* One perf event with its metadata page, optional DATA ring, optional AUX ring. */
struct perfpt_event {
	int fd;
	struct perf_event_mmap_page *meta; /* metadata page, then data_pages of DATA */
	size_t meta_len;
	uint8_t *aux;
	size_t aux_size;
	bool enabled;
};

static void event_close(struct perfpt_event *ev)
{
	if (ev->aux)
		munmap(ev->aux, ev->aux_size);
	if (ev->meta)
		munmap(ev->meta, ev->meta_len);
	if (ev->fd > 0)
		close(ev->fd);
	memset(ev, 0, sizeof(*ev));
}

/* Opens attr on (pid, cpu) and maps 1 + data_pages pages and, if aux_bytes, the AUX ring. */
static int event_open(struct perfpt_event *ev, struct perf_event_attr *attr, pid_t pid, int cpu,
		      int group, unsigned long flags, size_t data_pages, uint64_t aux_bytes,
		      char *err, size_t errlen)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	long fd;

	memset(ev, 0, sizeof(*ev));
	fd = perf_open(attr, pid, cpu, group, flags);
	if (fd < 0)
		return open_error(errno, cpu >= 0, err, errlen);
	ev->fd = (int)fd;
	ev->enabled = !attr->disabled;
	ev->meta_len = (1 + data_pages) * page;
	ev->meta = mmap(NULL, ev->meta_len, data_pages ? PROT_READ : PROT_READ | PROT_WRITE,
			MAP_SHARED, ev->fd, 0);
	if (ev->meta == MAP_FAILED) {
		ev->meta = NULL;
		snprintf(err, errlen, "perf event mmap allocation failed: %s", strerror(errno));
		goto fail;
	}
	if (aux_bytes) {
		size_t pages = perfpt_aux_pages(aux_bytes, page);

		ev->meta->aux_offset = ev->meta->data_offset + ev->meta->data_size;
		if (ev->meta->aux_offset < page)
			ev->meta->aux_offset = page;
		ev->meta->aux_size = pages * page;
		ev->aux = mmap(NULL, pages * page, PROT_READ, MAP_SHARED, ev->fd,
			       (off_t)ev->meta->aux_offset);
		if (ev->aux == MAP_FAILED) {
			ev->aux = NULL;
			snprintf(err, errlen,
				 "perf event mmap allocation failed for aux buffer: %s",
				 strerror(errno));
			goto fail;
		}
		ev->aux_size = pages * page;
	}
	return 0;
fail:
	fd = -errno;
	event_close(ev);
	return fd ? (int)fd : -ENOMEM;
}

static void event_enable(struct perfpt_event *ev, bool on)
{
	if (ev->fd <= 0 || ev->enabled == on)
		return;
	ioctl(ev->fd, on ? PERF_EVENT_IOC_ENABLE : PERF_EVENT_IOC_DISABLE, PERF_IOC_FLAG_GROUP);
	ev->enabled = on;
}

/* Copies the AUX ring (disabling the event meanwhile so the CPU flushes its buffers). */
static ssize_t event_read_aux(struct perfpt_event *ev, struct buf *out)
{
	bool was = ev->enabled;
	uint64_t head;

	event_enable(ev, false);
	head = __atomic_load_n(&ev->meta->aux_head, __ATOMIC_ACQUIRE);
	perfpt_copy_aux(ev->aux, ev->aux_size, head, out);
	event_enable(ev, was);
	return (ssize_t)ev->aux_size;
}

static uint64_t data_size_now(const struct perfpt_event *ev)
{
	uint64_t head = __atomic_load_n(&ev->meta->data_head, __ATOMIC_ACQUIRE);
	uint64_t size = ev->meta_len - (size_t)sysconf(_SC_PAGESIZE);

	return head < size ? head : size;
}

static ssize_t event_read_data(struct perfpt_event *ev, struct buf *out)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t off = ev->meta->data_offset ? ev->meta->data_offset : page;
	uint64_t size = ev->meta->data_size ? ev->meta->data_size : ev->meta_len - page;
	uint64_t head = __atomic_load_n(&ev->meta->data_head, __ATOMIC_ACQUIRE);
	size_t before = out->len;

	perfpt_copy_data((const uint8_t *)ev->meta + off, (size_t)size, head, out);
	return (ssize_t)(out->len - before);
}

int col_tsc_conversion_query(struct col_tsc_conversion *out, char *err, size_t errlen)
{
	struct perf_event_attr attr;
	struct perfpt_event ev;
	int ret;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_DUMMY;
	attr.exclude_kernel = 1;
	ret = event_open(&ev, &attr, 0, -1, -1, 0, 0, 0, err, errlen);
	if (ret < 0)
		return ret;
	ret = perfpt_tsc_from_page(ev.meta, out, err, errlen);
	event_close(&ev);
	return ret;
}

/* ---- the collector ---- */

struct perfpt_thread {
	struct perfpt_thread *next;
	pid_t tid;
	bool by_process, exited;
	struct perfpt_event pt;
};

struct perfpt_cpu {
	int id;
	struct perfpt_event pt, switches;
};

struct perfpt {
	struct collector c;
	char sysfs[256];
	struct perfpt_pmu pmu;
	struct perfpt_thread *threads;
	bool process_traced, per_cpu, using_cgroup;
	struct col_config process_cfg;
	struct perfpt_cpu *cpus;
	size_t ncpus;
	int cgroup_fd;
};

static struct perfpt *to_perfpt(struct collector *c)
{
	return (struct perfpt *)c;
}

static struct perfpt_thread *find_thread(struct perfpt *p, pid_t tid)
{
	for (struct perfpt_thread *th = p->threads; th; th = th->next)
		if (th->tid == tid)
			return th;
	return NULL;
}

static int trace_thread(struct perfpt *p, pid_t tid, const struct col_config *cfg, bool by_process)
{
	struct perf_event_attr attr;
	struct perfpt_thread *th;
	int err;

	if ((err = perfpt_build_attr(&p->pmu, cfg, false, &attr, p->c.error, sizeof(p->c.error))))
		return err;
	th = calloc(1, sizeof(*th));
	if (!th)
		return col_fail(&p->c, -ENOMEM, "out of memory");
	err = event_open(&th->pt, &attr, tid, -1, -1, 0, 0, cfg->trace_size, p->c.error,
			 sizeof(p->c.error));
	if (err < 0) {
		free(th);
		return err;
	}
	th->tid = tid;
	th->by_process = by_process;
	th->next = p->threads;
	p->threads = th;
	return 0;
}

static void unlink_free(struct perfpt *p, struct perfpt_thread *th)
{
	for (struct perfpt_thread **pp = &p->threads; *pp; pp = &(*pp)->next)
		if (*pp == th) {
			*pp = th->next;
			break;
		}
	event_close(&th->pt);
	free(th);
}

static int perfpt_start_thread(struct collector *c, pid_t tid, const struct col_config *cfg)
{
	struct perfpt *p = to_perfpt(c);
	struct perfpt_thread *th = find_thread(p, tid);
	int err;

	if ((th && th->by_process) || (p->process_traced && p->per_cpu))
		return col_fail(c, -EEXIST,
				"Thread with tid %d is currently traced. Stop tracing it first.",
				tid);
	if (th)
		return col_fail(c, -EEXIST, "Thread %d already traced", tid);
	if ((err = col_check_trace_size(cfg->trace_size, c->error, sizeof(c->error))))
		return err;
	return trace_thread(p, tid, cfg, false);
}

static int perfpt_stop_thread(struct collector *c, pid_t tid)
{
	struct perfpt *p = to_perfpt(c);
	struct perfpt_thread *th = find_thread(p, tid);

	if (p->process_traced && p->per_cpu)
		return col_fail(c, -EINVAL,
				"Can't stop tracing an individual thread when per-cpu "
				"process tracing is enabled.");
	if (!th)
		return col_fail(c, -ENOENT, "Thread %d not currently traced", tid);
	unlink_free(p, th);
	return 0;
}

static void close_cpus(struct perfpt *p)
{
	for (size_t i = 0; i < p->ncpus; i++) {
		event_close(&p->cpus[i].switches);
		event_close(&p->cpus[i].pt);
	}
	free(p->cpus);
	p->cpus = NULL;
	p->ncpus = 0;
	if (p->cgroup_fd > 0)
		close(p->cgroup_fd);
	p->cgroup_fd = -1;
}

static int perfpt_stop_all(struct collector *c)
{
	struct perfpt *p = to_perfpt(c);

	while (p->threads)
		unlink_free(p, p->threads);
	close_cpus(p);
	p->process_traced = p->per_cpu = p->using_cgroup = false;
	return 0;
}

/* The process's cgroup v2 directory, opened for PERF_FLAG_PID_CGROUP; -1 when unknown. */
static int open_cgroup(pid_t pid)
{
	char path[64], line[1024], dir[1100];
	int fd = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = 0;
			snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s", line + 3);
			fd = open(dir, O_RDONLY | O_CLOEXEC);
			break;
		}
	fclose(f);
	return fd;
}

static int start_per_cpu(struct perfpt *p, const struct col_config *cfg)
{
	struct col_tsc_conversion conv;
	struct tgt_process_info info;
	struct perf_event_attr attr, sw;
	struct buf text = BUF_INIT;
	int ids[MAX_CPUS], err;
	struct collector *c = &p->c;
	pid_t who = -1;
	unsigned long flags = 0;
	size_t n;

	if (p->threads)
		return col_fail(c, -EBUSY, "Threads currently traced. Stop tracing them first.");
	if ((err = col_tsc_conversion_query(&conv, c->error, sizeof(c->error))))
		return err;
	if ((err = col_host_cpuinfo(&text)) < 0) {
		buf_fini(&text);
		return col_fail(c, err, "can't read /proc/cpuinfo: %s", strerror(-err));
	}
	n = perfpt_parse_cpus(text.data, ids, MAX_CPUS);
	buf_fini(&text);
	if (n > MAX_CPUS)
		n = MAX_CPUS;
	if ((err = col_check_process_limit(c, cfg, n)))
		return err;
	if ((err = perfpt_build_attr(&p->pmu, cfg, true, &attr, c->error, sizeof(c->error))))
		return err;
	perfpt_context_switch_attr(&sw);
	p->cgroup_fd = -1;
	if (!cfg->disable_cgroup_filtering && c->target->ops->process_info(c->target, &info) == 0)
		p->cgroup_fd = open_cgroup(info.pid);
	if (p->cgroup_fd > 0) {
		who = p->cgroup_fd;
		flags = PERF_FLAG_PID_CGROUP;
	}
	p->using_cgroup = p->cgroup_fd > 0;
	p->cpus = calloc(n, sizeof(*p->cpus));
	if (!p->cpus)
		return col_fail(c, -ENOMEM, "out of memory");
	p->ncpus = n;
	for (size_t i = 0; i < n; i++) {
		struct perfpt_cpu *cpu = &p->cpus[i];

		cpu->id = ids[i];
		err = event_open(&cpu->pt, &attr, who, ids[i], -1, flags, 0, cfg->trace_size,
				 c->error, sizeof(c->error));
		if (err == 0) {
			sw.disabled = 1;
			err = event_open(&cpu->switches, &sw, who, ids[i], cpu->pt.fd, flags,
					 CONTEXT_SWITCH_PAGES, 0, c->error, sizeof(c->error));
		}
		if (err < 0) {
			close_cpus(p);
			return err;
		}
	}
	p->per_cpu = true;
	return 0;
}

static int perfpt_start_process(struct collector *c, const struct col_config *cfg)
{
	struct perfpt *p = to_perfpt(c);
	pid_t tids[1024];
	int n, err;

	if (p->process_traced)
		return col_fail(c, -EEXIST, "Process currently traced. Stop process tracing first");
	p->process_cfg = *cfg;
	if (cfg->per_cpu) {
		if ((err = col_check_trace_size(cfg->trace_size, c->error, sizeof(c->error))))
			return err;
		if (!p->process_cfg.process_buffer_size_limit)
			p->process_cfg.process_buffer_size_limit = COL_DEFAULT_PROCESS_LIMIT;
		p->process_cfg.enable_tsc = true;
		if ((err = start_per_cpu(p, &p->process_cfg)))
			return err;
		p->process_traced = true;
		return 0;
	}
	n = col_process_threads(c, &p->process_cfg, tids, sizeof(tids) / sizeof(tids[0]));
	if (n < 0)
		return n;
	p->process_traced = true;
	for (int i = 0; i < n; i++)
		if (!find_thread(p, tids[i]) && (err = trace_thread(p, tids[i], cfg, true)) < 0) {
			perfpt_stop_all(c);
			return err;
		}
	return 0;
}

static ssize_t perfpt_read_thread(struct collector *c, pid_t tid, struct buf *out)
{
	struct perfpt_thread *th = find_thread(to_perfpt(c), tid);

	if (!th)
		return col_fail(c, -ENOENT, "Thread %d not currently traced", tid);
	return event_read_aux(&th->pt, out);
}

static struct perfpt_cpu *find_cpu(struct perfpt *p, int id)
{
	for (size_t i = 0; i < p->ncpus; i++)
		if (p->cpus[i].id == id)
			return &p->cpus[i];
	return NULL;
}

static ssize_t perfpt_read_cpu(struct collector *c, int id, enum col_cpu_data kind, struct buf *out)
{
	struct perfpt_cpu *cpu = find_cpu(to_perfpt(c), id);
	ssize_t n;
	bool was;

	if (!cpu)
		return col_fail(c, -ENOENT, "Cpu %d is not traced", id);
	if (kind == COL_DATA_IPT)
		return event_read_aux(&cpu->pt, out);
	was = cpu->pt.enabled;
	event_enable(&cpu->pt, false);
	n = event_read_data(&cpu->switches, out);
	event_enable(&cpu->pt, was);
	return n;
}

static void perfpt_state(struct collector *c, struct col_state *out)
{
	struct perfpt *p = to_perfpt(c);

	memset(out, 0, sizeof(*out));
	out->process_traced = p->process_traced;
	out->per_cpu = p->per_cpu;
	out->using_cgroup_filtering = p->using_cgroup;
	out->ncpus = p->ncpus;
	for (struct perfpt_thread *th = p->threads; th; th = th->next)
		out->nthreads++;
}

static size_t perfpt_threads(struct collector *c, struct col_thread_state *out, size_t max)
{
	size_t n = 0;

	for (struct perfpt_thread *th = to_perfpt(c)->threads; th; th = th->next, n++)
		if (n < max)
			out[n] = (struct col_thread_state){th->tid, th->pt.aux_size, th->exited};
	return n;
}

static size_t perfpt_cpus(struct collector *c, struct col_cpu_state *out, size_t max)
{
	struct perfpt *p = to_perfpt(c);

	for (size_t i = 0; i < p->ncpus && i < max; i++)
		out[i] = (struct col_cpu_state){p->cpus[i].id, p->cpus[i].pt.aux_size,
						data_size_now(&p->cpus[i].switches)};
	return p->ncpus;
}

static int perfpt_tsc_conversion(struct collector *c, struct col_tsc_conversion *out)
{
	return col_tsc_conversion_query(out, c->error, sizeof(c->error));
}

static int perfpt_cpu_info(struct collector *c, struct buf *out)
{
	int err = col_host_cpuinfo(out);

	return err < 0 ? col_fail(c, err, "can't read /proc/cpuinfo: %s", strerror(-err)) : 0;
}

static void perfpt_cpu_identity(struct collector *c, struct col_cpu *out)
{
	(void)c;
	col_host_cpu(out);
}

static int perfpt_thread_created(struct collector *c, pid_t tid)
{
	struct perfpt *p = to_perfpt(c);
	uint64_t sum = 0;

	if (!p->process_traced || p->per_cpu || find_thread(p, tid))
		return 0;
	for (struct perfpt_thread *th = p->threads; th; th = th->next)
		if (th->by_process)
			sum += th->pt.aux_size;
	if (sum + p->process_cfg.trace_size > p->process_cfg.process_buffer_size_limit)
		return col_fail(c, -ENOSPC,
				"Thread %d can't be traced as the process trace size limit "
				"has been reached. Consider retracing with a higher limit.",
				tid);
	return trace_thread(p, tid, &p->process_cfg, true);
}

static void perfpt_thread_exited(struct collector *c, pid_t tid)
{
	struct perfpt_thread *th = find_thread(to_perfpt(c), tid);

	if (th)
		th->exited = true; /* the AUX ring stays mapped and readable */
}

static void enable_cpus(struct collector *c, bool on)
{
	struct perfpt *p = to_perfpt(c);

	for (size_t i = 0; i < p->ncpus; i++)
		event_enable(&p->cpus[i].pt, on);
}

static void perfpt_process_resumed(struct collector *c)
{
	enable_cpus(c, true);
}

static void perfpt_process_stopped(struct collector *c)
{
	enable_cpus(c, false);
}

static void perfpt_destroy(struct collector *c)
{
	perfpt_stop_all(c);
	free(c);
}

static const struct collector_ops perfpt_ops = {
	.name = "perf-intel-pt",
	.destroy = perfpt_destroy,
	.start_thread = perfpt_start_thread,
	.stop_thread = perfpt_stop_thread,
	.start_process = perfpt_start_process,
	.stop_all = perfpt_stop_all,
	.read_thread = perfpt_read_thread,
	.read_cpu = perfpt_read_cpu,
	.state = perfpt_state,
	.threads = perfpt_threads,
	.cpus = perfpt_cpus,
	.tsc_conversion = perfpt_tsc_conversion,
	.cpu_info = perfpt_cpu_info,
	.cpu_identity = perfpt_cpu_identity,
	.thread_created = perfpt_thread_created,
	.thread_exited = perfpt_thread_exited,
	.process_resumed = perfpt_process_resumed,
	.process_stopped = perfpt_process_stopped,
};

int perfpt_create(struct target *t, const char *sysfs_dir, struct collector **out, char *err,
		  size_t errlen)
{
	struct perfpt *p;
	int ret;

	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(p->sysfs, sizeof(p->sysfs), "%s", sysfs_dir ? sysfs_dir : COL_INTEL_PT_SYSFS);
	ret = perfpt_pmu_load(p->sysfs, &p->pmu, err, errlen);
	if (ret < 0) {
		free(p);
		return ret;
	}
	p->c.ops = &perfpt_ops;
	p->c.target = t;
	p->cgroup_fd = -1;
	*out = &p->c;
	return 0;
}
