/* decoder/decoder.h — Intel PT decoding inside the server: a code image built from a target's
 * mappings, the libipt block decoder (single or split over worker threads), instruction
 * expansion, symbols and lines, disassembly, a call tree and JSON / Chrome-trace exports.
 *
 * Conventions: functions return 0 (or a count) on success and a negative errno on failure,
 * except where a libipt error is meant (said so: negative pt_error_code, name via
 * dec_errstr). No function here uses ptrace: memory the files do not hold comes from a
 * caller-supplied read callback, so a live target and a recorded bundle are served alike. */
#ifndef PTSTUB_DECODER_DECODER_H
#define PTSTUB_DECODER_DECODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <yajl/yajl_gen.h>

#include "protocol/buf.h"

struct tgt_region; /* server/target.h */

/* libipt's sentence for a negative libipt error code, and the code's name ("pte_nomap"). */
const char *dec_errstr(int pt_error);
const char *dec_errname(int pt_error);
/* Name of an enum dec_event ("enabled", "disabled", ...). */
const char *dec_event_name(unsigned event);

/* ------------------------------------------------------------------------------------------ */
/* Image: where the decoder reads instruction bytes (image.c).                                 */

/* Reads target memory at addr; returns bytes read or a negative errno. Must be safe to call
 * from several threads at once when parallel decoding is used. */
typedef ssize_t dec_read_fn(void *ctx, uint64_t addr, void *buf, size_t len);

/* A section cache shared by images: a file mapped once serves every later decode. */
struct dec_cache;
struct dec_cache *dec_cache_alloc(void);      /* NULL when out of memory */
void dec_cache_free(struct dec_cache *cache); /* NULL is a no-op; images using it go first */

struct dec_image;

/* Builds an image from regions (ascending or not): each executable region whose path is an
 * absolute file name becomes a cached file section (file offset, size as mapped); executable
 * regions without a usable file (anonymous, [vdso], a file that cannot be opened) are read
 * through read(ctx, ...) when read is non-NULL. cache may be NULL (the image makes its own);
 * otherwise it must outlive the image. regions are copied. */
int dec_image_alloc(struct dec_cache *cache, const struct tgt_region *regions, size_t n,
		    dec_read_fn *read, void *ctx, struct dec_image **out);
void dec_image_free(struct dec_image *img); /* NULL is a no-op */
/* Code bytes at addr: file sections first, then the callback. Bytes read or -EFAULT. */
ssize_t dec_image_read(struct dec_image *img, uint64_t addr, void *buf, size_t len);
/* The regions the image was built from (owned by the image). */
const struct tgt_region *dec_image_regions(const struct dec_image *img, size_t *n);

/* ------------------------------------------------------------------------------------------ */
/* Decoding: records (decode.c).                                                              */

enum dec_rec_kind {
	DEC_REC_BLOCK = 1, /* instructions ip..end_ip, ninsn of them */
	DEC_REC_GAP,	   /* decode error: error = libipt code, offset = trace offset */
	DEC_REC_EVENT,	   /* event: see enum dec_event */
};

enum dec_event {
	DEC_EV_ENABLED,	       /* tracing (re)started at ip (after a syscall: resumed) */
	DEC_EV_RESUMED,	       /* tracing restarted where it stopped (syscall return) */
	DEC_EV_DISABLED,       /* tracing stopped by the instruction before (syscall, int) */
	DEC_EV_ASYNC_DISABLED, /* tracing stopped asynchronously before ip (signal, stop) */
	DEC_EV_OVERFLOW,       /* the CPU lost trace; decoding resumes at ip */
	DEC_EV_EXEC_MODE,      /* execution mode changed at ip */
	DEC_EV_COUNT
};

struct dec_record {
	uint64_t ip;	 /* block: first instruction; event: its ip (0 when unknown) */
	uint64_t end_ip; /* block: last instruction (inclusive) */
	uint64_t insn;	 /* block: index of its first instruction; else instructions before it */
	uint64_t tsc;	 /* last TSC known at this point; 0 when the trace carries none */
	uint64_t offset; /* gaps, events: trace offset where the decoder was; blocks: 0 */
	uint32_t ninsn;	 /* block: instruction count */
	uint8_t kind;	 /* enum dec_rec_kind */
	uint8_t mode;	 /* block: enum pt_exec_mode */
	uint8_t event;	 /* event: enum dec_event */
	int8_t error;	 /* gap: negative libipt error code */
};

