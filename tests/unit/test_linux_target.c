/* tests/unit/test_linux_target.c — the live Linux target against real processes: launch and
 * first stop, registers, a breakpoint found through the ELF symbol table, hit/step/continue to
 * exit, all-stop with threads, SIGSEGV, attach/detach, kill and a failed exec. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "server/linux/linux_target.h" /* lx_handle_status: the kill race below */
#include "server/loop.h"
#include "server/target.h"
#include "tests/unit/check.h"

static const char *prog;
static struct loop *loop;
static struct tgt_event last;
static bool got_event;

static void on_event(void *ctx, const struct tgt_event *ev)
{
	(void)ctx;
	last = *ev;
	got_event = true;
	loop_stop(loop, 0);
}

static void on_timeout(struct loop *l, void *data)
{
	(void)data;
	loop_stop(l, 1);
}

static const struct tgt_callbacks callbacks = {.on_event = on_event};

/* Run the loop until the target reports; false on a 5 s timeout. */
static bool wait_event(void)
{
	int64_t timer = loop_add_timer(loop, 5000, on_timeout, NULL);

	got_event = false;
	loop_run(loop);
	if (got_event)
		loop_del_timer(loop, timer);
	return got_event;
}

/* st_value of a symbol in the program's ELF file. */
static uint64_t elf_symbol(const char *path, const char *name)
{
	int fd = open(path, O_RDONLY);
	Elf *elf;
	Elf_Scn *scn = NULL;
	uint64_t value = 0;

	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	while (elf && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB)
			continue;
		data = elf_getdata(scn, NULL);
		for (size_t i = 0; data && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;

			gelf_getsym(data, (int)i, &sym);
			if (!strcmp(elf_strptr(elf, sh.sh_link, sym.st_name), name))
				value = sym.st_value;
		}
	}
	elf_end(elf);
	close(fd);
	return value;
}

/* Load bias of the program: start of its mapping at file offset 0. */
static uint64_t load_bias(struct target *t)
{
	char real[PATH_MAX];
	struct tgt_region *r;
	size_t n;
	uint64_t bias = 0;

	if (!realpath(prog, real) || t->ops->regions(t, &r, &n) < 0)
		return 0;
	for (size_t i = n; i-- > 0;)
		if (!strcmp(r[i].path, real) && r[i].offset == 0)
			bias = r[i].start;
	free(r);
	return bias;
}

static struct target *launch(const char *mode)
{
	char *argv[] = {(char *)prog, (char *)mode, NULL};
	struct tgt_launch_opts o = {.argv = argv, .stdio_to_stderr = true};
	struct target *t = NULL;
	char err[256];
	int r = linux_target_launch(loop, &o, &callbacks, &t, err, sizeof(err));

	if (r < 0)
		fprintf(stderr, "launch: %s\n", err);
	return r < 0 ? NULL : t;
}

static uint64_t reg(struct target *t, pid_t tid, enum reg_num r)
{
	struct regcache rc;

	if (t->ops->read_regs(t, tid, &rc) < 0)
		return 0;
	return regcache_get_u64(&rc, r);
}

static int resume_all(struct target *t, enum tgt_resume_kind kind, int signo)
{
	struct tgt_resume a = {.tid = -1, .kind = kind, .signo = signo};

	return t->ops->resume(t, &a, 1);
}

static struct tgt_thread_stop stop_of(struct target *t, pid_t tid)
{
	struct tgt_thread_stop st = {0};

	t->ops->thread_stop(t, tid, &st);
	return st;
}

/* Continue to the marker breakpoint; returns its address (0 on failure). */
static uint64_t run_to_marker(struct target *t)
{
	uint64_t addr = load_bias(t) + elf_symbol(prog, "linux_prog_marker");

	CHECK(t->ops->insert_point(t, TGT_POINT_SW, addr, 1) == 0);
	CHECK(resume_all(t, TGT_RESUME_CONTINUE, 0) == 0);
	if (!wait_event() || last.kind != TGT_EV_STOPPED)
		return 0;
	return addr;
}

/* Registers written into a stopped thread read back the same, x87/SSE/AVX included. */
static void check_write_regs(struct target *t, pid_t tid)
{
	struct regcache orig, rc, back;

	CHECK(t->ops->read_regs(t, tid, &orig) == 0);
	rc = orig;
	regcache_set_u64(&rc, RN_R12, 0x1122334455667788ull);
	memset(regcache_ptr(&rc, RN_XMM0 + 1), 0x5a, 16);
	memset(regcache_ptr(&rc, RN_YMM0H + 1), 0xa5, 16);
	CHECK(t->ops->write_regs(t, tid, &rc) == 0);
	CHECK(t->ops->read_regs(t, tid, &back) == 0);
	CHECK(regcache_get_u64(&back, RN_R12) == 0x1122334455667788ull);
	CHECK(memcmp(regcache_ptr(&back, RN_XMM0 + 1), regcache_ptr(&rc, RN_XMM0 + 1), 16) == 0);
	CHECK(memcmp(regcache_ptr(&back, RN_YMM0H + 1), regcache_ptr(&rc, RN_YMM0H + 1), 16) == 0);
	CHECK(regcache_get_u64(&back, RN_FCTRL) == regcache_get_u64(&orig, RN_FCTRL));
	CHECK(t->ops->write_regs(t, tid, &orig) == 0);
}

