/* server/session.c — one client connection: reads bytes, frames packets (acks, no-ack mode,
 * interrupts), hands packets to the dispatcher, writes replies, and turns target events into
 * stop replies. All I/O is non-blocking through the loop. */
#include "server/session.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "collector/collector.h"
#include "protocol/hex.h"
#include "protocol/signals.h"
#include "server/crash.h"
#include "server/dispatch.h"
#include "server/handlers/handlers.h"
#include "server/log.h"
#include "server/loop.h"

void (*session_on_close)(struct session *s);

static void session_flush(struct session *s);

static void set_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* ---- output ---- */

static void queue_raw(struct session *s, const void *data, size_t len)
{
	buf_append(&s->out, data, len);
	session_flush(s);
}

void session_send_reply(struct session *s)
{
	log_packet("<-", s->reply.data, s->reply.len);
	pkt_write(&s->out, s->reply.data, s->reply.len);
	buf_reset(&s->reply);
	session_flush(s);
}

static void on_writable(struct loop *loop, int fd, unsigned events, void *data);

static void observer_detach(struct session *s);
static void close_observers(struct session *s, const char *why);

static void session_close(struct session *s)
{
	if (s->closing)
		return;
	s->closing = true;
	if (s->observer)
		observer_detach(s);
	else
		close_observers(s, "its controlling client is gone");
	trace_session_drop(s); /* while the target still exists (an observer's: its own only) */
	loop_del_fd(s->loop, s->in_fd);
	if (s->out_fd != s->in_fd)
		loop_del_fd(s->loop, s->out_fd);
	if (session_on_close)
		session_on_close(s);
}

/* Writes what the client takes of s->out; true once nothing is left. When the client takes no
 * more, asks the loop for a write event, and only the handlers of that event give it back:
 * a reply written at once costs no epoll_ctl. */