struct dec_trace {
	struct dec_record *recs; /* owned by the trace (its own mapping): dec_trace_fini frees */
	size_t n, cap;
	uint64_t ninsn; /* instructions in all blocks */
	uint64_t ngaps;
	bool has_tsc;
};

struct dec_options {
	unsigned threads;   /* worker threads; 0 or 1 = decode on the calling thread */
	size_t min_segment; /* bytes of trace per worker at least; 0 = 64 KiB */
	/* The CPU that wrote the trace, for libipt's errata workarounds (hardware traces); family
	 * 0 = none (software traces). */
	bool cpu_intel;
	uint16_t cpu_family;
	uint8_t cpu_model, cpu_stepping;
};

void dec_trace_init(struct dec_trace *t);
void dec_trace_fini(struct dec_trace *t); /* frees records; t is then empty */

/* Decodes len bytes of PT (the whole buffer, oldest first) over img, appending records to out.
 * Decode errors are records, not failures: returns 0, or -ENOMEM / -EINVAL. opts may be NULL.
 * A parallel decode gives exactly the records of a single-threaded one. */
int dec_decode(struct dec_image *img, const void *pt, size_t len, const struct dec_options *opts,
	       struct dec_trace *out);

/* Offsets of every PSB in the buffer, ascending (*out malloc'd, caller frees). Count or
 * -ENOMEM. */
ssize_t dec_psb_offsets(const void *pt, size_t len, uint64_t **out);

/* Pagination over total items: the window [offset, offset + count) counted from the oldest
 * (from_newest false) or from the newest end. Sets *first to the oldest index in the window
 * and returns how many items it holds (0 when offset is past the end). */
uint64_t dec_page(uint64_t total, uint64_t offset, uint64_t count, bool from_newest,
		  uint64_t *first);

/* Index of the block record holding instruction index insn, or t->n when none does. */
size_t dec_trace_find_insn(const struct dec_trace *t, uint64_t insn);

/* ------------------------------------------------------------------------------------------ */
/* Instructions: expanding blocks with Zydis (disasm.c).                                     */

enum dec_iclass {
	DEC_IC_OTHER,
	DEC_IC_JUMP,	 /* direct unconditional near jump */
	DEC_IC_COND,	 /* conditional near jump, loop, jrcxz */
	DEC_IC_CALL,	 /* direct near call */
	DEC_IC_IND_JUMP, /* indirect near jump */
	DEC_IC_IND_CALL, /* indirect near call */
	DEC_IC_RET,	 /* near return */
	DEC_IC_FAR,	 /* far call/jump/return, iret */
	DEC_IC_SYSCALL,	 /* syscall, sysenter, int n */
	DEC_IC_ERROR,	 /* bytes unreadable or undecodable */
};

struct dec_insn {
	uint64_t ip;
	uint64_t index;	 /* position in the whole trace, 0 = oldest */
	uint64_t target; /* direct branches: destination */
	uint64_t tsc;	 /* the block's TSC (0 without timing) */
	uint8_t size;
	uint8_t mode;	/* enum pt_exec_mode */
	uint8_t iclass; /* enum dec_iclass */
	uint8_t bytes[15];
};

/* Walks instructions out of block records; keeps a cache of decoded instructions by address,
 * so it is cheap to reuse. One walker per thread. */
struct dec_walker;
struct dec_walker *dec_walker_alloc(struct dec_image *img); /* NULL on ENOMEM */
void dec_walker_free(struct dec_walker *w);		    /* NULL is a no-op */
/* Decodes the instruction at ip in mode (enum pt_exec_mode). 0 or -EFAULT / -EILSEQ (then
 * out->iclass is DEC_IC_ERROR). */
int dec_walker_insn(struct dec_walker *w, uint64_t ip, uint8_t mode, struct dec_insn *out);
/* Fills up to max instructions of block rec, skipping its first skip ones, following direct
 * jumps and calls inside the block. Count, or -EILSEQ when the block cannot be walked. */