/* A read running off the end of a mapping into a hole stops at the hole. */
static void check_short_read(struct target *t)
{
	struct tgt_region *r;
	uint8_t buf[16];
	size_t n;

	CHECK(t->ops->read_memory(t, 0, buf, sizeof(buf)) < 0);
	if (t->ops->regions(t, &r, &n) < 0)
		return;
	for (size_t i = 0; i + 1 < n; i++) {
		if (r[i].end == r[i + 1].start || !(r[i].prot & 1))
			continue;
		CHECK(t->ops->read_memory(t, r[i].end - 8, buf, sizeof(buf)) == 8);
		break;
	}
	free(r);
}

static void test_breakpoint_step_exit(void)
{
	struct target *t = launch("bp");
	uint8_t byte, orig;
	pid_t tid;
	uint64_t addr, pc;
	struct tgt_thread_stop st;

	CHECK(t != NULL);
	if (!t)
		return;
	CHECK(t->ops->threads(t, &tid, 1) == 1);
	pc = reg(t, tid, RN_RIP);
	CHECK(pc > 0x1000 && reg(t, tid, RN_RSP) > pc); /* in ld.so, below the stack */
	addr = load_bias(t) + elf_symbol(prog, "linux_prog_marker");
	CHECK(t->ops->read_memory(t, addr, &orig, 1) == 1);
	addr = run_to_marker(t);
	CHECK(addr != 0);
	st = stop_of(t, last.tid);
	CHECK(st.reason == TGT_STOP_BREAKPOINT && st.signo == SIGTRAP);
	CHECK(reg(t, last.tid, RN_RIP) == addr);
	CHECK(t->ops->read_memory(t, addr, &byte, 1) == 1 && byte == orig && byte != 0xcc);
	check_write_regs(t, last.tid);
	check_short_read(t);

	CHECK(resume_all(t, TGT_RESUME_STEP, 0) == 0);
	CHECK(wait_event() && last.kind == TGT_EV_STOPPED);
	CHECK(stop_of(t, last.tid).reason == TGT_STOP_STEP);
	pc = reg(t, last.tid, RN_RIP);
	CHECK(pc > addr && pc < addr + 16);

	CHECK(t->ops->remove_point(t, TGT_POINT_SW, addr, 1) == 0);
	CHECK(resume_all(t, TGT_RESUME_CONTINUE, 0) == 0);
	CHECK(wait_event() && last.kind == TGT_EV_EXITED && last.status == 7);
	CHECK(!t->ops->is_alive(t));
	t->ops->destroy(t);
}

/* The race the faults test met once: a step's SIGTRAP stop is reaped, then the process is
 * SIGKILLed before the server asks PTRACE_GETSIGINFO what the stop was. The stop must not be
 * reported as a SIGTRAP signal (T05 for a dead process): the exit that follows is. */
static void test_killed_after_step_reaped(void)
{
	struct target *t = launch("bp");
	struct lx_target *lt = (struct lx_target *)t;
	pid_t tid;
	int status;

	CHECK(t != NULL);
	if (!t)
		return;
	CHECK(t->ops->threads(t, &tid, 1) == 1);
	CHECK(resume_all(t, TGT_RESUME_STEP, 0) == 0);
	/* Reap the step's stop ourselves, as the server's loop would, then kill. */
	CHECK(waitpid(tid, &status, __WALL) == tid && WIFSTOPPED(status) &&
	      WSTOPSIG(status) == SIGTRAP);
	kill(tid, SIGKILL);
	for (int i = 0; i < 1000; i++) { /* until it has left the ptrace stop */
		char path[64], st[512];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/stat", tid);
		f = fopen(path, "r");
		if (!f || !fgets(st, sizeof(st), f) || !strstr(st, ") t ")) {
			if (f)
				fclose(f);
			break;
		}
		fclose(f);
		usleep(1000);
	}
	lx_handle_status(lt, tid, status);
	CHECK(wait_event() && last.kind == TGT_EV_SIGNALED && last.status == SIGKILL);
	t->ops->destroy(t);
}

