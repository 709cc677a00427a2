/* server/record.c — `ptstub record`: launch a program with no client, run it to its entry
 * point, trace every thread from there, and write a bundle when the trigger fires (a fatal
 * signal nobody catches, the call of _exit, or a breakpoint at a function). The program then
 * goes on as it would have; we exit with its status. */
#include "server/auxv.h"
#include "server/record.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/collector.h"
#include "server/crash.h"
#include "server/loop.h"
#include "server/recorded/bundle.h"
#include "server/recorded/recorded.h"
#include "server/target.h"

#define RECORD_DEFAULT_TRACE_SIZE (256u * 1024)

enum record_trigger { TRIGGER_CRASH, TRIGGER_EXIT, TRIGGER_FUNCTION };

struct recorder {
	struct loop *loop;
	struct target *t;
	struct collector *col;
	bool trace;		  /* --trace other than off */
	enum col_backend backend; /* which collector */
	uint64_t trace_size;
	enum record_trigger trigger;
	const char *function; /* --at, or "_exit" for --on-exit */
	const char *dir;
	bool copy_images;
	uint64_t entry;	       /* the entry-point breakpoint, 0 once passed */
	uint64_t trigger_addr; /* the trigger breakpoint, 0 if none */
	bool fired;	       /* the bundle is written */
	bool failed;	       /* our own error: exit 2 once the program is gone */
	struct bundle_status st;
	int exit_code;
};

static int record_usage(void)
{
	fputs("usage: ptstub record -o DIR [--trace=sw|hw|auto|off] [--trace-size BYTES]\n"
	      "                     [--on-crash | --on-exit | --at FUNCTION] [--copy-images]\n"
	      "                     -- PROGRAM ARGS...\n"
	      "Run PROGRAM traced; when the trigger fires (default: a crash) write a bundle to "
	      "DIR\n"
	      "for `ptstub serve DIR`. Exits with the program's status (128+signal if killed).\n",
	      stderr);
	return 2;
}

/* ---- symbols --------------------------------------------------------------------------- */

/* A defined function called name in the ELF file fd, as a link-time address; 0 if none. */
static uint64_t elf_function(Elf *e, const char *name, uint64_t *first_load)
{
	GElf_Phdr ph;
	size_t phnum;
	Elf_Scn *scn = NULL;

	*first_load = UINT64_MAX;
	for (size_t i = 0; !elf_getphdrnum(e, &phnum) && i < phnum; i++)
		if (gelf_getphdr(e, i, &ph) && ph.p_type == PT_LOAD && *first_load == UINT64_MAX)
			*first_load = ph.p_vaddr & ~0xfffULL;
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) ||
		    (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM))
			continue;
		data = elf_getdata(scn, NULL);
		for (size_t k = 0; data && sh.sh_entsize && k < sh.sh_size / sh.sh_entsize; k++) {
			GElf_Sym sym;
			const char *n;

			if (!gelf_getsym(data, (int)k, &sym) || sym.st_shndx == SHN_UNDEF ||
			    (GELF_ST_TYPE(sym.st_info) != STT_FUNC &&
			     GELF_ST_TYPE(sym.st_info) != STT_GNU_IFUNC))
				continue;
			n = elf_strptr(e, sh.sh_link, sym.st_name);
			if (n && !strcmp(n, name))
				return sym.st_value;
		}
	}
	return 0;
}

/* Where name is in the images mapped now (the executable first by address order). */
static uint64_t find_function(struct target *t, const char *name)
{
	struct tgt_region *r = NULL;
	size_t n = 0;
	uint64_t addr = 0;

	if (t->ops->regions(t, &r, &n))
		return 0;
	elf_version(EV_CURRENT);
	for (size_t i = 0; i < n && !addr; i++) {
		uint64_t value, first_load;
		int fd;
		Elf *e;

		if (r[i].offset || r[i].path[0] != '/')
			continue;
		fd = open(r[i].path, O_RDONLY | O_CLOEXEC);
		e = fd < 0 ? NULL : elf_begin(fd, ELF_C_READ_MMAP, NULL);
		value = e ? elf_function(e, name, &first_load) : 0;
		if (value && first_load != UINT64_MAX)
			addr = r[i].start - first_load + value;
		elf_end(e);
		if (fd >= 0)
			close(fd);
	}
	free(r);
	return addr;
}

