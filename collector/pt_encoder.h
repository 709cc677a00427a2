/* collector/pt_encoder.h — turns single-stepped execution into a genuine Intel PT stream.
 * Pure code (no ptrace): fed with (from_pc, to_pc) steps and a memory-read callback, it
 * classifies each instruction (Zydis) and emits packets (libipt encoder) into a ring.
 *
 * Usage (e.g. to make a test trace for the decoder):
 *
 *	struct ptenc_config cfg = PTENC_CONFIG_INIT;   // 4 KiB ring is small: raise ring_size
 *	cfg.ring_size = 1 << 20;
 *	struct ptenc *e = ptenc_alloc(&cfg, my_read_memory, my_ctx);
 *	ptenc_resume(e, first_pc);                    // thread runs traced from first_pc
 *	for each executed instruction: ptenc_step(e, pc, next_pc);
 *	ptenc_stop(e, stop_pc);                       // debugger stop: FUP + TIP.PGD
 *	ptenc_read(e, &buf);                          // bytes, starting at a PSB
 *	ptenc_free(e);
 *
 * or, for a recorded step sequence, ptenc_write_file() does all of that into a file.
 *
 * Errors: negative errno (-ENOMEM, -EINVAL, -EIO when libipt refuses a packet). */
#ifndef PTSTUB_COLLECTOR_PT_ENCODER_H
#define PTSTUB_COLLECTOR_PT_ENCODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "protocol/buf.h"

/* Reads up to len bytes of the traced process at addr; returns the count read (a short
 * read ends at the first unreadable byte) or a negative errno. */
typedef ssize_t ptenc_read_fn(void *ctx, uint64_t addr, void *buf, size_t len);

struct ptenc_config {
	size_t size;	   /* sizeof(struct ptenc_config), for growth */
	size_t ring_size;  /* keep at most about this many of the newest bytes (≥ 4096) */
	size_t psb_period; /* bytes between PSB+ headers; clamped to ring_size / 4 */
	bool tsc;	   /* emit TSC packets (in PSB+ and before TIP.PGE) */
};

#define PTENC_DEFAULT_RING_SIZE 4096
#define PTENC_DEFAULT_PSB_PERIOD 1024
#define PTENC_CONFIG_INIT                                                                          \
	{                                                                                          \
		sizeof(struct ptenc_config), PTENC_DEFAULT_RING_SIZE, PTENC_DEFAULT_PSB_PERIOD,    \
			false                                                                      \
	}

/* Bytes between PSBs for the perf psb_period exponent v (≈ 2^(v+11)), as hardware does. */
size_t ptenc_psb_period_bytes(unsigned exponent);

struct ptenc;

/* Allocates an encoder; cfg is copied. read/ctx are kept for instruction bytes. NULL when
 * out of memory or cfg is invalid. */
struct ptenc *ptenc_alloc(const struct ptenc_config *cfg, ptenc_read_fn *read, void *ctx);
void ptenc_free(struct ptenc *e); /* NULL is a no-op */

/* The thread starts (or continues) running traced at pc. The first call writes the
 * initial PSB+; later ones a TIP.PGE (emitted lazily with the first executed instruction). */
int ptenc_resume(struct ptenc *e, uint64_t pc);

/* The thread went from from_pc to to_pc in one single step. Meaning by the instruction at
 * from_pc: a possible successor => it executed; to == from for a non-branch (REP string
 * iteration, a trap without progress) => nothing new; a non-branch whose to is a few linear
 * instructions ahead => those executed too (late trap after an emulated CPUID); anything
 * else => an asynchronous transfer (signal delivery): from_pc did not execute. */
int ptenc_step(struct ptenc *e, uint64_t from_pc, uint64_t to_pc);

/* Asynchronous transfer: execution left from_pc (not executed) for to_pc (signal handler
 * entry, sigreturn). Emits FUP(from)+TIP.PGD if tracing was on; TIP.PGE(to) follows. */
int ptenc_async(struct ptenc *e, uint64_t from_pc, uint64_t to_pc);

/* The thread stops at pc (debugger stop, exit, trace off): FUP(pc) + TIP.PGD if on. When
 * pc differs from where the last step left the thread, that move is first taken as an
 * unreported step (e.g. a signal stop after a syscall reports no step). */
int ptenc_stop(struct ptenc *e, uint64_t pc);

/* Appends the current trace (newest bytes, beginning at a PSB) to out; returns the count. */
ssize_t ptenc_read(struct ptenc *e, struct buf *out);
/* How many bytes ptenc_read would append now. */
size_t ptenc_size(const struct ptenc *e);

/* Statistics: instructions recorded as executed, steps seen, total bytes ever emitted. */
struct ptenc_stats {
	uint64_t instructions, steps, bytes, async;
};
void ptenc_get_stats(const struct ptenc *e, struct ptenc_stats *out);

/* Drops cached instruction decodings (call after code changes: dlopen, JIT, exec). */
void ptenc_flush_cache(struct ptenc *e);

/* One recorded step for ptenc_write_file: kind says what the pair means. */
enum ptenc_step_kind { PTENC_STEP, PTENC_ASYNC, PTENC_RESUME, PTENC_STOP };
struct ptenc_step {
	enum ptenc_step_kind kind;
	uint64_t from, to; /* RESUME and STOP use from only */
};

/* Feeds steps[0..n) to e in order (an unreadable instruction counts as an asynchronous
 * transfer). 0 or the first other error. */
int ptenc_replay(struct ptenc *e, const struct ptenc_step *steps, size_t n);

/* Encodes steps[0..n) with cfg (ring_size 0 = keep everything) and writes the trace to path.
 * Returns bytes written or a negative errno. */
ssize_t ptenc_write_file(const char *path, const struct ptenc_config *cfg,
			 const struct ptenc_step *steps, size_t n, ptenc_read_fn *read, void *ctx);

#endif
