/* tests/unit/test_soft_pt.c — the software collector through collector_ops over a fake target:
 * trace_steps wiring, trace read equal to the advertised size, cpuinfo, process tracing of
 * new threads within the limit, and the error sentences of bad requests. */
#include <errno.h>
#include <string.h>

#include "collector/collector.h"
#include "server/target.h"
#include "tests/unit/check.h"

#define BASE 0x401000u

struct fake {
	struct target t;
	const struct tgt_step_observer *obs[4]; /* by tid - 100 */
};

/* xor eax,eax; jmp +3; add eax,1; cmp eax,1; jle -8; nop */
static const uint8_t code[] = {0x31, 0xc0, 0xeb, 0x03, 0x83, 0xc0, 0x01,
			       0x83, 0xf8, 0x01, 0x7e, 0xf8, 0x90, 0x90};

static ssize_t fake_read(struct target *t, uint64_t addr, void *buf, size_t len)
{
	(void)t;
	if (addr < BASE || addr >= BASE + sizeof(code))
		return -EIO;
	if (len > BASE + sizeof(code) - addr)
		len = BASE + sizeof(code) - addr;
	memcpy(buf, code + (addr - BASE), len);
	return (ssize_t)len;
}

static int fake_threads(struct target *t, pid_t *tids, size_t max)
{
	(void)t;
	for (size_t i = 0; i < 2 && i < max; i++)
		tids[i] = 100 + (pid_t)i;
	return 2;
}

static int fake_trace_steps(struct target *t, pid_t tid, const struct tgt_step_observer *obs)
{
	struct fake *f = (struct fake *)t;

	if (tid < 100 || tid > 103)
		return -ESRCH;
	f->obs[tid - 100] = obs;
	return 0;
}

static const struct target_ops fake_ops = {
	.name = "fake",
	.threads = fake_threads,
	.read_memory = fake_read,
	.trace_steps = fake_trace_steps,
};

/* Runs the loop on tid through its observer, as the live target would. */
static void run_loop(struct fake *f, pid_t tid)
{
	static const uint64_t pcs[] = {0x401000, 0x401002, 0x401007, 0x40100a, 0x401004, 0x401007,
				       0x40100a, 0x401004, 0x401007, 0x40100a, 0x40100c};
	const struct tgt_step_observer *o = f->obs[tid - 100];

	CHECK(o);
	if (!o)
		return;
	o->resumed(o->ctx, tid, pcs[0]);
	for (size_t i = 0; i + 1 < sizeof(pcs) / sizeof(pcs[0]); i++)
		o->step(o->ctx, tid, pcs[i], pcs[i + 1]);
	o->stopped(o->ctx, tid, 0x40100c);
}

int main(void)
{
	struct fake f = {{&fake_ops, ""}, {NULL}};
	struct col_config cfg = COL_CONFIG_INIT;
	struct col_thread_state ts[4];
	struct collector *c;
	struct col_state st;
	struct col_cpu cpu;
	struct buf out = BUF_INIT;
	char err[256];

	CHECK(col_create(COL_BACKEND_SW, &f.t, "/nonexistent", &c, err, sizeof(err)) == 0);
	CHECK(!strcmp(c->ops->name, "software-pt"));
	CHECK(strstr(c->warnings, "software backend"));

	/* thread tracing */
	CHECK(c->ops->start_thread(c, 100, &cfg) == 0);
	CHECK(c->ops->start_thread(c, 100, &cfg) == -EEXIST);
	CHECK(!strcmp(c->error, "Thread 100 already traced"));
	cfg.trace_size = 1000;
	CHECK(c->ops->start_thread(c, 101, &cfg) == -EINVAL);
	CHECK(strstr(c->error, "It was 1000."));
	cfg.trace_size = 4096;
	run_loop(&f, 100);
	c->ops->state(c, &st);
	CHECK(!st.process_traced && st.nthreads == 1);
	CHECK(c->ops->threads(c, ts, 4) == 1 && ts[0].tid == 100);
	CHECK(c->ops->read_thread(c, 100, &out) == (ssize_t)ts[0].trace_size);
	CHECK(out.len == 27 + 5 && !memcmp(out.data + 27, "\x1c\x3d\x0c\x10\x01", 5));
	CHECK(c->ops->read_thread(c, 101, &out) == -ENOENT);
	CHECK(!strcmp(c->error, "Thread 101 not currently traced"));
	CHECK(c->ops->stop_thread(c, 101) == -ENOENT);
	CHECK(c->ops->stop_thread(c, 100) == 0 && !f.obs[0]);

	/* process tracing: current threads, then new ones up to the limit */
	cfg.per_cpu = true;
	CHECK(c->ops->start_process(c, &cfg) == -EOPNOTSUPP);
	cfg.per_cpu = false;
	cfg.process_buffer_size_limit = 3 * 4096;
	CHECK(c->ops->start_process(c, &cfg) == 0);
	CHECK(c->ops->start_process(c, &cfg) == -EEXIST);
	CHECK(c->ops->start_thread(c, 101, &cfg) == -EEXIST);
	CHECK(strstr(c->error, "Thread with tid 101 is currently traced"));
	CHECK(c->ops->thread_created(c, 102) == 0);
	CHECK(c->ops->thread_created(c, 103) == -ENOSPC);
	CHECK(strstr(c->error, "Thread 103 can't be traced as the process trace size limit"));
	run_loop(&f, 102);
	c->ops->thread_exited(c, 102);
	c->ops->state(c, &st);
	CHECK(st.process_traced && st.nthreads == 3);
	buf_reset(&out);
	CHECK(c->ops->read_thread(c, 102, &out) == 32);
	CHECK(c->ops->read_cpu(c, 0, COL_DATA_IPT, &out) == -EOPNOTSUPP);
	CHECK(c->ops->stop_all(c) == 0);
	c->ops->state(c, &st);
	CHECK(!st.process_traced && st.nthreads == 0);

	/* the emulated cpu decoders accept */
	buf_reset(&out);
	CHECK(c->ops->cpu_info(c, &out) == 0);
	CHECK(strstr(out.data, "vendor_id\t: GenuineIntel") && strstr(out.data, "model\t\t: 122"));
	c->ops->cpu_identity(c, &cpu);
	CHECK(!strcmp(cpu.vendor, "GenuineIntel") && cpu.family == 6 && cpu.model == 122);
	buf_fini(&out);
	col_destroy(c);
	return check_result("test_soft_pt");
}
