/* server/regs.c — the x86-64 register table (gdbserver 13 order) and the conversions between
 * the g-packet layout and the kernel's user_regs_struct, FXSAVE and XSAVE areas. The x87 tag
 * word is rebuilt in full from FXSAVE's abridged byte, the way gdbserver's i387 code does. */
#include <stdbool.h>
#include <stddef.h>
#include <cpuid.h>
#include <string.h>

#include "server/regs.h"

#define CORE "org.gnu.gdb.i386.core"
#define SSE "org.gnu.gdb.i386.sse"
#define LNX "org.gnu.gdb.i386.linux"
#define SEGS "org.gnu.gdb.i386.segments"
#define AVX "org.gnu.gdb.i386.avx"
#define AVX512 "org.gnu.gdb.i386.avx512"

#define SET_GPR "General Purpose Registers"
#define SET_FPR "Floating Point Registers"
#define SET_AVX "Advanced Vector Extensions"
#define SET_AVX512 "AVX-512"

/* Byte offsets of each group in the packed block (table order, sizes from §3.2). */
#define OFF_GPR(i) ((i)*8)
#define OFF_RIP 128
#define OFF_EFLAGS 136
#define OFF_SEG(i) (140 + (i)*4)
#define OFF_ST(i) (164 + (i)*10)
#define OFF_X87(i) (244 + (i)*4)
#define OFF_XMM(i) (276 + (i)*16)
#define OFF_MXCSR 532
#define OFF_ORIG_RAX 536
#define OFF_FS_BASE 544
#define OFF_GS_BASE 552
#define OFF_YMMH(i) (560 + (i)*16)
#define OFF_XMM16(i) (816 + (i)*16)   /* xmm16..31 */
#define OFF_YMM16H(i) (1072 + (i)*16) /* ymm16h..31h */
#define OFF_K(i) (1328 + (i)*8)
#define OFF_ZMMH(i) (1392 + (i)*32)   /* zmm0h..31h: bits 256..511 */

#define GPR(r, nm, idx, type, dw, gen)                                                             \
	[r] = {nm, NULL, 64, OFF_GPR(idx), CORE, type, SET_GPR, "uint", "hex", dw, gen}
#define SEG(r, nm, idx, dw)                                                                        \
	[r] = {nm, NULL, 32, OFF_SEG(idx), CORE, "int32", SET_GPR, "uint", "hex", dw, NULL}
#define ST(i)                                                                                      \
	[RN_ST0 + i] = {"st" #i,  NULL,		  80,	  OFF_ST(i), CORE, "i387_ext", SET_FPR,    \
			"vector", "vector-uint8", 33 + i, NULL}
#define X87(r, nm, idx)                                                                            \
	[r] = {nm, NULL, 32, OFF_X87(idx), CORE, "int32", SET_FPR, "uint", "hex", -1, NULL}
#define XMM(i)                                                                                     \
	[RN_XMM0 + i] = {"xmm" #i, NULL,	   128,	   OFF_XMM(i), SSE, "vec128", SET_FPR,     \
			 "vector", "vector-uint8", 17 + i, NULL}
#define YMMH(i)                                                                                    \
	[RN_YMM0H + i] = {"ymm" #i "h", NULL,		128, OFF_YMMH(i), AVX, "uint128", SET_AVX, \
			  "vector",	"vector-uint8", -1,  NULL}

#define XMM16(i)                                                                            \
	[RN_XMM16 + i - 16] = {"xmm" #i, NULL, 128, OFF_XMM16(i - 16), AVX512, "vec128", SET_AVX512, \
			  "vector", "vector-uint8", 67 + i - 16, NULL}
#define YMM16H(i)                                                                              \
	[RN_YMM16H + i - 16] = {"ymm" #i "h", NULL, 128, OFF_YMM16H(i - 16), AVX512, "uint128",      \
			   SET_AVX512, "vector", "vector-uint8", -1, NULL}
