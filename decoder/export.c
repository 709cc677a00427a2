/* decoder/export.c — exports (placeholder). */
#include "decoder/decoder.h"
