/* collector/perf_pt.h — the pieces of the hardware backend that need no PMU, exposed for
 * unit tests: sysfs parsing (a fake tree works), perf_event_attr building, ring copies. */
#ifndef PTSTUB_COLLECTOR_PERF_PT_H
#define PTSTUB_COLLECTOR_PERF_PT_H

#include <linux/perf_event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/collector.h"
#include "protocol/buf.h"

/* What sysfs says about the intel_pt PMU. Bit positions are -1 when the term is absent. */
struct perfpt_pmu {
	uint32_t type;	      /* attr.type */
	int tsc_bit;	      /* format/tsc "config:N" */
	int psb_period_shift; /* format/psb_period "config:A-B" -> A */
	bool psb_cyc;	      /* caps/psb_cyc */
	uint32_t psb_periods; /* caps/psb_periods: bit k set = exponent k valid */
};

/* Reads dir/type, dir/format/{tsc,psb_period}, dir/caps/{psb_cyc,psb_periods}. */
int perfpt_pmu_load(const char *dir, struct perfpt_pmu *out, char *err, size_t errlen);
/* Parses "config:N" or "config:A-B" into first (and last) bit; -EINVAL otherwise. */
int perfpt_parse_format(const char *text, int *first, int *last);

/* The PT event attributes LLDB uses: user space only, config from tsc/psb_period;
 * disabled for per-cpu events. Errors (psbPeriod unsupported/invalid) in err. */
int perfpt_build_attr(const struct perfpt_pmu *pmu, const struct col_config *cfg, bool per_cpu,
		      struct perf_event_attr *attr, char *err, size_t errlen);
/* The context-switch companion event of a per-cpu trace. */
void perfpt_context_switch_attr(struct perf_event_attr *attr);

/* AUX pages for a trace size: the largest power of two <= ceil(size / page). */
size_t perfpt_aux_pages(uint64_t trace_size, size_t page_size);
/* Overwrite-mode AUX ring of size bytes, head = aux_head: appends oldest first. */
void perfpt_copy_aux(const uint8_t *aux, size_t size, uint64_t head, struct buf *out);
/* DATA ring (data_head only grows): appends min(head, size) bytes, oldest first. */
void perfpt_copy_data(const uint8_t *data, size_t size, uint64_t head, struct buf *out);

/* TSC conversion from a metadata page; -EOPNOTSUPP with LLDB's sentence when the caps lack. */
int perfpt_tsc_from_page(const struct perf_event_mmap_page *pg, struct col_tsc_conversion *out,
			 char *err, size_t errlen);

/* Logical cpu ids from /proc/cpuinfo text ("processor : N" lines); returns the count. */
size_t perfpt_parse_cpus(const char *cpuinfo, int *cpus, size_t max);

#endif
