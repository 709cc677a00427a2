/* tests/fuzz/fuzz_framer.c — libFuzzer harness for protocol/packet.c. The input is fed to the
 * streaming reader in pieces whose sizes come from the input's first bytes; every payload it
 * returns must respect the limit, and must come back unchanged after pkt_write + a re-read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/packet.h"

#define MAX_LEN 4096 /* small, so overlong packets are reached */

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_framer: %s\n", what);
		abort();
	}
}

/* pkt_write(payload) read back must give exactly one PKT_PACKET with the same bytes. */
static void round_trip(const struct buf *payload)
{
	struct buf framed = BUF_INIT;
	struct pkt_reader r;
	enum pkt_event ev;
	pkt_write(&framed, payload->data, payload->len);
	check(framed.len == pkt_escaped_len(payload->data, payload->len),
	      "pkt_escaped_len is wrong");
	pkt_reader_init(&r, MAX_LEN);
	size_t used = pkt_reader_feed(&r, (const uint8_t *)framed.data, framed.len, &ev);
	check(ev == PKT_PACKET && used == framed.len, "a written packet does not read back");
	check(r.payload.len == payload->len &&
		      (!payload->len || memcmp(r.payload.data, payload->data, payload->len) == 0),
	      "a written packet reads back different");
	pkt_reader_fini(&r);
	buf_fini(&framed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	/* Two bytes choose the piece sizes; the rest is the stream. */
	size_t piece_a = (size_t)data[0] + 1, piece_b = (size_t)data[1] % 7 + 1;
	data += 2;
	size -= 2;
	uint8_t *copy = malloc(size ? size : 1); /* exact size: ASan sees any over-read */
	memcpy(copy, data, size);

	struct pkt_reader r;
	pkt_reader_init(&r, MAX_LEN);
	size_t off = 0;
	bool odd = false;
	while (off < size) {
		size_t piece = odd ? piece_b : piece_a;
		if (piece > size - off)
			piece = size - off;
		size_t end = off + piece;
		while (off < end) {
			enum pkt_event ev;
			size_t used = pkt_reader_feed(&r, copy + off, end - off, &ev);
			check(used > 0 || ev != PKT_NONE, "the reader made no progress");
			check(used <= end - off, "the reader used more bytes than it was given");
			off += used;
			if (ev == PKT_PACKET || ev == PKT_BAD_CHECKSUM || ev == PKT_NOTIFICATION) {
				check(r.payload.len <= MAX_LEN, "a payload exceeds max_len");
				check(r.payload.data == NULL || r.payload.data[r.payload.len] == 0,
				      "a payload is not NUL-terminated");
				round_trip(&r.payload);
			}
			if (ev == PKT_NONE)
				break;
		}
		odd = !odd;
	}
	pkt_reader_fini(&r);
	free(copy);
	return 0;
}
