/* server/dispatch.h — one table maps packet names to handlers. A handler parses its
 * arguments, calls the target through target_ops, and builds its reply in s->reply. Unknown
 * packets get the empty reply: that is how both debuggers learn a feature is missing. */
#ifndef PTSTUB_SERVER_DISPATCH_H
#define PTSTUB_SERVER_DISPATCH_H

#include <stddef.h>

struct session;

enum handler_result {
	HANDLER_REPLY = 0,  /* s->reply holds the reply (empty = "unsupported"): send it */
	HANDLER_DEFER,      /* no reply now; one comes later (a resume's stop reply) */
	HANDLER_SILENT,     /* this packet has no reply */
};

/* args points just past the packet name; len is what remains (the payload is NUL-terminated
 * but binary packets may hold NULs). */
typedef enum handler_result handler_fn(struct session *s, const char *args, size_t len);

/* Handles one packet. For a read-only observer (session.h) the table also decides whether it
 * may: what would change anything is refused with an error naming the packet, and reads of
 * registers, memory, stop state and trace wait until the controlling client stops. */
enum handler_result dispatch_packet(struct session *s, const char *payload, size_t len);
/* The observer's error for a read (what: the packet) while the process runs. */
void dispatch_observer_busy(struct session *s, const char *what);

#endif
