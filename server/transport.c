/* server/transport.c — sockets and serial lines for the client connection. Nothing here
 * knows about packets: it hands file descriptors to the session. */
#include "server/transport.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "server/log.h"

static int parse_host_port(const char *s, struct transport_addr *out)
{
	const char *colon;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		snprintf(out->host, sizeof(out->host), "%.*s", (int)(close - s - 1), s + 1);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		snprintf(out->host, sizeof(out->host), "%.*s", (int)(colon - s), s);
	}
	if (!out->host[0])
		snprintf(out->host, sizeof(out->host), "127.0.0.1");
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 0 || port > 65535)
		return -EINVAL;
	out->port = (int)port;
	out->kind = TRANSPORT_TCP;
	return 0;
}

int transport_parse(const char *s, struct transport_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (strncmp(s, "unix://", 7) == 0 || strncmp(s, "unix:", 5) == 0) {
		const char *p = s + (s[5] == '/' && s[6] == '/' ? 7 : 5);
		if (!*p)
			return -EINVAL;
		out->kind = TRANSPORT_UNIX;
		snprintf(out->path, sizeof(out->path), "%s", p);
		return 0;
	}
	if (strncmp(s, "serial://", 9) == 0 || strncmp(s, "/dev/", 5) == 0) {
		out->kind = TRANSPORT_SERIAL;
		snprintf(out->path, sizeof(out->path), "%s", s[0] == '/' ? s : s + 9);
		return 0;
	}
	if (strncmp(s, "tcp://", 6) == 0)
		s += 6;
	return parse_host_port(s, out);
}

static int resolve(const struct transport_addr *a, struct addrinfo **res, bool passive)
{
	char port[16];
	snprintf(port, sizeof(port), "%d", a->port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = passive ? AI_PASSIVE : 0};
	int rc = getaddrinfo(a->host, port, &hints, res);
	return rc == 0 ? 0 : -EADDRNOTAVAIL;
}

static void tune_tcp(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int unix_sockaddr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	strcpy(sun->sun_path, path);
	return 0;
}

/* A UNIX stream socket and the address for path; the fd or -errno. */
static int unix_socket(const char *path, struct sockaddr_un *sun)
{
	int rc = unix_sockaddr(path, sun);
	if (rc < 0)
		return rc;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

int transport_listen(const struct transport_addr *a, int *port_out)
{
	int fd, rc;
	if (a->kind == TRANSPORT_UNIX) {
		/* Bound under a temporary name and renamed once listening: whoever waits for the
		 * path to appear (ptstub decode DIR, scripts) never finds it refusing. */
		struct sockaddr_un sun;
		char tmp[sizeof(sun.sun_path)];
		bool staged = snprintf(tmp, sizeof(tmp), "%s.%d", a->path, (int)getpid()) <
			      (int)sizeof(tmp);
		if ((fd = unix_socket(staged ? tmp : a->path, &sun)) < 0)
			return fd;
		unlink(sun.sun_path);
		if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 1) < 0 ||
		    (staged && rename(tmp, a->path) < 0)) {
			rc = -errno;
			if (staged)
				unlink(tmp);
			close(fd);
			return rc;
		}
		*port_out = 0;
		return fd;
	}
	struct addrinfo *res;
	if ((rc = resolve(a, &res, true)) < 0)
		return rc;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		freeaddrinfo(res);
		return rc;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1) < 0) {
		freeaddrinfo(res);
		goto fail;
	}
	freeaddrinfo(res);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						   : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
fail:
	rc = -errno;
	close(fd);
	return rc;
}

int transport_accept(int listen_fd)
{
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return -errno;
	tune_tcp(fd);
	return fd;
}

int transport_connect(const struct transport_addr *a)
{
	int fd, rc;
	if (a->kind == TRANSPORT_UNIX) {
		struct sockaddr_un sun;
		if ((fd = unix_socket(a->path, &sun)) < 0)
			return fd;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
			goto fail;
		return fd;
	}
	struct addrinfo *res;
	if ((rc = resolve(a, &res, false)) < 0)
		return rc;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
		rc = -errno;
		freeaddrinfo(res);
		if (fd >= 0)
			close(fd);
		return rc;
	}
	freeaddrinfo(res);
	tune_tcp(fd);
	return fd;
fail:
	rc = -errno;
	close(fd);
	return rc;
}

int transport_open_serial(const char *path)
{
	int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		fprintf(stderr, "ptstub: cannot open serial device %s: %s\n", path, strerror(e));
		return -e;
	}
	struct termios tio;
	if (tcgetattr(fd, &tio) == 0) {
		cfmakeraw(&tio);
		tcsetattr(fd, TCSANOW, &tio);
	}
	return fd;
}

void transport_report_port(int port, const char *named_pipe, int pipe_fd)
{
	char text[16];
	int n = snprintf(text, sizeof(text), "%d", port) + 1; /* with the NUL */
	if (named_pipe) {
		int fd = open(named_pipe, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, text, (size_t)n) != n)
			log_msg(LOG_WARN, "cannot write the port to %s: %s", named_pipe,
				strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	if (pipe_fd >= 0) {
		if (write(pipe_fd, text, (size_t)n) != n)
			log_msg(LOG_WARN, "cannot write the port to fd %d: %s", pipe_fd,
				strerror(errno));
		close(pipe_fd);
	}
}