/* ---- run control ----------------------------------------------------------------------- */

static uint64_t auxv_entry(struct target *t)
{
	struct buf av = BUF_INIT;
	uint64_t entry = 0;

	if (t->ops->read_auxv(t, &av) == 0)
		entry = auxv_get(&av, AT_ENTRY);
	buf_fini(&av);
	return entry;
}

static void resume_all(struct recorder *r, pid_t tid, int signo)
{
	struct tgt_resume acts[2] = {{tid, TGT_RESUME_CONTINUE, signo},
				     {-1, TGT_RESUME_CONTINUE, 0}};
	int ret;

	if (r->col)
		r->col->ops->process_resumed(r->col);
	ret = r->t->ops->resume(r->t, acts, 2);
	if (ret) {
		fprintf(stderr, "record: cannot resume the program: %s\n",
			r->t->error[0] ? r->t->error : strerror(-ret));
		r->t->ops->kill(r->t);
	}
}

/* A signal that kills the process unless it has a handler. */
static bool is_crash(pid_t pid, int signo)
{
	char path[64], line[256];
	unsigned long long caught = 0;
	FILE *f;

	if (!crash_signal_is_fatal(signo))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "SigCgt: %llx", &caught) == 1)
			break;
	if (f)
		fclose(f);
	return !(caught >> (signo - 1) & 1);
}

/* A single step's SIGTRAP that outlived the trace: a thread blocked in a system call when
 * tracing stopped finishes its last step later (TRAP_BRKPT after a system call, TRAP_TRACE
 * elsewhere; the program's own int3 or raise() have other codes). Not the program's signal. */
static bool is_step_trap(struct target *t, pid_t tid, int signo)
{
	struct buf si = BUF_INIT;
	siginfo_t info;
	bool step = false;

	if (signo == SIGTRAP && t->ops->read_siginfo(t, tid, &si) == 0 && si.len >= sizeof(info)) {
		memcpy(&info, si.data, sizeof(info));
		step = info.si_code == TRAP_TRACE || info.si_code == TRAP_BRKPT;
	}
	buf_fini(&si);
	return step;
}

static void start_trace(struct recorder *r)
{
	struct col_config cfg = COL_CONFIG_INIT;
	char err[512] = "";
	int ret;

	if (!r->trace)
		return;
	ret = col_create(r->backend, r->t, NULL, &r->col, err, sizeof(err));
	if (ret == 0) {
		cfg.trace_size = r->trace_size;
		cfg.process_buffer_size_limit = r->trace_size * BUNDLE_MAX_THREADS;
		if ((ret = r->col->ops->start_process(r->col, &cfg)) < 0)
			snprintf(err, sizeof(err), "%s", r->col->error);
	}
	if (ret < 0) {
		fprintf(stderr, "record: cannot trace (%s); recording without a trace\n", err);
		col_destroy(r->col);
		r->col = NULL;
	} else if (r->col->warnings[0]) {
		fprintf(stderr, "record: %s\n", r->col->warnings);
	}
}

/* At the entry point: every library the program links is mapped; set the trigger, trace. */
static void at_entry(struct recorder *r)
{
	if (r->entry)
		r->t->ops->remove_point(r->t, TGT_POINT_SW, r->entry, 1);
	r->entry = 0;
	if (r->function) {
		r->trigger_addr = find_function(r->t, r->function);
		if (!r->trigger_addr ||
		    r->t->ops->insert_point(r->t, TGT_POINT_SW, r->trigger_addr, 1) < 0) {
			fprintf(stderr,
				"record: %s: no such function in the program or the "
				"libraries it links\n",
				r->function);
			r->failed = true;
			r->t->ops->kill(r->t); /* the exit event ends the loop */
			return;
		}
	}
	start_trace(r);
}