static bool flush_out(struct session *s)
{
	while (s->out.len) {
		ssize_t n = write(s->out_fd, s->out.data, s->out.len);
		if (n > 0) {
			buf_consume(&s->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (s->out_fd != s->in_fd)
				loop_add_fd(s->loop, s->out_fd, LOOP_WRITE, on_writable, s);
			else
				loop_set_events(s->loop, s->out_fd,
						(s->input_paused ? 0 : LOOP_READ) | LOOP_WRITE);
			return false;
		}
		log_msg(LOG_INFO, "client write failed: %s", n < 0 ? strerror(errno) : "closed");
		buf_reset(&s->out);
		session_close(s);
		return true;
	}
	return true;
}

static void session_flush(struct session *s)
{
	flush_out(s);
}

/* ---- replies shared by handlers ---- */

void reply_ok(struct session *s)
{
	buf_puts(&s->reply, "OK");
}

static void reply_error_v(struct session *s, int errnum, bool text, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (errnum < 0)
		errnum = -errnum;
	buf_reset(&s->reply);
	if (s->error_strings) {
		buf_printf(&s->reply, "E%02x;", errnum & 0xff);
		buf_put_hex_str(&s->reply, msg);
	} else if (text) {
		buf_printf(&s->reply, "E.%s", msg);
	} else {
		buf_printf(&s->reply, "E%02x", errnum & 0xff);
	}
	log_msg(LOG_INFO, "error reply: %s", msg);
}

void reply_error(struct session *s, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	reply_error_v(s, errnum, false, fmt, ap);
	va_end(ap);
}

void reply_error_text(struct session *s, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	reply_error_v(s, errnum, true, fmt, ap);
	va_end(ap);
}

void reply_tid(struct session *s, pid_t tid)
{
	if (s->multiprocess)
		buf_printf(&s->reply, "p%x.", s->pid);
	if (tid < 0)
		buf_puts(&s->reply, "-1");
	else
		buf_put_hex_u64(&s->reply, (uint64_t)tid);
}

void reply_xfer_chunk(struct session *s, const void *data, size_t size, uint64_t offset,
		      uint64_t len)
{
	if (offset >= size) {
		buf_putc(&s->reply, 'l');
		return;
	}
	uint64_t n = size - offset;
	if (len > SESSION_PACKET_SIZE - 16)
		len = SESSION_PACKET_SIZE - 16;
	if (n > len) {
		buf_putc(&s->reply, 'm');
		n = len;
	} else {
		buf_putc(&s->reply, 'l');
	}
	buf_append(&s->reply, (const char *)data + offset, n);
}

int session_sig_to_client(const struct session *s, int linux_sig)
{
	return s->lldb ? linux_sig : sig_linux_to_gdb(linux_sig);
}

int session_sig_from_client(const struct session *s, int client_sig)
{
	return s->lldb ? client_sig : sig_gdb_to_linux(client_sig);
}

pid_t session_reg_thread(struct session *s, const char *args, size_t len)
{
	const char *end = args + len;
	const char *p = memmem(args, len, ";thread:", 8);
	if (p) {
		p += 8;
		uint64_t tid;
		if (hex_parse_u64(&p, end, &tid) == 0 && tid)
			return (pid_t)tid;
	}
	if (s->g_tid > 0)
		return s->g_tid;
	if (s->stop_tid > 0)
		return s->stop_tid;
	return s->pid;
}

/* ---- target events ---- */

/* What handlers keep of a stopped target (registers, the memory map) goes when it resumes or
 * another target takes its place. */
static void forget_stop_state(void)
{
	regs_forget();
	regions_forget();
}

static void drop_target(struct loop *loop, void *data)
{
	(void)loop;
	struct target *t = data;
	t->ops->destroy(t);
}

void session_set_target(struct session *s, struct target *t, bool launched)
{
	if (!t || t != s->target) /* exec.c's end_target clears s->target before it calls */
		close_observers(s, "the process it observed is gone");
	if (s->target && s->target != t) {
		trace_session_drop(s);
		loop_defer(s->loop, drop_target, s->target);
	}
	forget_stop_state();
	s->target = t;
	s->launched = launched;
	s->running = false;
	s->g_tid = s->c_tid = 0;
	s->stop_tid = 0;
	s->pid = 0;
	if (t) {
		struct tgt_process_info pi;
		if (t->ops->process_info(t, &pi) == 0)
			s->pid = pi.pid;
		s->stop_tid = s->pid;
		s->exit_kind = 0;
	}
}

static bool signal_passes(const struct session *s, int sig)
{
	return sig > 0 && sig < 128 && (s->pass_signals[sig / 64] >> (sig % 64)) & 1;
}

/* A signal the client asked to pass through without a stop: resume again with it. */
static bool pass_signal_on(struct session *s, pid_t tid)
{
	struct tgt_thread_stop st;
	if (!s->last_resume || s->target->ops->thread_stop(s->target, tid, &st) < 0)
		return false;
	if (st.reason != TGT_STOP_SIGNAL || !signal_passes(s, st.signo))
		return false;
	size_t n = s->last_resume_n;
	struct tgt_resume acts[n + 1];
	acts[0] = (struct tgt_resume){tid, TGT_RESUME_CONTINUE, st.signo};
	for (size_t i = 0; i < n; i++) {
		acts[i + 1] = s->last_resume[i];
		if (acts[i + 1].tid == tid)
			acts[0].kind = acts[i + 1].kind;
		if (acts[i + 1].tid == tid || acts[i + 1].tid == -1)
			acts[i + 1].signo = acts[i + 1].tid == tid ? st.signo : 0;
	}
	log_msg(LOG_DEBUG, "passing signal %d to thread %d", st.signo, tid);
	forget_stop_state();
	return s->target->ops->resume(s->target, acts, n + 1) == 0;
}

static void on_target_event(void *ctx, const struct tgt_event *ev)
{
	struct session *s = ctx;
	switch (ev->kind) {
	case TGT_EV_STOPPED:
		if (!s->running)
			return;
		if (pass_signal_on(s, ev->tid))
			return;
		if (s->opts->core_on_crash)
			crash_core_write(s->target, s->opts->core_on_crash, ev->tid);
		s->running = false;
		s->stop_tid = ev->tid;
		if (s->collector)
			((struct collector *)s->collector)->ops->process_stopped(s->collector);
		session_stop_reply(s, ev->tid);
		session_send_reply(s);
		return;
	case TGT_EV_EXITED:
	case TGT_EV_SIGNALED:
		s->exit_kind = ev->kind == TGT_EV_EXITED ? 'W' : 'X';
		s->exit_status = ev->status;
		s->exit_pid = s->pid;
		log_msg(LOG_INFO, "process %d %s %d", s->pid,
			ev->kind == TGT_EV_EXITED ? "exited with status" : "killed by signal",
			ev->status);
		/* Drop the target first: with no target the stop reply is W or X. */
		bool owed = s->running;
		session_set_target(s, NULL, false);
		if (owed) {
			session_stop_reply(s, 0);
			session_send_reply(s);
		}
		return;
	}
}

static void on_target_output(void *ctx, const void *data, size_t len)
{
	struct session *s = ctx;
	if (!s->running)
		return;
	buf_putc(&s->reply, 'O');
	buf_put_hex(&s->reply, data, len);
	session_send_reply(s);
}

/* New threads join a process trace; a thread that exits keeps its trace readable. */
static void on_target_thread(void *ctx, pid_t tid, bool created)
{
	struct session *s = ctx;
	struct collector *c = s->collector;

	if (!c)
		return;
	if (!created) {
		c->ops->thread_exited(c, tid);
		return;
	}
	if (c->ops->thread_created(c, tid) < 0)
		log_msg(LOG_WARN, "thread %d is not traced: %s", tid, c->error);
}

void session_target_callbacks(struct session *s, struct tgt_callbacks *cb)
{
	cb->on_event = on_target_event;
	cb->on_output = on_target_output;
	cb->ctx = s;
	cb->on_thread = on_target_thread;
}

int session_resume(struct session *s, const struct tgt_resume *actions, size_t n)
{
	free(s->last_resume);
	s->last_resume = malloc(n * sizeof(*actions));
	if (s->last_resume)
		memcpy(s->last_resume, actions, n * sizeof(*actions));
	s->last_resume_n = s->last_resume ? n : 0;
	if (s->collector)
		((struct collector *)s->collector)->ops->process_resumed(s->collector);
	forget_stop_state();
	int rc = s->target->ops->resume(s->target, actions, n);
	if (rc == 0)
		s->running = true;
	return rc;
}

/* ---- observers ---- */

/* The process an observer reads, copied in from its controller while one of its packets is
 * handled (from no_process the rest of the time): it never keeps a pointer to them. */
static const struct session no_process;

static void observer_lend(struct session *s, const struct session *from)
{
	s->target = from->target;
	s->collector = from->collector;
	s->launched = from->launched;
	s->pid = from->pid;
	s->running = from->running;
	s->stop_tid = from->stop_tid;
	s->exit_kind = from->exit_kind;
	s->exit_status = from->exit_status;
	s->exit_pid = from->exit_pid;
}

static void observer_detach(struct session *s)
{
	struct session *ctl = s->controller;
	if (!ctl)
		return;
	for (size_t i = 0; i < SESSION_MAX_OBSERVERS; i++)
		if (ctl->observers[i] == s)
			ctl->observers[i] = NULL;
	s->controller = NULL;
}

/* Closes s's observers (each leaves the list as it closes). */
static void close_observers(struct session *s, const char *why)
{
	struct session *list[SESSION_MAX_OBSERVERS];
	memcpy(list, s->observers, sizeof(list));
	for (size_t i = 0; i < SESSION_MAX_OBSERVERS; i++) {
		if (!list[i])
			continue;
		log_msg(LOG_INFO, "closing an observer connection: %s", why);
		session_close(list[i]);
	}
}

bool session_observer_room(const struct session *ctl)
{
	if (ctl->observer || ctl->closing || !ctl->target)
		return false;
	for (size_t i = 0; i < SESSION_MAX_OBSERVERS; i++)
		if (!ctl->observers[i])
			return true;
	return false;
}

struct session *session_observer_new(struct session *ctl, int fd)
{
	size_t slot = 0;
	if (!session_observer_room(ctl))
		return NULL;
	while (ctl->observers[slot])
		slot++;
	struct session *s = session_new(ctl->loop, fd, fd, ctl->opts, NULL, false);
	if (!s)
		return NULL;
	s->observer = true;
	s->controller = ctl;
	ctl->observers[slot] = s;
	return s;
}

/* ---- input ---- */

static void handle_packet(struct session *s)
{
	const char *p = s->reader.payload.data;
	size_t len = s->reader.payload.len;
	log_packet("->", p, len);
	s->packets++;
	if (s->observer && !s->controller)
		return; /* closed: nothing left to read */
	if (s->observer)
		observer_lend(s, s->controller);
	enum handler_result r = dispatch_packet(s, p, len);
	if (r == HANDLER_REPLY)
		session_send_reply(s);
	else
		buf_reset(&s->reply);
	void (*after)(struct session *) = s->after_reply;
	s->after_reply = NULL;
	if (after && !s->closing)
		after(s);
	if (s->observer)
		observer_lend(s, &no_process);
}

static void handle_interrupt(struct session *s)
{
	if (s->observer) {
		log_msg(LOG_DEBUG, "interrupt from an observer ignored");
		return;
	}
	if (s->target && s->running) {
		log_msg(LOG_DEBUG, "interrupt requested");
		int rc = s->target->ops->interrupt(s->target);
		if (rc < 0)
			log_msg(LOG_ERROR, "interrupt failed: %s", strerror(-rc));
	}
}

static void on_readable(struct loop *loop, int fd, unsigned events, void *data);

/* Backpressure. A client that sends packets and does not read the replies would have the
 * server buffer replies without end; once SESSION_OUT_HIGH bytes wait unwritten, the rest of
 * its input is held unparsed and nothing more is read until the client has taken them all. */
static void input_pause(struct session *s, const uint8_t *rest, size_t len)
{
	buf_append(&s->held, rest, len);
	if (s->input_paused)
		return;
	s->input_paused = true;
	/* Said once; a slow link may pause and resume all the time. */
	log_msg(s->input_pauses++ ? LOG_DEBUG : LOG_INFO, "the client is not reading its replies "
		"(%zu bytes waiting): its packets wait until it does", s->out.len);
	/* Unwatched rather than watched for nothing: a hang-up would wake the loop forever. */
	if (s->out_fd == s->in_fd)
		loop_set_events(s->loop, s->in_fd, LOOP_WRITE);
	else
		loop_del_fd(s->loop, s->in_fd);
}

static void feed_input(struct session *s, const uint8_t *in, size_t n);

/* Every reply is written: parse what was held, then read again. */
static void input_resume(struct session *s)
{
	struct buf held = s->held;

	buf_init(&s->held);
	s->input_paused = false;
	if (s->out_fd == s->in_fd)
		loop_set_events(s->loop, s->in_fd, LOOP_READ);
	else
		loop_add_fd(s->loop, s->in_fd, LOOP_READ, on_readable, s);
	log_msg(s->input_pauses > 1 ? LOG_DEBUG : LOG_INFO,
		"the client took its replies: reading its packets again");
	feed_input(s, (const uint8_t *)held.data, held.len);
	buf_fini(&held);
}

static void on_readable(struct loop *loop, int fd, unsigned events, void *data)
{
	(void)loop;
	struct session *s = data;
	if ((events & LOOP_WRITE) && flush_out(s) && !s->closing) {
		if (s->input_paused)
			input_resume(s);
		else
			loop_set_events(s->loop, s->out_fd, LOOP_READ);
	}
	if (!(events & LOOP_READ) || s->closing || s->input_paused)
		return;
	uint8_t in[65536];
	ssize_t n = read(fd, in, sizeof(in));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		log_msg(LOG_INFO, "client closed the connection");
		session_close(s);
		return;
	}
	feed_input(s, in, (size_t)n);
}

