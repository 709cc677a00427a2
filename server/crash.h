/* server/crash.h — --core-on-crash: a skinny core written when the debuggee stops with a
 * fatal signal, before the crash is reported (so it survives whatever the client does next). */
#ifndef PTSTUB_SERVER_CRASH_H
#define PTSTUB_SERVER_CRASH_H

#include <stdbool.h>
#include <sys/types.h>

struct target;

bool crash_signal_is_fatal(int signo);
/* If tid of t stopped with a fatal signal, write DIR/core.<pid>.<signal name> (modified-memory
 * style) and log where it went or why it failed. Returns 0, 1 if nothing was due, or -errno. */
int crash_core_write(struct target *t, const char *dir, pid_t tid);

#endif
