/* server/transport.h — how a client reaches the server: TCP (listen or connect out), UNIX
 * sockets, serial devices; and reporting the chosen port to whoever started us. */
#ifndef PTSTUB_SERVER_TRANSPORT_H
#define PTSTUB_SERVER_TRANSPORT_H

enum transport_kind { TRANSPORT_TCP, TRANSPORT_UNIX, TRANSPORT_SERIAL };

struct transport_addr {
	enum transport_kind kind;
	char host[256];   /* TCP: address to bind/connect (default 127.0.0.1) */
	int port;         /* TCP: 0 = any free port */
	char path[512];   /* UNIX socket or serial device */
};

/* HOST:PORT, :PORT, [V6]:PORT, tcp://HOST:PORT, unix:PATH, unix://PATH, serial://DEV,
 * /dev/...  Returns 0 or -EINVAL. */
int transport_parse(const char *s, struct transport_addr *out);
int transport_listen(const struct transport_addr *a, int *port_out);  /* fd or -errno */
int transport_accept(int listen_fd);                                   /* fd or -errno */
int transport_connect(const struct transport_addr *a);                 /* fd or -errno */
int transport_open_serial(const char *path);                           /* fd or -errno */
/* Write "PORT\0" to a named pipe and/or an inherited fd (lldb-server's --named-pipe/--pipe). */
void transport_report_port(int port, const char *named_pipe, int pipe_fd);

#endif
