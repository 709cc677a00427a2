/* server/core/dirty_pages.h — which pages of a live process are modified (anonymous and
 * present or swapped, copy-on-write pages of private file mappings included, the shared zero
 * page excluded), found without faulting anything in: the PAGEMAP_SCAN ioctl where the kernel
 * has it, /proc/PID/pagemap otherwise. */
#ifndef PTSTUB_SERVER_CORE_DIRTY_PAGES_H
#define PTSTUB_SERVER_CORE_DIRTY_PAGES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum dirty_method { DIRTY_AUTO, DIRTY_PAGEMAP_SCAN, DIRTY_PAGEMAP };

/* Append the addresses of modified pages in [start, end) to *pages (realloc'd), ascending.
 * Returns 0 or -errno. The method can be forced with PTSTUB_DIRTY_METHOD=pagemap|scan. */
int dirty_pages_scan(pid_t pid, uint64_t start, uint64_t end, enum dirty_method method,
		     uint64_t **pages, size_t *n);

#endif
