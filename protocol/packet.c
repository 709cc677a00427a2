/* protocol/packet.c — gdb-remote framing: the streaming reader (acks, interrupts, `$…#cs`
 * packets and `%…#cs` notifications, with `}` escapes and `*` run-lengths undone) and the
 * writer that escapes a raw payload. Bulk bytes are handled a run at a time, not byte by byte. */
#include "protocol/packet.h"

#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "protocol/hex.h"

enum reader_state {
	RS_IDLE = 0, /* between packets: acks, interrupts, garbage */
	RS_BODY,     /* inside a payload */
	RS_ESCAPE,   /* after `}`: the next byte is XORed with 0x20 */
	RS_REPEAT,   /* after `*`: the next byte is a repeat count + 29 */
	RS_CSUM_HI,  /* after `#`: first checksum digit */
	RS_CSUM_LO,  /* second checksum digit */
};

/* Bytes that need a second look inside a payload (reader) or an escape (writer). */
static const uint8_t special[256] = {['#'] = 1, ['$'] = 1, ['}'] = 1, ['*'] = 1};

static const char hex_lower[] = "0123456789abcdef";

void pkt_reader_init(struct pkt_reader *r, size_t max_len)
{
	buf_init(&r->payload);
	r->max_len = max_len ? max_len : PKT_DEFAULT_MAX;
	r->state = RS_IDLE;
	r->sum = 0;
	r->cs_hi = 0;
	r->notification = false;
	r->overflow = false;
}

void pkt_reader_fini(struct pkt_reader *r)
{
	buf_fini(&r->payload);
}

static void reader_start(struct pkt_reader *r, bool notification)
{
	buf_reset(&r->payload);
	r->state = RS_BODY;
	r->sum = 0;
	r->notification = notification;
	r->overflow = false;
}

static uint8_t sum_bytes(const uint8_t *p, size_t n)
{
	unsigned sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += p[i];
	return (uint8_t)sum;
}

/* Room for n more decoded bytes, or false (and the packet marked overlong) if they exceed
 * max_len. An overlong packet is still read up to its `#cs` so that its bytes are not taken
 * for acks or interrupts; it is reported as PKT_TOO_LONG then. */
static bool reader_room(struct pkt_reader *r, size_t n)
{
	if (r->overflow)
		return false;
	if (n > r->max_len - r->payload.len) {
		r->overflow = true;
		buf_reset(&r->payload);
		return false;
	}
	return true;
}

static void reader_put(struct pkt_reader *r, const uint8_t *p, size_t n)
{
	if (reader_room(r, n))
		buf_append(&r->payload, p, n);
}

/* `*` followed by c: the previous decoded byte appears c - 29 more times. */
static void reader_repeat(struct pkt_reader *r, uint8_t c)
{
	size_t n = c > 29 ? (size_t)c - 29 : 0;

	if (r->overflow || r->payload.len == 0 || n == 0)
		return;
	if (reader_room(r, n)) {
		char *out = buf_tail(&r->payload, n);

		memset(out, r->payload.data[r->payload.len - 1], n);
		buf_commit(&r->payload, n);
	}
}

/* Payload bytes in RS_BODY: copy plain runs, stop on a special byte. Returns bytes used. */
static size_t reader_body(struct pkt_reader *r, const uint8_t *p, size_t len)
{
	const uint8_t *end = memchr(p, '#', len);
	size_t n = end ? (size_t)(end - p) : len;
	const uint8_t *dollar = memchr(p, '$', n);
	size_t i = 0;

	if (dollar)
		n = (size_t)(dollar - p);
	r->sum += sum_bytes(p, n);
	while (i < n) {
		size_t run = i;

		while (run < n && p[run] != '}' && p[run] != '*')
			run++;
		reader_put(r, p + i, run - i);
		if (run == n)
			break;
		r->state = p[run] == '}' ? RS_ESCAPE : RS_REPEAT;
		if (run + 1 == n)
			return n;
		if (r->state == RS_ESCAPE) {
			uint8_t c = p[run + 1] ^ 0x20;

			reader_put(r, &c, 1);
		} else {
			reader_repeat(r, p[run + 1]);
		}
		r->state = RS_BODY;
		i = run + 2;
	}
	return n;
}

static enum pkt_event reader_finish(struct pkt_reader *r, int lo)
{
	int hi = r->cs_hi;

	r->state = RS_IDLE;
	if (r->overflow) {
		r->overflow = false;
		return PKT_TOO_LONG;
	}
	if (hi > 15 || lo < 0 || (uint8_t)(hi << 4 | lo) != r->sum)
		return PKT_BAD_CHECKSUM;
	return r->notification ? PKT_NOTIFICATION : PKT_PACKET;
}

/* One byte outside a payload run. Returns the event it completes, if any. */
static enum pkt_event reader_byte(struct pkt_reader *r, uint8_t c)
{
	switch (r->state) {
	case RS_IDLE:
		if (c == '$' || c == '%')
			reader_start(r, c == '%');
		else if (c == '+')
			return PKT_ACK;
		else if (c == '-')
			return PKT_NACK;
		else if (c == 0x03)
			return PKT_INTERRUPT;
		return PKT_NONE;
	case RS_ESCAPE:
		r->sum += c;
		c ^= 0x20;
		reader_put(r, &c, 1);
		r->state = RS_BODY;
		return PKT_NONE;
	case RS_REPEAT:
		r->sum += c;
		reader_repeat(r, c);
		r->state = RS_BODY;
		return PKT_NONE;
	case RS_CSUM_HI: {
		int d = hex_digit(c);

		r->cs_hi = d < 0 ? 0xff : (uint8_t)d;
		r->state = RS_CSUM_LO;
		return PKT_NONE;
	}
	case RS_CSUM_LO:
		return reader_finish(r, hex_digit(c));
	}
	return PKT_NONE;
}

