/* server/linux/regs.c — one thread's registers through ptrace: general registers with
 * PTRACE_GETREGS/SETREGS, x87/SSE/AVX state with the NT_X86_XSTATE regset (FXSAVE as a
 * fallback), converted by server/regs.c. */
#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>

#include "server/linux/linux_target.h"

int lx_read_gpregs(struct target *t, pid_t tid, struct regcache *rc)
{
	struct lx_target *lt = lx_of(t);
	struct user_regs_struct u;

	memset(rc, 0, sizeof(*rc));
	if (ptrace(PTRACE_GETREGS, tid, 0, &u) < 0)
		return lx_set_error(lt, -errno, "cannot read the registers of thread %d: %s", tid,
				    strerror(errno));
	regcache_from_user(rc, &u);
	return 0;
}

int lx_read_regs(struct target *t, pid_t tid, struct regcache *rc)
{
	struct lx_target *lt = lx_of(t);
	struct iovec iov = {lt->xstate, LX_XSTATE_SIZE};
	int r = lx_read_gpregs(t, tid, rc);

	if (r < 0)
		return r;
	if (ptrace(PTRACE_GETREGSET, tid, NT_X86_XSTATE, &iov) == 0)
		regcache_from_xstate(rc, lt->xstate, iov.iov_len);
	else if (ptrace(PTRACE_GETFPREGS, tid, 0, lt->xstate) == 0)
		regcache_from_fxsave(rc, lt->xstate);
	return 0;
}

static int lx_write_fpu(struct lx_target *lt, pid_t tid, const struct regcache *rc)
{
	struct iovec iov = {lt->xstate, LX_XSTATE_SIZE};

	if (ptrace(PTRACE_GETREGSET, tid, NT_X86_XSTATE, &iov) == 0) {
		regcache_to_xstate(rc, lt->xstate, iov.iov_len);
		regcache_to_xstate_avx512(rc, lt->xstate, iov.iov_len);
		if (ptrace(PTRACE_SETREGSET, tid, NT_X86_XSTATE, &iov) == 0)
			return 0;
	}
	if (ptrace(PTRACE_GETFPREGS, tid, 0, lt->xstate) < 0)
		return -errno;
	regcache_to_fxsave(rc, lt->xstate);
	return ptrace(PTRACE_SETFPREGS, tid, 0, lt->xstate) < 0 ? -errno : 0;
}

int lx_write_regs(struct target *t, pid_t tid, const struct regcache *rc)
{
	struct lx_target *lt = lx_of(t);
	struct user_regs_struct u;
	int r;

	if (ptrace(PTRACE_GETREGS, tid, 0, &u) < 0)
		return lx_set_error(lt, -errno, "cannot read the registers of thread %d: %s", tid,
				    strerror(errno));
	regcache_to_user(rc, &u);
	if (ptrace(PTRACE_SETREGS, tid, 0, &u) < 0)
		return lx_set_error(lt, -errno, "cannot write the registers of thread %d: %s", tid,
				    strerror(errno));
	r = lx_write_fpu(lt, tid, rc);
	if (r < 0)
		return lx_set_error(lt, r,
				    "cannot write the FPU/SSE/AVX registers of thread %d: %s", tid,
				    strerror(-r));
	return 0;
}

int lx_get_pc(pid_t tid, uint64_t *pc)
{
	long v;

	errno = 0;
	v = ptrace(PTRACE_PEEKUSER, tid, offsetof(struct user_regs_struct, rip), 0);
	if (errno)
		return -errno;
	*pc = (uint64_t)v;
	return 0;
}

int lx_set_pc(pid_t tid, uint64_t pc)
{
	if (ptrace(PTRACE_POKEUSER, tid, offsetof(struct user_regs_struct, rip), pc) < 0)
		return -errno;
	return 0;
}
