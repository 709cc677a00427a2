/* tests/unit/test_packet.c — the gdb-remote framer: every feed split, acks, interrupts,
 * escapes, run-lengths, bad checksums, overlong packets and binary round trips.
 * Each stream is described by the events it must produce, recorded as a text transcript. */
#include "protocol/packet.h"
#include "tests/unit/check.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Append `$raw#cs` with the checksum of raw as given (no escaping): what a peer may send. */
static void frame_raw(struct buf *out, char lead, const char *raw)
{
	unsigned sum = 0;

	for (const char *s = raw; *s; s++)
		sum += (unsigned char)*s;
	buf_printf(out, "%c%s#%02x", lead, raw, sum & 0xff);
}

/* One line per event: a letter, then the payload for packets. */
static void record(struct buf *log, enum pkt_event ev, const struct pkt_reader *r)
{
	static const char letter[] = {
		[PKT_PACKET] = 'P',  [PKT_BAD_CHECKSUM] = 'B', [PKT_ACK] = '+',
		[PKT_NACK] = '-',    [PKT_INTERRUPT] = 'I',    [PKT_NOTIFICATION] = 'N',
		[PKT_TOO_LONG] = 'L'};

	buf_putc(log, letter[ev]);
	if (ev == PKT_PACKET || ev == PKT_BAD_CHECKSUM || ev == PKT_NOTIFICATION)
		buf_append(log, r->payload.data, r->payload.len);
	buf_putc(log, '\n');
}

/* Feed data in pieces of at most step bytes, the first piece being first bytes long. */
static void transcript(const void *data, size_t len, size_t first, size_t step, size_t max_len,
		       struct buf *log)
{
	const uint8_t *p = data;
	struct pkt_reader r;
	size_t off = 0;

	pkt_reader_init(&r, max_len);
	buf_reset(log);
	while (off < len) {
		size_t piece = off == 0 ? first : step;
		size_t end = off + piece > len ? len : off + piece;

		while (off < end) {
			enum pkt_event ev;
			size_t used = pkt_reader_feed(&r, p + off, end - off, &ev);

			off += used;
			if (ev != PKT_NONE)
				record(log, ev, &r);
			else if (off != end)
				CHECK(!"PKT_NONE before the end of a feed");
		}
	}
	pkt_reader_fini(&r);
}

/* The transcript of the stream must be `want` however the stream is cut into feeds. */
static bool same_log(const struct buf *log, const char *want, size_t want_len)
{
	return log->len == want_len && memcmp(log->data, want, want_len) == 0;
}

static void expect_stream_n(const void *data, size_t len, size_t max_len, const char *want,
			    size_t want_len)
{
	struct buf log = BUF_INIT;

	for (size_t first = 1; first <= len; first++) {
		transcript(data, len, first, len, max_len, &log);
		if (!same_log(&log, want, want_len)) {
			fprintf(stderr, "split at %zu: got\n%s\nwant\n%s\n", first, log.data, want);
			check_failures++;
			break;
		}
	}
	transcript(data, len, 1, 1, max_len, &log);
	if (!same_log(&log, want, want_len)) {
		fprintf(stderr, "byte by byte: got\n%s\nwant\n%s\n", log.data, want);
		check_failures++;
	}
	buf_fini(&log);
}

static void expect_stream(const void *data, size_t len, size_t max_len, const char *want)
{
	expect_stream_n(data, len, max_len, want, strlen(want));
}

static void test_basic_stream(void)
{
	struct buf s = BUF_INIT;

	buf_puts(&s, "+");
	frame_raw(&s, '$', "qSupported:multiprocess+;xmlRegisters=i386");
	buf_puts(&s, "garbage\r\n-");
	frame_raw(&s, '$', "");
	buf_putc(&s, 0x03);
	frame_raw(&s, '$', "OK");
	frame_raw(&s, '%', "Stop:T05thread:1;");
	expect_stream(s.data, s.len, 0,
		      "+\nPqSupported:multiprocess+;xmlRegisters=i386\n-\nP\nI\nPOK\n"
		      "NStop:T05thread:1;\n");
	/* A known literal, independent of frame_raw. */
	expect_stream("$OK#9a", 6, 0, "POK\n");
	buf_fini(&s);
}

static void test_escapes_and_repeats(void)
{
	struct buf s = BUF_INIT;

	frame_raw(&s, '$', "a}]b}\x03}\x04}\x0a");
	frame_raw(&s, '$', "0* x*!"); /* ' ' = 3 more '0', '!' = 4 more 'x' */
	frame_raw(&s, '$', "}]* ");   /* a repeat of an escaped byte */
	frame_raw(&s, '$', "*}q");    /* a repeat with nothing before it adds nothing */
	expect_stream(s.data, s.len, 0, "Pa}b#$*\nP0000xxxxx\nP}}}}\nPq\n");
	buf_fini(&s);
}

static void test_bad_checksums(void)
{
	expect_stream("$OK#00$OK#9A$OK#zz$OK#9a", 24, 0, "BOK\nPOK\nBOK\nPOK\n");
}

static void test_too_long(void)
{
	struct buf s = BUF_INIT;

	/* Overlong payloads full of ack and interrupt bytes must not leak events. */
	frame_raw(&s, '$', "+-\x03+-\x03");
	frame_raw(&s, '$', "1234");
	frame_raw(&s, '$', "12* "); /* 5 bytes once expanded */
	buf_puts(&s, "$123456789"); /* never finished: resync on the next `$` */
	frame_raw(&s, '$', "OK");
	expect_stream(s.data, s.len, 4, "L\nP1234\nL\nL\nPOK\n");
	buf_fini(&s);
}