size_t pkt_reader_feed(struct pkt_reader *r, const uint8_t *data, size_t len, enum pkt_event *ev)
{
	size_t i = 0;

	*ev = PKT_NONE;
	while (i < len) {
		if (r->state == RS_BODY) {
			i += reader_body(r, data + i, len - i);
			if (i == len || r->state != RS_BODY)
				continue;
			/* Stopped on `#` (end of payload) or `$` (a new packet: resynchronise). */
			if (data[i] == '#') {
				r->state = RS_CSUM_HI;
			} else {
				bool dropped = r->overflow;

				reader_start(r, false);
				if (dropped) {
					*ev = PKT_TOO_LONG;
					return i + 1;
				}
			}
			i++;
			continue;
		}
		/* A raw `#` or `$` is never escaped or repeated (they travel as `}\x03`, `}\x04`):
		 * after a dangling `}` or `*` it still ends the payload or starts a new packet, so a
		 * truncated escape cannot swallow the next packet. */
		if ((r->state == RS_ESCAPE || r->state == RS_REPEAT) &&
		    (data[i] == '#' || data[i] == '$')) {
			r->state = RS_BODY;
			continue;
		}
		*ev = reader_byte(r, data[i++]);
		if (*ev != PKT_NONE)
			return i;
	}
	return len;
}

size_t pkt_escaped_len(const void *payload, size_t len)
{
	const uint8_t *p = payload;
	size_t n = len + 4;

	for (size_t i = 0; i < len; i++)
		n += special[p[i]];
	return n;
}

/* `}` and the byte XORed with 0x20 at o; returns what they add to the checksum. */
static unsigned put_escaped(uint8_t *o, uint8_t c)
{
	o[0] = '}';
	o[1] = c ^ 0x20;
	return '}' + (c ^ 0x20u);
}

#ifdef __SSE2__
/* The bulk of a payload 16 bytes at a time (a binary memory reply is most of what the server
 * sends): blocks without a special byte are copied and summed whole; a block with one is
 * copied up to it, and the special byte escaped. Returns the bytes consumed; the output end
 * and the running checksum are updated. The output must have room for 2 * len bytes. */
static size_t escape_blocks(const uint8_t *p, size_t len, uint8_t **out, unsigned *sum)
{
	const __m128i hash = _mm_set1_epi8('#'), dollar = _mm_set1_epi8('$');
	const __m128i star = _mm_set1_epi8('*'), brace = _mm_set1_epi8('}');
	const __m128i zero = _mm_setzero_si128();
	__m128i acc = zero;
	uint8_t *o = *out;
	unsigned extra = 0;
	size_t i = 0;

	while (i + 16 <= len) {
		__m128i v = _mm_loadu_si128((const __m128i *)(p + i));
		__m128i hit = _mm_or_si128(
			_mm_or_si128(_mm_cmpeq_epi8(v, hash), _mm_cmpeq_epi8(v, dollar)),
			_mm_or_si128(_mm_cmpeq_epi8(v, star), _mm_cmpeq_epi8(v, brace)));
		unsigned bits = (unsigned)_mm_movemask_epi8(hit);

		/* The whole block is stored even when only part of it counts: the output has
		 * room, since at most 2 * i bytes were written for the i consumed. */
		_mm_storeu_si128((__m128i *)o, v);
		if (bits == 0) {
			acc = _mm_add_epi64(acc, _mm_sad_epu8(v, zero));
			o += 16;
			i += 16;
			continue;
		}
		unsigned k = (unsigned)__builtin_ctz(bits);
		extra += sum_bytes(p + i, k);
		o += k;
		extra += put_escaped(o, p[i + k]);
		o += 2;
		i += k + 1;
	}
	*sum += extra + (unsigned)_mm_cvtsi128_si32(acc) +
		(unsigned)_mm_cvtsi128_si32(_mm_unpackhi_epi64(acc, acc));
	*out = o;
	return i;
}
#endif

static void write_framed(struct buf *out, char lead, const void *payload, size_t len)
{
	const uint8_t *p = payload;
	/* Worst case: every byte escaped. Reserve once, trim by committing only what was used. */
	uint8_t *start = buf_tail(out, 2 * len + 4);
	uint8_t *o = start + 1;
	unsigned sum = 0;
	size_t i = 0;

	start[0] = (uint8_t)lead;
#ifdef __SSE2__
	i = escape_blocks(p, len, &o, &sum);
#endif
	for (; i < len; i++) {
		if (special[p[i]]) {
			sum += put_escaped(o, p[i]);
			o += 2;
		} else {
			sum += p[i];
			*o++ = p[i];
		}
	}
	sum &= 0xff;
	*o++ = '#';
	*o++ = (uint8_t)hex_lower[(sum >> 4) & 15];
	*o++ = (uint8_t)hex_lower[sum & 15];
	buf_commit(out, (size_t)(o - start));
}

void pkt_write(struct buf *out, const void *payload, size_t len)
{
	write_framed(out, '$', payload, len);
}

void pkt_write_notification(struct buf *out, const void *payload, size_t len)
{
	write_framed(out, '%', payload, len);
}
