/* protocol/buf.h — a growable byte buffer: every reply, packet and file image is built in one.
 * Pure code. Allocation failure aborts the process with a message (a debug server that cannot
 * allocate a few KiB cannot do anything useful); every other error is a return value. */
#ifndef PTSTUB_PROTOCOL_BUF_H
#define PTSTUB_PROTOCOL_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	char *data;  /* bytes; always NUL-terminated one past len (so text can be used as a C string) */
	size_t len;  /* bytes in use */
	size_t cap;  /* bytes allocated, not counting the terminating NUL */
};

#define BUF_INIT {NULL, 0, 0}

void buf_init(struct buf *b);
void buf_fini(struct buf *b);                 /* frees storage; b is then empty and reusable */
void buf_reset(struct buf *b);                /* len = 0, storage kept */
void buf_reserve(struct buf *b, size_t extra); /* room for at least extra more bytes */
/* Room for extra more bytes; returns where they go. Commit them with buf_commit. */
void *buf_tail(struct buf *b, size_t extra);
void buf_commit(struct buf *b, size_t n);     /* len += n after writing into buf_tail() */
void buf_append(struct buf *b, const void *data, size_t len);
void buf_putc(struct buf *b, char c);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
void buf_put_hex(struct buf *b, const void *data, size_t len);  /* two lowercase hex digits a byte */
void buf_put_hex_str(struct buf *b, const char *s);              /* hex of the bytes of s */
void buf_put_hex_u64(struct buf *b, uint64_t v);                 /* "1f", no 0x, no padding */
void buf_consume(struct buf *b, size_t n);    /* drop the first n bytes (memmove the rest) */

#endif
