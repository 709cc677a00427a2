/* server/regs.h — the x86-64 register file as the server exposes it: one table in GDB's
 * gdbserver order (core, sse, linux, segments, avx), used for target.xml, qRegisterInfo,
 * g/G/p/P, expedited registers, jThreadsInfo and the core writer. A target fills a regcache;
 * handlers never see ptrace structures. */
#ifndef PTSTUB_SERVER_REGS_H
#define PTSTUB_SERVER_REGS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/user.h>

enum reg_num {
	RN_RAX, RN_RBX, RN_RCX, RN_RDX, RN_RSI, RN_RDI, RN_RBP, RN_RSP,
	RN_R8, RN_R9, RN_R10, RN_R11, RN_R12, RN_R13, RN_R14, RN_R15,
	RN_RIP, RN_EFLAGS, RN_CS, RN_SS, RN_DS, RN_ES, RN_FS, RN_GS,
	RN_ST0, RN_ST7 = RN_ST0 + 7,
	RN_FCTRL, RN_FSTAT, RN_FTAG, RN_FISEG, RN_FIOFF, RN_FOSEG, RN_FOOFF, RN_FOP,
	RN_XMM0, RN_XMM15 = RN_XMM0 + 15,
	RN_MXCSR,
	RN_ORIG_RAX,
	RN_FS_BASE, RN_GS_BASE,
	RN_YMM0H, RN_YMM15H = RN_YMM0H + 15,
	/* AVX-512 (org.gnu.gdb.i386.avx512), present where the host enables it (see
	 * regs_host_avx512) and only for GDB: the registers up to here are REG_COUNT_BASE. */
	RN_XMM16, RN_XMM31 = RN_XMM16 + 15,
	RN_YMM16H, RN_YMM31H = RN_YMM16H + 15,
	RN_K0, RN_K7 = RN_K0 + 7,
	RN_ZMM0H, RN_ZMM31H = RN_ZMM0H + 31,
	REG_COUNT /* enumerators are RN_*: glibc's <sys/ucontext.h> owns REG_RAX etc. */
};

#define REG_COUNT_BASE RN_XMM16

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

#define REG_BLOCK_SIZE_BASE 816 /* bytes of the registers up to REG_COUNT_BASE */
#define REG_BLOCK_SIZE 2416     /* bytes of all registers, packed in table order */

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
/* regcache_from_xstate also takes the AVX-512 state where this host enables it (its XSAVE
 * layout, from CPUID: Intel and AMD place it differently); regcache_to_xstate writes x87,
 * SSE and AVX only (what cores carry), regcache_to_xstate_avx512 the AVX-512 part. */
void regcache_from_xstate(struct regcache *rc, const uint8_t *xstate, size_t xsize);
void regcache_to_xstate(const struct regcache *rc, uint8_t *xstate, size_t xsize);
void regcache_to_xstate_avx512(const struct regcache *rc, uint8_t *xstate, size_t xsize);
/* XCR0, the state components the kernel enables on this CPU (3 without XSAVE). */
uint64_t regs_host_xcr0(void);
/* True where the CPU and the kernel enable AVX-512 (XCR0 opmask, ZMM_Hi256, Hi16_ZMM). */
bool regs_host_avx512(void);

#endif
