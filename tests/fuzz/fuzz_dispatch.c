/* tests/fuzz/fuzz_dispatch.c — libFuzzer harness for the whole server side of a connection:
 * the input is what a client sends (framing, acks, interrupts and packets), run through a real
 * session, the dispatch table and every handler against the in-memory fake target. Seeds are
 * real GDB and LLDB sessions (corpus/dispatch/). */
#include "tests/fuzz/fuzz_session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_session_run(data, size);
}
