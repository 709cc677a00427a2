/* tests/fuzz/fuzz_session.h — what the dispatcher fuzzers share: a real session (framing,
 * acks, dispatch table, handlers) on a socketpair, debugging the in-memory fake target, driven
 * by the real event loop until the client's bytes run out. */
#ifndef PTSTUB_TESTS_FUZZ_FUZZ_SESSION_H
#define PTSTUB_TESTS_FUZZ_FUZZ_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest client byte stream one run takes (it must fit the socket buffer at once). */
#define FUZZ_STREAM_MAX 65536

/* True if the packet must not reach the handlers in a fuzzer: it would start or attach to
 * real processes (vRun, A, vAttach) or write files (qSaveCore). */
bool fuzz_packet_forbidden(const char *payload, size_t len);

/* Sends stream (client bytes, framing included) to a fresh session over a fresh fake target,
 * one packet at a time as a client would (the next after a reply), and runs the loop until
 * the session ends. Returns -1 (input rejected) when stream is too long or holds a forbidden
 * packet, else 0. */
int fuzz_session_run(const uint8_t *stream, size_t len);
/* The same stream sent by a read-only observer connection beside a controlling session that
 * debugs the fake target (server/session.h): every packet is refused or read-only. */
int fuzz_observer_run(const uint8_t *stream, size_t len);

#endif
