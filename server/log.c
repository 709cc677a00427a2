/* server/log.c — a line-oriented log with a level and an optional packet trace. */
#include "server/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static FILE *log_fp;
static enum log_level log_max = LOG_INFO;
static bool log_packets;
bool log_ptrace;

int log_open(const char *path, const char *channels)
{
	const char *env = getenv("PTSTUB_LOG");
	if (path && *path) {
		FILE *f = fopen(path, "a");
		if (!f)
			return -errno;
		setvbuf(f, NULL, _IOLBF, 0);
		log_fp = f;
	}
	for (int pass = 0; pass < 2; pass++) {
		const char *c = pass ? env : channels;
		if (!c)
			continue;
		if (strstr(c, "packets"))
			log_packets = true;
		if (strstr(c, "debug") || strstr(c, "packets") || strstr(c, "ptrace"))
			log_max = LOG_DEBUG;
		if (strstr(c, "ptrace"))
			log_ptrace = true;
		if (strstr(c, "quiet"))
			log_max = LOG_WARN;
	}
	return 0;
}

static FILE *out(void)
{
	return log_fp ? log_fp : stderr;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	/* The NULL test also keeps gcc's -Wformat-overflow quiet under -fsanitize=undefined. */
	if (level > log_max || !fmt)
		return;
	static const char *names[] = {"error", "warning", "info", "debug"};
	FILE *f = out();
	va_list ap;
	va_start(ap, fmt);
	fprintf(f, "ptstub: %s: ", names[level]);
	vfprintf(f, fmt, ap);
	fputc('\n', f);
	va_end(ap);
}

void log_packet(const char *dir, const char *data, size_t len)
{
	if (!log_packets)
		return;
	FILE *f = out();
	size_t shown = len > 512 ? 512 : len;
	fprintf(f, "ptstub: packet %s ", dir);
	for (size_t i = 0; i < shown; i++) {
		unsigned char c = (unsigned char)data[i];
		if (c >= 0x20 && c < 0x7f)
			fputc(c, f);
		else
			fprintf(f, "\\x%02x", c);
	}
	if (shown < len)
		fprintf(f, "... (%zu bytes)", len);
	fputc('\n', f);
}
