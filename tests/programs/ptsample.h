/* ptsample.h: the interface of libptsample.so, the small shared library the sample program
 * links so the end-to-end tests can break in (and backtrace out of) a shared object. */
#ifndef PTSAMPLE_H
#define PTSAMPLE_H

/* Returns a + b, through a static helper so a step inside the library has somewhere to go. */
int ptsample_lib_add(int a, int b);

/* Copies the library's name into buf (at most len bytes, NUL-terminated); returns buf. */
const char *ptsample_lib_name(char *buf, unsigned long len);

#endif
