/* protocol/hex.c — hex, decimal and thread-id codecs for packet fields.
 * Every parser is bounded by an explicit end pointer and reports overflow as -ERANGE. */
#include "protocol/hex.h"

#include <errno.h>
#include <stdbool.h>

int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hex_digit((unsigned char)s[2 * i]);
		int lo = hex_digit((unsigned char)s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int hex_decode_str(const char *s, size_t len, char *out, size_t cap)
{
	size_t n = len / 2;
	int err;

	if (len % 2 || cap == 0)
		return -EINVAL;
	if (n > cap - 1)
		return -ERANGE;
	err = hex_decode(s, n, (uint8_t *)out);
	if (err)
		return err;
	out[n] = '\0';
	return 0;
}

/* Shared digit loop: base 16 or 10, value must fit in 64 bits. */
static int parse_u64(const char **p, const char *end, unsigned base, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	while (s < end) {
		int d = hex_digit((unsigned char)*s);

		if (d < 0 || (unsigned)d >= base)
			break;
		if (v > (UINT64_MAX - (unsigned)d) / base)
			return -ERANGE;
		v = v * base + (unsigned)d;
		s++;
	}
	if (s == *p)
		return -EINVAL;
	*p = s;
	*out = v;
	return 0;
}

int hex_parse_u64(const char **p, const char *end, uint64_t *out)
{
	return parse_u64(p, end, 16, out);
}

int dec_parse_u64(const char **p, const char *end, uint64_t *out)
{
	return parse_u64(p, end, 10, out);
}

/* One id component: "-1" or a hex number that fits in an int64. */
static int ptid_component(const char **p, const char *end, int64_t *out)
{
	const char *s = *p;
	uint64_t v;
	int err;

	if (s < end && *s == '-') {
		if (s + 1 < end && s[1] == '1' &&
		    (s + 2 == end || hex_digit((unsigned char)s[2]) < 0)) {
			*p = s + 2;
			*out = -1;
			return 0;
		}
		return -EINVAL;
	}
	err = hex_parse_u64(&s, end, &v);
	if (err)
		return err;
	if (v > INT64_MAX)
		return -ERANGE;
	*p = s;
	*out = (int64_t)v;
	return 0;
}

int ptid_parse(const char **p, const char *end, int64_t *pid, int64_t *tid)
{
	const char *s = *p;
	int64_t pv, tv = -1;
	int err;

	if (s < end && *s == 'p') {
		s++;
		err = ptid_component(&s, end, &pv);
		if (err)
			return err;
		/* "p<pid>" alone names the whole process: all of its threads. */
		if (s < end && *s == '.') {
			s++;
			err = ptid_component(&s, end, &tv);
			if (err)
				return err;
		}
		*pid = pv;
		*tid = tv;
		*p = s;
		return 0;
	}
	err = ptid_component(&s, end, &tv);
	if (err)
		return err;
	*pid = 0;
	*tid = tv;
	*p = s;
	return 0;
}
