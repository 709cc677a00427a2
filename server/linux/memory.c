/* server/linux/memory.c — debuggee memory: reads with one process_vm_readv straight into the
 * caller's buffer (/proc/PID/mem for what it cannot reach), writes through /proc/PID/mem
 * (works on read-only text) or PTRACE_POKEDATA. Software breakpoints stay invisible. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <unistd.h>

#include "server/linux/linux_target.h"

ssize_t lx_read_raw(struct lx_target *lt, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = {buf, len}, remote = {(void *)(uintptr_t)addr, len};
	ssize_t n = process_vm_readv(lt->pid, &local, 1, &remote, 1, 0);
	int err = n < 0 ? errno : EIO;
	size_t done = n > 0 ? (size_t)n : 0;

	while (done < len && lt->memfd >= 0) {
		ssize_t m =
			pread(lt->memfd, (uint8_t *)buf + done, len - done, (off_t)(addr + done));

		if (m <= 0) {
			err = m < 0 ? errno : EIO;
			break;
		}
		done += (size_t)m;
	}
	if (done == 0 && len > 0)
		return -err;
	return (ssize_t)done;
}

/* Word-wise fallback for when /proc/PID/mem cannot be written. */
int lx_poke(pid_t pid, uint64_t addr, const uint8_t *src, size_t len)
{
	while (len > 0) {
		uint64_t base = addr & ~7ull;
		unsigned skip = addr - base;
		size_t n = len < 8 - skip ? len : 8 - skip;
		long word;

		errno = 0;
		word = ptrace(PTRACE_PEEKDATA, pid, base, 0);
		if (errno)
			return -errno;
		memcpy((uint8_t *)&word + skip, src, n);
		if (ptrace(PTRACE_POKEDATA, pid, base, word) < 0)
			return -errno;
		addr += n;
		src += n;
		len -= n;
	}
	return 0;
}

int lx_write_raw(struct lx_target *lt, uint64_t addr, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len && lt->memfd >= 0) {
		ssize_t m = pwrite(lt->memfd, (const uint8_t *)buf + done, len - done,
				   (off_t)(addr + done));

		if (m <= 0)
			break;
		done += (size_t)m;
	}
	if (done == len)
		return 0;
	return lx_poke(lt->pid, addr + done, (const uint8_t *)buf + done, len - done);
}

static bool lx_overlaps(uint64_t a, uint64_t addr, size_t len)
{
	return a >= addr && a - addr < len;
}

ssize_t lx_read_memory(struct target *t, uint64_t addr, void *buf, size_t len)
{
	struct lx_target *lt = lx_of(t);
	ssize_t n = lx_read_raw(lt, addr, buf, len);

	if (n < 0)
		return lx_set_error(lt, (int)n, "cannot read memory at 0x%llx: %s",
				    (unsigned long long)addr, strerror((int)-n));
	for (size_t i = 0; i < lt->nbps; i++)
		if (lx_overlaps(lt->bps[i].addr, addr, (size_t)n))
			((uint8_t *)buf)[lt->bps[i].addr - addr] = lt->bps[i].saved;
	return n;
}

ssize_t lx_write_memory(struct target *t, uint64_t addr, const void *buf, size_t len)
{
	struct lx_target *lt = lx_of(t);
	uint8_t *copy = NULL;
	int r;

	for (size_t i = 0; i < lt->nbps; i++) {
		struct lx_breakpoint *bp = &lt->bps[i];

		if (!lx_overlaps(bp->addr, addr, len))
			continue;
		if (!copy && !(copy = malloc(len)))
			return -ENOMEM;
		bp->saved = ((const uint8_t *)buf)[bp->addr - addr];
	}
	if (copy) {
		memcpy(copy, buf, len);
		for (size_t i = 0; i < lt->nbps; i++)
			if (lx_overlaps(lt->bps[i].addr, addr, len) && !lt->vforks)
				copy[lt->bps[i].addr - addr] = 0xcc;
	}
	r = lx_write_raw(lt, addr, copy ? copy : buf, len);
	free(copy);
	if (r < 0)
		return lx_set_error(lt, r, "cannot write memory at 0x%llx: %s",
				    (unsigned long long)addr, strerror(-r));
	return (ssize_t)len;
}
