/* tests/fuzz/fuzz_observer.c — libFuzzer harness for read-only observer connections: the input
 * is what a client beside a debugger sends (ptstub decode's connection), run through a real
 * observer session next to a controlling session that debugs the in-memory fake target. The
 * seeds are the dispatcher's (real GDB and LLDB sessions): everything in them that would change
 * something must be refused, and nothing may crash or leak. */
#include "tests/fuzz/fuzz_session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_observer_run(data, size);
}