static void feed_input(struct session *s, const uint8_t *in, size_t n)
{
	size_t off = 0;
	while (off < n && !s->closing) {
		enum pkt_event ev;
		if (s->out.len >= SESSION_OUT_HIGH) {
			input_pause(s, in + off, n - off);
			return;
		}
		off += pkt_reader_feed(&s->reader, in + off, n - off, &ev);
		switch (ev) {
		case PKT_PACKET:
			if (!s->no_ack)
				queue_raw(s, "+", 1);
			handle_packet(s);
			break;
		case PKT_BAD_CHECKSUM:
			log_msg(LOG_INFO, "packet with a bad checksum dropped");
			if (!s->no_ack)
				queue_raw(s, "-", 1);
			break;
		case PKT_TOO_LONG:
			log_msg(LOG_INFO, "packet longer than %u bytes dropped", SESSION_PACKET_SIZE);
			if (!s->no_ack)
				queue_raw(s, "-", 1);
			break;
		case PKT_INTERRUPT:
			handle_interrupt(s);
			break;
		default:
			break;
		}
	}
}

static void on_writable(struct loop *loop, int fd, unsigned events, void *data)
{
	struct session *s = data;

	(void)events;
	if (!flush_out(s))
		return;
	loop_del_fd(loop, fd);
	if (s->input_paused && !s->closing)
		input_resume(s);
}

