/* protocol/hex.h — hex and number codecs for packet fields. Pure code.
 * Parsers return 0 on success and -EINVAL (or -ERANGE on overflow) otherwise, and advance
 * *p past what they consumed; they never read past end. */
#ifndef PTSTUB_PROTOCOL_HEX_H
#define PTSTUB_PROTOCOL_HEX_H

#include <stddef.h>
#include <stdint.h>

int hex_digit(int c);                  /* 0..15, or -1 for a non-hex character */
/* Decode 2*n hex chars at s into n bytes at out. -EINVAL on any non-hex char. */
int hex_decode(const char *s, size_t n, uint8_t *out);
/* Decode a hex string of len chars (len even) into out (NUL-terminated, at most cap-1 bytes). */
int hex_decode_str(const char *s, size_t len, char *out, size_t cap);
/* Parse an unsigned hex number (at least one digit, at most 16 significant). */
int hex_parse_u64(const char **p, const char *end, uint64_t *out);
/* Parse an unsigned decimal number. */
int dec_parse_u64(const char **p, const char *end, uint64_t *out);
/* Parse a GDB thread id: "tid", "-1", "0", "p<pid>.<tid>", "p<pid>.-1". Values: -1 = all,
 * 0 = any. *pid is -1/0/pid when given, else left 0. */
int ptid_parse(const char **p, const char *end, int64_t *pid, int64_t *tid);

#endif
