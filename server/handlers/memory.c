/* server/handlers/memory.c — memory reads and writes (m, x, M, X), breakpoints and
 * watchpoints (Z/z), and qMemoryRegionInfo with each region's dirty pages. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "protocol/hex.h"
#include "server/handlers/handlers.h"

/* Bytes a single read may return: the reply must fit the packet size we advertised. */
#define MAX_READ (SESSION_PACKET_SIZE - 64)

static void memory_error(struct session *s, ssize_t err, uint64_t addr)
{
	reply_error(s, (int)err, "cannot access memory at 0x%llx: %s", (unsigned long long)addr,
		    s->target->error[0] ? s->target->error : strerror((int)-err));
}

static bool parse_read(struct session *s, const char *args, size_t len, uint64_t *addr,
		       uint64_t *n)
{
	const char *rest;
	if (parse_addr_len(args, len, addr, n, &rest) < 0 || rest != args + len) {
		reply_error(s, EINVAL, "expected <address>,<length> in hex");
		return false;
	}
	return !need_target(s);
}

/* Read-ahead. A debugger dumping a range (GDB `dump memory`, LLDB `memory read --binary`)
 * sends a row of equal requests, each one only once it has taken in the reply to the one
 * before: the server would sit idle while the client digests a reply, and the client while
 * the server reads and encodes the next. So after a large read that returned everything, the
 * server reads the piece that follows and encodes its reply, once the current reply is on
 * its way; when the very next packet asks for exactly that piece, the reply is ready.
 * Anything else in between (a write, a resume, another packet) drops it: it holds memory as
 * it was after the previous request, and nothing but that packet may have changed it. */
#define READAHEAD_MIN 4096

static struct {
	const struct session *s; /* whose next request it is for */
	struct target *target;
	unsigned long packet;    /* made after this packet: serves the next one only */
	char kind;               /* 'm' or 'x' */
	uint64_t addr;           /* the request it answers: kind addr,len */
	uint64_t len;
	bool ready;
	struct buf reply;        /* that request's reply payload */
} ahead;

static void read_memory_reply(struct session *s, char kind, uint64_t addr, uint64_t n,
			      struct buf *out);

static void read_ahead(struct session *s)
{
	ahead.ready = false;
	if (s->running || !s->target)
		return;
	buf_reset(&ahead.reply);
	read_memory_reply(s, ahead.kind, ahead.addr, ahead.len, &ahead.reply);
	ahead.ready = ahead.reply.len > 0 && ahead.reply.data[0] != 'E';
	ahead.s = s;
	ahead.target = s->target;
	ahead.packet = s->packets;
}

/* The reply to kind addr,n into out: the bytes (hex for m, raw for x), or an error. */
static void read_memory_reply(struct session *s, char kind, uint64_t addr, uint64_t n,
			      struct buf *out)
{
	struct buf raw = BUF_INIT; /* m: the bytes before they are written in hex */
	uint8_t *dst = buf_tail(kind == 'm' ? &raw : out, n);
	ssize_t got = s->target->ops->read_memory(s->target, addr, dst, n);

	if (got <= 0) {
		if (out == &s->reply)
			memory_error(s, got < 0 ? got : -EIO, addr);
		else
			buf_putc(out, 'E'); /* a read-ahead that failed: not kept */
	} else if (kind == 'm') {
		buf_put_hex(out, dst, (size_t)got);
	} else {
		buf_commit(out, (size_t)got);
	}
	buf_fini(&raw);
	/* A whole large piece came back: the client is probably reading a range in order. */
	if (out == &s->reply && got > 0 && (uint64_t)got == n && n >= READAHEAD_MIN &&
	    addr + 2 * n > addr) {
		ahead.kind = kind;
		ahead.addr = addr + n;
		ahead.len = n;
		s->after_reply = read_ahead;
	}
}

