/* server/query.h — `ptstub query HOST:PORT PACKET...`: a tiny gdb-remote client that sends
 * packets to a running stub and prints each reply (JSON pretty-printed, text as is, binary as a
 * hex dump). Used by tests and by people poking at a server by hand. */
#ifndef PTSTUB_SERVER_QUERY_H
#define PTSTUB_SERVER_QUERY_H

#include <stddef.h>

/* argv[0] is "query". Returns the process exit status: 0 when every packet got a reply,
 * 1 when some reply was an error (`Exx`, `Exx;hex`, `E.text`), 2 on usage or connection errors. */
int query_main(int argc, char **argv);

/* The same client for other commands (`ptstub decode`): connect (HOST:PORT or unix:PATH, acked
 * mode, then QStartNoAckMode when the stub agrees), exchange packets, close. */
struct query_conn;
/* NULL with errno set (EINVAL for a malformed address) on failure. */
struct query_conn *query_client_open(const char *addr, int timeout_ms);
/* Sends payload and waits for its reply; *reply (NUL-terminated, owned by the connection) stays
 * valid until the next exchange. 0 or -errno (-ETIMEDOUT, -ECONNRESET, -EMSGSIZE). */
int query_client_exchange(struct query_conn *c, const char *payload, const char **reply,
			  size_t *reply_len);
void query_client_close(struct query_conn *c);

#endif
