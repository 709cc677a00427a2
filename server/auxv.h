/* server/auxv.h — reading the auxiliary vector (pairs of 64-bit type and value) that
 * targets return from read_auxv and cores carry in NT_AUXV. */
#ifndef PTSTUB_SERVER_AUXV_H
#define PTSTUB_SERVER_AUXV_H

#include <stdint.h>

#include "protocol/buf.h"

/* The value of the first entry of this type (AT_PHDR, AT_ENTRY, ...), 0 if there is none.
 * auxv may be unaligned. */
uint64_t auxv_get(const struct buf *auxv, uint64_t type);

#endif
