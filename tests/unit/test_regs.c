/* tests/unit/test_regs.c — the register table (order, packed offsets, names GDB requires) and
 * the round trips through user_regs_struct, FXSAVE (with the full x87 tag word rebuilt) and
 * XSAVE (AVX upper halves only when XSTATE_BV says they are live). */
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

int main(void)
{
	test_table();
	test_user();
	test_fxsave();
	test_xstate();
	return check_result("test_regs");
}
