/* server/query.c — `ptstub query`: connect to a gdb-remote stub (TCP or unix socket), send each
 * packet given on the command line with the usual ack handshake, and print each reply in the
 * most readable form: pretty JSON, plain text, or a hex dump. */
#include "server/query.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "protocol/buf.h"
#include "protocol/hex.h"
#include "protocol/json.h"
#include "protocol/packet.h"

#define QUERY_EXIT_OK 0
#define QUERY_EXIT_ERROR_REPLY 1
#define QUERY_EXIT_USAGE 2
#define QUERY_MAX_RETRANSMIT 3

struct query_opts {
	bool raw;	  /* print payload bytes exactly */
	bool no_ack;	  /* switch to QStartNoAckMode before the first packet */
	int timeout_ms;	  /* per exchange: connect, or one packet and its reply */
	const char *addr; /* HOST:PORT or unix:PATH */
	char **packets;
	int npackets;
};

struct query_conn {
	int fd;
	bool ack;	 /* still in ack mode */
	bool have_reply; /* a packet arrived while we waited for its ack */
	int timeout_ms;
	struct pkt_reader reader;
	size_t in_pos, in_len; /* unread bytes in in[] */
	uint8_t in[65536];
};

static void query_usage(FILE *f)
{
	fputs("usage: ptstub query [--raw] [--timeout SECONDS] [--no-ack] HOST:PORT|unix:PATH "
	      "PACKET...\n"
	      "Send each PACKET (its payload, without $ and #cs) to a gdb-remote stub and print\n"
	      "the reply: JSON pretty-printed, text as is, anything else as a hex dump.\n"
	      "  --raw              print reply payloads byte for byte\n"
	      "  --timeout SECONDS  give up on a connect or a reply after this long (default 10)\n"
	      "  --no-ack           send QStartNoAckMode first\n"
	      "Exit status: 0 replies received, 1 an error reply (Exx), 2 usage or connection "
	      "error.\n",
	      f);
}

static int query_parse_args(int argc, char **argv, struct query_opts *o)
{
	static const struct option longopts[] = {
		{"raw", no_argument, NULL, 'r'},
		{"timeout", required_argument, NULL, 't'},
		{"no-ack", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->timeout_ms = 10000;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		char *end;
		double secs;

		switch (c) {
		case 'r':
			o->raw = true;
			break;
		case 'n':
			o->no_ack = true;
			break;
		case 't':
			secs = strtod(optarg, &end);
			if (*end || end == optarg || !(secs > 0) || secs > 86400) {
				fprintf(stderr,
					"ptstub query: bad --timeout '%s': want seconds > 0\n",
					optarg);
				return -EINVAL;
			}
			o->timeout_ms = (int)(secs * 1000);
			break;
		case 'h':
			query_usage(stdout);
			return 1;
		default:
			query_usage(stderr);
			return -EINVAL;
		}
	}
	if (argc - optind < 2) {
		fprintf(stderr, "ptstub query: need an address and at least one packet\n");
		query_usage(stderr);
		return -EINVAL;
	}
	o->addr = argv[optind];
	o->packets = argv + optind + 1;
	o->npackets = argc - optind - 1;
	return 0;
}

static int64_t query_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is ready for events or the deadline passes. */
static int query_wait(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};

	for (;;) {
		int64_t left = deadline - query_now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* Non-blocking connect bounded by the deadline; the returned socket is blocking again. */
static int query_connect_addr(int family, const struct sockaddr *sa, socklen_t salen,
			      int64_t deadline)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int err = 0;
	socklen_t errlen = sizeof(err);

	if (fd < 0)
		return -errno;
	if (connect(fd, sa, salen) < 0) {
		if (errno != EINPROGRESS) {
			err = -errno;
			goto fail;
		}
		err = query_wait(fd, POLLOUT, deadline);
		if (err)
			goto fail;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0 || err) {
			err = err ? -err : -errno;
			goto fail;
		}
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
fail:
	close(fd);
	return err;
}

static int query_connect_unix(const char *path, int64_t deadline)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	return query_connect_addr(AF_UNIX, (struct sockaddr *)&sun, sizeof(sun), deadline);
}

