/* server/core/core.h — skinny ELF core files: the writer (any struct target_ops, live or
 * recorded), the `save-core` and `core-info` commands. The core carries modified pages plus
 * what GDB 13 and LLDB 19 need (see ../shared/spec/skinny-core.md) and a PTSTUB image note. */
#ifndef PTSTUB_SERVER_CORE_CORE_H
#define PTSTUB_SERVER_CORE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct target;

enum core_style {
	CORE_STYLE_MODIFIED, /* modified pages + image ELF headers, [vdso], images' rw mappings */
	CORE_STYLE_STACKS,   /* modified pages of thread stacks + image ELF headers, [vdso] */
	CORE_STYLE_FULL,     /* every readable mapping (untouched anonymous pages as holes) */
};

struct core_options {
	pid_t first_tid; /* thread written first (the crashing one); 0 = the first stopped
			  * with a reason, else the main thread */
	int signo;	 /* signal recorded in every thread's pr_cursig; 0 = each thread's own */
	bool quiet;	 /* no progress lines on stderr */
};

/* "modified-memory" (also "modified", "dirty"), "stacks" (also "stack"), "full".
 * Returns 0, or -EINVAL for an unknown name. */
int core_style_parse(const char *name, enum core_style *out);
const char *core_style_name(enum core_style style);

/* Write a core of the stopped target t to path (through a temporary file in the same
 * directory, renamed at the end: on failure nothing is left behind). opt may be NULL.
 * Returns 0 or -errno with a sentence in err (e.g. "disk full", "the process died"). */
int core_write(struct target *t, const char *path, enum core_style style,
	       const struct core_options *opt, char *err, size_t errlen);

/* `ptstub save-core --pid PID [--style full|modified-memory|stacks] -o FILE`: attach, stop,
 * write, detach. argv[0] is "save-core". Returns the process exit code. */
int save_core_main(int argc, char **argv);

/* `ptstub core-info FILE`: print the threads and the PTSTUB image note of a core; warn where
 * an image on disk no longer matches its recorded build-id. Returns the exit code. */
int core_info_main(int argc, char **argv);

#endif