ssize_t dec_walker_block(struct dec_walker *w, const struct dec_record *rec, uint32_t skip,
			 struct dec_insn *out, size_t max);
/* Instructions [first, first + count) of the trace into out (count entries). Count filled. */
ssize_t dec_trace_insns(struct dec_walker *w, const struct dec_trace *t, uint64_t first,
			size_t count, struct dec_insn *out);

/* Text of one instruction: AT&T (GDB/LLDB's default) or Intel syntax. Length or -EILSEQ. */
int dec_disasm(const struct dec_insn *in, bool intel, char *out, size_t cap);

/* ------------------------------------------------------------------------------------------ */
/* Symbols and source lines (symbols.c, libdw).                                               */

struct dec_symbols;
/* Modules from regions: every file mapped at file offset 0. regions are not kept. */
int dec_symbols_alloc(const struct tgt_region *regions, size_t n, struct dec_symbols **out);
void dec_symbols_free(struct dec_symbols *s); /* NULL is a no-op */

struct dec_symbol {
	const char *function; /* NULL when no symbol covers the address */
	uint64_t start;	      /* the function's address */
	uint64_t size;	      /* the function's size in bytes (0 when unknown) */
	uint64_t offset;      /* addr - start */
	const char *module;   /* file name of the module, NULL when none */
	const char *file;     /* source file (only when asked), NULL when unknown */
	int line;	      /* 0 when unknown */
};
/* Strings stay owned by s and live until dec_symbols_free. 0, or -ENOENT when no module
 * holds addr. With source false, file/line are left empty (cheaper). Not thread-safe. */
int dec_symbols_lookup(struct dec_symbols *s, uint64_t addr, bool source, struct dec_symbol *out);

/* ------------------------------------------------------------------------------------------ */
/* Call tree (calls.c).                                                                       */

struct dec_call {
	uint64_t function;  /* function start (symbol) or, without symbols, the entry address */
	uint64_t entry;	    /* address of the first instruction of the call */
	uint64_t first;	    /* index of its first instruction */
	uint64_t ninsn;	    /* instructions inside, callees included */
	uint64_t tsc_begin; /* 0 without timing */
	uint64_t tsc_end;
	int32_t parent;	 /* index of the caller, -1 for a root (a caller found by a return
			  * past the oldest call comes after its callees in the array) */
	uint32_t depth;	 /* 0 for roots */
	uint32_t ncalls; /* direct callees */
	bool tail;	 /* entered by a jump (tail call), not a call */
	bool truncated;	 /* still running when the trace ended (or a gap cut it) */
};

struct dec_calls {
	struct dec_call *calls; /* in order of entry (preorder); malloc'd, owned */
	size_t n, cap;
	uint32_t max_depth;
};

void dec_calls_init(struct dec_calls *c);
void dec_calls_fini(struct dec_calls *c);
/* Builds the call tree of t: a call instruction opens a callee, a return closes it, a jump into
 * another function (when syms is non-NULL) replaces the current call (tail call). A return
 * past the oldest call adds a new root above the others (its depth renumbered). 0 or
 * -ENOMEM / -EILSEQ. */
int dec_calls_build(struct dec_walker *w, struct dec_symbols *syms, const struct dec_trace *t,
		    struct dec_calls *out);

/* ------------------------------------------------------------------------------------------ */
/* Exports (export.c).                                                                        */

/* TSC to nanoseconds with perf's conversion (struct perf_event_mmap_page time_zero, time_mult,
 * time_shift), when the collector knows it. */
struct dec_tsc_conv {
	uint64_t time_zero;
	uint32_t time_mult;
	uint16_t time_shift;
	bool valid;
};
uint64_t dec_tsc_to_ns(const struct dec_tsc_conv *c, uint64_t tsc);

struct dec_json_opts {
	bool symbols;			     /* "function", "offset" */
	bool source;			     /* "file", "line" */
	bool disassembly;		     /* "text" */
	bool intel;			     /* Intel syntax instead of AT&T */
	bool timestamps;		     /* "tsc" (and "ns" when tsc_conv is valid) */
	const struct dec_tsc_conv *tsc_conv; /* may be NULL */
};