#define KREG(i)                                                                          \
	[RN_K0 + i] = {"k" #i, NULL, 64, OFF_K(i), AVX512, "uint64", SET_AVX512, "uint", "hex", \
		       118 + i, NULL}
#define ZMMH(i)                                                                            \
	[RN_ZMM0H + i] = {"zmm" #i "h", NULL, 256, OFF_ZMMH(i), AVX512, "v2ui128", SET_AVX512, \
			  "vector", "vector-uint8", -1, NULL}

const struct reg_desc reg_table[REG_COUNT] = {
	GPR(RN_RAX, "rax", 0, "int64", 0, NULL),
	GPR(RN_RBX, "rbx", 1, "int64", 3, NULL),
	GPR(RN_RCX, "rcx", 2, "int64", 2, "arg4"),
	GPR(RN_RDX, "rdx", 3, "int64", 1, "arg3"),
	GPR(RN_RSI, "rsi", 4, "int64", 4, "arg2"),
	GPR(RN_RDI, "rdi", 5, "int64", 5, "arg1"),
	GPR(RN_RBP, "rbp", 6, "data_ptr", 6, "fp"),
	GPR(RN_RSP, "rsp", 7, "data_ptr", 7, "sp"),
	GPR(RN_R8, "r8", 8, "int64", 8, "arg5"),
	GPR(RN_R9, "r9", 9, "int64", 9, "arg6"),
	GPR(RN_R10, "r10", 10, "int64", 10, NULL),
	GPR(RN_R11, "r11", 11, "int64", 11, NULL),
	GPR(RN_R12, "r12", 12, "int64", 12, NULL),
	GPR(RN_R13, "r13", 13, "int64", 13, NULL),
	GPR(RN_R14, "r14", 14, "int64", 14, NULL),
	GPR(RN_R15, "r15", 15, "int64", 15, NULL),
	[RN_RIP] = {"rip", NULL, 64, OFF_RIP, CORE, "code_ptr", SET_GPR, "uint", "hex", 16, "pc"},
	[RN_EFLAGS] = {"eflags", "rflags", 32, OFF_EFLAGS, CORE, "i386_eflags", SET_GPR, "uint", "hex",
		       49, "flags"},
	SEG(RN_CS, "cs", 0, 51),
	SEG(RN_SS, "ss", 1, 52),
	SEG(RN_DS, "ds", 2, 53),
	SEG(RN_ES, "es", 3, 50),
	SEG(RN_FS, "fs", 4, 54),
	SEG(RN_GS, "gs", 5, 55),
	ST(0),
	ST(1),
	ST(2),
	ST(3),
	ST(4),
	ST(5),
	ST(6),
	ST(7),
	X87(RN_FCTRL, "fctrl", 0),
	X87(RN_FSTAT, "fstat", 1),
	X87(RN_FTAG, "ftag", 2),
	X87(RN_FISEG, "fiseg", 3),
	X87(RN_FIOFF, "fioff", 4),
	X87(RN_FOSEG, "foseg", 5),
	X87(RN_FOOFF, "fooff", 6),
	X87(RN_FOP, "fop", 7),
	XMM(0),
	XMM(1),
	XMM(2),
	XMM(3),
	XMM(4),
	XMM(5),
	XMM(6),
	XMM(7),
	XMM(8),
	XMM(9),
	XMM(10),
	XMM(11),
	XMM(12),
	XMM(13),
	XMM(14),
	XMM(15),
	[RN_MXCSR] = {"mxcsr", NULL, 32, OFF_MXCSR, SSE, "i386_mxcsr", SET_FPR, "uint", "hex", -1, NULL},
	[RN_ORIG_RAX] = {"orig_rax", NULL, 64, OFF_ORIG_RAX, LNX, "int64", SET_GPR, "uint", "hex",
			 -1, NULL},
	[RN_FS_BASE] = {"fs_base", NULL, 64, OFF_FS_BASE, SEGS, "int64", SET_GPR, "uint", "hex", 58,
			NULL},
	[RN_GS_BASE] = {"gs_base", NULL, 64, OFF_GS_BASE, SEGS, "int64", SET_GPR, "uint", "hex", 59,
			NULL},
	YMMH(0),
	YMMH(1),
	YMMH(2),
	YMMH(3),
	YMMH(4),
	YMMH(5),
	YMMH(6),
	YMMH(7),
	YMMH(8),
	YMMH(9),
	YMMH(10),
	YMMH(11),
	YMMH(12),
	YMMH(13),
	YMMH(14),
	YMMH(15),
	XMM16(16),
	XMM16(17),
	XMM16(18),
	XMM16(19),
	XMM16(20),
	XMM16(21),
	XMM16(22),
	XMM16(23),
	XMM16(24),
	XMM16(25),
	XMM16(26),
	XMM16(27),
	XMM16(28),
	XMM16(29),
	XMM16(30),
	XMM16(31),
	YMM16H(16),
	YMM16H(17),
	YMM16H(18),
	YMM16H(19),
	YMM16H(20),
	YMM16H(21),
	YMM16H(22),
	YMM16H(23),
	YMM16H(24),
	YMM16H(25),
	YMM16H(26),
	YMM16H(27),
	YMM16H(28),
	YMM16H(29),
	YMM16H(30),
	YMM16H(31),
	KREG(0),
	KREG(1),
	KREG(2),
	KREG(3),
	KREG(4),
	KREG(5),
	KREG(6),
	KREG(7),
	ZMMH(0),
	ZMMH(1),
	ZMMH(2),
	ZMMH(3),
	ZMMH(4),
	ZMMH(5),
	ZMMH(6),
	ZMMH(7),
	ZMMH(8),
	ZMMH(9),
	ZMMH(10),
	ZMMH(11),
	ZMMH(12),
	ZMMH(13),
	ZMMH(14),
	ZMMH(15),
	ZMMH(16),
	ZMMH(17),
	ZMMH(18),
	ZMMH(19),
	ZMMH(20),
	ZMMH(21),
	ZMMH(22),
	ZMMH(23),
	ZMMH(24),
	ZMMH(25),
	ZMMH(26),
	ZMMH(27),
	ZMMH(28),
	ZMMH(29),
	ZMMH(30),
	ZMMH(31),
};