/* All 256 byte values, as a packet and as a notification, cut at every position. */
static void test_binary_round_trip(void)
{
	uint8_t all[256];
	struct buf out = BUF_INIT, want = BUF_INIT;

	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)i;
	pkt_write(&out, all, sizeof(all));
	CHECK(out.len == pkt_escaped_len(all, sizeof(all)));
	CHECK(out.len == 256 + 4 + 4); /* four escaped bytes */
	CHECK(out.data[0] == '$' && out.data[out.len - 3] == '#');
	for (size_t i = 1; i + 3 < out.len; i++) {
		if (out.data[i] == '}')
			i++; /* the escaped byte itself */
		else
			CHECK(out.data[i] != '#' && out.data[i] != '$' && out.data[i] != '*');
	}
	pkt_write_notification(&out, all, sizeof(all));
	CHECK(out.data[out.len / 2] == '%');
	buf_putc(&want, 'P');
	buf_append(&want, all, sizeof(all));
	buf_puts(&want, "\nN");
	buf_append(&want, all, sizeof(all));
	buf_putc(&want, '\n');
	expect_stream_n(out.data, out.len, 0, want.data, want.len);
	buf_fini(&out);
	buf_fini(&want);
}

static void test_bulk(void)
{
	size_t len = 1u << 20;
	uint8_t *data = malloc(len);
	struct buf out = BUF_INIT;
	struct pkt_reader r;
	enum pkt_event ev;
	size_t used;

	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 2654435761u >> 13);
	pkt_write(&out, data, len);
	pkt_reader_init(&r, 0);
	used = pkt_reader_feed(&r, (const uint8_t *)out.data, out.len, &ev);
	CHECK(used == out.len && ev == PKT_PACKET);
	CHECK(r.payload.len == len && memcmp(r.payload.data, data, len) == 0);
	pkt_reader_fini(&r);
	buf_fini(&out);
	free(data);
}

/* The writer against the protocol's definition, byte by byte: every special byte at every
 * offset of payloads of 0-80 bytes (the writer works 16 bytes at a time), alone, next to
 * another one, and in a run; the checksum is the sum of the bytes between `$` and `#`. */
static void expect_framed_like_spec(const uint8_t *payload, size_t len)
{
	struct buf got = BUF_INIT, want = BUF_INIT;
	unsigned sum = 0;

	pkt_write(&got, payload, len);
	buf_putc(&want, '$');
	for (size_t i = 0; i < len; i++) {
		uint8_t c = payload[i];

		if (c == '#' || c == '$' || c == '}' || c == '*') {
			buf_putc(&want, '}');
			c ^= 0x20;
		}
		buf_putc(&want, (char)c);
	}
	for (size_t i = 1; i < want.len; i++)
		sum += (uint8_t)want.data[i];
	buf_printf(&want, "#%02x", sum & 0xff);
	CHECK(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
	buf_fini(&got);
	buf_fini(&want);
}

static void test_writer_matches_spec(void)
{
	static const uint8_t specials[] = "#$}*";
	uint8_t payload[80] = {0};

	for (size_t len = 0; len <= sizeof(payload); len++) {
		for (size_t i = 0; i < len; i++)
			payload[i] = (uint8_t)(0x80 + i * 7); /* no special byte */
		expect_framed_like_spec(payload, len);
		for (size_t at = 0; at < len; at++) {
			for (size_t s = 0; s < 4; s++) {
				uint8_t keep = payload[at], next = at + 1 < len ? payload[at + 1] : 0;

				payload[at] = specials[s];
				expect_framed_like_spec(payload, len);
				if (at + 1 < len) {
					payload[at + 1] = specials[(s + 1) % 4];
					expect_framed_like_spec(payload, len);
					payload[at + 1] = next;
				}
				payload[at] = keep;
			}
		}
		memset(payload, '}', len);
		expect_framed_like_spec(payload, len);
	}
}

/* Random payloads rich in special bytes, written then read back through random feed sizes. */
static void test_random_round_trips(void)
{
	static const uint8_t alphabet[] = "#$}*+-\x03%ab\0";
	uint32_t seed = 12345;
	struct buf stream = BUF_INIT, want = BUF_INIT, log = BUF_INIT;

	for (int round = 0; round < 200; round++) {
		uint8_t payload[64];
		size_t len;

		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % sizeof(payload);
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			payload[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		buf_putc(&stream, '+');
		pkt_write(&stream, payload, len);
		buf_puts(&want, "+\nP");
		buf_append(&want, payload, len);
		buf_putc(&want, '\n');
	}
	for (size_t step = 1; step < 40; step += 3) {
		transcript(stream.data, stream.len, step, step, 0, &log);
		CHECK(same_log(&log, want.data, want.len));
	}
	buf_fini(&stream);
	buf_fini(&want);
	buf_fini(&log);
}

int main(void)
{
	test_writer_matches_spec();
	test_random_round_trips();
	test_basic_stream();
	test_escapes_and_repeats();
	test_bad_checksums();
	test_too_long();
	test_binary_round_trip();
	test_bulk();
	return check_result("test_packet");
}