/* A breakpoint stays inserted while we continue from it: the stub steps over it. */
static void test_continue_over_breakpoint(void)
{
	struct target *t = launch("threads");
	uint64_t value_addr, addr;
	int32_t value = 0;

	CHECK(t != NULL);
	if (!t)
		return;
	addr = run_to_marker(t);
	CHECK(addr != 0 && stop_of(t, last.tid).reason == TGT_STOP_BREAKPOINT);
	value_addr = load_bias(t) + elf_symbol(prog, "linux_prog_value");
	CHECK(t->ops->read_memory(t, value_addr, &value, 4) == 4 && value == 1234);
	value = 100;
	CHECK(t->ops->write_memory(t, value_addr, &value, 4) == 4);

	pid_t tids[16];
	int n = t->ops->threads(t, tids, 16);
	CHECK(n == 4);
	for (int i = 0; i < n && i < 16; i++) { /* every thread is in a ptrace stop */
		char path[96], line[256];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", tids[0], tids[i]);
		f = fopen(path, "r");
		CHECK(f && fgets(line, sizeof(line), f) && strstr(line, ") t "));
		if (f)
			fclose(f);
	}
	CHECK(resume_all(t, TGT_RESUME_CONTINUE, 0) == 0);
	CHECK(wait_event() && last.kind == TGT_EV_EXITED && last.status == 5);
	t->ops->destroy(t);
}

static void test_segv_and_signal(void)
{
	struct target *t = launch("segv");

	CHECK(t != NULL);
	if (!t)
		return;
	CHECK(resume_all(t, TGT_RESUME_CONTINUE, 0) == 0);
	CHECK(wait_event() && last.kind == TGT_EV_STOPPED);
	CHECK(stop_of(t, last.tid).reason == TGT_STOP_SIGNAL &&
	      stop_of(t, last.tid).signo == SIGSEGV);
	CHECK(resume_all(t, TGT_RESUME_CONTINUE, SIGSEGV) == 0);
	CHECK(wait_event() && last.kind == TGT_EV_SIGNALED && last.status == SIGSEGV);
	t->ops->destroy(t);

	t = launch("signal"); /* SIGUSR1 stops; passing it back runs the handler */
	CHECK(t != NULL);
	if (!t)
		return;
	CHECK(resume_all(t, TGT_RESUME_CONTINUE, 0) == 0);
	CHECK(wait_event() && stop_of(t, last.tid).signo == SIGUSR1);
	CHECK(resume_all(t, TGT_RESUME_CONTINUE, SIGUSR1) == 0);
	CHECK(wait_event() && last.kind == TGT_EV_EXITED && last.status == 9);
	t->ops->destroy(t);
}

static char proc_state(pid_t pid)
{
	char path[64], line[256], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f || !fgets(line, sizeof(line), f)) {
		if (f)
			fclose(f);
		return '?';
	}
	fclose(f);
	p = strrchr(line, ')');
	return p ? p[2] : '?';
}

static void test_attach_detach(void)
{
	struct target *t = NULL;
	char err[256];
	pid_t child = fork();

	if (child == 0) {
		execl(prog, prog, "sleep", (char *)NULL);
		_exit(127);
	}
	usleep(50000);
	CHECK(linux_target_attach(loop, child, &callbacks, &t, err, sizeof(err)) == 0);
	if (t) {
		CHECK(t->ops->threads(t, NULL, 0) == 1);
		CHECK(stop_of(t, child).signo == SIGSTOP);
		CHECK(proc_state(child) == 't');
		CHECK(reg(t, child, RN_RIP) != 0);
		CHECK(t->ops->detach(t) == 0);
		t->ops->destroy(t);
		usleep(20000);
		CHECK(proc_state(child) == 'S');
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);

	CHECK(linux_target_attach(loop, child, &callbacks, &t, err, sizeof(err)) == -ESRCH);
}

static void test_kill_and_bad_exec(void)
{
	struct target *t = launch("sleep");
	char *argv[] = {"/nonexistent/ptstub-test", NULL};
	struct tgt_launch_opts o = {.argv = argv};
	char err[256] = "";

	CHECK(t != NULL);
	if (t) {
		CHECK(t->ops->kill(t) == 0);
		CHECK(wait_event() && last.kind == TGT_EV_SIGNALED && last.status == SIGKILL);
		t->ops->destroy(t);
	}
	t = NULL;
	CHECK(linux_target_launch(loop, &o, &callbacks, &t, err, sizeof(err)) == -ENOENT);
	CHECK(t == NULL && strstr(err, "cannot run /nonexistent/ptstub-test"));
}

/* Three threads hit one breakpoint 15 times in all: each hit is reported exactly once. */
static void test_multithread_breakpoint(void)
{
	struct target *t = launch("multibp");
	int hits = 0;

	CHECK(t != NULL);
	if (!t)
		return;
	if (run_to_marker(t) == 0)
		return;
	while (last.kind == TGT_EV_STOPPED && hits < 100) {
		CHECK(stop_of(t, last.tid).reason == TGT_STOP_BREAKPOINT);
		hits++;
		CHECK(resume_all(t, TGT_RESUME_CONTINUE, 0) == 0);
		if (!wait_event())
			break;
	}
	if (hits != 15)
		fprintf(stderr, "hits %d last kind %d status %d\n", hits, last.kind, last.status);
	CHECK(hits == 15);
	CHECK(last.kind == TGT_EV_EXITED && last.status == 6);
	t->ops->destroy(t);
}

