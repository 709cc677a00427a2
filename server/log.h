/* server/log.h — the server's log: stderr by default, or --log-file. Packets are logged only
 * when the "packets" channel is on (--log-channels, or PTSTUB_LOG=packets). */
#ifndef PTSTUB_SERVER_LOG_H
#define PTSTUB_SERVER_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* path NULL = stderr. channels: space/comma separated words; "packets" logs every packet,
 * "debug" enables LOG_DEBUG messages, "ptrace" logs every resume and every status reaped from
 * the debuggee, "quiet" keeps only errors and warnings. */
int log_open(const char *path, const char *channels);
/* The "ptrace" channel: callers test it before building a message, since it is per event. */
extern bool log_ptrace;
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_packet(const char *dir, const char *data, size_t len);

#endif
