/* collector/collector.h — trace capture behind one interface. Backends: hardware Intel PT
 * through perf (perf_pt.c), software PT synthesized from ptrace single steps (soft_pt.c).
 * Handlers (jLLDBTrace*, Qbtrace) call only struct collector_ops and never ask which one.
 *
 * Mapping to the LLDB packets (lldb-protocol.md §3):
 *   jLLDBTraceStart {tids:[..]}      -> ops->start_thread(c, tid, &cfg) for each tid
 *   jLLDBTraceStart {tids:null}      -> ops->start_process(c, &cfg)
 *   jLLDBTraceStop  {tids:[..]}      -> ops->stop_thread;  {tids:null} -> ops->stop_all
 *   jLLDBTraceGetState               -> ops->state (+ ops->threads / ops->cpus arrays,
 *                                       ops->tsc_conversion, c->warnings)
 *   jLLDBTraceGetBinaryData iptTrace -> ops->read_thread (tid) or ops->read_cpu (cpuId)
 *   perfContextSwitchTrace           -> ops->read_cpu(c, cpu, COL_DATA_CONTEXT_SWITCH, out)
 *   procfsCpuInfo                    -> ops->cpu_info
 * GDB: Qbtrace:pt -> start_thread (size from Qbtrace-conf:pt:size), Qbtrace:off -> stop_thread,
 * qXfer:btrace:read -> read_thread + ops->cpu_identity for <cpu vendor family model stepping>.
 * The session calls thread_created/thread_exited/process_resumed/process_stopped as events
 * happen, so process tracing follows new threads and per-cpu tracing pauses at stops.
 *
 * Errors: negative errno; c->error then holds the sentence for the client (the exact LLDB
 * wording where LLDB has one), to send as E.message / Exx;hex(msg). */
#ifndef PTSTUB_COLLECTOR_COLLECTOR_H
#define PTSTUB_COLLECTOR_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "protocol/buf.h"

struct target;
struct collector;

/* Defaults, as LLDB 19 sends them. */
#define COL_DEFAULT_TRACE_SIZE 4096u
#define COL_DEFAULT_PROCESS_LIMIT (5u * 1024 * 1024)
#define COL_MIN_TRACE_SIZE 4096u
/* Largest per-thread (or per-cpu) buffer a client may ask for: the software backend's ring
 * grows to it in server memory, so the server bounds it itself. */
#define COL_MAX_TRACE_SIZE (1ull << 30)

/* The jLLDBTraceStart intel-pt fields. */
struct col_config {
	size_t size;			    /* sizeof(struct col_config) */
	uint64_t trace_size;		    /* iptTraceSize: power of two >= 4096 */
	bool enable_tsc;		    /* enableTsc */
	int psb_period;			    /* psbPeriod exponent; -1 = not given */
	bool per_cpu;			    /* perCpuTracing (process tracing only) */
	bool disable_cgroup_filtering;	    /* disableCgroupTracing (per-cpu only) */
	uint64_t process_buffer_size_limit; /* processBufferSizeLimit; 0 = default 5 MiB */
};

#define COL_CONFIG_INIT                                                                            \
	{                                                                                          \
		sizeof(struct col_config), COL_DEFAULT_TRACE_SIZE, false, -1, false, false,        \
			COL_DEFAULT_PROCESS_LIMIT                                                  \
	}

/* One traced thread, as GetState reports it. */
struct col_thread_state {
	pid_t tid;
	uint64_t trace_size; /* bytes read_thread returns now (0 in per-cpu mode: no own buffer) */
	bool exited;	     /* its trace stays readable until tracing stops */
};

/* One cpu in per-cpu mode. */
struct col_cpu_state {
	int id;
	uint64_t trace_size;	      /* iptTrace bytes */
	uint64_t context_switch_size; /* perfContextSwitchTrace bytes */
};

struct col_state {
	bool process_traced;	     /* a process trace is active */
	bool per_cpu;		     /* ... in per-cpu mode */
	bool using_cgroup_filtering; /* usingCgroupFiltering */
	size_t nthreads, ncpus;	     /* entries ops->threads / ops->cpus will return */
};

/* perf time conversion (tscPerfZeroConversion). */
struct col_tsc_conversion {
	uint32_t time_mult;
	uint16_t time_shift;
	uint64_t time_zero;
};

/* CPU identity for decoders (GDB's <cpu>, LLDB's procfsCpuInfo). */
struct col_cpu {
	char vendor[16]; /* "GenuineIntel" */
	unsigned family, model, stepping;
};

enum col_cpu_data { COL_DATA_IPT, COL_DATA_CONTEXT_SWITCH };

struct collector_ops {
	const char *name; /* "perf-intel-pt", "software-pt" */
	void (*destroy)(struct collector *c);

