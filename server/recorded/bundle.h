/* server/recorded/bundle.h — trace bundles: the directory `ptstub record` writes and `ptstub
 * serve` reads. Layout (README "Recorded targets"):
 *   core          skinny ELF core (modified-memory style) with the PTSTUB image note
 *   trace/TID.pt  the raw PT bytes of each traced thread
 *   cpuinfo       /proc/cpuinfo-shaped text of the cpu the trace is for
 *   images.json   path, build-id, load address (and copy) of every image
 *   images/       copies of the images (--copy-images)
 *   trace.json    LLDB's intel-pt trace bundle description (`trace load`)
 *   status.json   trigger, signal, time, trace sizes, and how the program ended */
#ifndef PTSTUB_SERVER_RECORDED_BUNDLE_H
#define PTSTUB_SERVER_RECORDED_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "collector/collector.h"
#include "protocol/buf.h"

struct target;
struct collector;

#define BUNDLE_MAX_THREADS 1024

struct bundle_thread {
	pid_t tid;
	char file[64];	/* "trace/TID.pt", relative to the bundle */
	uint64_t bytes; /* size recorded when written */
};

/* What status.json holds. */
struct bundle_status {
	char *const *argv;   /* the program and its arguments (writing only) */
	pid_t pid, tid;	     /* the process; the thread that hit the trigger */
	char trigger[16];    /* "crash", "exit", "function" */
	char function[256];  /* for "function" */
	int signo;	     /* the thread's signal at the trigger, 0 if none */
	char time[32];	     /* UTC, ISO 8601 */
	char backend[32];    /* collector name, "off" without trace */
	uint64_t trace_size; /* ring size asked for */
	struct bundle_thread threads[BUNDLE_MAX_THREADS];
	size_t nthreads;
	bool ended;	 /* the program's end is known: */
	int exit_status; /* exit code, or -1 when killed */
	int exit_signal; /* signal that killed it, or 0 */
};

/* Write the bundle of the stopped target t into dir (created if needed): core, trace files
 * (col may be NULL: no trace), cpuinfo, images, trace.json and st (completed with the thread
 * list and time). Returns 0 or -errno with a sentence in err. */
int bundle_write(const char *dir, struct target *t, struct collector *col, struct bundle_status *st,
		 bool copy_images, char *err, size_t errlen);
/* Rewrite status.json (after the program ended). */
int bundle_write_status(const char *dir, const struct bundle_status *st, char *err, size_t errlen);

/* A bundle opened for serving. */
struct bundle {
	char dir[4096];
	char image_dir[4200]; /* dir/images when it exists, else "" */
	struct bundle_status status;
	bool have_status;
	struct buf cpuinfo; /* empty when missing */
	struct col_tsc_conversion tsc;
	bool have_tsc;
	struct buf diag; /* one line per problem found */
};

/* Check the bundle in dir: every problem that still lets it be served goes to b->diag (one
 * line each, naming the file). Returns 0, or -errno with a sentence in err when nothing can be
 * served (no readable core). */
int bundle_open(struct bundle *b, const char *dir, char *err, size_t errlen);
void bundle_close(struct bundle *b);
/* A fresh recorded target and collector over the bundle (one per client session). */
int bundle_instance(struct bundle *b, struct target **t, struct collector **col, char *err,
		    size_t errlen);

#endif
