/* server/linux/breakpoints.c — Z/z points: software breakpoints as 0xCC bytes with the original
 * byte remembered (memory.c hides them), the other kinds handed to the debug registers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/linux/linux_target.h"

struct lx_breakpoint *lx_breakpoint_at(struct lx_target *lt, uint64_t addr)
{
	for (size_t i = 0; i < lt->nbps; i++)
		if (lt->bps[i].addr == addr)
			return &lt->bps[i];
	return NULL;
}

int lx_breakpoint_lift(struct lx_target *lt, struct lx_breakpoint *bp)
{
	return lx_write_raw(lt, bp->addr, &bp->saved, 1);
}

int lx_breakpoint_plant(struct lx_target *lt, struct lx_breakpoint *bp)
{
	static const uint8_t int3 = 0xcc;

	if (lt->vforks)
		return 0; /* planted when the vfork child is gone */
	return lx_write_raw(lt, bp->addr, &int3, 1);
}

/* A thread vforked: take every int3 out of the memory it shares with the child. */
void lx_vfork_started(struct lx_target *lt)
{
	if (lt->vforks++ == 0)
		for (size_t i = 0; i < lt->nbps; i++)
			lx_breakpoint_lift(lt, &lt->bps[i]);
}

/* Its child exec'd or exited: when no vfork child is left, the int3 bytes go back. */
void lx_vfork_done(struct lx_target *lt)
{
	if (lt->vforks == 0 || --lt->vforks)
		return;
	for (size_t i = 0; i < lt->nbps; i++)
		lx_breakpoint_plant(lt, &lt->bps[i]);
}

static int lx_sw_insert(struct lx_target *lt, uint64_t addr)
{
	struct lx_breakpoint bp = {.addr = addr};
	ssize_t n;
	int r;

	if (lx_breakpoint_at(lt, addr))
		return 0;
	n = lx_read_raw(lt, addr, &bp.saved, 1);
	if (n < 0)
		return lx_set_error(lt, (int)n, "cannot set a breakpoint at 0x%llx: %s",
				    (unsigned long long)addr, strerror((int)-n));
	if (lt->nbps == lt->cap_bps) {
		size_t cap = lt->cap_bps ? lt->cap_bps * 2 : 16;
		struct lx_breakpoint *nb = realloc(lt->bps, cap * sizeof(*nb));

		if (!nb)
			return -ENOMEM;
		lt->bps = nb;
		lt->cap_bps = cap;
	}
	r = lx_breakpoint_plant(lt, &bp);
	if (r < 0)
		return lx_set_error(lt, r, "cannot write a breakpoint at 0x%llx: %s",
				    (unsigned long long)addr, strerror(-r));
	lt->bps[lt->nbps++] = bp;
	return 0;
}

static int lx_sw_remove(struct lx_target *lt, uint64_t addr)
{
	struct lx_breakpoint *bp = lx_breakpoint_at(lt, addr);
	int r;

	if (!bp)
		return lx_set_error(lt, -ENOENT, "no breakpoint at 0x%llx",
				    (unsigned long long)addr);
	r = lx_breakpoint_lift(lt, bp);
	*bp = lt->bps[--lt->nbps];
	return r;
}

static int lx_point(struct target *t, bool insert, enum tgt_point type, uint64_t addr, unsigned len)
{
	struct lx_target *lt = lx_of(t);

	if (!lt->alive)
		return lx_set_error(lt, -ESRCH, "the process is not running");
	if (type == TGT_POINT_SW)
		return insert ? lx_sw_insert(lt, addr) : lx_sw_remove(lt, addr);
	return insert ? lx_hw_insert(lt, type, addr, len) : lx_hw_remove(lt, type, addr, len);
}

int lx_insert_point(struct target *t, enum tgt_point type, uint64_t addr, unsigned len)
{
	return lx_point(t, true, type, addr, len);
}

int lx_remove_point(struct target *t, enum tgt_point type, uint64_t addr, unsigned len)
{
	return lx_point(t, false, type, addr, len);
}

void lx_breakpoints_remove_all(struct lx_target *lt)
{
	for (size_t i = 0; i < lt->nbps; i++)
		lx_breakpoint_lift(lt, &lt->bps[i]);
	lt->nbps = 0;
}
