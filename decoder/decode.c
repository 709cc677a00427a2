/* decoder/decode.c — PT bytes to records with libipt's block decoder. Large buffers are cut at
 * PSBs into chunks decoded on worker threads; each chunk follows linear code past its end up to
 * the next chunk's sync IP (spec §3.10), and the chunks are joined into one record list. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <intel-pt.h>

#include "decoder/decoder.h"
#include "decoder/internal.h"

#define DEC_MIN_SEGMENT (64 * 1024)
#define DEC_CHUNKS_PER_THREAD 4

void dec_trace_init(struct dec_trace *t)
{
	memset(t, 0, sizeof(*t));
}

/* Records live in their own mapping, backed by huge pages where the kernel allows: a large
 * decode writes hundreds of megabytes, and 4 KiB page faults would cost more than decoding. */
#define TRACE_GRANULE (2u << 20)

void dec_trace_fini(struct dec_trace *t)
{
	if (t->recs)
		munmap(t->recs, t->cap * sizeof(*t->recs));
	dec_trace_init(t);
}

static int trace_reserve(struct dec_trace *t, size_t extra)
{
	size_t bytes = t->cap ? t->cap * sizeof(*t->recs) : TRACE_GRANULE;
	void *p;

	if (t->n + extra <= t->cap)
		return 0;
	while (bytes < (t->n + extra) * sizeof(*t->recs))
		bytes *= 2;
	if (t->recs)
		p = mremap(t->recs, t->cap * sizeof(*t->recs), bytes, MREMAP_MAYMOVE);
	else
		p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	madvise(p, bytes, MADV_HUGEPAGE);
	t->recs = p;
	t->cap = bytes / sizeof(*t->recs);
	return 0;
}

int dec_trace_push(struct dec_trace *t, const struct dec_record *rec)
{
	struct dec_record *r;

	if (t->n == t->cap && trace_reserve(t, 1))
		return -ENOMEM;
	r = &t->recs[t->n++];
	*r = *rec;
	r->insn = t->ninsn;
	if (rec->kind == DEC_REC_BLOCK)
		t->ninsn += rec->ninsn;
	else if (rec->kind == DEC_REC_GAP)
		t->ngaps++;
	if (rec->tsc)
		t->has_tsc = true;
	return 0;
}

uint64_t dec_page(uint64_t total, uint64_t offset, uint64_t count, bool from_newest,
		  uint64_t *first)
{
	uint64_t n;

	*first = 0;
	if (offset >= total)
		return 0;
	n = total - offset < count ? total - offset : count;
	*first = from_newest ? total - offset - n : offset;
	return n;
}