/* A fork child inherits the int3 bytes; the stub takes them out of it and lets it go. */
static void test_fork_child_runs_free(void)
{
	struct target *t = launch("fork");
	struct tgt_thread_stop st;

	CHECK(t != NULL);
	if (!t || run_to_marker(t) == 0)
		return;
	/* The child's exit raises SIGCHLD in the parent first: pass it on, as a client would. */
	while ((st = stop_of(t, last.tid)).reason == TGT_STOP_SIGNAL && st.signo == SIGCHLD) {
		CHECK(resume_all(t, TGT_RESUME_CONTINUE, SIGCHLD) == 0);
		CHECK(wait_event() && last.kind == TGT_EV_STOPPED);
	}
	CHECK(st.reason == TGT_STOP_BREAKPOINT && last.tid == st.tid);
	CHECK(resume_all(t, TGT_RESUME_CONTINUE, 0) == 0);
	CHECK(wait_event() && last.kind == TGT_EV_EXITED && last.status == 8);
	t->ops->destroy(t);
}

/* State letter of a thread in /proc ('t' in a ptrace stop). */
static char thread_state(pid_t pid, pid_t tid)
{
	char path[96], buf[512], *p = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	f = fopen(path, "re");
	if (!f)
		return '?';
	if (fgets(buf, sizeof(buf), f))
		p = strrchr(buf, ')');
	fclose(f);
	return p && p[1] && p[2] ? p[2] : '?';
}

/* Wait (up to 2 s each) until every thread listed is in a ptrace stop (state 't'), so that
 * all their events are in before the target hears of the first. */
static void wait_traced_stops(pid_t pid, const pid_t *tids, int n)
{
	for (int i = 0; i < n; i++)
		for (int spins = 0; spins < 2000 && thread_state(pid, tids[i]) != 't'; spins++)
			usleep(1000);
}

/* SIGUSR1 queued to two threads, both in their signal stops before the target hears of either
 * (the loop does not run meanwhile): one is reported, the other kept. The client resumes the
 * reported one with its signal and the resume only reports the other's: the first signal must
 * still be delivered (it was dropped: the program saw one SIGUSR1 of two). */
static void test_signals_to_two_threads(void)
{
	struct target *t = launch("sigs");
	struct tgt_process_info pi;
	pid_t tids[8], workers[2];
	int n, nw = 0, reported = 0;
	uint64_t marker;

	CHECK(t != NULL);
	if (!t || (marker = run_to_marker(t)) == 0)
		return;
	/* No step over it: the resume itself sets every thread running. */
	CHECK(t->ops->remove_point(t, TGT_POINT_SW, marker, 1) == 0);
	CHECK(t->ops->process_info(t, &pi) == 0);
	n = t->ops->threads(t, tids, 8);
	for (int i = 0; i < n && i < 8; i++)
		if (tids[i] != pi.pid && nw < 2)
			workers[nw++] = tids[i];
	CHECK(n == 3 && nw == 2);
	if (nw != 2)
		return;
	for (int i = 0; i < 2; i++)
		CHECK(syscall(SYS_tgkill, pi.pid, workers[i], SIGUSR1) == 0);
	CHECK(resume_all(t, TGT_RESUME_CONTINUE, 0) == 0);
	wait_traced_stops(pi.pid, workers, 2);
	CHECK(wait_event() && last.kind == TGT_EV_STOPPED);
	while (last.kind == TGT_EV_STOPPED && reported < 4) {
		struct tgt_thread_stop st = stop_of(t, last.tid);
		struct tgt_resume a[2] = {{.tid = last.tid, .kind = TGT_RESUME_CONTINUE},
					  {.tid = -1, .kind = TGT_RESUME_CONTINUE}};

		CHECK(st.reason == TGT_STOP_SIGNAL && st.signo == SIGUSR1);
		a[0].signo = st.signo;
		reported++;
		CHECK(t->ops->resume(t, a, 2) == 0);
		if (!wait_event())
			break;
	}
	CHECK(reported == 2);
	if (last.kind != TGT_EV_EXITED || last.status != 10)
		fprintf(stderr, "two signals: event %d status %d\n", last.kind, last.status);
	CHECK(last.kind == TGT_EV_EXITED && last.status == 10);
	t->ops->destroy(t);
}

/* main hits a breakpoint while two threads take SIGUSR1, all in one stop: main's hit is
 * reported, the signals at the next resumes (nothing runs for those). main's hit was seen:
 * the resume after them must step it off its breakpoint, not run it into the same hit again
 * (it was reported twice). */