/* HOST:PORT, [V6HOST]:PORT or :PORT (localhost). */
static int query_connect_tcp(const char *addr, int64_t deadline)
{
	const char *colon = strrchr(addr, ':');
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *list, *ai;
	char host[256];
	size_t hlen;
	int fd = -EADDRNOTAVAIL, gai;

	if (!colon || !colon[1])
		return -EINVAL;
	hlen = (size_t)(colon - addr);
	if (hlen >= 2 && addr[0] == '[' && addr[hlen - 1] == ']') {
		addr++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		return -ENAMETOOLONG;
	memcpy(host, addr, hlen);
	host[hlen] = '\0';
	gai = getaddrinfo(hlen ? host : "localhost", colon + 1, &hints, &list);
	if (gai) {
		fprintf(stderr, "ptstub query: cannot resolve '%s': %s\n", addr, gai_strerror(gai));
		return -EADDRNOTAVAIL;
	}
	for (ai = list; ai; ai = ai->ai_next) {
		fd = query_connect_addr(ai->ai_family, ai->ai_addr, ai->ai_addrlen, deadline);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(list);
	return fd;
}

static int query_connect(const char *addr, int timeout_ms)
{
	int64_t deadline = query_now_ms() + timeout_ms;

	if (!strncmp(addr, "unix:", 5))
		return query_connect_unix(addr + 5, deadline);
	return query_connect_tcp(addr, deadline);
}

static int conn_write(struct query_conn *c, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Next framer event from the socket; -ETIMEDOUT past the deadline, -ECONNRESET on EOF. */
static int conn_next_event(struct query_conn *c, int64_t deadline)
{
	for (;;) {
		enum pkt_event ev;
		ssize_t n;
		int err;

		if (c->in_pos < c->in_len) {
			c->in_pos += pkt_reader_feed(&c->reader, c->in + c->in_pos,
						     c->in_len - c->in_pos, &ev);
			if (ev != PKT_NONE)
				return (int)ev;
			continue;
		}
		err = query_wait(c->fd, POLLIN, deadline);
		if (err)
			return err;
		n = read(c->fd, c->in, sizeof(c->in));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		c->in_pos = 0;
		c->in_len = (size_t)n;
	}
}

/* Send one framed packet; in ack mode wait for `+`, resending on `-`. */
static int conn_send(struct query_conn *c, const char *payload, size_t len, int64_t deadline)
{
	struct buf frame = BUF_INIT;
	int tries = 0, ev;

	pkt_write(&frame, payload, len);
	c->have_reply = false;
	do {
		ev = conn_write(c, frame.data, frame.len);
		if (ev < 0 || !c->ack)
			break;
		do
			ev = conn_next_event(c, deadline);
		while (ev == PKT_INTERRUPT || ev == PKT_NOTIFICATION || ev == PKT_BAD_CHECKSUM);
		if (ev == PKT_PACKET)
			c->have_reply = true; /* the ack was lost; the reply counts as one */
	} while (ev == PKT_NACK && ++tries <= QUERY_MAX_RETRANSMIT);
	buf_fini(&frame);
	if (ev == PKT_NACK)
		return -EPROTO;
	return ev < 0 ? ev : 0;
}

/* `O<hex>` console output from the inferior: shown on stderr, not a reply. */
static bool reply_is_console(const struct buf *p)
{
	if (p->len < 3 || p->data[0] != 'O' || (p->len - 1) % 2)
		return false;
	for (size_t i = 1; i < p->len; i++)
		if (hex_digit((unsigned char)p->data[i]) < 0)
			return false;
	return true;
}

static void print_console(const struct buf *p)
{
	size_t n = (p->len - 1) / 2;
	uint8_t *text = malloc(n ? n : 1);

	if (text && !hex_decode(p->data + 1, n, text))
		fwrite(text, 1, n, stderr);
	free(text);
}

/* Wait for the reply packet (acking it in ack mode); it is left in c->reader.payload. */
static int conn_reply(struct query_conn *c, int64_t deadline)
{
	int nacks = 0;

	for (;;) {
		int ev = c->have_reply ? PKT_PACKET : conn_next_event(c, deadline);

		c->have_reply = false;
		if (ev < 0)
			return ev;
		if (ev == PKT_TOO_LONG)
			return -EMSGSIZE;
		if (ev == PKT_BAD_CHECKSUM && c->ack) {
			if (++nacks > QUERY_MAX_RETRANSMIT)
				return -EPROTO;
			conn_write(c, "-", 1);
			continue;
		}
		if (ev != PKT_PACKET && ev != PKT_BAD_CHECKSUM)
			continue;
		if (c->ack && conn_write(c, "+", 1) < 0)
			return -EPIPE;
		if (!reply_is_console(&c->reader.payload))
			return 0;
		print_console(&c->reader.payload);
	}
}

static int conn_exchange(struct query_conn *c, const char *payload)
{
	int64_t deadline = query_now_ms() + c->timeout_ms;
	int err = conn_send(c, payload, strlen(payload), deadline);

	return err ? err : conn_reply(c, deadline);
}

/* Pretty-print text if it is a JSON object or array; -EINVAL otherwise. */
static int print_json(const char *text, size_t len)
{
	size_t ws = strspn(text, " \t\r\n");
	struct buf out = BUF_INIT;
	int err;

	if (ws == len || (text[ws] != '{' && text[ws] != '['))
		return -EINVAL;
	err = json_reformat(text, len, &out, true, NULL);
	if (!err) {
		fwrite(out.data, 1, out.len, stdout);
		if (out.len && out.data[out.len - 1] != '\n')
			putchar('\n');
	}
	buf_fini(&out);
	return err;
}

static bool is_printable(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c >= 0x7f)
			return false;
	}
	return true;
}

static void print_hexdump(const uint8_t *p, size_t len)
{
	for (size_t off = 0; off < len; off += 16) {
		size_t n = len - off < 16 ? len - off : 16;

		printf("%08zx ", off);
		for (size_t i = 0; i < 16; i++)
			printf(i < n ? " %02x" : "   ", p[off + i]);
		printf("  |");
		for (size_t i = 0; i < n; i++)
			putchar(p[off + i] >= 0x20 && p[off + i] < 0x7f ? p[off + i] : '.');
		printf("|\n");
	}
}

static void print_reply(const struct query_opts *o, const struct buf *p)
{
	if (o->raw)
		fwrite(p->data, 1, p->len, stdout);
	else if (print_json(p->data, p->len) == 0)
		;
	else if (is_printable(p->data, p->len))
		printf("%s\n", p->data);
	else
		print_hexdump((const uint8_t *)p->data, p->len);
	fflush(stdout);
}

/* `Exx`, `Exx;hex(message)` or `E.message`: true, with the explanation in msg. */
static bool reply_error(const struct buf *p, struct buf *msg)
{
	const char *s = p->data;
	char text[1024];

	if (p->len >= 2 && s[0] == 'E' && s[1] == '.') {
		buf_printf(msg, "%s", s + 2);
		return true;
	}
	if (p->len < 3 || s[0] != 'E' || hex_digit((unsigned char)s[1]) < 0 ||
	    hex_digit((unsigned char)s[2]) < 0 || (p->len > 3 && s[3] != ';'))
		return false;
	buf_printf(msg, "error 0x%.2s", s + 1);
	if (p->len > 4 && hex_decode_str(s + 4, p->len - 4, text, sizeof(text)) == 0)
		buf_printf(msg, ": %s", text);
	else if (p->len > 4)
		buf_printf(msg, ": %s", s + 4);
	return true;
}

/* Switch the connection to no-ack mode; stays in ack mode if the stub refuses. */
static int conn_start_no_ack(struct query_conn *c)
{
	int err = conn_exchange(c, "QStartNoAckMode");

	if (err)
		return err;
	if (strcmp(c->reader.payload.data, "OK") == 0)
		c->ack = false;
	else
		fprintf(stderr,
			"ptstub query: stub refused QStartNoAckMode; staying in ack mode\n");
	return 0;
}

static int query_run(const struct query_opts *o, struct query_conn *c)
{
	struct buf msg = BUF_INIT;
	int status = QUERY_EXIT_OK, err = 0;

	if (conn_write(c, "+", 1) < 0 || (o->no_ack && (err = conn_start_no_ack(c)) != 0))
		goto fail;
	for (int i = 0; i < o->npackets; i++) {
		err = conn_exchange(c, o->packets[i]);
		if (err)
			goto fail;
		print_reply(o, &c->reader.payload);
		buf_reset(&msg);
		if (reply_error(&c->reader.payload, &msg)) {
			fprintf(stderr, "ptstub query: %s: %s\n", o->packets[i], msg.data);
			status = QUERY_EXIT_ERROR_REPLY;
		}
	}
	buf_fini(&msg);
	return status;
fail:
	fprintf(stderr, "ptstub query: %s: %s\n", o->addr,
		err == -ETIMEDOUT    ? "no reply before the timeout"
		: err == -ECONNRESET ? "the stub closed the connection"
				     : strerror(err ? -err : EPIPE));
	buf_fini(&msg);
	return QUERY_EXIT_USAGE;
}

struct query_conn *query_client_open(const char *addr, int timeout_ms)
{
	struct query_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = query_connect(addr, timeout_ms);
	if (c->fd < 0) {
		errno = -c->fd;
		free(c);
		return NULL;
	}
	c->ack = true;
	c->timeout_ms = timeout_ms;
	pkt_reader_init(&c->reader, 0);
	if (conn_write(c, "+", 1) < 0 || conn_start_no_ack(c) < 0) {
		query_client_close(c);
		errno = ECONNRESET;
		return NULL;
	}
	return c;
}

int query_client_exchange(struct query_conn *c, const char *payload, const char **reply,
			  size_t *reply_len)
{
	int err = conn_exchange(c, payload);

	if (err)
		return err;
	buf_putc(&c->reader.payload, '\0');
	c->reader.payload.len--;
	*reply = c->reader.payload.data;
	*reply_len = c->reader.payload.len;
	return 0;
}

void query_client_close(struct query_conn *c)
{
	if (!c)
		return;
	pkt_reader_fini(&c->reader);
	close(c->fd);
	free(c);
}

int query_main(int argc, char **argv)
{
	struct query_opts o;
	struct query_conn *c;
	int err, status;

	err = query_parse_args(argc, argv, &o);
	if (err)
		return err > 0 ? QUERY_EXIT_OK : QUERY_EXIT_USAGE;
	c = calloc(1, sizeof(*c));
	if (!c)
		return QUERY_EXIT_USAGE;
	c->fd = query_connect(o.addr, o.timeout_ms);
	if (c->fd < 0) {
		fprintf(stderr, "ptstub query: cannot connect to %s: %s\n", o.addr,
			c->fd == -EINVAL ? "want HOST:PORT or unix:PATH" : strerror(-c->fd));
		free(c);
		return QUERY_EXIT_USAGE;
	}
	c->ack = true;
	c->timeout_ms = o.timeout_ms;
	pkt_reader_init(&c->reader, 0);
	status = query_run(&o, c);
	pkt_reader_fini(&c->reader);
	close(c->fd);
	free(c);
	return status;
}
