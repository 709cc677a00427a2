/* protocol/buf.c — the growable byte buffer behind every reply, packet and file image.
 * Storage always keeps one spare byte for a terminating NUL; allocation failure aborts. */
#include "protocol/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char hex_lower[] = "0123456789abcdef";

void buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void buf_fini(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void buf_reserve(struct buf *b, size_t extra)
{
	size_t need, cap;
	char *data;

	if (extra > SIZE_MAX / 2 - b->len) {
		fprintf(stderr, "ptstub: buffer size overflow (%zu + %zu bytes)\n", b->len, extra);
		abort();
	}
	need = b->len + extra;
	if (b->data && need <= b->cap)
		return;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	data = realloc(b->data, cap + 1);
	if (!data) {
		fprintf(stderr, "ptstub: out of memory allocating %zu bytes\n", cap + 1);
		abort();
	}
	if (!b->data)
		data[0] = '\0';
	b->data = data;
	b->cap = cap;
}

void *buf_tail(struct buf *b, size_t extra)
{
	buf_reserve(b, extra);
	return b->data + b->len;
}

void buf_commit(struct buf *b, size_t n)
{
	b->len += n;
	b->data[b->len] = '\0';
}

void buf_append(struct buf *b, const void *data, size_t len)
{
	buf_reserve(b, len);
	if (len)
		memcpy(b->data + b->len, data, len);
	buf_commit(b, len);
}

void buf_putc(struct buf *b, char c)
{
	buf_reserve(b, 1);
	b->data[b->len] = c;
	buf_commit(b, 1);
}

void buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list again;
	int n;

	va_copy(again, ap);
	buf_reserve(b, 64);
	n = vsnprintf(b->data + b->len, b->cap - b->len + 1, fmt, ap);
	if (n < 0) {
		va_end(again);
		b->data[b->len] = '\0';
		return;
	}
	if ((size_t)n > b->cap - b->len) {
		buf_reserve(b, (size_t)n);
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
	}
	va_end(again);
	buf_commit(b, (size_t)n);
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void buf_put_hex(struct buf *b, const void *data, size_t len)
{
	const uint8_t *in = data;
	char *out = buf_tail(b, 2 * len);

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex_lower[in[i] >> 4];
		out[2 * i + 1] = hex_lower[in[i] & 15];
	}
	buf_commit(b, 2 * len);
}

void buf_put_hex_str(struct buf *b, const char *s)
{
	buf_put_hex(b, s, strlen(s));
}

void buf_put_hex_u64(struct buf *b, uint64_t v)
{
	char tmp[16];
	size_t n = 0;

	do {
		tmp[sizeof(tmp) - ++n] = hex_lower[v & 15];
		v >>= 4;
	} while (v);
	buf_append(b, tmp + sizeof(tmp) - n, n);
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}
