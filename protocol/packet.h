/* protocol/packet.h — gdb-remote framing: a streaming reader that turns received bytes into
 * packets, acks and interrupts, and a writer that frames a payload. Pure code.
 *
 * The reader handles `$payload#cs`, `+`/`-`, the 0x03 interrupt byte outside a packet, `}`
 * escapes and `*` run-length expansion (both undone in every received payload, as LLDB and
 * GDB both send them), packets split over many feeds and many packets in one feed. The
 * writer escapes `#` `$` `}` `*` in every payload, so handlers build replies from raw bytes. */
#ifndef PTSTUB_PROTOCOL_PACKET_H
#define PTSTUB_PROTOCOL_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/buf.h"

enum pkt_event {
	PKT_NONE = 0,        /* input used up, nothing complete yet */
	PKT_PACKET,          /* a whole packet with a good checksum: payload in reader->payload */
	PKT_BAD_CHECKSUM,    /* a whole packet whose checksum did not match (payload kept) */
	PKT_ACK,             /* '+' */
	PKT_NACK,            /* '-' */
	PKT_INTERRUPT,       /* 0x03 outside a packet */
	PKT_NOTIFICATION,    /* '%name:payload#cs' (non-stop notifications; client side only) */
	PKT_TOO_LONG,        /* a packet longer than max_len: dropped, reader resynchronised */
};

struct pkt_reader {
	struct buf payload;  /* the decoded payload of the last PKT_PACKET / PKT_BAD_CHECKSUM */
	size_t max_len;      /* largest decoded payload accepted (0 = PKT_DEFAULT_MAX) */
	/* private state */
	int state;
	uint8_t sum;         /* running checksum of the raw (still escaped) bytes */
	uint8_t cs_hi;
	bool notification;
	bool overflow;
};

#define PKT_DEFAULT_MAX (16u << 20)

void pkt_reader_init(struct pkt_reader *r, size_t max_len);
void pkt_reader_fini(struct pkt_reader *r);
/* Consume bytes from data until one event is complete. Returns how many bytes were used
 * (possibly fewer than len: call again with the rest) and sets *ev. PKT_NONE means all len
 * bytes were used and more are needed. */
size_t pkt_reader_feed(struct pkt_reader *r, const uint8_t *data, size_t len, enum pkt_event *ev);

/* Append `$esc(payload)#cs` to out. */
void pkt_write(struct buf *out, const void *payload, size_t len);
/* Append `%esc(payload)#cs` (a notification). */
void pkt_write_notification(struct buf *out, const void *payload, size_t len);
/* Bytes pkt_write would add for this payload (for fitting replies into a packet size). */
size_t pkt_escaped_len(const void *payload, size_t len);

#endif
