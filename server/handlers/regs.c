/* server/handlers/regs.c — registers: the target description (target.xml, qRegisterInfo)
 * generated from the one register table, and p/P/g/G plus LLDB's saved register states. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/hex.h"
#include "protocol/xml.h"
#include "server/handlers/handlers.h"

void regs_target_xml(struct buf *out, bool lldb)
{
	buf_puts(out, "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
		      "<target>\n<architecture>i386:x86-64</architecture>\n"
		      "<osabi>GNU/Linux</osabi>\n");
	const char *feature = NULL;
	for (int r = 0; r < REG_COUNT; r++) {
		const struct reg_desc *d = &reg_table[r];
		if (!feature || strcmp(feature, d->feature) != 0) {
			if (feature)
				buf_puts(out, "</feature>\n");
			feature = d->feature;
			buf_printf(out, "<feature name=\"%s\">\n", feature);
		}
		buf_printf(out, "<reg name=\"%s\" bitsize=\"%u\" type=\"%s\" regnum=\"%d\"", d->name,
			   d->bitsize, d->gdb_type, r);
		if (lldb) {
			/* Attributes only LLDB reads; GDB would file the registers under
			 * groups it does not know. */
			buf_printf(out, " offset=\"%u\" group=\"%s\" encoding=\"%s\" format=\"%s\"",
				   d->offset, d->set, d->encoding, d->format);
			if (d->alt_name)
				buf_printf(out, " altname=\"%s\"", d->alt_name);
			if (d->generic)
				buf_printf(out, " generic=\"%s\"", d->generic);
			if (d->dwarf >= 0)
				buf_printf(out, " dwarf_regnum=\"%d\" ehframe_regnum=\"%d\"", d->dwarf,
					   d->dwarf);
		}
		buf_puts(out, "/>\n");
	}
	buf_puts(out, "</feature>\n</target>\n");
}

enum handler_result handle_qRegisterInfo(struct session *s, const char *args, size_t len)
{
	const char *p = args;
	uint64_t n;
	if (hex_parse_u64(&p, args + len, &n) < 0 || n >= REG_COUNT) {
		buf_puts(&s->reply, "E45");
		return HANDLER_REPLY;
	}
	const struct reg_desc *d = &reg_table[n];
	buf_printf(&s->reply, "name:%s;", d->name);
	if (d->alt_name)
		buf_printf(&s->reply, "alt-name:%s;", d->alt_name);
	buf_printf(&s->reply, "bitsize:%u;offset:%u;encoding:%s;format:%s;set:%s;", d->bitsize,
		   d->offset, d->encoding, d->format, d->set);
	if (d->dwarf >= 0)
		buf_printf(&s->reply, "gcc:%d;dwarf:%d;", d->dwarf, d->dwarf);
	if (d->generic)
		buf_printf(&s->reply, "generic:%s;", d->generic);
	return HANDLER_REPLY;
}

/* Registers read since the last resume, by tid (a clash evicts). LLDB reads them one `p` at
 * a time after each stop, and the stop reply has already read the stopped thread's. */
#define CACHED_THREADS 256
struct cached_regs {
	unsigned generation; /* valid while equal to cache_generation */
	struct target *target;
	pid_t tid;
	bool full;           /* all registers, not only the general ones */
	struct regcache rc;
};
static struct cached_regs cache[CACHED_THREADS];
static unsigned cache_generation = 1;

void regs_forget(void)
{
	cache_generation++;
}

static int regs_read_cached(struct session *s, pid_t tid, struct regcache *rc, bool full)
{
	struct cached_regs *c = &cache[(unsigned)tid % CACHED_THREADS];
	if (!s->running && c->generation == cache_generation && c->target == s->target &&
	    c->tid == tid && (c->full || !full)) {
		*rc = c->rc;
		return 0;
	}
	const struct target_ops *ops = s->target->ops;
	if (!ops->read_gpregs)
		full = true;
	int err = full ? ops->read_regs(s->target, tid, rc) : ops->read_gpregs(s->target, tid, rc);
	if (err == 0 && !s->running) {
		c->generation = cache_generation;
		c->target = s->target;
		c->tid = tid;
		c->full = full;
		c->rc = *rc;
	}
	return err;
}

int regs_read(struct session *s, pid_t tid, struct regcache *rc)
{
	return regs_read_cached(s, tid, rc, true);
}

int regs_read_general(struct session *s, pid_t tid, struct regcache *rc)
{
	return regs_read_cached(s, tid, rc, false);
}

static bool read_thread_regs(struct session *s, pid_t tid, struct regcache *rc)
{
	int err = regs_read(s, tid, rc);
	if (err < 0) {
		reply_error(s, err, "cannot read registers of thread %d: %s", tid,
			    s->target->error[0] ? s->target->error : strerror(-err));
		return false;
	}
	return true;
}

static bool parse_regnum(struct session *s, const char **p, const char *end, uint64_t *n)
{
	if (hex_parse_u64(p, end, n) < 0 || *n >= REG_COUNT) {
		reply_error(s, EINVAL, "no such register");
		return false;
	}
	return true;
}