static void test_breakpoint_hit_once(void)
{
	struct target *t = launch("sigs");
	struct tgt_process_info pi;
	pid_t tids[8];
	uint64_t marker, ret = 0;
	int n, hits = 0, sigs = 0;

	CHECK(t != NULL);
	if (!t || (marker = run_to_marker(t)) == 0)
		return;
	CHECK(t->ops->process_info(t, &pi) == 0);
	CHECK(t->ops->read_memory(t, reg(t, pi.pid, RN_RSP), &ret, 8) == 8);
	CHECK(t->ops->remove_point(t, TGT_POINT_SW, marker, 1) == 0);
	CHECK(t->ops->insert_point(t, TGT_POINT_SW, ret, 1) == 0);
	n = t->ops->threads(t, tids, 8);
	CHECK(n == 3);
	for (int i = 0; i < n && i < 8; i++)
		if (tids[i] != pi.pid)
			CHECK(syscall(SYS_tgkill, pi.pid, tids[i], SIGUSR1) == 0);
	CHECK(resume_all(t, TGT_RESUME_CONTINUE, 0) == 0);
	wait_traced_stops(pi.pid, tids, n < 8 ? n : 8); /* every event in before the loop */
	CHECK(wait_event() && last.kind == TGT_EV_STOPPED);
	CHECK(last.tid == pi.pid);
	while (last.kind == TGT_EV_STOPPED && hits + sigs < 8) {
		struct tgt_thread_stop st = stop_of(t, last.tid);
		struct tgt_resume a[2] = {{.tid = last.tid, .kind = TGT_RESUME_CONTINUE},
					  {.tid = -1, .kind = TGT_RESUME_CONTINUE}};

		if (st.reason == TGT_STOP_BREAKPOINT && last.tid == pi.pid &&
		    reg(t, pi.pid, RN_RIP) == ret) {
			hits++;
		} else {
			CHECK(st.reason == TGT_STOP_SIGNAL && st.signo == SIGUSR1);
			a[0].signo = st.signo;
			sigs++;
		}
		CHECK(t->ops->resume(t, a, 2) == 0);
		if (!wait_event())
			break;
	}
	if (hits != 1 || sigs != 2)
		fprintf(stderr, "breakpoint hit %d times, %d signals\n", hits, sigs);
	CHECK(hits == 1 && sigs == 2);
	CHECK(last.kind == TGT_EV_EXITED && last.status == 10);
	t->ops->destroy(t);
}

static void on_interrupt_timer(struct loop *l, void *data)
{
	struct target *t = data;

	(void)l;
	CHECK(t->ops->interrupt(t) == 0);
}

static void test_interrupt_and_exec(void)
{
	struct target *t = launch("sleep");

	CHECK(t != NULL);
	if (!t)
		return;
	CHECK(resume_all(t, TGT_RESUME_CONTINUE, 0) == 0);
	loop_add_timer(loop, 30, on_interrupt_timer, t);
	CHECK(wait_event() && last.kind == TGT_EV_STOPPED);
	CHECK(stop_of(t, last.tid).reason == TGT_STOP_INTERRUPT &&
	      stop_of(t, last.tid).signo == SIGSTOP);
	t->ops->destroy(t); /* kills it */

	t = launch("exec");
	CHECK(t != NULL);
	if (!t)
		return;
	CHECK(resume_all(t, TGT_RESUME_CONTINUE, 0) == 0);
	CHECK(wait_event() && last.kind == TGT_EV_STOPPED);
	CHECK(stop_of(t, last.tid).reason == TGT_STOP_EXEC);
	CHECK(resume_all(t, TGT_RESUME_CONTINUE, 0) == 0);
	CHECK(wait_event() && last.kind == TGT_EV_EXITED && last.status == 7);
	t->ops->destroy(t);
}

static void test_debug_registers(void)
{
	struct target *t = launch("bp");
	uint64_t a = 0x10000;

	CHECK(t != NULL);
	if (!t)
		return;
	CHECK(t->ops->insert_point(t, TGT_POINT_WRITE, a + 2, 4) == -EINVAL && t->error[0]);
	CHECK(t->ops->insert_point(t, TGT_POINT_WRITE, a, 3) == -EINVAL);
	for (int i = 0; i < 4; i++)
		CHECK(t->ops->insert_point(t, i ? TGT_POINT_ACCESS : TGT_POINT_HW, a + 8 * i,
					   i ? 8 : 1) == 0);
	CHECK(t->ops->insert_point(t, TGT_POINT_READ, a + 64, 2) == -ENOSPC);
	CHECK(t->ops->remove_point(t, TGT_POINT_ACCESS, a + 8, 8) == 0);
	CHECK(t->ops->insert_point(t, TGT_POINT_READ, a + 64, 2) == 0);
	t->ops->destroy(t);
}

/* What an observer heard, in order: 'r' resumed(a), 'x' step(a -> b), 's' stopped(a). */
struct trace_ev {
	char kind;
	pid_t tid;
	uint64_t a, b;
};

struct trace_log {
	int steps, resumed, stopped;
	uint64_t first_from, last_to;
	bool chained;
	struct trace_ev ev[64]; /* the first events */
	int nev;
};

static void log_event(struct trace_log *log, char kind, pid_t tid, uint64_t a, uint64_t b)
{
	if (log->nev < (int)(sizeof(log->ev) / sizeof(log->ev[0])))
		log->ev[log->nev] = (struct trace_ev){kind, tid, a, b};
	log->nev++;
}

static void obs_step(void *ctx, pid_t tid, uint64_t from, uint64_t to)
{
	struct trace_log *log = ctx;

	log_event(log, 'x', tid, from, to);
	if (log->steps++ == 0)
		log->first_from = from;
	else if (from != log->last_to)
		log->chained = false;
	log->last_to = to;
}

