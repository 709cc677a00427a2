/* collector/pt_encoder.c — synthesizes an Intel PT stream from single steps (spec
 * intel-pt.md §2.12): classify the instruction at each step's source with Zydis (cached by
 * address), emit TNT/TIP/FUP/TIP.PGD/TIP.PGE/PSB+ with libipt's encoder into a ring. */
#include "collector/pt_encoder.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <x86intrin.h>

#include <Zydis/Zydis.h>
#include <intel-pt.h>

#define TNT_MAX_BITS 47	    /* a long TNT holds up to 47 results */
#define TNT_SHORT_BITS 6    /* a short TNT up to 6 */
#define LINEAR_FILL_MAX 8   /* instructions a late trap may skip (CPUID in a VM) */
#define INSN_CACHE_MIN 1024 /* initial slots of the decoded-instruction cache */

/* What an instruction means to PT (libipt's ptic_* classes, as far as packets go). */
enum insn_class {
	IC_OTHER,      /* no packet; next IP is the fall-through */
	IC_REP_STRING, /* no packet; traps once per iteration */
	IC_COND,       /* one TNT bit */
	IC_DIRECT,     /* JMP/CALL rel: no packet; next IP is target */
	IC_INDIRECT,   /* JMP/CALL r/m, near RET: TIP(next) */
	IC_FAR,	       /* far CALL/JMP/RET, IRET: TIP(next) */
	IC_SYSCALL,    /* SYSCALL, SYSENTER, INT n: TIP.PGD(suppressed) */
};

struct insn_info {
	uint64_t addr;	 /* 0 = empty slot */
	uint64_t target; /* direct branch target */
	uint8_t len;
	uint8_t cls; /* enum insn_class */
};

struct ptenc {
	struct ptenc_config cfg;
	ptenc_read_fn *read;
	void *read_ctx;
	ZydisDecoder zydis;
	struct pt_encoder *enc;
	uint8_t scratch[64]; /* one packet at a time; the encoder writes here */

	struct insn_info *cache; /* open addressing, linear probing */
	size_t cache_cap, cache_used;

	struct buf data; /* emitted bytes; data[window_start()..] is the trace */
	size_t *psbs;	 /* offsets of PSBs in data, ascending */
	size_t npsbs, cap_psbs;

	bool started; /* initial PSB+ written */
	bool enabled; /* packet generation on (PacketEn) */
	enum pt_packet_type last_type;
	uint64_t last_ip; /* mirrors the decoder's last-IP */
	uint64_t tnt_bits;
	unsigned tnt_n;
	size_t since_psb;
	bool have_pos; /* pos is where the thread is (after the last step/resume) */
	uint64_t pos;
	struct ptenc_stats stats;
};

size_t ptenc_psb_period_bytes(unsigned exponent)
{
	return (size_t)1 << (exponent + 11 > 30 ? 30 : exponent + 11);
}

/* ---- decoded-instruction cache ---- */

static size_t cache_slot(uint64_t addr, size_t cap)
{
	return (size_t)((addr * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
}

static struct insn_info *cache_find(struct ptenc *e, uint64_t addr)
{
	size_t i = cache_slot(addr, e->cache_cap);

	while (e->cache[i].addr) {
		if (e->cache[i].addr == addr)
			return &e->cache[i];
		i = (i + 1) & (e->cache_cap - 1);
	}
	return &e->cache[i];
}

static int cache_grow(struct ptenc *e)
{
	struct insn_info *old = e->cache;
	size_t old_cap = e->cache_cap;

	e->cache = calloc(old_cap * 2, sizeof(*e->cache));
	if (!e->cache) {
		e->cache = old;
		return -ENOMEM;
	}
	e->cache_cap = old_cap * 2;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].addr)
			*cache_find(e, old[i].addr) = old[i];
	free(old);
	return 0;
}

void ptenc_flush_cache(struct ptenc *e)
{
	memset(e->cache, 0, e->cache_cap * sizeof(*e->cache));
	e->cache_used = 0;
}