size_t dec_trace_find_insn(const struct dec_trace *t, uint64_t insn)
{
	size_t lo = 0, hi = t->n;

	/* The last record whose first instruction is <= insn. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (t->recs[mid].insn <= insn)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo > 0) {
		const struct dec_record *r = &t->recs[--lo];

		if (r->kind == DEC_REC_BLOCK)
			return insn < r->insn + r->ninsn ? lo : t->n;
	}
	return t->n;
}

ssize_t dec_psb_offsets(const void *pt, size_t len, uint64_t **out)
{
	struct pt_packet_decoder *pkt;
	struct pt_config cfg;
	uint64_t *offs = NULL, off;
	size_t n = 0, cap = 0;

	pt_config_init(&cfg);
	cfg.begin = (uint8_t *)pt;
	cfg.end = (uint8_t *)pt + len;
	*out = NULL;
	pkt = pt_pkt_alloc_decoder(&cfg);
	if (!pkt)
		return -ENOMEM;
	while (pt_pkt_sync_forward(pkt) >= 0) {
		if (pt_pkt_get_sync_offset(pkt, &off) < 0)
			break;
		if (n == cap) {
			uint64_t *p = realloc(offs, (cap = cap ? 2 * cap : 64) * sizeof(*p));

			if (!p) {
				free(offs);
				pt_pkt_free_decoder(pkt);
				return -ENOMEM;
			}
			offs = p;
		}
		offs[n++] = off;
	}
	pt_pkt_free_decoder(pkt);
	*out = offs;
	return (ssize_t)n;
}

/* One decoding job: trace bytes [begin, end) of the buffer. When stop_ip is set, the linear
 * code after the last packet is followed only up to stop_ip (where the next job begins). */
struct decode_job {
	size_t at;	       /* merge: where its records go in the output */
	uint64_t base;	       /* merge: instructions before its first */
	struct dec_trace *dst; /* merge: the output */
	struct dec_image *img;
	const struct dec_options *opts; /* may be NULL */
	const uint8_t *pt;
	size_t begin, end;
	bool has_stop_ip;
	uint64_t stop_ip;
	struct dec_trace out;
	int err;
};

static void event_record(const struct pt_event *ev, struct dec_record *r)
{
	memset(r, 0, sizeof(*r));
	r->kind = DEC_REC_EVENT;
	switch (ev->type) {
	case ptev_enabled:
		r->event = ev->variant.enabled.resumed ? DEC_EV_RESUMED : DEC_EV_ENABLED;
		r->ip = ev->variant.enabled.ip;
		break;
	case ptev_disabled:
		r->event = DEC_EV_DISABLED;
		r->ip = ev->ip_suppressed ? 0 : ev->variant.disabled.ip;
		break;
	case ptev_async_disabled:
		r->event = DEC_EV_ASYNC_DISABLED;
		r->ip = ev->variant.async_disabled.at;
		break;
	case ptev_overflow:
		r->event = DEC_EV_OVERFLOW;
		r->ip = ev->ip_suppressed ? 0 : ev->variant.overflow.ip;
		break;
	case ptev_exec_mode:
		r->event = DEC_EV_EXEC_MODE;
		r->ip = ev->variant.exec_mode.ip;
		break;
	default:
		r->kind = 0; /* not recorded */
		break;
	}
}

static uint64_t decoder_tsc(struct pt_block_decoder *dec)
{
	uint64_t tsc = 0;
	uint32_t lost_mtc, lost_cyc;

	if (pt_blk_time(dec, &tsc, &lost_mtc, &lost_cyc) < 0)
		return 0;
	return tsc;
}

static uint64_t decoder_offset(struct pt_block_decoder *dec, const struct decode_job *job)
{
	uint64_t off = 0;

	pt_blk_get_offset(dec, &off);
	return job->begin + off;
}

/* Pushes a block of the linear tail, cut before stop_ip. Returns 1 once stop_ip was reached. */
static int push_tail_block(struct decode_job *job, struct dec_walker *w, struct dec_record *r)
{
	struct dec_insn insns[64];
	uint64_t prev_ip = 0;
	uint32_t done = 0;

	while (done < r->ninsn) {
		ssize_t n = dec_walker_block(w, r, done, insns, 64);

		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++, done++) {
			if (insns[i].ip != job->stop_ip) {
				prev_ip = insns[i].ip;
				continue;
			}
			if (!done)
				return 1;
			r->ninsn = done;
			r->end_ip = prev_ip;
			return dec_trace_push(&job->out, r) < 0 ? -ENOMEM : 1;
		}
	}
	return dec_trace_push(&job->out, r) < 0 ? -ENOMEM : 0;
}

/* Decodes from one sync point until the decoder stops (end of trace or an error). Returns the
 * final libipt status. */
static int decode_from_sync(struct decode_job *job, struct pt_block_decoder *dec,
			    struct dec_walker *w, int status)
{
	bool tail = false;

	for (;;) {
		struct pt_block block;
		struct dec_record r;

		while (status & pts_event_pending) {
			struct pt_event ev;

			status = pt_blk_event(dec, &ev, sizeof(ev));
			if (status < 0)
				return status;
			event_record(&ev, &r);
			if (!r.kind)
				continue;
			r.tsc = ev.has_tsc ? ev.tsc : decoder_tsc(dec);
			r.offset = decoder_offset(dec, job);
			if (dec_trace_push(&job->out, &r))
				return -pte_nomem;
		}
		status = pt_blk_next(dec, &block, sizeof(block));
		if (block.ninsn) {
			memset(&r, 0, sizeof(r));
			r.kind = DEC_REC_BLOCK;
			r.ip = block.ip;
			r.end_ip = block.end_ip;
			r.ninsn = block.ninsn;
			r.mode = (uint8_t)block.mode;
			r.tsc = decoder_tsc(dec);
			if (tail && job->has_stop_ip) {
				int done = push_tail_block(job, w, &r);

				if (done)
					return done < 0 ? -pte_nomem : -pte_eos;
			} else if (dec_trace_push(&job->out, &r)) {
				return -pte_nomem;
			}
		}
		if (status < 0)
			return status;
		if (status & pts_eos)
			tail = true;
	}
}