_Static_assert(OFF_YMMH(16) == REG_BLOCK_SIZE_BASE, "register block size without AVX-512");
_Static_assert(OFF_ZMMH(32) == REG_BLOCK_SIZE, "register block size");

uint64_t regcache_get_u64(const struct regcache *rc, enum reg_num r)
{
	uint64_t v = 0;
	unsigned n = reg_size(r);

	memcpy(&v, rc->bytes + reg_table[r].offset, n < 8 ? n : 8);
	return v;
}

void regcache_set_u64(struct regcache *rc, enum reg_num r, uint64_t v)
{
	unsigned n = reg_size(r);

	memset(rc->bytes + reg_table[r].offset, 0, n);
	memcpy(rc->bytes + reg_table[r].offset, &v, n < 8 ? n : 8);
}

/* Where each of our registers lives in user_regs_struct, in table order. */
#define U(f) offsetof(struct user_regs_struct, f)
static const struct {
	enum reg_num reg;
	size_t off;
} user_map[] = {
	{RN_RAX, U(rax)},
	{RN_RBX, U(rbx)},
	{RN_RCX, U(rcx)},
	{RN_RDX, U(rdx)},
	{RN_RSI, U(rsi)},
	{RN_RDI, U(rdi)},
	{RN_RBP, U(rbp)},
	{RN_RSP, U(rsp)},
	{RN_R8, U(r8)},
	{RN_R9, U(r9)},
	{RN_R10, U(r10)},
	{RN_R11, U(r11)},
	{RN_R12, U(r12)},
	{RN_R13, U(r13)},
	{RN_R14, U(r14)},
	{RN_R15, U(r15)},
	{RN_RIP, U(rip)},
	{RN_EFLAGS, U(eflags)},
	{RN_CS, U(cs)},
	{RN_SS, U(ss)},
	{RN_DS, U(ds)},
	{RN_ES, U(es)},
	{RN_FS, U(fs)},
	{RN_GS, U(gs)},
	{RN_ORIG_RAX, U(orig_rax)},
	{RN_FS_BASE, U(fs_base)},
	{RN_GS_BASE, U(gs_base)},
};
#undef U

