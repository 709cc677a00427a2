/* tests/unit/test_hex.c — hex/decimal parsers (bounds, overflow, invalid input), byte
 * decoders and every GDB thread-id form. */
#include "protocol/buf.h"
#include "protocol/hex.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <string.h>

/* Parse s whole with a parser; return its result and how many chars it used. */
static int parse_with(int (*parse)(const char **, const char *, uint64_t *), const char *s,
		      uint64_t *v, size_t *used)
{
	const char *p = s;
	int err = parse(&p, s + strlen(s), v);

	*used = (size_t)(p - s);
	return err;
}

static void test_numbers(void)
{
	uint64_t v = 0;
	size_t used;

	CHECK(parse_with(hex_parse_u64, "1fZ", &v, &used) == 0 && v == 0x1f && used == 2);
	CHECK(parse_with(hex_parse_u64, "FFFFffffFFFFffff", &v, &used) == 0 && v == UINT64_MAX);
	CHECK(parse_with(hex_parse_u64, "000000000000000000001", &v, &used) == 0 && v == 1);
	CHECK(parse_with(hex_parse_u64, "10000000000000000", &v, &used) == -ERANGE && used == 0);
	CHECK(parse_with(hex_parse_u64, "", &v, &used) == -EINVAL && used == 0);
	CHECK(parse_with(hex_parse_u64, "xyz", &v, &used) == -EINVAL && used == 0);
	CHECK(parse_with(dec_parse_u64, "18446744073709551615,", &v, &used) == 0 &&
	      v == UINT64_MAX && used == 20);
	CHECK(parse_with(dec_parse_u64, "18446744073709551616", &v, &used) == -ERANGE);
	CHECK(parse_with(dec_parse_u64, "12a", &v, &used) == 0 && v == 12 && used == 2);

	/* The end pointer bounds the parse even when more digits follow in memory. */
	const char *s = "12345", *p = s;

	CHECK(hex_parse_u64(&p, s + 2, &v) == 0 && v == 0x12 && p == s + 2);
}

static void test_bytes(void)
{
	uint8_t out[4];
	char str[8];
	struct buf b = BUF_INIT;

	CHECK(hex_digit('a') == 10 && hex_digit('F') == 15 && hex_digit('g') == -1);
	CHECK(hex_decode("00ff7fA0", 4, out) == 0 && out[0] == 0 && out[1] == 0xff &&
	      out[2] == 0x7f && out[3] == 0xa0);
	CHECK(hex_decode("0g", 1, out) == -EINVAL);
	CHECK(hex_decode_str("6869", 4, str, sizeof(str)) == 0 && strcmp(str, "hi") == 0);
	CHECK(hex_decode_str("686", 3, str, sizeof(str)) == -EINVAL);
	CHECK(hex_decode_str("68696a6b6c6d6e6f", 16, str, sizeof(str)) == -ERANGE);
	/* Round trip of every byte value through the buffer's hex writer. */
	for (int i = 0; i < 256; i++) {
		uint8_t in = (uint8_t)i, back;

		buf_reset(&b);
		buf_put_hex(&b, &in, 1);
		CHECK(hex_decode(b.data, 1, &back) == 0 && back == in);
	}
	buf_fini(&b);
}

struct ptid_case {
	const char *text;
	int err;
	int64_t pid, tid;
	size_t used;
};

static void test_ptids(void)
{
	static const struct ptid_case cases[] = {
		{"p1.2", 0, 1, 2, 4},
		{"p1.-1", 0, 1, -1, 5},
		{"-1", 0, 0, -1, 2},
		{"0", 0, 0, 0, 1},
		{"1f", 0, 0, 0x1f, 2},
		{"p-1.-1", 0, -1, -1, 6},
		{"p2a", 0, 0x2a, -1, 3},
		{"p1.2;rest", 0, 1, 2, 4},
		{"-2", -EINVAL, 0, 0, 0},
		{"p.1", -EINVAL, 0, 0, 0},
		{"", -EINVAL, 0, 0, 0},
		{"-10", -EINVAL, 0, 0, 0},
		{"8000000000000000", -ERANGE, 0, 0, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ptid_case *c = &cases[i];
		const char *p = c->text;
		int64_t pid = 0, tid = 0;
		int err = ptid_parse(&p, c->text + strlen(c->text), &pid, &tid);

		CHECK(err == c->err);
		if (err != c->err)
			fprintf(stderr, "  ptid \"%s\": %d\n", c->text, err);
		if (c->err)
			continue;
		CHECK(pid == c->pid && tid == c->tid && (size_t)(p - c->text) == c->used);
	}
}

int main(void)
{
	test_numbers();
	test_bytes();
	test_ptids();
	return check_result("test_hex");
}