static void fire(struct recorder *r, pid_t tid, int signo)
{
	static const char *const names[] = {"crash", "exit", "function"};
	char err[512] = "";
	int ret;

	r->st.tid = tid;
	r->st.signo = signo;
	snprintf(r->st.trigger, sizeof(r->st.trigger), "%s", names[r->trigger]);
	if (r->trigger == TRIGGER_FUNCTION)
		snprintf(r->st.function, sizeof(r->st.function), "%s", r->function);
	if (r->col)
		r->col->ops->process_stopped(r->col);
	ret = bundle_write(r->dir, r->t, r->col, &r->st, r->copy_images, err, sizeof(err));
	r->fired = true;
	if (ret)
		fprintf(stderr, "record: the bundle could not be written: %s\n", err);
	else if (r->trigger == TRIGGER_CRASH)
		fprintf(stderr, "record: thread %d crashed (SIG%s): bundle written to %s\n", tid,
			sigabbrev_np(signo), r->dir);
	else
		fprintf(stderr, "record: thread %d reached %s: bundle written to %s\n", tid,
			r->function, r->dir);
	/* The rest runs at full speed. */
	col_destroy(r->col);
	r->col = NULL;
	if (r->trigger_addr)
		r->t->ops->remove_point(r->t, TGT_POINT_SW, r->trigger_addr, 1);
	r->trigger_addr = 0;
}

static void on_stop(struct recorder *r, pid_t tid)
{
	struct tgt_thread_stop stop = {0};
	struct regcache rc;
	uint64_t pc = 0;
	int pass = 0;

	r->t->ops->thread_stop(r->t, tid, &stop);
	if (r->t->ops->read_regs(r->t, tid, &rc) == 0)
		pc = regcache_get_u64(&rc, RN_RIP);
	if (stop.reason == TGT_STOP_BREAKPOINT && r->entry && pc == r->entry)
		at_entry(r);
	else if (stop.reason == TGT_STOP_BREAKPOINT && r->trigger_addr && pc == r->trigger_addr)
		fire(r, tid, 0);
	else if (stop.reason == TGT_STOP_SIGNAL) {
		if (r->trigger == TRIGGER_CRASH && !r->fired && is_crash(r->st.pid, stop.signo))
			fire(r, tid, stop.signo);
		pass = is_step_trap(r->t, tid, stop.signo) ? 0 : stop.signo;
	}
	if (!r->failed)
		resume_all(r, tid, pass);
}

/* A thread appeared or went: the process trace covers new ones from their first step. */
static void on_thread(void *ctx, pid_t tid, bool created)
{
	struct recorder *r = ctx;

	if (r->col && !created)
		r->col->ops->thread_exited(r->col, tid);
	else if (r->col && r->col->ops->thread_created(r->col, tid) < 0)
		fprintf(stderr, "record: thread %d is not traced: %s\n", tid, r->col->error);
}

static void on_end(struct recorder *r, int exit_status, int signo)
{
	char err[512];

	r->st.ended = true;
	r->st.exit_status = signo ? -1 : exit_status;
	r->st.exit_signal = signo;
	r->exit_code = r->failed ? 2 : signo ? 128 + signo : exit_status;
	if (r->fired && bundle_write_status(r->dir, &r->st, err, sizeof(err)))
		fprintf(stderr, "record: %s\n", err);
	else if (r->fired && signo)
		fprintf(stderr, "record: the program was then killed by SIG%s\n",
			sigabbrev_np(signo));
	else if (r->fired)
		fprintf(stderr, "record: the program then exited with status %d\n", exit_status);
	if (!r->fired && !r->failed && signo)
		fprintf(stderr,
			"record: the program was killed by SIG%s before the trigger; no "
			"bundle written\n",
			sigabbrev_np(signo));
	else if (!r->fired && !r->failed)
		fprintf(stderr,
			"record: the program exited with status %d before the trigger; no "
			"bundle written\n",
			exit_status);
	loop_stop(r->loop, 0);
}