static void obs_resumed(void *ctx, pid_t tid, uint64_t pc)
{
	log_event(ctx, 'r', tid, pc, 0);
	((struct trace_log *)ctx)->resumed++;
}

static void obs_stopped(void *ctx, pid_t tid, uint64_t pc)
{
	log_event(ctx, 's', tid, pc, 0);
	((struct trace_log *)ctx)->stopped++;
}

/* Does the log hold exactly these events from index `from` on (kinds and first pcs; a b of 0
 * is not compared)? */
static bool log_is(const struct trace_log *log, int from, const struct trace_ev *want, int n)
{
	if (log->nev != from + n)
		return false;
	for (int i = 0; i < n; i++) {
		const struct trace_ev *e = &log->ev[from + i];

		if (e->kind != want[i].kind || e->a != want[i].a ||
		    (want[i].b && e->b != want[i].b))
			return false;
	}
	return true;
}

static void log_dump(const struct trace_log *log)
{
	for (int i = 0; i < log->nev && i < 64; i++)
		fprintf(stderr, "  %c %d %#llx %#llx\n", log->ev[i].kind, log->ev[i].tid,
			(unsigned long long)log->ev[i].a, (unsigned long long)log->ev[i].b);
}

/* Software trace from the marker's breakpoint to a breakpoint at its return address. */
static void test_trace_steps(void)
{
	struct trace_log log = {.chained = true};
	struct tgt_step_observer obs = {obs_step, obs_resumed, obs_stopped, &log};
	struct target *t = launch("bp");
	uint64_t addr, ret = 0;

	CHECK(t != NULL);
	if (!t || (addr = run_to_marker(t)) == 0)
		return;
	CHECK(t->ops->read_memory(t, reg(t, last.tid, RN_RSP), &ret, 8) == 8);
	CHECK(t->ops->insert_point(t, TGT_POINT_SW, ret, 1) == 0);
	CHECK(t->ops->trace_steps(t, last.tid, &obs) == 0);
	CHECK(resume_all(t, TGT_RESUME_CONTINUE, 0) == 0);
	CHECK(wait_event() && last.kind == TGT_EV_STOPPED);
	CHECK(stop_of(t, last.tid).reason == TGT_STOP_BREAKPOINT);
	CHECK(reg(t, last.tid, RN_RIP) == ret);
	CHECK(log.steps > 3 && log.steps < 100 && log.chained);
	CHECK(log.first_from == addr && log.last_to == ret);
	CHECK(log.resumed == 1 && log.stopped == 1);
	/* The thread is announced at the breakpoint before the step off it. */
	CHECK(log.ev[0].kind == 'r' && log.ev[0].a == addr);
	CHECK(log.ev[1].kind == 'x' && log.ev[1].a == addr);
	CHECK(t->ops->trace_steps(t, last.tid, NULL) == 0);
	t->ops->destroy(t);
}

/* A client's single steps of a traced thread are traced (resumed, step, stopped each), also
 * the step off a breakpoint the client lifted itself (what GDB and LLDB do) and the step
 * over one the stub lifts; a continue after them goes on from where they ended. */
static void test_trace_client_steps(void)
{
	struct trace_log log = {.chained = true};
	struct tgt_step_observer obs = {obs_step, obs_resumed, obs_stopped, &log};
	struct target *t = launch("bp");
	uint64_t addr, ret = 0, pc[4];
	pid_t tid;

	CHECK(t != NULL);
	if (!t || (addr = run_to_marker(t)) == 0)
		return;
	tid = last.tid;
	CHECK(t->ops->read_memory(t, reg(t, tid, RN_RSP), &ret, 8) == 8);
	CHECK(t->ops->trace_steps(t, tid, &obs) == 0);
	/* GDB's step off a breakpoint: z0, vCont;s, Z0, then stepi twice with it inserted
	 * behind. */
	CHECK(t->ops->remove_point(t, TGT_POINT_SW, addr, 1) == 0);
	pc[0] = addr;
	for (int i = 1; i < 4; i++) {
		CHECK(resume_all(t, TGT_RESUME_STEP, 0) == 0);
		CHECK(wait_event() && last.kind == TGT_EV_STOPPED);
		CHECK(stop_of(t, tid).reason == TGT_STOP_STEP);
		pc[i] = reg(t, tid, RN_RIP);
		if (i == 1)
			CHECK(t->ops->insert_point(t, TGT_POINT_SW, addr, 1) == 0);
	}
	{
		const struct trace_ev want[] = {
			{'r', 0, pc[0], 0}, {'x', 0, pc[0], pc[1]}, {'s', 0, pc[1], 0},
			{'r', 0, pc[1], 0}, {'x', 0, pc[1], pc[2]}, {'s', 0, pc[2], 0},
			{'r', 0, pc[2], 0}, {'x', 0, pc[2], pc[3]}, {'s', 0, pc[3], 0},
		};

		CHECK(log_is(&log, 0, want, 9));
	}
	CHECK(log.steps == 3 && log.chained);
	/* On to the return address: the trace goes on from pc[3]. */
	CHECK(t->ops->insert_point(t, TGT_POINT_SW, ret, 1) == 0);
	CHECK(resume_all(t, TGT_RESUME_CONTINUE, 0) == 0);
	CHECK(wait_event() && last.kind == TGT_EV_STOPPED);
	CHECK(reg(t, tid, RN_RIP) == ret);
	CHECK(log.nev > 9 && log.ev[9].kind == 'r' && log.ev[9].a == pc[3]);
	CHECK(log.chained && log.last_to == ret && log.stopped == 4);
	/* A single step from a breakpoint the stub steps over itself. */
	int before = log.nev;
	CHECK(resume_all(t, TGT_RESUME_STEP, 0) == 0);
	CHECK(wait_event() && last.kind == TGT_EV_STOPPED);
	CHECK(stop_of(t, tid).reason == TGT_STOP_STEP);
	pc[0] = reg(t, tid, RN_RIP);
	{
		const struct trace_ev want[] = {
			{'r', 0, ret, 0}, {'x', 0, ret, pc[0]}, {'s', 0, pc[0], 0}};

		CHECK(log_is(&log, before, want, 3));
	}
	if (check_failures)
		log_dump(&log);
	t->ops->destroy(t);
}