	/* Thread tracing. Errors: already traced (also by the process trace), limits. */
	int (*start_thread)(struct collector *c, pid_t tid, const struct col_config *cfg);
	/* -ENOENT "Thread N not currently traced". A thread of a per-thread process trace
	 * may be stopped individually; per-cpu mode refuses. */
	int (*stop_thread)(struct collector *c, pid_t tid);
	/* Process tracing: every current thread (and later ones via thread_created). */
	int (*start_process)(struct collector *c, const struct col_config *cfg);
	/* Stops the process trace and every individually traced thread. */
	int (*stop_all)(struct collector *c);

	/* Appends the thread's (or cpu's) current trace to out; returns the byte count, which
	 * equals the size the last state report gave while the process stays stopped. */
	ssize_t (*read_thread)(struct collector *c, pid_t tid, struct buf *out);
	ssize_t (*read_cpu)(struct collector *c, int cpu, enum col_cpu_data kind, struct buf *out);

	void (*state)(struct collector *c, struct col_state *out);
	/* Fill up to max entries; return how many exist. */
	size_t (*threads)(struct collector *c, struct col_thread_state *out, size_t max);
	size_t (*cpus)(struct collector *c, struct col_cpu_state *out, size_t max);
	/* -EOPNOTSUPP (with c->error) when the conversion is unavailable. */
	int (*tsc_conversion)(struct collector *c, struct col_tsc_conversion *out);
	/* The procfsCpuInfo text (the host's, or the emulated model's for software PT). */
	int (*cpu_info)(struct collector *c, struct buf *out);
	void (*cpu_identity)(struct collector *c, struct col_cpu *out);

	/* Session events. thread_created returns -errno (with c->error) when process tracing
	 * cannot cover the new thread (the session then reports a "processor trace" stop). */
	int (*thread_created)(struct collector *c, pid_t tid);
	void (*thread_exited)(struct collector *c, pid_t tid);
	void (*process_resumed)(struct collector *c);
	void (*process_stopped)(struct collector *c);
};

struct collector {
	const struct collector_ops *ops;
	struct target *target;
	char error[512];    /* reason for the last failure */
	char warnings[512]; /* lines for GetState "warnings" (and the log); "" = none */
};

enum col_backend {
	COL_BACKEND_AUTO, /* hardware when the intel_pt PMU exists, else software */
	COL_BACKEND_HW,
	COL_BACKEND_SW,
};

/* "auto", "hw", "sw" (also "hardware", "software") -> backend; -EINVAL otherwise. */
int col_backend_parse(const char *s, enum col_backend *out);

/* The sysfs directory of the intel_pt PMU (overridable for tests: a fake tree). */
#define COL_INTEL_PT_SYSFS "/sys/bus/event_source/devices/intel_pt"
bool col_hw_available(const char *sysfs_dir);

/* Creates a collector for target t (not owned). sysfs_dir NULL = COL_INTEL_PT_SYSFS.
 * On failure returns -errno with a sentence in err. The software backend leaves a warning
 * in (*out)->warnings saying that it is in use and that its cpuinfo is emulated. */
int col_create(enum col_backend which, struct target *t, const char *sysfs_dir,
	       struct collector **out, char *err, size_t errlen);
void col_destroy(struct collector *c); /* NULL is a no-op; stops all tracing */

/* Backends (col_create picks one). */
int softpt_create(struct target *t, struct collector **out, char *err, size_t errlen);
int perfpt_create(struct target *t, const char *sysfs_dir, struct collector **out, char *err,
		  size_t errlen);

/* Validates trace_size like LLDB: a power of two >= 4096, else -EINVAL and the sentence. */
int col_check_trace_size(uint64_t size, char *err, size_t errlen);

/* perf's TSC <-> perf time conversion, from a dummy software event's metadata page (no
 * intel_pt needed). -EOPNOTSUPP with LLDB's sentence when the kernel does not offer it. */
int col_tsc_conversion_query(struct col_tsc_conversion *out, char *err, size_t errlen);
uint64_t col_tsc_to_ns(const struct col_tsc_conversion *conv, uint64_t tsc);

/* For backends: puts the sentence in c->error and returns err. */
int col_fail(struct collector *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* For backends starting a process trace: fills tids (up to max) with the target's threads,
 * defaults cfg->process_buffer_size_limit and checks count × trace_size against it.
 * Returns the count, or -errno with c->error. */
int col_process_threads(struct collector *c, struct col_config *cfg, pid_t *tids, size_t max);
/* The same limit sentence for a count of buffers (threads or cpus). */
int col_check_process_limit(struct collector *c, const struct col_config *cfg, size_t n);

/* cpuinfo.c: the emulated PT model (GenuineIntel 6/122/1) and the host's identity. */
void col_emulated_cpu(struct col_cpu *out);
void col_emulated_cpuinfo(struct buf *out); /* /proc/cpuinfo-shaped text, one per host cpu */
void col_host_cpu(struct col_cpu *out);	    /* from CPUID */
/* Append the whole file at path to out. Returns 0 or -errno. */
int col_read_file(const char *path, struct buf *out);
int col_host_cpuinfo(struct buf *out);	    /* contents of /proc/cpuinfo */

#endif