static void on_event(void *ctx, const struct tgt_event *ev)
{
	struct recorder *r = ctx;

	if (ev->kind == TGT_EV_STOPPED)
		on_stop(r, ev->tid);
	else
		on_end(r, ev->kind == TGT_EV_EXITED ? ev->status : 0,
		       ev->kind == TGT_EV_SIGNALED ? ev->status : 0);
}

/* ---- command line ---------------------------------------------------------------------- */

static int parse_record_args(int argc, char **argv, struct recorder *r)
{
	static const struct option longopts[] = {
		{"output", required_argument, NULL, 'o'},
		{"trace", required_argument, NULL, 't'},
		{"trace-size", required_argument, NULL, 's'},
		{"on-crash", no_argument, NULL, 'c'},
		{"on-exit", no_argument, NULL, 'e'},
		{"at", required_argument, NULL, 'a'},
		{"copy-images", no_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char err[256];
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+o:", longopts, NULL)) != -1) {
		if (c == 'o') {
			r->dir = optarg;
		} else if (c == 't' && !strcmp(optarg, "off")) {
			r->trace = false;
		} else if (c == 't' && col_backend_parse(optarg, &r->backend) == 0) {
			r->trace = true;
		} else if (c == 's') {
			r->trace_size = strtoull(optarg, NULL, 0);
			if (col_check_trace_size(r->trace_size, err, sizeof(err))) {
				fprintf(stderr, "record: %s\n", err);
				return -EINVAL;
			}
		} else if (c == 'c' || c == 'e' || c == 'a') {
			r->trigger = c == 'c'	? TRIGGER_CRASH
				     : c == 'e' ? TRIGGER_EXIT
						: TRIGGER_FUNCTION;
			r->function = c == 'c' ? NULL : c == 'e' ? "_exit" : optarg;
		} else if (c == 'i') {
			r->copy_images = true;
		} else {
			return -EINVAL;
		}
	}
	if (!r->dir || optind >= argc)
		return -EINVAL;
	return optind;
}

int record_main(int argc, char **argv)
{
	struct recorder r = {.trace = true, .trace_size = RECORD_DEFAULT_TRACE_SIZE};
	struct tgt_callbacks cb = {.on_event = on_event, .ctx = &r, .on_thread = on_thread};
	struct tgt_launch_opts lo = {.disable_aslr = true};
	struct tgt_process_info pi = {0};
	char err[512] = "";
	int first = parse_record_args(argc, argv, &r), ret;

	if (first < 0)
		return record_usage();
	signal(SIGPIPE, SIG_IGN);
	lo.argv = argv + first;
	r.st.argv = argv + first;
	r.st.trace_size = r.trace ? r.trace_size : 0;
	r.loop = loop_new();
	if (!r.loop)
		return 1;
	ret = linux_target_launch(r.loop, &lo, &cb, &r.t, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "record: %s\n", err[0] ? err : strerror(-ret));
		loop_free(r.loop);
		return 1;
	}
	r.t->ops->process_info(r.t, &pi);
	r.st.pid = pi.pid;
	r.entry = auxv_entry(r.t);
	if (!r.entry || r.t->ops->insert_point(r.t, TGT_POINT_SW, r.entry, 1) < 0) {
		fprintf(stderr,
			"record: cannot stop %s at its entry point; tracing from the start\n",
			argv[first]);
		r.entry = 0;
		at_entry(&r);
	}
	if (!r.failed)
		resume_all(&r, pi.pid, 0);
	loop_run(r.loop);
	col_destroy(r.col);
	r.t->ops->destroy(r.t);
	loop_free(r.loop);
	return r.exit_code;
}
