/* tests/unit/test_pt_encoder.c — byte-exact packet sequences of collector/pt_encoder for small
 * hand-assembled programs (intel-pt.md §2.11), plus PSB period, ring window, async, REP,
 * PLT-style indirect jumps and the late trap after CPUID. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <intel-pt.h>

#include "collector/pt_encoder.h"
#include "tests/unit/check.h"

#define BASE 0x401000u

/* The program under test: bytes at BASE. */
static uint8_t code[64];

static ssize_t read_code(void *ctx, uint64_t addr, void *buf, size_t len)
{
	(void)ctx;
	if (addr < BASE || addr >= BASE + sizeof(code))
		return -14;
	if (len > BASE + sizeof(code) - addr)
		len = BASE + sizeof(code) - addr;
	memcpy(buf, code + (addr - BASE), len);
	return (ssize_t)len;
}

static const uint8_t psb_plus[] = {0x02, 0x82, 0x02, 0x82, 0x02, 0x82, 0x02, 0x82, 0x02,
				   0x82, 0x02, 0x82, 0x02, 0x82, 0x02, 0x82, 0x99, 0x01,
				   0x7d, 0x00, 0x10, 0x40, 0x00, 0x00, 0x00, 0x02, 0x23};

/* Runs pc[0] -> pc[1] -> ... -> pc[n-1] as steps, stops at stop, compares with P+ expect. */
static void run_case(const char *name, const uint8_t *prog, size_t prog_len, const uint64_t *pcs,
		     size_t n, uint64_t stop, const uint8_t *expect, size_t expect_len)
{
	struct ptenc_config cfg = PTENC_CONFIG_INIT;
	struct buf out = BUF_INIT;
	struct ptenc *e;

	memset(code, 0x90, sizeof(code));
	memcpy(code, prog, prog_len);
	e = ptenc_alloc(&cfg, read_code, NULL);
	CHECK(e);
	CHECK(ptenc_resume(e, pcs[0]) == 0);
	for (size_t i = 0; i + 1 < n; i++)
		CHECK(ptenc_step(e, pcs[i], pcs[i + 1]) == 0);
	CHECK(ptenc_stop(e, stop) == 0);
	CHECK(ptenc_read(e, &out) == (ssize_t)(sizeof(psb_plus) + expect_len));
	CHECK(ptenc_size(e) == out.len);
	if (out.len != sizeof(psb_plus) + expect_len ||
	    memcmp(out.data, psb_plus, sizeof(psb_plus)) ||
	    memcmp(out.data + sizeof(psb_plus), expect, expect_len)) {
		fprintf(stderr, "%s: got", name);
		for (size_t i = 0; i < out.len; i++)
			fprintf(stderr, " %02x", (uint8_t)out.data[i]);
		fprintf(stderr, "\n");
		CHECK(!"packet bytes differ");
	}
	buf_fini(&out);
	ptenc_free(e);
}

