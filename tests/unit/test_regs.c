/* tests/unit/test_regs.c — the register table (order, packed offsets, names GDB requires) and
 * the round trips through user_regs_struct, FXSAVE (with the full x87 tag word rebuilt) and
 * XSAVE (AVX upper halves only when XSTATE_BV says they are live). */
#include <cpuid.h>
#include <stdio.h>
#include <string.h>

#include "server/regs.h"
#include "tests/unit/check.h"


static void test_table(void)
{
	unsigned off = 0;

	for (int r = 0; r < REG_COUNT; r++) {
		CHECK(reg_table[r].name != NULL);
		CHECK(reg_table[r].offset == off);
		CHECK(reg_table[r].feature && reg_table[r].gdb_type && reg_table[r].set);
		off += reg_table[r].bitsize / 8;
	}
	CHECK(off == REG_BLOCK_SIZE);
	CHECK(reg_table[RN_FS_BASE].offset == 544); /* core + sse + linux = 544 bytes */
	CHECK(reg_table[RN_YMM0H].offset == 560);
	CHECK(!strcmp(reg_table[RN_RBX].name, "rbx") && reg_table[RN_RBX].dwarf == 3);
	CHECK(!strcmp(reg_table[RN_EFLAGS].alt_name, "rflags"));
	CHECK(!strcmp(reg_table[RN_RIP].generic, "pc") && reg_table[RN_RIP].dwarf == 16);
	CHECK(!strcmp(reg_table[RN_RDI].generic, "arg1"));
	CHECK(!strcmp(reg_table[RN_ST0 + 7].name, "st7") && reg_table[RN_ST0 + 7].dwarf == 40);
	CHECK(!strcmp(reg_table[RN_FOP].name, "fop"));
	CHECK(!strcmp(reg_table[RN_XMM0 + 15].name, "xmm15"));
	CHECK(!strcmp(reg_table[RN_ORIG_RAX].feature, "org.gnu.gdb.i386.linux"));
	CHECK(!strcmp(reg_table[RN_YMM0H + 15].name, "ymm15h"));
	CHECK(!strcmp(reg_table[RN_ES].name, "es") && reg_table[RN_ES].dwarf == 50);
}

static void test_user(void)
{
	struct user_regs_struct u, back;
	struct regcache rc;
	uint64_t *w = (uint64_t *)&u;

	for (size_t i = 0; i < sizeof(u) / 8; i++)
		w[i] = 0x1000 + i * 0x11; /* fits 32 bits: segments and eflags survive */
	memset(&rc, 0, sizeof(rc));
	regcache_from_user(&rc, &u);
	CHECK(regcache_get_u64(&rc, RN_RIP) == u.rip);
	CHECK(regcache_get_u64(&rc, RN_RBX) == u.rbx);
	CHECK(regcache_get_u64(&rc, RN_EFLAGS) == u.eflags);
	CHECK(regcache_get_u64(&rc, RN_ORIG_RAX) == u.orig_rax);
	CHECK(regcache_get_u64(&rc, RN_GS_BASE) == u.gs_base);
	memset(&back, 0, sizeof(back));
	regcache_to_user(&rc, &back);
	CHECK(memcmp(&u, &back, sizeof(u)) == 0);
}

/* 1.0 in the 80-bit format: exponent 0x3fff, integer bit set. */
static void put_one(uint8_t *st)
{
	memset(st, 0, 16);
	st[7] = 0x80;
	st[8] = 0xff;
	st[9] = 0x3f;
}

static void test_fxsave(void)
{
	uint8_t fx[512], back[512];
	struct regcache rc;

	memset(fx, 0, sizeof(fx));
	fx[0] = 0x7f;
	fx[1] = 0x03;	/* fcw 0x037f */
	fx[3] = 6 << 3; /* fsw: top = 6 */
	fx[4] = 0xc0;	/* physical 6 and 7 in use */
	fx[6] = 0xff;
	fx[7] = 0xff; /* fop: only 11 bits count */
	fx[8] = 0x44;
	fx[12] = 0x33; /* fioff, fiseg */
	fx[24] = 0x80;
	fx[25] = 0x1f;		/* mxcsr 0x1f80 */
	put_one(fx + 32);	/* st0 = physical 6: valid */
	memset(fx + 48, 0, 16); /* st1 = physical 7: zero */
	for (int i = 0; i < 16; i++)
		fx[160 + i * 16] = (uint8_t)(i + 1);
	memset(&rc, 0, sizeof(rc));
	regcache_from_fxsave(&rc, fx);
	CHECK(regcache_get_u64(&rc, RN_FCTRL) == 0x37f);
	CHECK(regcache_get_u64(&rc, RN_FOP) == 0x7ff);
	CHECK(regcache_get_u64(&rc, RN_FTAG) == 0x4fff); /* phys 7 zero(1), 6 valid(0), rest 3 */
	CHECK(regcache_get_u64(&rc, RN_MXCSR) == 0x1f80);
	CHECK(regcache_get_u64(&rc, RN_FIOFF) == 0x44 && regcache_get_u64(&rc, RN_FISEG) == 0x33);
	CHECK(regcache_ptr(&rc, RN_ST0)[9] == 0x3f);
	CHECK(regcache_ptr(&rc, RN_XMM0 + 15)[0] == 16);
	memcpy(back, fx, sizeof(back));
	memset(back, 0, 32);
	memset(back + 32, 0xee, 512 - 32);
	regcache_to_fxsave(&rc, back);
	back[7] = fx[7]; /* fop's high bits are not ours */
	CHECK(memcmp(fx, back, 24 + 4) == 0);
	CHECK(memcmp(fx + 32, back + 32, 10) == 0 && memcmp(fx + 160, back + 160, 256) == 0);
}