/* Errata workarounds for the CPU that wrote the trace; an unknown CPU gets none. */
static void config_cpu(struct pt_config *cfg, const struct dec_options *o)
{
	if (!o || !o->cpu_family)
		return;
	cfg->cpu.vendor = o->cpu_intel ? pcv_intel : pcv_unknown;
	cfg->cpu.family = o->cpu_family;
	cfg->cpu.model = o->cpu_model;
	cfg->cpu.stepping = o->cpu_stepping;
	if (pt_cpu_errata(&cfg->errata, &cfg->cpu) < 0)
		memset(&cfg->errata, 0, sizeof(cfg->errata));
}

static void *decode_job_run(void *arg)
{
	struct decode_job *job = arg;
	struct pt_block_decoder *dec = NULL;
	struct pt_image *img = NULL;
	struct dec_walker *w = NULL;
	struct pt_config cfg;
	int status;

	pt_config_init(&cfg);
	cfg.begin = (uint8_t *)job->pt + job->begin;
	cfg.end = (uint8_t *)job->pt + job->end;
	config_cpu(&cfg, job->opts);
	dec = pt_blk_alloc_decoder(&cfg);
	w = dec_walker_alloc(job->img);
	if (!dec || !w)
		goto nomem;
	/* libipt objects are not thread-safe: every job decodes over its own image copy. */
	img = pt_image_alloc("job");
	if (!img || pt_image_copy(img, dec_image_pt(job->img)) < 0)
		goto nomem;
	dec_image_set_callback(job->img, img);
	pt_blk_set_image(dec, img);
	for (;;) {
		struct dec_record r;

		status = pt_blk_sync_forward(dec);
		if (status < 0)
			break;
		status = decode_from_sync(job, dec, w, status);
		if (status == -pte_eos)
			break;
		if (status == -pte_nomem)
			goto nomem;
		memset(&r, 0, sizeof(r));
		r.kind = DEC_REC_GAP;
		r.error = (int8_t)status;
		r.offset = decoder_offset(dec, job);
		r.tsc = decoder_tsc(dec);
		if (dec_trace_push(&job->out, &r))
			goto nomem;
	}
	goto out;
nomem:
	job->err = -ENOMEM;
out:
	pt_blk_free_decoder(dec);
	pt_image_free(img);
	dec_walker_free(w);
	return NULL;
}

/* Copies a job's records to their place in the output, renumbering instruction indices. */
static void *merge_job_run(void *arg)
{
	struct decode_job *job = arg;
	struct dec_record *to = job->dst->recs + job->at;

	for (size_t i = 0; i < job->out.n; i++) {
		to[i] = job->out.recs[i];
		to[i].insn += job->base;
	}
	dec_trace_fini(&job->out);
	return NULL;
}

/* Workers take the next job until none is left. */
struct job_queue {
	struct decode_job *jobs;
	size_t n;
	size_t next;		 /* atomically incremented */
	void *(*run)(void *job); /* decode_job_run or merge_job_run */
};

static void *worker_run(void *arg)
{
	struct job_queue *q = arg;
	size_t i;

	while ((i = __atomic_fetch_add(&q->next, 1, __ATOMIC_RELAXED)) < q->n)
		q->run(&q->jobs[i]);
	return NULL;
}

