/* server/query.h — `ptstub query HOST:PORT PACKET...`: a tiny gdb-remote client that sends
 * packets to a running stub and prints each reply (JSON pretty-printed, text as is, binary as a
 * hex dump). Used by tests and by people poking at a server by hand. */
#ifndef PTSTUB_SERVER_QUERY_H
#define PTSTUB_SERVER_QUERY_H

/* argv[0] is "query". Returns the process exit status: 0 when every packet got a reply,
 * 1 when some reply was an error (`Exx`, `Exx;hex`, `E.text`), 2 on usage or connection errors. */
int query_main(int argc, char **argv);

#endif