/* The reply to kind addr,n, from the read-ahead when it has it, else from the target. */
static void reply_memory(struct session *s, char kind, uint64_t addr, uint64_t n)
{
	bool hit = ahead.ready && ahead.s == s && ahead.target == s->target && !s->running &&
		   ahead.packet + 1 == s->packets && ahead.kind == kind && ahead.addr == addr &&
		   ahead.len == n;

	ahead.ready = false;
	if (!hit) {
		read_memory_reply(s, kind, addr, n, &s->reply);
		return;
	}
	buf_append(&s->reply, ahead.reply.data, ahead.reply.len);
	if (addr + 2 * n > addr) {
		ahead.addr = addr + n;
		s->after_reply = read_ahead;
	}
}

/* m<addr>,<len>: hex reply; a short read returns what was readable. */
enum handler_result handle_m(struct session *s, const char *args, size_t len)
{
	uint64_t addr, n;
	if (!parse_read(s, args, len, &addr, &n))
		return HANDLER_REPLY;
	if (n > MAX_READ / 2)
		n = MAX_READ / 2;
	if (n == 0)
		return HANDLER_REPLY;
	reply_memory(s, 'm', addr, n);
	return HANDLER_REPLY;
}

/* x<addr>,<len>: LLDB's binary read; the bytes go straight into the reply buffer. */
enum handler_result handle_x(struct session *s, const char *args, size_t len)
{
	uint64_t addr, n;
	if (!parse_read(s, args, len, &addr, &n))
		return HANDLER_REPLY;
	if (n == 0) {
		reply_ok(s); /* the x0,0 probe: binary reads are supported */
		return HANDLER_REPLY;
	}
	if (n > MAX_READ)
		n = MAX_READ;
	reply_memory(s, 'x', addr, n);
	return HANDLER_REPLY;
}

static void write_bytes(struct session *s, uint64_t addr, const uint8_t *data, size_t n)
{
	if (n == 0) {
		reply_ok(s);
		return;
	}
	ssize_t put = s->target->ops->write_memory(s->target, addr, data, n);
	if (put < 0)
		memory_error(s, put, addr);
	else if ((size_t)put < n)
		memory_error(s, -EIO, addr + (uint64_t)put);
	else
		reply_ok(s);
}

/* M<addr>,<len>:<hex> */
enum handler_result handle_M(struct session *s, const char *args, size_t len)
{
	uint64_t addr, n;
	const char *p;
	if (parse_addr_len(args, len, &addr, &n, &p) < 0 || p >= args + len || *p != ':' ||
	    n > SESSION_PACKET_SIZE || (size_t)(args + len - p - 1) != 2 * n) {
		reply_error(s, EINVAL, "expected M<address>,<length>:<hex bytes>");
		return HANDLER_REPLY;
	}
	if (need_target(s))
		return HANDLER_REPLY;
	uint8_t *tmp = malloc(n ? n : 1);
	if (!tmp || hex_decode(p + 1, n, tmp) < 0)
		reply_error(s, EINVAL, "M: data is not hex");
	else
		write_bytes(s, addr, tmp, n);
	free(tmp);
	return HANDLER_REPLY;
}

/* X<addr>,<len>:<binary> (escapes already undone by the framer) */
enum handler_result handle_X(struct session *s, const char *args, size_t len)
{
	uint64_t addr, n;
	const char *p;
	if (parse_addr_len(args, len, &addr, &n, &p) < 0 || p >= args + len || *p != ':' ||
	    (size_t)(args + len - p - 1) != n) {
		reply_error(s, EINVAL, "expected X<address>,<length>:<binary data>");
		return HANDLER_REPLY;
	}
	if (n == 0 && !s->target) {
		reply_ok(s); /* the X probe GDB sends before any process exists */
		return HANDLER_REPLY;
	}
	if (need_target(s))
		return HANDLER_REPLY;
	write_bytes(s, addr, (const uint8_t *)p + 1, n);
	return HANDLER_REPLY;
}

