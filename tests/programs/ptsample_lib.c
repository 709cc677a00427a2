/* ptsample_lib.c: libptsample.so, linked by the sample program. Its functions have names no
 * other object uses, so a breakpoint on them proves the debugger resolved a shared library. */
#include <string.h>

#include "ptsample.h"

int ptsample_lib_calls; /* how many times ptsample_lib_add ran; a global in the library */

static int ptsample_lib_sum(int a, int b)
{
	return a + b;
}

int ptsample_lib_add(int a, int b)
{
	ptsample_lib_calls++;
	return ptsample_lib_sum(a, b); /* LINE: lib_add_body */
}

const char *ptsample_lib_name(char *buf, unsigned long len)
{
	strncpy(buf, "libptsample", len - 1);
	buf[len - 1] = '\0';
	return buf;
}