enum handler_result handle_p(struct session *s, const char *args, size_t len)
{
	const char *p = args;
	uint64_t n;
	struct regcache rc;
	if (!parse_regnum(s, &p, args + len, &n) || need_target(s))
		return HANDLER_REPLY;
	if (read_thread_regs(s, session_reg_thread(s, args, len), &rc))
		buf_put_hex(&s->reply, rc.bytes + reg_table[n].offset, reg_size(n));
	return HANDLER_REPLY;
}

static void write_thread_regs(struct session *s, pid_t tid, const struct regcache *rc)
{
	regs_forget(); /* the target may adjust what it is given (flags, segments) */
	int err = s->target->ops->write_regs(s->target, tid, rc);
	if (err < 0)
		reply_error(s, err, "cannot write registers of thread %d: %s", tid,
			    s->target->error[0] ? s->target->error : strerror(-err));
	else
		reply_ok(s);
}

enum handler_result handle_P(struct session *s, const char *args, size_t len)
{
	const char *p = args, *end = args + len;
	const char *semi = memchr(args, ';', len);
	uint64_t n;
	struct regcache rc;
	if (!parse_regnum(s, &p, end, &n) || need_target(s))
		return HANDLER_REPLY;
	size_t hexlen = (size_t)((semi ? semi : end) - p) - 1;
	if (*p != '=' || hexlen != 2 * reg_size(n)) {
		reply_error(s, EINVAL, "P: expected %u hex bytes for %s", reg_size(n),
			    reg_table[n].name);
		return HANDLER_REPLY;
	}
	pid_t tid = session_reg_thread(s, args, len);
	if (!read_thread_regs(s, tid, &rc))
		return HANDLER_REPLY;
	if (hex_decode(p + 1, reg_size(n), rc.bytes + reg_table[n].offset) < 0) {
		reply_error(s, EINVAL, "P: register value is not hex");
		return HANDLER_REPLY;
	}
	write_thread_regs(s, tid, &rc);
	return HANDLER_REPLY;
}

enum handler_result handle_g(struct session *s, const char *args, size_t len)
{
	struct regcache rc;
	if (need_target(s))
		return HANDLER_REPLY;
	if (read_thread_regs(s, session_reg_thread(s, args, len), &rc))
		buf_put_hex(&s->reply, rc.bytes, REG_BLOCK_SIZE);
	return HANDLER_REPLY;
}

enum handler_result handle_G(struct session *s, const char *args, size_t len)
{
	struct regcache rc;
	if (need_target(s))
		return HANDLER_REPLY;
	const char *semi = memchr(args, ';', len);
	size_t hexlen = (size_t)((semi ? semi : args + len) - args);
	pid_t tid = session_reg_thread(s, args, len);
	if (hexlen % 2 || hexlen > 2 * REG_BLOCK_SIZE || !read_thread_regs(s, tid, &rc)) {
		if (!s->reply.len)
			reply_error(s, EINVAL, "G: expected at most %u hex bytes", REG_BLOCK_SIZE);
		return HANDLER_REPLY;
	}
	/* A shorter G leaves the registers past its end as they are. */
	if (hex_decode(args, hexlen / 2, rc.bytes) < 0) {
		reply_error(s, EINVAL, "G: register values are not hex");
		return HANDLER_REPLY;
	}
	write_thread_regs(s, tid, &rc);
	return HANDLER_REPLY;
}

/* LLDB saves and restores whole register files around expression evaluation. */
#define SAVED_STATES 32
static struct {
	unsigned id;
	pid_t tid;
	struct regcache rc;
} saved[SAVED_STATES];
static unsigned next_saved_id = 1;

enum handler_result handle_QSaveRegisterState(struct session *s, const char *args, size_t len)
{
	if (need_target(s))
		return HANDLER_REPLY;
	pid_t tid = session_reg_thread(s, args, len);
	unsigned slot = next_saved_id % SAVED_STATES;
	if (!read_thread_regs(s, tid, &saved[slot].rc))
		return HANDLER_REPLY;
	saved[slot].id = next_saved_id++;
	saved[slot].tid = tid;
	buf_printf(&s->reply, "%u", saved[slot].id);
	return HANDLER_REPLY;
}

enum handler_result handle_QRestoreRegisterState(struct session *s, const char *args, size_t len)
{
	const char *p = args, *end = args + len;
	uint64_t id;
	if (p < end && *p == ':')
		p++;
	if (dec_parse_u64(&p, end, &id) < 0 || !id || saved[id % SAVED_STATES].id != id) {
		reply_error(s, EINVAL, "no saved register state with that id");
		return HANDLER_REPLY;
	}
	if (need_target(s))
		return HANDLER_REPLY;
	unsigned slot = id % SAVED_STATES;
	write_thread_regs(s, session_reg_thread(s, args, len), &saved[slot].rc);
	return HANDLER_REPLY;
}