static enum insn_class classify_zydis(const ZydisDecodedInstruction *in)
{
	switch (in->meta.category) {
	case ZYDIS_CATEGORY_COND_BR:
		/* XBEGIN is COND_BR to Zydis but no branch to PT. */
		return in->mnemonic == ZYDIS_MNEMONIC_XBEGIN ? IC_OTHER : IC_COND;
	case ZYDIS_CATEGORY_UNCOND_BR:
	case ZYDIS_CATEGORY_CALL:
		if (in->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR)
			return IC_FAR;
		/* imm is_relative, not ATTRIB_IS_RELATIVE: jmp [rip+x] (PLT) is indirect. */
		return in->raw.imm[0].is_relative ? IC_DIRECT : IC_INDIRECT;
	case ZYDIS_CATEGORY_RET:
		return in->meta.branch_type == ZYDIS_BRANCH_TYPE_NEAR ? IC_INDIRECT : IC_FAR;
	case ZYDIS_CATEGORY_SYSCALL:
	case ZYDIS_CATEGORY_INTERRUPT:
		return IC_SYSCALL;
	case ZYDIS_CATEGORY_STRINGOP:
	case ZYDIS_CATEGORY_IOSTRINGOP:
		if (in->attributes &
		    (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE | ZYDIS_ATTRIB_HAS_REPNE))
			return IC_REP_STRING;
		return IC_OTHER;
	default:
		return IC_OTHER;
	}
}

/* The instruction at addr, decoded once and cached. NULL when unreadable or undecodable. */
static const struct insn_info *insn_at(struct ptenc *e, uint64_t addr)
{
	struct insn_info *slot = cache_find(e, addr);
	ZydisDecodedInstruction in;
	uint8_t bytes[ZYDIS_MAX_INSTRUCTION_LENGTH];
	ssize_t n;

	if (slot->addr)
		return slot;
	if (!addr)
		return NULL;
	n = e->read(e->read_ctx, addr, bytes, sizeof(bytes));
	if (n <= 0)
		return NULL;
	if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&e->zydis, NULL, bytes, (ZyanUSize)n, &in)))
		return NULL;
	if ((e->cache_used + 1) * 2 > e->cache_cap) {
		if (cache_grow(e) < 0)
			return NULL;
		slot = cache_find(e, addr);
	}
	slot->addr = addr;
	slot->len = in.length;
	slot->cls = classify_zydis(&in);
	slot->target = 0;
	if (slot->cls == IC_COND || slot->cls == IC_DIRECT)
		slot->target = addr + in.length + (uint64_t)in.raw.imm[0].value.s;
	e->cache_used++;
	return slot;
}

/* ---- packet output ---- */