/* Z<type>,<addr>,<kind> / z...: breakpoints (0 software, 1 hardware) and watchpoints. */
static enum handler_result point(struct session *s, const char *args, size_t len, bool insert)
{
	const char *p = args, *end = args + len;
	uint64_t type, addr, kind;
	if (hex_parse_u64(&p, end, &type) < 0 || p >= end || *p++ != ',' ||
	    parse_addr_len(p, (size_t)(end - p), &addr, &kind, &p) < 0 || type > 4 ||
	    kind > UINT32_MAX) {
		reply_error(s, EINVAL, "expected Z<type>,<address>,<kind>");
		return HANDLER_REPLY;
	}
	/* Conditions and commands (;X..., ;cmds) are not advertised, so not expected. */
	if (need_target(s))
		return HANDLER_REPLY;
	struct target *t = s->target;
	int rc = insert ? t->ops->insert_point(t, (enum tgt_point)type, addr, (unsigned)kind)
			: t->ops->remove_point(t, (enum tgt_point)type, addr, (unsigned)kind);
	if (rc == -EOPNOTSUPP)
		return HANDLER_REPLY; /* empty: this kind of point is not supported */
	if (rc < 0)
		reply_error(s, rc, "cannot %s %s at 0x%llx: %s", insert ? "insert" : "remove",
			    type == 0 ? "breakpoint" : type == 1 ? "hardware breakpoint" : "watchpoint",
			    (unsigned long long)addr, t->error[0] ? t->error : strerror(-rc));
	else
		reply_ok(s);
	return HANDLER_REPLY;
}

enum handler_result handle_Z(struct session *s, const char *args, size_t len)
{
	return point(s, args, len, true);
}

enum handler_result handle_z(struct session *s, const char *args, size_t len)
{
	return point(s, args, len, false);
}

/* Dirty pages per reply: a mapping with more is reported as several adjacent regions with the
 * same attributes, each listing its share, so a reply stays near one packet (17 bytes a page)
 * and LLDB's region walk simply goes on to the next piece. */
#define DIRTY_PAGES_PER_REPLY ((SESSION_PACKET_SIZE - 1024) / 17)

/* The memory map of the last qMemoryRegionInfo, kept while the process stays stopped: LLDB
 * walks every region one packet at a time, and /proc/PID/maps is slow to make. Once a query
 * starts where the previous reply ended (a walk), the dirty pages from there to the top are
 * scanned in one go and kept too, instead of one scan (and one maps read) per region. */
static struct {
	struct target *target; /* NULL: nothing kept */
	struct tgt_region *r;
	size_t n;
	uint64_t next;         /* where the last reply's region ended */
	bool walk;             /* dirty pages of [walk_from, top) are known */
	uint64_t walk_from;
	uint64_t *dirty;       /* ascending page addresses */
	size_t ndirty;
} map_cache;

void regions_forget(void)
{
	free(map_cache.r);
	free(map_cache.dirty);
	memset(&map_cache, 0, sizeof(map_cache));
}

static int regions_read(struct session *s, struct tgt_region **r, size_t *n)
{
	if (s->running || map_cache.target != s->target) {
		regions_forget();
		int rc = s->target->ops->regions(s->target, &map_cache.r, &map_cache.n);
		if (rc < 0)
			return rc;
		if (!s->running)
			map_cache.target = s->target;
	}
	*r = map_cache.r;
	*n = map_cache.n;
	return 0;
}