/* Writes a JSON array of the records [first, first + count) into g (blocks, gaps, events). */
int dec_json_records(yajl_gen g, const struct dec_trace *t, size_t first, size_t count,
		     struct dec_symbols *syms, const struct dec_json_opts *o);
/* Writes a JSON array of the instructions [first, first + count) into g. */
int dec_json_insns(yajl_gen g, struct dec_walker *w, const struct dec_trace *t, uint64_t first,
		   uint64_t count, struct dec_symbols *syms, const struct dec_json_opts *o);
/* Writes a JSON array of the calls [first, first + count) into g. */
int dec_json_calls(yajl_gen g, const struct dec_calls *c, size_t first, size_t count,
		   struct dec_symbols *syms);
/* Writes the summary object of a thread's trace: "instructions", "records", "gaps", "errors"
 * (libipt error name -> count), "tsc_first"/"tsc_last" (and "ns_first"/"ns_last" with a valid
 * conv) when timed, "top_functions": [{"function", "address", "instructions"}] (top entries,
 * self counts). */
int dec_json_summary(yajl_gen g, struct dec_walker *w, struct dec_symbols *syms,
		     const struct dec_trace *t, size_t top, const struct dec_tsc_conv *conv);
/* Writes a Chrome trace (Perfetto / chrome://tracing) of the call tree to f: one "X" event per
 * call. Time is TSC ticks scaled by tsc_per_us when the trace has TSC and tsc_per_us > 0,
 * else one microsecond per instruction. */
int dec_chrome_trace(FILE *f, const struct dec_calls *c, struct dec_symbols *syms, int pid, int tid,
		     double tsc_per_us);

/* ------------------------------------------------------------------------------------------ */
/* Views for GDB and people (view.c).                                                         */

struct dec_bts_block {
	uint64_t begin, end; /* first and last instruction (inclusive) of a linear run */
};

/* The trace as GDB's BTS blocks: runs of linear instructions (split at every taken branch),
 * **newest first**; block 0 ends at pc, the thread's current PC (GDB's rule, gdb-protocol.md
 * §10.5). *out malloc'd, caller frees. Count or -ENOMEM / -EILSEQ. */
ssize_t dec_bts_blocks(struct dec_walker *w, const struct dec_trace *t, uint64_t pc,
		       struct dec_bts_block **out);
/* The same for the instructions from index first on (what ran since a read that saw first
 * instructions): a delta's blocks, newest first, ending at pc. */
ssize_t dec_bts_blocks_since(struct dec_walker *w, const struct dec_trace *t, uint64_t first,
			     uint64_t pc, struct dec_bts_block **out);
/* Appends the <btrace> document of blocks (the reply body of qXfer:btrace:read) to out. */
void dec_bts_xml(const struct dec_bts_block *blocks, size_t n, struct buf *out);

struct dec_text_opts {
	bool intel;	 /* Intel syntax instead of AT&T */
	bool source;	 /* file:line in function headers */
	bool timestamps; /* "tsc N" after each instruction with timing */
};

/* Appends instructions [first, first + count) as LLDB's `thread trace dump instructions` prints
 * them: a header line each time the function changes ("  module`fn + off at file:line"), then
 * "    [index] 0xADDRESS <+off>: text"; gaps and events inside the range get their own lines
 * ("    [index] error: pte_nomap: message (trace offset N)", "    [index] event: disabled"). */
int dec_text_insns(struct buf *out, struct dec_walker *w, const struct dec_trace *t, uint64_t first,
		   uint64_t count, struct dec_symbols *syms, const struct dec_text_opts *o);
/* Appends calls [first, first + count): "[index] <indent by depth>fn (entry 0xADDR) insns N
 * [first..last]", like LLDB's `thread trace dump function-calls`. */
void dec_text_calls(struct buf *out, const struct dec_calls *c, size_t first, size_t count,
		    struct dec_symbols *syms);

/* Instructions per function (self, callees excluded), most first. */
struct dec_fn_count {
	uint64_t function; /* start address (or the address itself without a symbol) */
	uint64_t ninsn;
};
/* Fills up to max entries in *out, returns how many. 0..max or -ENOMEM / -EILSEQ. */
ssize_t dec_top_functions(struct dec_walker *w, struct dec_symbols *syms, const struct dec_trace *t,
			  struct dec_fn_count *out, size_t max);

#endif