static void test_xstate(void)
{
	uint8_t xs[1024], back[1024];
	struct regcache rc;

	memset(xs, 0, sizeof(xs));
	for (int i = 0; i < 256; i++)
		xs[576 + i] = (uint8_t)i;
	regcache_from_xstate(&rc, xs, sizeof(xs));
	CHECK(regcache_ptr(&rc, RN_YMM0H + 1)[0] == 0); /* XSTATE_BV bit 2 clear: zeros */
	xs[512] = 7;
	regcache_from_xstate(&rc, xs, sizeof(xs));
	CHECK(regcache_ptr(&rc, RN_YMM0H + 1)[0] == 16);
	CHECK(regcache_ptr(&rc, RN_YMM0H + 15)[15] == 255);
	memset(back, 0, sizeof(back));
	regcache_to_xstate(&rc, back, sizeof(back));
	CHECK(back[512] & 4);
	CHECK(memcmp(back + 576, xs + 576, 256) == 0);
	regcache_from_xstate(&rc, NULL, 0);
	CHECK(regcache_ptr(&rc, RN_YMM0H + 1)[0] == 0);
}

/* AVX-512 in this host's layout (CPUID leaf 0xD, as the kernel's ptrace regset and cores use
 * it): each component is taken only when its own XSTATE_BV bit is set, and written back. */
static void test_xstate_avx512(void)
{
	static uint8_t xs[8192], back[8192];
	unsigned a, b, c, d, k, hi256, hi16;
	struct regcache rc;

	if (!regs_host_avx512()) {
		printf("test_regs: no AVX-512 here, its layout is not checked\n");
		return;
	}
	__cpuid_count(0xd, 5, a, k, c, d);
	__cpuid_count(0xd, 6, a, hi256, c, d);
	__cpuid_count(0xd, 7, a, hi16, c, d);
	(void)b;
	memset(xs, 0, sizeof(xs));
	for (int i = 0; i < 64; i++)
		xs[k + i] = (uint8_t)(0x40 + i);         /* k0..k7 */
	for (int i = 0; i < 512; i++)
		xs[hi256 + i] = 0xee;                     /* zmm0h..15h, component not live */
	for (int i = 0; i < 1024; i++)
		xs[hi16 + i] = (uint8_t)i;                /* zmm16..31 */
	xs[512] = 0xa0;                                   /* XSTATE_BV: components 5 and 7 */
	regcache_from_xstate(&rc, xs, sizeof(xs));
	CHECK(regcache_get_u64(&rc, RN_K0 + 1) == 0x4f4e4d4c4b4a4948ull);
	CHECK(regcache_ptr(&rc, RN_ZMM0H)[0] == 0);      /* bit 6 clear: zeros, not 0xee */
	CHECK(regcache_ptr(&rc, RN_XMM16 + 1)[0] == 64); /* zmm17 starts at hi16 + 64 */
	CHECK(regcache_ptr(&rc, RN_YMM16H + 1)[0] == 80);
	CHECK(regcache_ptr(&rc, RN_ZMM0H + 17)[0] == 96);
	memset(back, 0, sizeof(back));
	regcache_to_xstate_avx512(&rc, back, sizeof(back));
	CHECK((back[512] & 0xe0) == 0xe0);
	CHECK(memcmp(back + k, xs + k, 64) == 0 && memcmp(back + hi16, xs + hi16, 1024) == 0);
	CHECK(back[hi256] == 0);
	/* A buffer too small for the layout (a core from a smaller CPU) leaves them zero. */
	regcache_from_xstate(&rc, xs, 1024);
	CHECK(regcache_get_u64(&rc, RN_K0 + 1) == 0);
}

int main(void)
{
	test_table();
	test_user();
	test_fxsave();
	test_xstate();
	test_xstate_avx512();
	return check_result("test_regs");
}