struct session *session_new(struct loop *loop, int in_fd, int out_fd,
			    const struct server_opts *opts, struct target *target, bool launched)
{
	struct session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->loop = loop;
	s->in_fd = in_fd;
	s->out_fd = out_fd;
	s->opts = opts;
	s->extended = opts->extended;
	s->launch.disable_aslr = -1;
	pkt_reader_init(&s->reader, SESSION_PACKET_SIZE);
	buf_init(&s->out);
	buf_init(&s->reply);
	buf_init(&s->held);
	set_nonblocking(in_fd);
	set_nonblocking(out_fd);
	if (loop_add_fd(loop, in_fd, LOOP_READ, on_readable, s) < 0) {
		session_free(s);
		return NULL;
	}
	if (target)
		session_set_target(s, target, launched);
	return s;
}

static void free_launch(struct launch_settings *l)
{
	for (size_t i = 0; i < l->nenv; i++)
		free(l->env[i]);
	free(l->env);
	free(l->cwd);
	free(l->stdin_path);
	free(l->stdout_path);
	free(l->stderr_path);
	memset(l, 0, sizeof(*l));
}

static void read_pending(struct session *s)
{
	for (int guard = 0; guard < 16 && !s->closing; guard++) {
		uint8_t probe;
		ssize_t n = recv(s->in_fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0 && errno == ENOTSOCK)
			n = 1; /* a pipe: a plain read does the same (it is non-blocking) */
		if (n < 0)
			return; /* nothing pending (EAGAIN) or an error the next read reports */
		on_readable(s->loop, s->in_fd, LOOP_READ, s);
	}
}

void session_read_pending(struct session *s)
{
	struct session *list[SESSION_MAX_OBSERVERS];
	memcpy(list, s->observers, sizeof(list));
	read_pending(s); /* may close s, and with it the observers */
	for (size_t i = 0; i < SESSION_MAX_OBSERVERS; i++)
		if (list[i] && !list[i]->closing)
			read_pending(list[i]);
}

void session_free(struct session *s)
{
	if (!s)
		return;
	if (s->observer) {
		observer_detach(s);
	} else {
		close_observers(s, "its controlling client is gone");
		forget_stop_state(); /* its target is gone or going */
	}
	if (!s->closing) {
		loop_del_fd(s->loop, s->in_fd);
		if (s->out_fd != s->in_fd)
			loop_del_fd(s->loop, s->out_fd);
	}
	pkt_reader_fini(&s->reader);
	buf_fini(&s->out);
	buf_fini(&s->held);
	buf_fini(&s->reply);
	free(s->last_resume);
	free_launch(&s->launch);
	vfile_session_drop(s);
	free(s);
}
