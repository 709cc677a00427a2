/* collector/recorded.h — the recorded backend of struct collector_ops: PT bytes captured
 * earlier (a bundle's trace/<tid>.pt files) and the cpu they came from (its cpuinfo), served
 * as a finished process trace. Nothing is started or stopped: the trace is what was recorded. */
#ifndef PTSTUB_COLLECTOR_RECORDED_H
#define PTSTUB_COLLECTOR_RECORDED_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "collector/collector.h"
#include "protocol/buf.h"

/* Where the recorded trace lives. Paths are read once, at creation. */
struct recpt_source {
	size_t size;		  /* sizeof(struct recpt_source) */
	const pid_t *tids;	  /* threads with a trace file */
	const char *const *files; /* files[i] holds the PT bytes of tids[i] */
	size_t ntids;
	const char *cpuinfo; /* /proc/cpuinfo text of the recording host; NULL = the
			      * software backend's emulated cpu */
	const struct col_tsc_conversion *tsc; /* NULL when the recording had none */
};

/* Creates the collector for target t (not owned). A thread whose file cannot be read is left
 * out, with a line in (*out)->warnings. Returns 0 or -errno with a sentence in err. */
int recpt_create(struct target *t, const struct recpt_source *src, struct collector **out,
		 char *err, size_t errlen);


#endif