static void test_spec_sequences(void)
{
	/* xor eax,eax; jmp +3; add eax,1; cmp eax,1; jle -8; nop */
	static const uint8_t loop[] = {0x31, 0xc0, 0xeb, 0x03, 0x83, 0xc0, 0x01,
				       0x83, 0xf8, 0x01, 0x7e, 0xf8, 0x90};
	static const uint64_t loop_pcs[] = {0x401000, 0x401002, 0x401007, 0x40100a,
					    0x401004, 0x401007, 0x40100a, 0x401004,
					    0x401007, 0x40100a, 0x40100c};
	static const uint8_t loop_exp[] = {0x1c, 0x3d, 0x0c, 0x10, 0x01};
	/* call +3; nop; nop; (pad); ret */
	static const uint8_t call[] = {0xe8, 0x03, 0x00, 0x00, 0x00, 0x90, 0x90, 0x90, 0xc3};
	static const uint64_t call_pcs[] = {0x401000, 0x401008, 0x401005, 0x401006};
	static const uint8_t call_exp[] = {0x2d, 0x05, 0x10, 0x3d, 0x06, 0x10, 0x01};
	/* call rax; nop; nop; ... 0x401010: ret */
	uint8_t icall[17] = {0xff, 0xd0, 0x90, 0x90};
	static const uint64_t icall_pcs[] = {0x401000, 0x401010, 0x401002, 0x401003};
	static const uint8_t icall_exp[] = {0x2d, 0x10, 0x10, 0x2d, 0x02,
					    0x10, 0x3d, 0x03, 0x10, 0x01};
	/* mov eax,39; syscall; nop; nop */
	static const uint8_t sys[] = {0xb8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x90, 0x90};
	static const uint64_t sys_pcs[] = {0x401000, 0x401005, 0x401007, 0x401008};
	static const uint8_t sys_exp[] = {0x01, 0x31, 0x07, 0x10, 0x3d, 0x08, 0x10, 0x01};
	/* jmp [rip+0] (PLT shape) -> 0x401020: an indirect jump, so a TIP */
	static const uint8_t plt[] = {0xff, 0x25, 0x00, 0x00, 0x00, 0x00};
	static const uint64_t plt_pcs[] = {0x401000, 0x401020};
	static const uint8_t plt_exp[] = {0x2d, 0x20, 0x10, 0x3d, 0x20, 0x10, 0x01};
	/* rep movsb traps per iteration (from == to), counted once; then nop */
	static const uint8_t rep[] = {0xf3, 0xa4, 0x90, 0x90};
	static const uint64_t rep_pcs[] = {0x401000, 0x401000, 0x401000, 0x401002, 0x401003};
	static const uint8_t rep_exp[] = {0x3d, 0x03, 0x10, 0x01};
	/* cpuid; nop; nop: the trap after cpuid arrives one instruction late */
	static const uint8_t cpuid[] = {0x0f, 0xa2, 0x90, 0x90};
	static const uint64_t cpuid_pcs[] = {0x401000, 0x401003};
	static const uint8_t cpuid_exp[] = {0x3d, 0x03, 0x10, 0x01};

	icall[16] = 0xc3;
	run_case("loop", loop, sizeof(loop), loop_pcs, 11, 0x40100c, loop_exp, sizeof(loop_exp));
	run_case("call", call, sizeof(call), call_pcs, 3, 0x401006, call_exp, sizeof(call_exp));
	run_case("icall", icall, sizeof(icall), icall_pcs, 3, 0x401003, icall_exp,
		 sizeof(icall_exp));
	run_case("syscall", sys, sizeof(sys), sys_pcs, 4, 0x401008, sys_exp, sizeof(sys_exp));
	/* a signal stop right after the syscall, its step unreported: still a TIP.PGD */
	run_case("syscall-stop", sys, sizeof(sys), sys_pcs, 2, 0x401007, sys_exp, 1);
	run_case("plt", plt, sizeof(plt), plt_pcs, 2, 0x401020, plt_exp, sizeof(plt_exp));
	run_case("rep", rep, sizeof(rep), rep_pcs, 5, 0x401003, rep_exp, sizeof(rep_exp));
	run_case("cpuid", cpuid, sizeof(cpuid), cpuid_pcs, 2, 0x401003, cpuid_exp,
		 sizeof(cpuid_exp));
}

/* A non-successor transfer is a signal delivery: FUP(from)+TIP.PGD, then TIP.PGE(handler). */
static void test_async(void)
{
	static const uint8_t prog[] = {0x90, 0x90, 0x90};
	static const uint8_t exp[] = {0x3d, 0x01, 0x10, 0x01, 0x31, 0x30,
				      0x10, 0x3d, 0x31, 0x10, 0x01};
	static const uint64_t pcs[] = {0x401000, 0x401001};
	struct ptenc_config cfg = PTENC_CONFIG_INIT;
	struct ptenc_stats st;
	struct buf out = BUF_INIT;
	struct ptenc *e;

	memset(code, 0x90, sizeof(code));
	memcpy(code, prog, sizeof(prog));
	e = ptenc_alloc(&cfg, read_code, NULL);
	ptenc_resume(e, pcs[0]);
	CHECK(ptenc_step(e, 0x401000, 0x401001) == 0);
	CHECK(ptenc_step(e, 0x401001, 0x401030) == 0); /* nop cannot go there */
	CHECK(ptenc_step(e, 0x401030, 0x401031) == 0);
	CHECK(ptenc_stop(e, 0x401031) == 0);
	ptenc_read(e, &out);
	ptenc_get_stats(e, &st);
	CHECK(st.async == 1 && st.instructions == 2);
	CHECK(out.len == sizeof(psb_plus) + sizeof(exp));
	CHECK(out.len >= sizeof(psb_plus) &&
	      !memcmp(out.data + sizeof(psb_plus), exp, out.len - sizeof(psb_plus)));
	buf_fini(&out);
	ptenc_free(e);
}

/* Long loop: PSBs every period, never right after a TIP.PGE; the ring window starts at a
 * PSB and holds at most ring_size bytes; the packet decoder reads it without error. */
