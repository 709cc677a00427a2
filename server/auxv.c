/* server/auxv.c — one lookup in an auxiliary vector, shared by the library list, the core
 * writer, the recorded target and `ptstub record`. */
#include "server/auxv.h"

#include <string.h>

uint64_t auxv_get(const struct buf *auxv, uint64_t type)
{
	uint64_t pair[2];
	for (size_t off = 0; off + sizeof(pair) <= auxv->len; off += sizeof(pair)) {
		memcpy(pair, auxv->data + off, sizeof(pair));
		if (pair[0] == type)
			return pair[1];
	}
	return 0;
}