/* Step the thread (untraced) until it is on a near RET; its pc, or 0. */
static uint64_t step_to_ret(struct target *t, pid_t tid)
{
	for (int i = 0; i < 500; i++) {
		uint64_t pc = reg(t, tid, RN_RIP);
		uint8_t op = 0;

		if (t->ops->read_memory(t, pc, &op, 1) == 1 && op == 0xc3)
			return pc;
		if (resume_all(t, TGT_RESUME_STEP, 0) < 0 || !wait_event() ||
		    last.kind != TGT_EV_STOPPED)
			return 0;
	}
	return 0;
}

/* A signal delivered to a traced thread that sits on a RET: the handler is entered without
 * the RET executing, so the observer hears stopped(ret) and resumed(handler), never a step
 * ret -> handler (the encoder would take it for the RET's target). Both ways: the stub
 * stepping over a breakpoint on the RET, and a plain traced continue. */
static void test_trace_signal_async(void)
{
	struct trace_log log = {.chained = true};
	struct tgt_step_observer obs = {obs_step, obs_resumed, obs_stopped, &log};
	struct target *t = launch("signal");
	uint64_t handler, ret_pc;
	pid_t tid;

	CHECK(t != NULL);
	if (!t)
		return;
	handler = load_bias(t) + elf_symbol(prog, "on_usr1");
	CHECK(resume_all(t, TGT_RESUME_CONTINUE, 0) == 0);
	CHECK(wait_event() && last.kind == TGT_EV_STOPPED);
	tid = last.tid;
	CHECK(stop_of(t, tid).reason == TGT_STOP_SIGNAL && stop_of(t, tid).signo == SIGUSR1);
	ret_pc = step_to_ret(t, tid);
	CHECK(ret_pc != 0);
	if (!ret_pc) {
		t->ops->destroy(t);
		return;
	}
	CHECK(t->ops->insert_point(t, TGT_POINT_SW, handler, 1) == 0);
	CHECK(t->ops->insert_point(t, TGT_POINT_SW, ret_pc, 1) == 0);
	CHECK(t->ops->trace_steps(t, tid, &obs) == 0);
	for (int round = 0; round < 2; round++) {
		const struct trace_ev want[] = {{'r', 0, ret_pc, 0},
						{'s', 0, ret_pc, 0},
						{'r', 0, handler, 0},
						{'s', 0, handler, 0}};
		int before = log.nev;

		/* Round 0: from the breakpoint on the RET (stub's step-over); round 1: the
		 * breakpoint is gone (the handler returned into it and it was removed). */
		CHECK(resume_all(t, TGT_RESUME_CONTINUE, SIGUSR1) == 0);
		CHECK(wait_event() && last.kind == TGT_EV_STOPPED);
		CHECK(stop_of(t, tid).reason == TGT_STOP_BREAKPOINT);
		CHECK(reg(t, tid, RN_RIP) == handler);
		CHECK(log_is(&log, before, want, 4));
		if (round == 0) { /* the handler runs and returns to the RET's breakpoint */
			CHECK(resume_all(t, TGT_RESUME_CONTINUE, 0) == 0);
			CHECK(wait_event() && last.kind == TGT_EV_STOPPED);
			CHECK(reg(t, tid, RN_RIP) == ret_pc);
			CHECK(t->ops->remove_point(t, TGT_POINT_SW, ret_pc, 1) == 0);
		}
	}
	for (int i = 0; i < log.nev && i < 64; i++)
		CHECK(!(log.ev[i].kind == 'x' && log.ev[i].b == handler));
	if (check_failures)
		log_dump(&log);
	t->ops->destroy(t);
}

