/* server/regs.h — the x86-64 register file as the server exposes it: one table in GDB's
 * gdbserver order (core, sse, linux, segments, avx), used for target.xml, qRegisterInfo,
 * g/G/p/P, expedited registers, jThreadsInfo and the core writer. A target fills a regcache;
 * handlers never see ptrace structures. */
#ifndef PTSTUB_SERVER_REGS_H
#define PTSTUB_SERVER_REGS_H

#include <stdint.h>
#include <sys/user.h>

enum reg_num {
	REG_RAX, REG_RBX, REG_RCX, REG_RDX, REG_RSI, REG_RDI, REG_RBP, REG_RSP,
	REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
	REG_RIP, REG_EFLAGS, REG_CS, REG_SS, REG_DS, REG_ES, REG_FS, REG_GS,
	REG_ST0, REG_ST7 = REG_ST0 + 7,
	REG_FCTRL, REG_FSTAT, REG_FTAG, REG_FISEG, REG_FIOFF, REG_FOSEG, REG_FOOFF, REG_FOP,
	REG_XMM0, REG_XMM15 = REG_XMM0 + 15,
	REG_MXCSR,
	REG_ORIG_RAX,
	REG_FS_BASE, REG_GS_BASE,
	REG_YMM0H, REG_YMM15H = REG_YMM0H + 15,
	REG_COUNT
};

struct reg_desc {
	const char *name;
	const char *alt_name;   /* LLDB's name where it differs (eflags -> rflags), else NULL */
	unsigned bitsize;
	unsigned offset;        /* byte offset in the regcache and in the g packet */
	const char *feature;    /* org.gnu.gdb.i386.core / .sse / .linux / .segments / .avx */
	const char *gdb_type;   /* type= in target.xml */
	const char *set;        /* LLDB register set / group name */
	const char *encoding;   /* uint, ieee754, vector */
	const char *format;     /* hex, float, vector-uint8 ... */
	int dwarf;              /* DWARF / eh_frame number, -1 if none */
	const char *generic;    /* pc, sp, fp, flags, arg1..arg6, or NULL */
};

extern const struct reg_desc reg_table[REG_COUNT];

#define REG_BLOCK_SIZE 816   /* bytes of all registers, packed in table order */

/* One thread's registers in the layout of the g packet (little-endian, table order). */
struct regcache {
	uint8_t bytes[REG_BLOCK_SIZE];
};

uint64_t regcache_get_u64(const struct regcache *rc, enum reg_num r);  /* for <= 8-byte regs */
void regcache_set_u64(struct regcache *rc, enum reg_num r, uint64_t v);
static inline uint8_t *regcache_ptr(struct regcache *rc, enum reg_num r)
{
	return rc->bytes + reg_table[r].offset;
}
static inline unsigned reg_size(enum reg_num r)
{
	return reg_table[r].bitsize / 8;
}

/* Conversions from and to the kernel's layouts (used by the Linux target and the core
 * writer/reader). fxsave is the 512-byte FXSAVE area; xstate is an XSAVE area of xsize bytes
 * (may be NULL: then the AVX upper halves are zero / not written). */
void regcache_from_user(struct regcache *rc, const struct user_regs_struct *u);
void regcache_to_user(const struct regcache *rc, struct user_regs_struct *u);
void regcache_from_fxsave(struct regcache *rc, const uint8_t fxsave[512]);
void regcache_to_fxsave(const struct regcache *rc, uint8_t fxsave[512]);
void regcache_from_xstate(struct regcache *rc, const uint8_t *xstate, size_t xsize);
void regcache_to_xstate(const struct regcache *rc, uint8_t *xstate, size_t xsize);

#endif
