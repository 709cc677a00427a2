/* tests/fuzz/fake_target.h — an in-memory debuggee behind struct target_ops for the fuzzers:
 * three threads, a code page, a data page and a stack, breakpoints, resumes that stop again,
 * software-trace steps. No ptrace, no files, no processes: every input runs the same way. */
#ifndef PTSTUB_TESTS_FUZZ_FAKE_TARGET_H
#define PTSTUB_TESTS_FUZZ_FAKE_TARGET_H

#include <stdbool.h>

#include "server/target.h"

/* A pid no real process has (above the kernel's largest pid_max), so /proc lookups fail. */
#define FAKE_PID 5000000

struct loop;

/* A new fake target; its events reach cb from a call deferred on loop. */
struct target *fake_target_new(struct loop *loop, const struct tgt_callbacks *cb);

/* The loop's part: deliver the event a resume, interrupt or kill left pending (at most one).
 * Returns true if one was delivered. t must still be alive (not destroyed). */
bool fake_target_deliver(struct target *t);

#endif