void regcache_from_user(struct regcache *rc, const struct user_regs_struct *u)
{
	for (size_t i = 0; i < sizeof(user_map) / sizeof(user_map[0]); i++) {
		uint64_t v;

		memcpy(&v, (const uint8_t *)u + user_map[i].off, 8);
		regcache_set_u64(rc, user_map[i].reg, v);
	}
}

void regcache_to_user(const struct regcache *rc, struct user_regs_struct *u)
{
	for (size_t i = 0; i < sizeof(user_map) / sizeof(user_map[0]); i++) {
		uint64_t v = regcache_get_u64(rc, user_map[i].reg);

		memcpy((uint8_t *)u + user_map[i].off, &v, 8);
	}
}

/* FXSAVE layout (Intel SDM vol. 1, 10.5.1), 64-bit form as gdbserver reads it. */
enum {
	FX_FCW = 0,
	FX_FSW = 2,
	FX_FTW = 4,
	FX_FOP = 6,
	FX_FIOFF = 8,
	FX_FISEG = 12,
	FX_FOOFF = 16,
	FX_FOSEG = 20,
	FX_MXCSR = 24,
	FX_ST = 32,
	FX_XMM = 160,
};

/* Pieces of the FXSAVE header that map to one 32-bit register: offset, width, mask. */
static const struct {
	enum reg_num reg;
	unsigned off, width, mask;
} fx_map[] = {
	{RN_FCTRL, FX_FCW, 2, 0xffff},	 {RN_FSTAT, FX_FSW, 2, 0xffff},
	{RN_FOP, FX_FOP, 2, 0x7ff},	 {RN_FIOFF, FX_FIOFF, 4, 0xffffffff},
	{RN_FISEG, FX_FISEG, 2, 0xffff}, {RN_FOOFF, FX_FOOFF, 4, 0xffffffff},
	{RN_FOSEG, FX_FOSEG, 2, 0xffff}, {RN_MXCSR, FX_MXCSR, 4, 0xffffffff},
};

/* The 2-bit tag of one non-empty 80-bit register: 0 valid, 1 zero, 2 special. */
static unsigned x87_tag_of(const uint8_t *st)
{
	unsigned exponent = (st[8] | st[9] << 8) & 0x7fff;
	bool integer = st[7] & 0x80;
	bool fraction_zero = (st[7] & 0x7f) == 0;

	for (int i = 0; i < 7; i++)
		fraction_zero = fraction_zero && st[i] == 0;
	if (exponent == 0x7fff)
		return 2;
	if (exponent == 0)
		return (fraction_zero && !integer) ? 1 : 2;
	return integer ? 0 : 2;
}

static unsigned x87_full_tag(const uint8_t fxsave[512])
{
	unsigned abridged = fxsave[FX_FTW];
	unsigned top = (fxsave[FX_FSW + 1] >> 3) & 7;
	unsigned tag = 0;

	for (unsigned phys = 0; phys < 8; phys++) {
		unsigned val = 3;

		if (abridged & (1u << phys))
			val = x87_tag_of(fxsave + FX_ST + ((phys + 8 - top) & 7) * 16);
		tag |= val << (2 * phys);
	}
	return tag;
}

