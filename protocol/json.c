/* protocol/json.c — JSON helpers over yajl 2.1 (generator into a struct buf, typed getters).
 * Placeholder while the helpers are written. */
#include "protocol/buf.h"
