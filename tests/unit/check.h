/* tests/unit/check.h — the one assertion macro of the unit tests: report the failed condition
 * with its place, count it, and carry on so one run shows every failure. */
#ifndef PTSTUB_TESTS_CHECK_H
#define PTSTUB_TESTS_CHECK_H

#include <stdio.h>

static int check_failures;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);   \
			check_failures++;                                                          \
		}                                                                                  \
	} while (0)

/* Return value of main: 0 when every CHECK held. */
static inline int check_result(const char *name)
{
	if (check_failures)
		fprintf(stderr, "%s: %d failed checks\n", name, check_failures);
	return check_failures != 0;
}

#endif