static int psb_list_add(struct ptenc *e, size_t off)
{
	if (e->npsbs == e->cap_psbs) {
		size_t cap = e->cap_psbs ? e->cap_psbs * 2 : 16;
		size_t *p = realloc(e->psbs, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		e->psbs = p;
		e->cap_psbs = cap;
	}
	e->psbs[e->npsbs++] = off;
	return 0;
}

/* Offset in data where the readable trace starts: the oldest PSB within ring_size bytes of
 * the end (or the newest PSB when none fits). */
static size_t window_start(const struct ptenc *e)
{
	if (!e->npsbs)
		return e->data.len;
	if (!e->cfg.ring_size)
		return e->psbs[0];
	for (size_t i = 0; i < e->npsbs; i++)
		if (e->data.len - e->psbs[i] <= e->cfg.ring_size)
			return e->psbs[i];
	return e->psbs[e->npsbs - 1];
}

/* Forget bytes before the window once they use as much memory as the window itself. */
static void ring_trim(struct ptenc *e)
{
	size_t start, i, j;

	if (!e->cfg.ring_size || e->data.len < 2 * e->cfg.ring_size)
		return;
	start = window_start(e);
	if (!start)
		return;
	buf_consume(&e->data, start);
	for (i = 0, j = 0; i < e->npsbs; i++)
		if (e->psbs[i] >= start)
			e->psbs[j++] = e->psbs[i] - start;
	e->npsbs = j;
}

static int emit(struct ptenc *e, const struct pt_packet *pkt)
{
	int n;

	pt_enc_sync_set(e->enc, 0);
	n = pt_enc_next(e->enc, pkt);
	if (n < 0)
		return -EIO;
	buf_append(&e->data, e->scratch, (size_t)n);
	e->since_psb += (size_t)n;
	e->stats.bytes += (uint64_t)n;
	e->last_type = pkt->type;
	return 0;
}

static int emit_tnt(struct ptenc *e)
{
	struct pt_packet pkt = {0};

	if (!e->tnt_n)
		return 0;
	pkt.type = e->tnt_n > TNT_SHORT_BITS ? ppt_tnt_64 : ppt_tnt_8;
	pkt.payload.tnt.bit_size = (uint8_t)e->tnt_n;
	pkt.payload.tnt.payload = e->tnt_bits;
	e->tnt_n = 0;
	e->tnt_bits = 0;
	return emit(e, &pkt);
}

static int add_tnt(struct ptenc *e, bool taken)
{
	e->tnt_bits = (e->tnt_bits << 1) | taken;
	if (++e->tnt_n == TNT_MAX_BITS)
		return emit_tnt(e);
	return 0;
}

/* The cheapest compression the decoder's last-IP can expand back to ip (§2.2). */
static enum pt_ip_compression ip_compression(uint64_t last, uint64_t ip)
{
	if ((last >> 16) == (ip >> 16))
		return pt_ipc_update_16;
	if ((last >> 32) == (ip >> 32))
		return pt_ipc_update_32;
	if ((uint64_t)((int64_t)(ip << 16) >> 16) == ip)
		return pt_ipc_sext_48;
	return pt_ipc_full;
}

/* FUP, TIP, TIP.PGE, TIP.PGD with ip; suppressed for TIP.PGD when ip is 0. */
static int emit_ip(struct ptenc *e, enum pt_packet_type type, uint64_t ip, bool force_full)
{
	struct pt_packet pkt = {0};
	int err = emit_tnt(e);

	if (err)
		return err;
	pkt.type = type;
	pkt.payload.ip.ip = ip;
	if (type == ppt_tip_pgd && !ip) {
		pkt.payload.ip.ipc = pt_ipc_suppressed;
	} else {
		pkt.payload.ip.ipc =
			force_full ? ip_compression(0, ip) : ip_compression(e->last_ip, ip);
		if (force_full && pkt.payload.ip.ipc != pt_ipc_full)
			pkt.payload.ip.ipc = pt_ipc_sext_48;
		e->last_ip = ip;
	}
	return emit(e, &pkt);
}

static int emit_tsc(struct ptenc *e)
{
	struct pt_packet pkt = {0};

	if (!e->cfg.tsc)
		return 0;
	pkt.type = ppt_tsc;
	pkt.payload.tsc.tsc = __rdtsc() & ((1ull << 56) - 1);
	return emit(e, &pkt);
}

/* PSB, [TSC], MODE.Exec 64-bit, [FUP(ip) if enabled], PSBEND. */
static int emit_psb_plus(struct ptenc *e, uint64_t ip)
{
	struct pt_packet pkt = {0};
	int err = emit_tnt(e);

	if (err || (err = psb_list_add(e, e->data.len)))
		return err;
	pkt.type = ppt_psb;
	if ((err = emit(e, &pkt)) || (err = emit_tsc(e)))
		return err;
	pkt.type = ppt_mode;
	pkt.payload.mode.leaf = pt_mol_exec;
	pkt.payload.mode.bits.exec = pt_set_exec_mode(ptem_64bit);
	if ((err = emit(e, &pkt)))
		return err;
	e->last_ip = 0;
	if (e->enabled && (err = emit_ip(e, ppt_fup, ip, true)))
		return err;
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = ppt_psbend;
	if ((err = emit(e, &pkt)))
		return err;
	e->since_psb = 0;
	ring_trim(e);
	return 0;
}

/* A PSB+ when the period is reached; never right after a TIP.PGE (lldb-19 quirk). */
static int maybe_psb(struct ptenc *e, uint64_t next_ip)
{
	int err;

	if (!e->enabled || e->since_psb < e->cfg.psb_period)
		return 0;
	if ((err = emit_tnt(e)))
		return err;
	if (e->last_type == ppt_tip_pge)
		return 0;
	return emit_psb_plus(e, next_ip);
}

static int enable_at(struct ptenc *e, uint64_t ip)
{
	int err;

	if (e->enabled)
		return 0;
	if ((err = emit_tsc(e)))
		return err;
	e->enabled = true;
	return emit_ip(e, ppt_tip_pge, ip, false);
}

static int disable(struct ptenc *e, uint64_t fup_ip)
{
	int err;

	if (!e->enabled)
		return 0;
	if (fup_ip && (err = emit_ip(e, ppt_fup, fup_ip, false)))
		return err;
	e->enabled = false;
	return emit_ip(e, ppt_tip_pgd, 0, false);
}

/* ---- public API ---- */

struct ptenc *ptenc_alloc(const struct ptenc_config *cfg, ptenc_read_fn *read, void *ctx)
{
	struct pt_config pc;
	struct ptenc *e;

	if (!cfg || cfg->size < sizeof(*cfg) || !read)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->cfg = *cfg;
	if (!e->cfg.psb_period)
		e->cfg.psb_period = PTENC_DEFAULT_PSB_PERIOD;
	if (e->cfg.ring_size && e->cfg.psb_period > e->cfg.ring_size / 4)
		e->cfg.psb_period = e->cfg.ring_size / 4;
	if (e->cfg.psb_period < 64)
		e->cfg.psb_period = 64;
	e->read = read;
	e->read_ctx = ctx;
	buf_init(&e->data);
	ZydisDecoderInit(&e->zydis, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	ZydisDecoderEnableMode(&e->zydis, ZYDIS_DECODER_MODE_MINIMAL, ZYAN_TRUE);
	pt_config_init(&pc);
	pc.begin = e->scratch;
	pc.end = e->scratch + sizeof(e->scratch);
	e->enc = pt_alloc_encoder(&pc);
	e->cache_cap = INSN_CACHE_MIN;
	e->cache = calloc(e->cache_cap, sizeof(*e->cache));
	if (!e->enc || !e->cache) {
		ptenc_free(e);
		return NULL;
	}
	return e;
}

void ptenc_free(struct ptenc *e)
{
	if (!e)
		return;
	pt_free_encoder(e->enc);
	free(e->cache);
	free(e->psbs);
	buf_fini(&e->data);
	free(e);
}

int ptenc_resume(struct ptenc *e, uint64_t pc)
{
	e->have_pos = true;
	e->pos = pc;
	if (e->started)
		return 0; /* TIP.PGE comes with the first executed instruction */
	e->started = true;
	e->enabled = true;
	return emit_psb_plus(e, pc);
}

int ptenc_async(struct ptenc *e, uint64_t from_pc, uint64_t to_pc)
{
	(void)to_pc; /* TIP.PGE(to) is emitted when it executes */
	e->stats.async++;
	return disable(e, from_pc);
}

int ptenc_stop(struct ptenc *e, uint64_t pc)
{
	/* A stop away from the last position means a step went unreported (a signal stop
	 * right after a syscall, say): account for it first. */
	if (e->have_pos && pc != e->pos) {
		int err = ptenc_step(e, e->pos, pc);

		if (err < 0 && err != -EFAULT)
			return err;
	}
	return disable(e, pc);
}

/* True when to is reached from the fall-through by linear non-branch instructions only. */
static bool linear_reach(struct ptenc *e, uint64_t ip, uint64_t to, unsigned *count)
{
	for (unsigned i = 0; i < LINEAR_FILL_MAX; i++) {
		const struct insn_info *in;

		if (ip == to) {
			*count = i;
			return true;
		}
		in = insn_at(e, ip);
		if (!in || in->cls != IC_OTHER)
			return false;
		ip += in->len;
	}
	return false;
}

int ptenc_step(struct ptenc *e, uint64_t from, uint64_t to)
{
	const struct insn_info *slot;
	struct insn_info in; /* a copy: linear_reach may grow the cache and free the slot */
	uint64_t next;
	unsigned extra = 0;
	int err = 0;

	e->stats.steps++;
	if (!e->started && (err = ptenc_resume(e, from)))
		return err;
	e->have_pos = true;
	e->pos = to;
	slot = insn_at(e, from);
	if (!slot)
		return ptenc_async(e, from, to) ?: -EFAULT;
	in = *slot;
	next = from + in.len;

	switch (in.cls) {
	case IC_OTHER:
	case IC_REP_STRING:
		if (to == from)
			return 0; /* REP iteration or a trap without progress */
		if (to != next && !linear_reach(e, next, to, &extra))
			return ptenc_async(e, from, to);
		break;
	case IC_COND:
		if (to != next && to != in.target)
			return ptenc_async(e, from, to);
		break;
	case IC_DIRECT:
		if (to != in.target)
			return ptenc_async(e, from, to);
		break;
	default:
		break;
	}

	if ((err = enable_at(e, from)))
		return err;
	e->stats.instructions += 1 + extra;
	switch (in.cls) {
	case IC_COND:
		err = add_tnt(e, to != next);
		break;
	case IC_INDIRECT:
	case IC_FAR:
		err = emit_ip(e, ppt_tip, to, false);
		break;
	case IC_SYSCALL:
		e->enabled = false;
		err = emit_ip(e, ppt_tip_pgd, 0, false);
		break;
	default:
		break;
	}
	if (err)
		return err;
	return maybe_psb(e, to);
}

size_t ptenc_size(const struct ptenc *e)
{
	return e->data.len - window_start(e);
}

ssize_t ptenc_read(struct ptenc *e, struct buf *out)
{
	size_t start = window_start(e);

	if (e->data.len > start) /* nothing encoded yet: data may still be NULL */
		buf_append(out, e->data.data + start, e->data.len - start);
	return (ssize_t)(e->data.len - start);
}

void ptenc_get_stats(const struct ptenc *e, struct ptenc_stats *out)
{
	*out = e->stats;
}

int ptenc_replay(struct ptenc *e, const struct ptenc_step *steps, size_t n)
{
	int ret = 0;

	for (size_t i = 0; i < n && ret >= 0; i++) {
		const struct ptenc_step *s = &steps[i];

		switch (s->kind) {
		case PTENC_STEP:
			ret = ptenc_step(e, s->from, s->to);
			break;
		case PTENC_ASYNC:
			ret = ptenc_async(e, s->from, s->to);
			break;
		case PTENC_RESUME:
			ret = ptenc_resume(e, s->from);
			break;
		case PTENC_STOP:
			ret = ptenc_stop(e, s->from);
			break;
		}
		if (ret == -EFAULT)
			ret = 0; /* unreadable instruction: treated as an async transfer */
	}
	return ret < 0 ? ret : 0;
}

ssize_t ptenc_write_file(const char *path, const struct ptenc_config *cfg,
			 const struct ptenc_step *steps, size_t n, ptenc_read_fn *read, void *ctx)
{
	struct ptenc_config c = *cfg;
	struct buf out = BUF_INIT;
	struct ptenc *e;
	ssize_t ret = 0;
	int fd;

	c.size = sizeof(c);
	e = ptenc_alloc(&c, read, ctx);
	if (!e)
		return -ENOMEM;
	ret = ptenc_replay(e, steps, n);
	if (ret >= 0)
		ret = ptenc_read(e, &out);
	ptenc_free(e);
	if (ret < 0)
		goto out;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	for (size_t off = 0; off < out.len;) {
		ssize_t w = write(fd, out.data + off, out.len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			ret = w < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)w;
	}
	if (close(fd) < 0 && ret >= 0)
		ret = -errno;
out:
	buf_fini(&out);
	return ret;
}
