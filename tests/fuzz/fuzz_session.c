/* tests/fuzz/fuzz_session.c — one fuzz input = one client connection: the bytes go through a
 * socketpair into a real session (server/session.c) whose target is the fake one, and the real
 * loop runs until the client's end of the stream closes the session. */
#include "tests/fuzz/fuzz_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protocol/packet.h"
#include "server/log.h"
#include "server/loop.h"
#include "server/session.h"
#include "tests/fuzz/fake_target.h"

static bool has_prefix(const char *p, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && memcmp(p, prefix, n) == 0;
}

bool fuzz_packet_forbidden(const char *payload, size_t len)
{
	return has_prefix(payload, len, "vRun") || has_prefix(payload, len, "vAttach") ||
	       has_prefix(payload, len, "A") || has_prefix(payload, len, "qSaveCore");
}

/* Decodes the stream as the session will (same reader, same limit): cuts it after every whole
 * packet into what the client sends at once (cuts[] holds the end offsets, at most max) and
 * looks for packets the fuzzer must not run. Returns the cut count, or -1 if forbidden. */
static int split_stream(const uint8_t *data, size_t len, size_t *cuts, int max)
{
	struct pkt_reader r;
	int n = 0;
	size_t off = 0;
	pkt_reader_init(&r, SESSION_PACKET_SIZE);
	while (off < len && n >= 0) {
		enum pkt_event ev;
		off += pkt_reader_feed(&r, data + off, len - off, &ev);
		if (ev == PKT_PACKET && fuzz_packet_forbidden(r.payload.data, r.payload.len))
			n = -1;
		else if (ev == PKT_PACKET && n < max - 1)
			cuts[n++] = off;
	}
	if (n >= 0)
		cuts[n++] = len;
	pkt_reader_fini(&r);
	return n;
}

/* The client: sends one piece of the stream, then waits for a reply packet (or for the loop
 * to go idle a few rounds: some input gets no reply) before sending the next. */
struct client {
	struct loop *loop;
	int fd;
	const uint8_t *data;
	const size_t *cuts;
	int ncuts, next;
	size_t sent;
	bool replied;
	int idle_rounds;
};

#define IDLE_ROUNDS 3
#define MAX_PIECES 4096

static void stop_loop(struct session *s)
{
	loop_stop(s->loop, 0);
}

static void stop_deferred(struct loop *loop, void *data)
{
	(void)data;
	loop_stop(loop, 0);
}

/* The client's side reads and drops the replies, so the server never blocks on a full pipe. */
static void drain(struct loop *loop, int fd, unsigned events, void *data)
{
	(void)events;
	struct client *c = data;
	char tmp[65536];
	ssize_t n = read(fd, tmp, sizeof(tmp));
	if (n == 0)
		loop_del_fd(loop, fd);
	if (n > 0 && memchr(tmp, '$', (size_t)n))
		c->replied = true;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Runs each round of the loop (a deferred call that queues itself again). */
static void feed(struct loop *loop, void *data)
{
	struct client *c = data;
	if (c->next == c->ncuts)
		return; /* all sent and the write side shut: the session ends on its own */
	if (c->next > 0 && !c->replied && ++c->idle_rounds < IDLE_ROUNDS) {
		loop_defer(loop, feed, c);
		return;
	}
	size_t end = c->cuts[c->next++];
	if (write_all(c->fd, c->data + c->sent, end - c->sent) < 0) {
		perror("fuzz: writing the client stream");
		abort();
	}
	c->sent = end;
	c->replied = false;
	c->idle_rounds = 0;
	if (c->next == c->ncuts)
		shutdown(c->fd, SHUT_WR);
	else
		loop_defer(loop, feed, c);
}

static int run(const uint8_t *stream, size_t len, bool observe)
{
	static const struct server_opts opts = {.disable_aslr = true};
	static size_t cuts[MAX_PIECES];
	static bool log_set;
	if (!log_set) /* quiet, unless PTSTUB_LOG=packets asks to watch */
		log_set = log_open(NULL, "quiet") == 0;
	int sv[2], big = 4 * FUZZ_STREAM_MAX;
	int ncuts = len <= FUZZ_STREAM_MAX ? split_stream(stream, len, cuts, MAX_PIECES) : -1;
	if (ncuts < 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("fuzz: socketpair");
		abort();
	}
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));

	struct loop *loop = loop_new();
	session_on_close = stop_loop;
	/* Observing: the controller's own connection stays silent, the stream is the
	 * observer's. */
	int ctl_pair[2] = {-1, -1};
	if (observe && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl_pair) < 0) {
		perror("fuzz: socketpair");
		abort();
	}
	struct session *ctl = session_new(loop, observe ? ctl_pair[0] : sv[0],
					  observe ? ctl_pair[0] : sv[0], &opts, NULL, false);
	if (!loop || !ctl) {
		fputs("fuzz: cannot create the loop or the session\n", stderr);
		abort();
	}
	struct tgt_callbacks cb;
	session_target_callbacks(ctl, &cb);
	session_set_target(ctl, fake_target_new(loop, &cb), true);
	struct session *s = observe ? session_observer_new(ctl, sv[0]) : ctl;
	if (!s) {
		fputs("fuzz: cannot create the observer\n", stderr);
		abort();
	}
	struct client c = {loop, sv[1], stream, cuts, ncuts, 0, 0, false, 0};
	loop_add_fd(loop, sv[1], LOOP_READ, drain, &c);
	loop_defer(loop, feed, &c);
	loop_run(loop);

	/* What main() does when a client goes: kill and free the target, then the session (an
	 * observer first: it never owns the target). */
	if (observe)
		session_free(s);
	if (ctl->target) {
		struct target *t = ctl->target;
		ctl->target = NULL;
		t->ops->kill(t);
		t->ops->destroy(t);
	}
	loop_defer(loop, stop_deferred, NULL); /* runs the target drops queued before it */
	loop_run(loop);
	loop_del_fd(loop, sv[1]);
	session_free(ctl);
	loop_free(loop);
	close(sv[0]);
	close(sv[1]);
	if (observe) {
		close(ctl_pair[0]);
		close(ctl_pair[1]);
	}
	return 0;
}

int fuzz_session_run(const uint8_t *stream, size_t len)
{
	return run(stream, len, false);
}

int fuzz_observer_run(const uint8_t *stream, size_t len)
{
	return run(stream, len, true);
}
