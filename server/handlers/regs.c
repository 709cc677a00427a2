/* server/handlers/regs.c — registers: the target description (target.xml, qRegisterInfo)
 * generated from the one register table, and p/P/g/G plus LLDB's saved register states. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/hex.h"
#include "protocol/xml.h"
#include "server/handlers/handlers.h"

/* The types GDB's own x86-64 description defines (gdb/features/i386/): eflags and mxcsr
 * shown as their flags (`[ IF ZF PF ]`), xmm registers as the union of their vector views
 * ($xmm0.v4_float, .v2_int64, .uint128...), zmm upper halves as two uint128. GDB looks a
 * type up only in the feature that uses it, so each feature declares its own, as GDB's
 * files do. LLDB, which reads the encoding and format attributes, gets plain types. */
#define VEC128                                                                          \
	"<vector id=\"v8bf16\" type=\"bfloat16\" count=\"8\"/>"                          \
	"<vector id=\"v8h\" type=\"ieee_half\" count=\"8\"/>"                            \
	"<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/>"                          \
	"<vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>"                          \
	"<vector id=\"v16i8\" type=\"int8\" count=\"16\"/>"                              \
	"<vector id=\"v8i16\" type=\"int16\" count=\"8\"/>"                              \
	"<vector id=\"v4i32\" type=\"int32\" count=\"4\"/>"                              \
	"<vector id=\"v2i64\" type=\"int64\" count=\"2\"/>"                              \
	"<union id=\"vec128\"><field name=\"v8_bfloat16\" type=\"v8bf16\"/>"             \
	"<field name=\"v8_half\" type=\"v8h\"/><field name=\"v4_float\" type=\"v4f\"/>"  \
	"<field name=\"v2_double\" type=\"v2d\"/><field name=\"v16_int8\" type=\"v16i8\"/>" \
	"<field name=\"v8_int16\" type=\"v8i16\"/><field name=\"v4_int32\" type=\"v4i32\"/>" \
	"<field name=\"v2_int64\" type=\"v2i64\"/><field name=\"uint128\" type=\"uint128\"/>" \
	"</union>\n"

static const struct {
	const char *feature, *xml;
} feature_types[] = {
	{"org.gnu.gdb.i386.core",
	 "<flags id=\"i386_eflags\" size=\"4\">"
	 "<field name=\"CF\" start=\"0\" end=\"0\"/><field name=\"\" start=\"1\" end=\"1\"/>"
	 "<field name=\"PF\" start=\"2\" end=\"2\"/><field name=\"AF\" start=\"4\" end=\"4\"/>"
	 "<field name=\"ZF\" start=\"6\" end=\"6\"/><field name=\"SF\" start=\"7\" end=\"7\"/>"
	 "<field name=\"TF\" start=\"8\" end=\"8\"/><field name=\"IF\" start=\"9\" end=\"9\"/>"
	 "<field name=\"DF\" start=\"10\" end=\"10\"/><field name=\"OF\" start=\"11\" end=\"11\"/>"
	 "<field name=\"NT\" start=\"14\" end=\"14\"/><field name=\"RF\" start=\"16\" end=\"16\"/>"
	 "<field name=\"VM\" start=\"17\" end=\"17\"/><field name=\"AC\" start=\"18\" end=\"18\"/>"
	 "<field name=\"VIF\" start=\"19\" end=\"19\"/><field name=\"VIP\" start=\"20\" end=\"20\"/>"
	 "<field name=\"ID\" start=\"21\" end=\"21\"/></flags>\n"},
	{"org.gnu.gdb.i386.sse",
	 VEC128 "<flags id=\"i386_mxcsr\" size=\"4\">"
	 "<field name=\"IE\" start=\"0\" end=\"0\"/><field name=\"DE\" start=\"1\" end=\"1\"/>"
	 "<field name=\"ZE\" start=\"2\" end=\"2\"/><field name=\"OE\" start=\"3\" end=\"3\"/>"
	 "<field name=\"UE\" start=\"4\" end=\"4\"/><field name=\"PE\" start=\"5\" end=\"5\"/>"
	 "<field name=\"DAZ\" start=\"6\" end=\"6\"/><field name=\"IM\" start=\"7\" end=\"7\"/>"
	 "<field name=\"DM\" start=\"8\" end=\"8\"/><field name=\"ZM\" start=\"9\" end=\"9\"/>"
	 "<field name=\"OM\" start=\"10\" end=\"10\"/><field name=\"UM\" start=\"11\" end=\"11\"/>"
	 "<field name=\"PM\" start=\"12\" end=\"12\"/><field name=\"FZ\" start=\"15\" end=\"15\"/>"
	 "</flags>\n"},
	{"org.gnu.gdb.i386.avx512",
	 VEC128 "<vector id=\"v2ui128\" type=\"uint128\" count=\"2\"/>\n"},
};

/* The type LLDB gets for a type only the XML defines. */
static const char *plain_type(const struct reg_desc *d)
{
	if (!strcmp(d->gdb_type, "i386_eflags") || !strcmp(d->gdb_type, "i386_mxcsr"))
		return "int32";
	if (!strcmp(d->gdb_type, "vec128"))
		return "uint128";
	return d->gdb_type;
}

unsigned regs_count(const struct session *s)
{
	/* AVX-512 goes to GDB, for a live process (or the one a --multi client starts) on a
	 * host that has it; LLDB wants it as whole zmm registers, recorded cores do not keep it. */
	if (s->lldb || !regs_host_avx512() ||
	    (s->target && s->target->ops->read_only(s->target)))
		return REG_COUNT_BASE;
	return REG_COUNT;
}

static unsigned block_size(const struct session *s)
{
	return regs_count(s) == REG_COUNT ? REG_BLOCK_SIZE : REG_BLOCK_SIZE_BASE;
}

void regs_target_xml(const struct session *s, struct buf *out)
{
	bool lldb = s->lldb;
	buf_puts(out, "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
		      "<target>\n<architecture>i386:x86-64</architecture>\n"
		      "<osabi>GNU/Linux</osabi>\n");
	const char *feature = NULL;
	for (unsigned r = 0; r < regs_count(s); r++) {
		const struct reg_desc *d = &reg_table[r];
		if (!feature || strcmp(feature, d->feature) != 0) {
			if (feature)
				buf_puts(out, "</feature>\n");
			feature = d->feature;
			buf_printf(out, "<feature name=\"%s\">\n", feature);
			for (size_t i = 0; !lldb && i < sizeof(feature_types) / sizeof(feature_types[0]);
			     i++)
				if (strcmp(feature_types[i].feature, feature) == 0)
					buf_puts(out, feature_types[i].xml);
		}
		buf_printf(out, "<reg name=\"%s\" bitsize=\"%u\" type=\"%s\" regnum=\"%u\"", d->name,
			   d->bitsize, lldb ? plain_type(d) : d->gdb_type, r);
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
	if (hex_parse_u64(&p, args + len, &n) < 0 || n >= regs_count(s)) {
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
	if (hex_parse_u64(p, end, n) < 0 || *n >= regs_count(s)) {
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
		buf_put_hex(&s->reply, rc.bytes, block_size(s));
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
	if (hexlen % 2 || hexlen > 2 * block_size(s) || !read_thread_regs(s, tid, &rc)) {
		if (!s->reply.len)
			reply_error(s, EINVAL, "G: expected at most %u hex bytes", block_size(s));
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