void regcache_from_fxsave(struct regcache *rc, const uint8_t fxsave[512])
{
	for (size_t i = 0; i < sizeof(fx_map) / sizeof(fx_map[0]); i++) {
		uint32_t v = 0;

		memcpy(&v, fxsave + fx_map[i].off, fx_map[i].width);
		regcache_set_u64(rc, fx_map[i].reg, v & fx_map[i].mask);
	}
	regcache_set_u64(rc, RN_FTAG, x87_full_tag(fxsave));
	for (int i = 0; i < 8; i++)
		memcpy(regcache_ptr(rc, RN_ST0 + i), fxsave + FX_ST + i * 16, 10);
	for (int i = 0; i < 16; i++)
		memcpy(regcache_ptr(rc, RN_XMM0 + i), fxsave + FX_XMM + i * 16, 16);
}

void regcache_to_fxsave(const struct regcache *rc, uint8_t fxsave[512])
{
	unsigned tag = regcache_get_u64(rc, RN_FTAG);
	uint8_t abridged = 0;

	for (size_t i = 0; i < sizeof(fx_map) / sizeof(fx_map[0]); i++) {
		uint32_t old = 0, v = regcache_get_u64(rc, fx_map[i].reg) & fx_map[i].mask;

		memcpy(&old, fxsave + fx_map[i].off, fx_map[i].width);
		v |= old & ~fx_map[i].mask;
		memcpy(fxsave + fx_map[i].off, &v, fx_map[i].width);
	}
	for (unsigned phys = 0; phys < 8; phys++)
		if (((tag >> (2 * phys)) & 3) != 3)
			abridged |= 1u << phys;
	fxsave[FX_FTW] = abridged;
	for (int i = 0; i < 8; i++) {
		memset(fxsave + FX_ST + i * 16, 0, 16);
		memcpy(fxsave + FX_ST + i * 16, rc->bytes + reg_table[RN_ST0 + i].offset, 10);
	}
	for (int i = 0; i < 16; i++)
		memcpy(fxsave + FX_XMM + i * 16, rc->bytes + reg_table[RN_XMM0 + i].offset, 16);
}

/* XSAVE: the header's XSTATE_BV at 512; the AVX upper halves at 576 (state component 2). */
enum { XS_BV = 512, XS_AVX = 576, XS_AVX_END = XS_AVX + 16 * 16, XS_BIT_AVX = 1u << 2 };

/* AVX-512 in this host's XSAVE layout: the standard (non-compacted) format ptrace and cores
 * use puts each state component at the offset CPUID leaf 0xD gives, and the offsets differ
 * between vendors (AMD has no MPX, so opmask sits at 832 where Intel has 1088). */
enum { XS_BIT_AVX512 = 0xe0 };
static struct {
	bool known, present;
	unsigned k, zmm_hi256, hi16_zmm; /* offsets of components 5, 6, 7 */
} avx512;

uint64_t regs_host_xcr0(void)
{
	unsigned a, b, c, d;
	uint32_t lo, hi;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
		return 3; /* x87 and SSE only */
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (uint64_t)hi << 32 | lo;
}

static void avx512_layout(void)
{
	unsigned a, b, c, d;

	if (avx512.known)
		return;
	avx512.known = true;
	if ((regs_host_xcr0() & XS_BIT_AVX512) != XS_BIT_AVX512)
		return;
	__cpuid_count(0xd, 5, a, b, c, d);
	avx512.k = b;
	__cpuid_count(0xd, 6, a, b, c, d);
	avx512.zmm_hi256 = b;
	__cpuid_count(0xd, 7, a, b, c, d);
	avx512.hi16_zmm = b;
	avx512.present = avx512.k && avx512.zmm_hi256 && avx512.hi16_zmm;
}

bool regs_host_avx512(void)
{
	avx512_layout();
	return avx512.present;
}

/* Copy the AVX-512 registers of the components in mask (XSTATE_BV bits 5, 6, 7) from
 * (to_xstate false) or to the XSAVE area. */