/* Thread events: the owner hears of each clone and exit, and may trace a new thread from
 * inside the callback: it runs traced from its first instruction. */
static struct target *thread_target;
static struct trace_log thread_log = {.chained = true};
static const struct tgt_step_observer thread_obs = {obs_step, obs_resumed, obs_stopped,
						    &thread_log};
static int threads_created, threads_exited;

static void on_thread(void *ctx, pid_t tid, bool created)
{
	(void)ctx;
	if (!created) {
		threads_exited++;
		return;
	}
	threads_created++;
	if (threads_created == 1) /* the first new thread only */
		CHECK(thread_target->ops->trace_steps(thread_target, tid, &thread_obs) == 0);
}

static const struct tgt_callbacks thread_callbacks = {.on_event = on_event, .on_thread = on_thread};

static void test_thread_events(void)
{
	char *argv[] = {(char *)prog, "threads", NULL};
	struct tgt_launch_opts o = {.argv = argv, .stdio_to_stderr = true};
	char err[256];
	uint64_t addr;

	CHECK(linux_target_launch(loop, &o, &thread_callbacks, &thread_target, err, sizeof(err)) ==
	      0);
	if (!thread_target)
		return;
	addr = run_to_marker(thread_target);
	CHECK(addr != 0);
	CHECK(threads_created == 3 && threads_exited == 0);
	/* The traced thread started in its start routine (a clone child starts after the
	 * clone syscall) and was stepped since. */
	CHECK(thread_log.resumed >= 1 && thread_log.steps > 10 && thread_log.chained);
	CHECK(thread_log.stopped == thread_log.resumed);
	CHECK(thread_log.nev > 0 && thread_log.ev[0].kind == 'r');
	CHECK(thread_target->ops->remove_point(thread_target, TGT_POINT_SW, addr, 1) == 0);
	CHECK(resume_all(thread_target, TGT_RESUME_CONTINUE, 0) == 0);
	CHECK(wait_event() && last.kind == TGT_EV_EXITED && last.status == 5);
	CHECK(threads_created == 3 && threads_exited == 3);
	thread_target->ops->destroy(thread_target);
}

/* Destroying a launched target with threads kills and reaps every thread (the leader last:
 * its exit is not reported before theirs), without hanging. */
static void test_destroy_with_threads(void)
{
	struct target *t = launch("threads");

	CHECK(t != NULL);
	if (!t)
		return;
	CHECK(run_to_marker(t) != 0);
	alarm(10); /* a hang here ends the test run */
	t->ops->destroy(t);
	alarm(0);
}

/* The owner drops a target from a deferred call (the server's free_session, drop_target) in the
 * same loop round as the target queued its report of the process's end: that report must not
 * run on the freed target (lx_target_free cancels it). The owner's call is queued first, from
 * a descriptor that became ready before the SIGCHLD, as a client's hang-up would be. */
static void destroy_deferred(struct loop *l, void *data)
{
	(void)l;
	((struct target *)data)->ops->destroy(data);
}

static void on_hangup(struct loop *l, int fd, unsigned events, void *data)
{
	char c;

	(void)events;
	if (read(fd, &c, 1) == 1)
		loop_defer(l, destroy_deferred, data);
	loop_del_fd(l, fd);
}

static void test_destroy_with_report_queued(void)
{
	struct target *t = launch("sleep");
	int fds[2];

	CHECK(t != NULL);
	if (!t || pipe(fds) < 0)
		return;
	/* Take in the SIGCHLD of the launch's own stop first: nothing else is ready before the
	 * pipe then. */
	loop_add_timer(loop, 50, on_timeout, NULL);
	loop_run(loop);
	CHECK(loop_add_fd(loop, fds[0], LOOP_READ, on_hangup, t) == 0);
	CHECK(write(fds[1], "x", 1) == 1);
	CHECK(t->ops->kill(t) == 0);
	usleep(200 * 1000); /* the SIGCHLD is pending when the loop next waits */
	int64_t timer = loop_add_timer(loop, 300, on_timeout, NULL);
	got_event = false;
	loop_run(loop);
	CHECK(!got_event); /* the report went with the target */
	if (got_event)
		loop_del_timer(loop, timer);
	close(fds[0]);
	close(fds[1]);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PROGRAM\n", argv[0]);
		return 2;
	}
	prog = argv[1];
	loop = loop_new();
	test_breakpoint_step_exit();
	test_killed_after_step_reaped();
	test_continue_over_breakpoint();
	test_segv_and_signal();
	test_attach_detach();
	test_kill_and_bad_exec();
	test_multithread_breakpoint();
	test_interrupt_and_exec();
	test_fork_child_runs_free();
	test_signals_to_two_threads();
	test_breakpoint_hit_once();
	test_debug_registers();
	test_trace_steps();
	test_trace_client_steps();
	test_trace_signal_async();
	test_thread_events();
	test_destroy_with_threads();
	test_destroy_with_report_queued();
	loop_free(loop);
	return check_result("test_linux_target");
}