/* First index of pages[0..n) at or above addr. */
static size_t pages_lower_bound(const uint64_t *pages, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (pages[mid] < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Dirty pages of mapping m: *pages points into the walk's list (nothing to free) or is a
 * fresh array to free (*owned). False when they cannot be told. */
static bool region_dirty(struct session *s, const struct tgt_region *m, uint64_t addr,
			 uint64_t **pages, size_t *n, bool *owned)
{
	if (!map_cache.walk && map_cache.target == s->target && addr == map_cache.next &&
	    map_cache.n) {
		uint64_t top = map_cache.r[map_cache.n - 1].end;
		if (s->target->ops->dirty_pages(s->target, m->start, top, &map_cache.dirty,
						&map_cache.ndirty) == 0) {
			map_cache.walk = true;
			map_cache.walk_from = m->start;
		} else {
			free(map_cache.dirty);
			map_cache.dirty = NULL;
			map_cache.ndirty = 0;
		}
	}
	if (map_cache.walk && map_cache.target == s->target && m->start >= map_cache.walk_from) {
		size_t first = pages_lower_bound(map_cache.dirty, map_cache.ndirty, m->start);
		size_t last = pages_lower_bound(map_cache.dirty, map_cache.ndirty, m->end);
		*pages = map_cache.dirty + first;
		*n = last - first;
		*owned = false;
		return true;
	}
	*pages = NULL;
	*n = 0;
	*owned = true;
	return s->target->ops->dirty_pages(s->target, m->start, m->end, pages, n) == 0;
}

/* The piece of mapping m that holds addr: [*start, *end) and its dirty pages, as pages[*first]
 * onwards, *count of them. Pieces are cut at fixed positions of the mapping's dirty list, so
 * every address of the mapping always falls in the same piece. */
static void region_piece(const struct tgt_region *m, uint64_t addr, const uint64_t *pages,
			 size_t n, uint64_t *start, uint64_t *end, size_t *first, size_t *count)
{
	size_t k = 0;
	while ((k + 1) * DIRTY_PAGES_PER_REPLY < n && pages[(k + 1) * DIRTY_PAGES_PER_REPLY] <= addr)
		k++;
	*first = k * DIRTY_PAGES_PER_REPLY;
	*count = n - *first < DIRTY_PAGES_PER_REPLY ? n - *first : DIRTY_PAGES_PER_REPLY;
	*start = k ? pages[*first] : m->start;
	*end = *first + *count < n ? pages[*first + *count] : m->end;
}

static void put_region(struct session *s, const struct tgt_region *m, uint64_t addr)
{
	uint64_t *pages = NULL, start = m->start, end = m->end;
	size_t n = 0, first = 0, count = 0;
	bool owned;
	bool known = region_dirty(s, m, addr, &pages, &n, &owned);
	if (known)
		region_piece(m, addr, pages, n, &start, &end, &first, &count);
	buf_printf(&s->reply, "start:%llx;size:%llx;permissions:%s%s%s;", (unsigned long long)start,
		   (unsigned long long)(end - start), m->prot & PROT_READ ? "r" : "",
		   m->prot & PROT_WRITE ? "w" : "", m->prot & PROT_EXEC ? "x" : "");
	if (m->path[0]) {
		buf_puts(&s->reply, "name:");
		buf_put_hex_str(&s->reply, m->path);
		buf_putc(&s->reply, ';');
	}
	if (strcmp(m->path, "[stack]") == 0)
		buf_puts(&s->reply, "type:stack;");
	else if (strcmp(m->path, "[heap]") == 0)
		buf_puts(&s->reply, "type:heap;");
	if (known) {
		buf_puts(&s->reply, "dirty-pages:");
		for (size_t i = 0; i < count; i++) {
			if (i)
				buf_putc(&s->reply, ',');
			buf_put_hex_u64(&s->reply, pages[first + i]);
		}
		buf_putc(&s->reply, ';');
	}
	map_cache.next = end;
	if (owned)
		free(pages);
}

enum handler_result handle_qMemoryRegionInfo(struct session *s, const char *args, size_t len)
{
	const char *p = args, *end = args + len;
	uint64_t addr;
	if (p >= end || *p++ != ':' || hex_parse_u64(&p, end, &addr) < 0) {
		reply_error(s, EINVAL, "expected qMemoryRegionInfo:<address>");
		return HANDLER_REPLY;
	}
	if (need_target(s))
		return HANDLER_REPLY;
	struct tgt_region *r = NULL;
	size_t n = 0;
	int rc = regions_read(s, &r, &n);
	if (rc < 0) {
		reply_error(s, rc, "cannot read the memory map: %s", strerror(-rc));
		return HANDLER_REPLY;
	}
	uint64_t gap_start = 0;
	size_t i;
	for (i = 0; i < n && r[i].end <= addr; i++)
		gap_start = r[i].end;
	if (i == n || addr < r[i].start) {
		/* Unmapped: the gap up to the next mapping (or the top of the address space). */
		uint64_t gap_end = i < n ? r[i].start : 0;
		buf_printf(&s->reply, "start:%llx;size:%llx;", (unsigned long long)gap_start,
			   (unsigned long long)(gap_end - gap_start));
		map_cache.next = gap_end;
		return HANDLER_REPLY;
	}
	put_region(s, &r[i], addr);
	return HANDLER_REPLY;
}