static void test_ring(void)
{
	/* 0x401000: syscall; jmp -4 (back to 0x401000)... use: nop; jne back */
	static const uint8_t prog[] = {0x90, 0x75, 0xfd, 0x0f, 0x05, 0xeb, 0xf9};
	struct ptenc_config cfg = PTENC_CONFIG_INIT;
	struct pt_packet_decoder *dec;
	struct pt_config pc;
	struct buf out = BUF_INIT;
	struct ptenc_stats st;
	struct pt_packet pkt;
	enum pt_packet_type prev = ppt_pad;
	int psbs = 0, status;
	struct ptenc *e;

	memset(code, 0x90, sizeof(code));
	memcpy(code, prog, sizeof(prog));
	cfg.ring_size = 4096;
	cfg.psb_period = 256;
	cfg.tsc = true;
	e = ptenc_alloc(&cfg, read_code, NULL);
	ptenc_resume(e, 0x401000);
	for (int i = 0; i < 20000; i++) {
		ptenc_step(e, 0x401000, 0x401001);
		/* jne: taken most times, sometimes falls to the syscall */
		if (i % 7) {
			ptenc_step(e, 0x401001, 0x401000);
		} else {
			ptenc_step(e, 0x401001, 0x401003);
			ptenc_step(e, 0x401003, 0x401005);
			ptenc_step(e, 0x401005, 0x401000);
		}
	}
	ptenc_stop(e, 0x401000);
	ptenc_get_stats(e, &st);
	CHECK(st.bytes > 4 * cfg.ring_size);
	ptenc_read(e, &out);
	CHECK(out.len <= cfg.ring_size && out.len > cfg.ring_size / 2);
	CHECK(out.len >= 16 && !memcmp(out.data, psb_plus, 16));
	pt_config_init(&pc);
	pc.begin = (uint8_t *)out.data;
	pc.end = (uint8_t *)out.data + out.len;
	dec = pt_pkt_alloc_decoder(&pc);
	CHECK(pt_pkt_sync_set(dec, 0) == 0);
	while ((status = pt_pkt_next(dec, &pkt, sizeof(pkt))) > 0) {
		if (pkt.type == ppt_psb) {
			psbs++;
			CHECK(prev != ppt_tip_pge);
		}
		prev = pkt.type;
	}
	CHECK(status == -pte_eos);
	CHECK(psbs >= 4);
	CHECK(prev == ppt_tip_pgd);
	pt_pkt_free_decoder(dec);
	buf_fini(&out);
	ptenc_free(e);
}

static void test_write_file(void)
{
	static const uint8_t call[] = {0xe8, 0x03, 0x00, 0x00, 0x00, 0x90, 0x90, 0x90, 0xc3};
	const struct ptenc_step steps[] = {
		{PTENC_RESUME, 0x401000, 0},	  {PTENC_STEP, 0x401000, 0x401008},
		{PTENC_STEP, 0x401008, 0x401005}, {PTENC_STEP, 0x401005, 0x401006},
		{PTENC_STOP, 0x401006, 0},
	};
	struct ptenc_config cfg = PTENC_CONFIG_INIT;
	char path[] = "/tmp/test_pt_encoder_XXXXXX";
	uint8_t bytes[128];
	FILE *f;
	int fd = mkstemp(path);

	memset(code, 0x90, sizeof(code));
	memcpy(code, call, sizeof(call));
	cfg.ring_size = 0;
	CHECK(fd >= 0);
	CHECK(ptenc_write_file(path, &cfg, steps, 5, read_code, NULL) == sizeof(psb_plus) + 7);
	f = fopen(path, "rb");
	CHECK(f && fread(bytes, 1, sizeof(bytes), f) == sizeof(psb_plus) + 7);
	CHECK(bytes[sizeof(psb_plus)] == 0x2d);
	if (f)
		fclose(f);
	close(fd);
	unlink(path);
}

static ssize_t read_nops(void *ctx, uint64_t addr, void *buf, size_t len)
{
	(void)ctx;
	(void)addr;
	memset(buf, 0x90, len);
	return (ssize_t)len;
}

/* A late trap (the step over a nop lands one nop further, as after CPUID in a VM) when the
 * decoded-instruction cache is about to grow: the skipped nop, decoded by linear_reach, is
 * the entry that grows it, which freed the entry ptenc_step still held (ASan: use after free).
 * The numbers follow INSN_CACHE_MIN (1024 slots, grown once half full). */
static void test_late_trap_cache_grow(void)
{
	struct ptenc_config cfg = PTENC_CONFIG_INIT;
	struct ptenc_stats st;
	struct ptenc *e = ptenc_alloc(&cfg, read_nops, NULL);
	uint64_t pc = BASE;

	CHECK(e);
	CHECK(ptenc_resume(e, pc) == 0);
	for (; pc < BASE + 511; pc++) /* 511 distinct instructions */
		CHECK(ptenc_step(e, pc, pc + 1) == 0);
	CHECK(ptenc_step(e, pc, pc + 2) == 0); /* the 512th, then the skipped one in linear_reach */
	ptenc_get_stats(e, &st);
	CHECK(st.instructions == 511 + 2);
	ptenc_free(e);
}

int main(void)
{
	test_late_trap_cache_grow();
	test_spec_sequences();
	test_async();
	test_ring();
	test_write_file();
	CHECK(ptenc_psb_period_bytes(0) == 2048);
	return check_result("test_pt_encoder");
}