static void avx512_copy(struct regcache *rc, uint8_t *xs, bool to_xstate, uint64_t mask)
{
	struct {
		unsigned xs_off, rc_off, len;
	} parts[4 * 32 + 8];
	size_t n = 0;

	for (int i = 0; i < 8 && (mask & 0x20); i++)
		parts[n++] = (typeof(parts[0])){avx512.k + i * 8, OFF_K(i), 8};
	for (int i = 0; i < 16 && (mask & 0x40); i++)
		parts[n++] = (typeof(parts[0])){avx512.zmm_hi256 + i * 32, OFF_ZMMH(i), 32};
	for (int i = 0; i < 16 && (mask & 0x80); i++) { /* zmm16..31: xmm, ymm and zmm parts */
		unsigned base = avx512.hi16_zmm + i * 64;

		parts[n++] = (typeof(parts[0])){base, OFF_XMM16(i), 16};
		parts[n++] = (typeof(parts[0])){base + 16, OFF_YMM16H(i), 16};
		parts[n++] = (typeof(parts[0])){base + 32, OFF_ZMMH(16 + i), 32};
	}
	for (size_t i = 0; i < n; i++) {
		if (to_xstate)
			memcpy(xs + parts[i].xs_off, rc->bytes + parts[i].rc_off, parts[i].len);
		else
			memcpy(rc->bytes + parts[i].rc_off, xs + parts[i].xs_off, parts[i].len);
	}
}

static bool avx512_fits(size_t xsize)
{
	return regs_host_avx512() && xsize >= avx512.hi16_zmm + 16 * 64 &&
	       xsize >= avx512.zmm_hi256 + 16 * 32 && xsize >= avx512.k + 64;
}

void regcache_from_xstate(struct regcache *rc, const uint8_t *xstate, size_t xsize)
{
	uint64_t bv = 0;

	memset(regcache_ptr(rc, RN_YMM0H), 0, 16 * 16);
	memset(regcache_ptr(rc, RN_XMM16), 0, REG_BLOCK_SIZE - REG_BLOCK_SIZE_BASE);
	if (!xstate || xsize < 512)
		return;
	regcache_from_fxsave(rc, xstate);
	if (xsize < XS_AVX_END)
		return;
	memcpy(&bv, xstate + XS_BV, 8);
	if (bv & XS_BIT_AVX)
		memcpy(regcache_ptr(rc, RN_YMM0H), xstate + XS_AVX, 16 * 16);
	/* A component whose XSTATE_BV bit is clear is in its initial state: all zero (the CPU
	 * clears the bit of each one that is, independently of the others). */
	if (avx512_fits(xsize))
		avx512_copy(rc, (uint8_t *)xstate, false, bv & XS_BIT_AVX512);
}

void regcache_to_xstate_avx512(const struct regcache *rc, uint8_t *xstate, size_t xsize)
{
	uint64_t bv;

	if (!xstate || !avx512_fits(xsize))
		return;
	memcpy(&bv, xstate + XS_BV, 8);
	bv |= XS_BIT_AVX512;
	memcpy(xstate + XS_BV, &bv, 8);
	avx512_copy((struct regcache *)rc, xstate, true, XS_BIT_AVX512);
}

void regcache_to_xstate(const struct regcache *rc, uint8_t *xstate, size_t xsize)
{
	uint64_t bv;

	if (!xstate || xsize < 512)
		return;
	regcache_to_fxsave(rc, xstate);
	if (xsize < XS_AVX_END)
		return;
	memcpy(&bv, xstate + XS_BV, 8);
	bv |= 3 | XS_BIT_AVX; /* x87, SSE and AVX now hold what we wrote */
	memcpy(xstate + XS_BV, &bv, 8);
	memcpy(xstate + XS_AVX, rc->bytes + reg_table[RN_YMM0H].offset, 16 * 16);
}
