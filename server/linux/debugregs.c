/* server/linux/debugregs.c — hardware breakpoints and watchpoints in DR0-DR3 with DR7 for
 * control, written into every thread (and each new one) with PTRACE_POKEUSER; DR6 tells which
 * slot fired. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>

#include "server/linux/linux_target.h"

#define DR_OFFSET(i) (offsetof(struct user, u_debugreg) + (i) * sizeof(long))

/* DR7 R/W field: 00 execute, 01 write, 11 read or write (x86 has no read-only). */
static unsigned lx_dr7_rw(enum tgt_point type)
{
	return type == TGT_POINT_HW ? 0 : type == TGT_POINT_WRITE ? 1 : 3;
}

/* DR7 LEN field: 00 one byte, 01 two, 11 four, 10 eight. */
static unsigned lx_dr7_len(unsigned len)
{
	return len == 2 ? 1 : len == 4 ? 3 : len == 8 ? 2 : 0;
}

static unsigned long lx_dr7(const struct lx_target *lt)
{
	unsigned long dr7 = 0;

	for (int i = 0; i < 4; i++) {
		const struct lx_hwpoint *p = &lt->hw[i];

		if (!p->used)
			continue;
		dr7 |= 1ul << (2 * i);
		dr7 |= (unsigned long)(lx_dr7_rw(p->type) | lx_dr7_len(p->len) << 2)
		       << (16 + 4 * i);
	}
	return dr7;
}

int lx_hw_apply(struct lx_target *lt, pid_t tid)
{
	if (ptrace(PTRACE_POKEUSER, tid, DR_OFFSET(7), 0) < 0)
		return -errno;
	for (int i = 0; i < 4; i++)
		if (lt->hw[i].used &&
		    ptrace(PTRACE_POKEUSER, tid, DR_OFFSET(i), lt->hw[i].addr) < 0)
			return -errno;
	if (ptrace(PTRACE_POKEUSER, tid, DR_OFFSET(7), lx_dr7(lt)) < 0)
		return -errno;
	return 0;
}

static int lx_hw_apply_all(struct lx_target *lt)
{
	int r = 0;

	for (size_t i = 0; i < lt->nthreads && r == 0; i++)
		r = lx_hw_apply(lt, lt->threads[i].tid);
	return r;
}

static int lx_hw_check(struct lx_target *lt, enum tgt_point type, uint64_t addr, unsigned len)
{
	(void)type;
	if (len != 1 && len != 2 && len != 4 && len != 8)
		return lx_set_error(lt, -EINVAL,
				    "a hardware watchpoint covers 1, 2, 4 or 8 bytes, "
				    "not %u",
				    len);
	if (addr % len)
		return lx_set_error(lt, -EINVAL,
				    "a %u-byte hardware watchpoint needs an address aligned to %u "
				    "(0x%llx is not)",
				    len, len, (unsigned long long)addr);
	return 0;
}

int lx_hw_insert(struct lx_target *lt, enum tgt_point type, uint64_t addr, unsigned len)
{
	int slot = -1, r;

	if (type == TGT_POINT_HW)
		len = 1; /* execute breakpoints are one byte in DR7 whatever the kind says */
	r = lx_hw_check(lt, type, addr, len);
	if (r < 0)
		return r;
	for (int i = 3; i >= 0; i--)
		if (!lt->hw[i].used)
			slot = i;
	if (slot < 0)
		return lx_set_error(lt, -ENOSPC, "all four hardware debug registers are in use");
	lt->hw[slot] = (struct lx_hwpoint){true, type, addr, len};
	r = lx_hw_apply_all(lt);
	if (r < 0) {
		lt->hw[slot].used = false;
		lx_hw_apply_all(lt);
		return lx_set_error(lt, r, "cannot write the debug registers: %s", strerror(-r));
	}
	return 0;
}

int lx_hw_remove(struct lx_target *lt, enum tgt_point type, uint64_t addr, unsigned len)
{
	if (type == TGT_POINT_HW)
		len = 1;
	for (int i = 0; i < 4; i++) {
		struct lx_hwpoint *p = &lt->hw[i];

		if (p->used && p->type == type && p->addr == addr && p->len == len) {
			p->used = false;
			return lx_hw_apply_all(lt);
		}
	}
	return lx_set_error(lt, -ENOENT, "no hardware breakpoint or watchpoint at 0x%llx",
			    (unsigned long long)addr);
}

void lx_hw_clear_all(struct lx_target *lt)
{
	bool any = false;

	for (int i = 0; i < 4; i++) {
		any |= lt->hw[i].used;
		lt->hw[i].used = false;
	}
	if (any)
		lx_hw_apply_all(lt);
}

bool lx_hw_check_hit(struct lx_target *lt, pid_t tid, struct tgt_thread_stop *stop)
{
	unsigned long dr6;
	bool any = false;

	/* No point set: nothing to read (a software trace asks at every single step). The
	 * kernel clears its DR6 copy at each debug trap, so no stale bit waits for later. */
	for (int i = 0; i < 4; i++)
		any |= lt->hw[i].used;
	if (!any)
		return false;
	errno = 0;
	dr6 = ptrace(PTRACE_PEEKUSER, tid, DR_OFFSET(6), 0);
	if (errno || !(dr6 & 0xf))
		return false;
	ptrace(PTRACE_POKEUSER, tid, DR_OFFSET(6), 0);
	for (int i = 0; i < 4; i++) {
		const struct lx_hwpoint *p = &lt->hw[i];

		if (!(dr6 & (1ul << i)) || !p->used)
			continue;
		stop->signo = SIGTRAP;
		if (p->type == TGT_POINT_HW) {
			stop->reason = TGT_STOP_HW_BREAKPOINT;
		} else {
			stop->reason = TGT_STOP_WATCHPOINT;
			stop->addr = p->addr;
			stop->watch = p->type;
		}
		return true;
	}
	return false;
}