/* Runs every job of q on the calling thread and up to threads - 1 more. */
static void run_jobs(struct job_queue *q, pthread_t *tids, unsigned threads)
{
	size_t i, started = 0;

	for (i = 0; i + 1 < threads && i + 1 < q->n; i++, started++)
		if (pthread_create(&tids[i], NULL, worker_run, q))
			break;
	worker_run(q);
	for (i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
}

/* Appends the jobs' records to out: an empty out takes a lone job's mapping as it is, else
 * out grows once and the workers copy their parts in parallel. */
static int merge_jobs(struct dec_trace *out, struct decode_job *jobs, size_t njobs, pthread_t *tids,
		      unsigned threads)
{
	struct job_queue q = {jobs, njobs, 0, merge_job_run};
	size_t n = 0;
	uint64_t ninsn = 0;

	if (njobs == 1 && out->n == 0) {
		dec_trace_fini(out);
		*out = jobs[0].out;
		dec_trace_init(&jobs[0].out);
		return 0;
	}
	for (size_t i = 0; i < njobs; i++) {
		jobs[i].dst = out;
		jobs[i].at = out->n + n;
		jobs[i].base = out->ninsn + ninsn;
		n += jobs[i].out.n;
		ninsn += jobs[i].out.ninsn;
	}
	if (trace_reserve(out, n))
		return -ENOMEM;
	for (size_t i = 0; i < njobs; i++) {
		out->ngaps += jobs[i].out.ngaps;
		out->has_tsc |= jobs[i].out.has_tsc;
	}
	run_jobs(&q, tids, threads);
	out->n += n;
	out->ninsn += ninsn;
	return 0;
}

/* The IP a PSB at off synchronizes to (its PSB+ FUP); false when tracing is off there. */
static bool psb_sync_ip(const uint8_t *pt, size_t len, uint64_t off, uint64_t *ip)
{
	struct pt_query_decoder *q;
	struct pt_config cfg;
	int status;

	pt_config_init(&cfg);
	cfg.begin = (uint8_t *)pt;
	cfg.end = (uint8_t *)pt + len;
	q = pt_qry_alloc_decoder(&cfg);
	if (!q)
		return false;
	status = pt_qry_sync_set(q, ip, off);
	pt_qry_free_decoder(q);
	return status >= 0 && !(status & pts_ip_suppressed);
}

/* Splits into chunks of whole PSB segments, about len / nchunks bytes each. */
static size_t plan_chunks(const uint8_t *pt, size_t len, const uint64_t *psb, size_t npsb,
			  size_t nchunks, size_t min_bytes, struct decode_job *jobs)
{
	size_t n = 0, i;
	size_t want = len / nchunks > min_bytes ? len / nchunks : min_bytes;

	for (i = 0; i < npsb; i++) {
		if (n && psb[i] - jobs[n - 1].begin < want)
			continue;
		if (n)
			jobs[n - 1].end = psb[i];
		jobs[n].begin = n ? psb[i] : 0;
		n++;
	}
	if (!n)
		jobs[n++].begin = 0;
	jobs[n - 1].end = len;
	for (i = 0; i + 1 < n; i++)
		jobs[i].has_stop_ip = psb_sync_ip(pt, len, jobs[i + 1].begin, &jobs[i].stop_ip);
	return n;
}

int dec_decode(struct dec_image *img, const void *pt, size_t len, const struct dec_options *opts,
	       struct dec_trace *out)
{
	unsigned threads = opts && opts->threads > 1 ? opts->threads : 1;
	size_t min_bytes = opts && opts->min_segment ? opts->min_segment : DEC_MIN_SEGMENT;
	struct decode_job *jobs;
	pthread_t *tids;
	uint64_t *psb = NULL;
	ssize_t npsb = 0;
	size_t njobs, i;
	int err = 0;

	if (!img || (!pt && len))
		return -EINVAL;
	if (!len)
		return 0;
	if (threads > 1 && len >= 2 * min_bytes) {
		npsb = dec_psb_offsets(pt, len, &psb);
		if (npsb < 0)
			return (int)npsb;
	}
	njobs = npsb > 1 ? (size_t)threads * DEC_CHUNKS_PER_THREAD : 1;
	jobs = calloc(njobs, sizeof(*jobs));
	tids = calloc(threads, sizeof(*tids));
	if (!jobs || !tids) {
		err = -ENOMEM;
		goto out;
	}
	njobs = plan_chunks(pt, len, psb, (size_t)(npsb > 0 ? npsb : 0), njobs, min_bytes, jobs);
	for (i = 0; i < njobs; i++) {
		jobs[i].img = img;
		jobs[i].opts = opts;
		jobs[i].pt = pt;
		dec_trace_init(&jobs[i].out);
	}
	if (njobs == 1) {
		decode_job_run(&jobs[0]);
	} else {
		struct job_queue q = {jobs, njobs, 0, decode_job_run};

		run_jobs(&q, tids, threads);
	}
	for (i = 0; i < njobs && !err; i++)
		err = jobs[i].err;
	if (!err)
		err = merge_jobs(out, jobs, njobs, tids, threads);
	for (i = 0; i < njobs; i++)
		dec_trace_fini(&jobs[i].out);
out:
	free(jobs);
	free(tids);
	free(psb);
	return err;
}
