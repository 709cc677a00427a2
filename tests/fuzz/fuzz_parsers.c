/* tests/fuzz/fuzz_parsers.c — libFuzzer harness for the field codecs every handler uses:
 * hex and decimal numbers, thread ids, hex strings (protocol/hex.c) and JSON documents with
 * their typed getters (protocol/json.c). Inputs are copied to exact-size buffers so that any
 * read past `end` is an ASan error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/hex.h"
#include "protocol/json.h"

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_parsers: %s\n", what);
		abort();
	}
}

static void numbers(const char *s, size_t n)
{
	const char *end = s + n, *p = s;
	uint64_t v;
	int rc = hex_parse_u64(&p, end, &v);
	check(p >= s && p <= end, "hex_parse_u64 moved outside the input");
	check(rc == 0 || rc == -EINVAL || rc == -ERANGE, "hex_parse_u64: unexpected error");
	p = s;
	rc = dec_parse_u64(&p, end, &v);
	check(p >= s && p <= end, "dec_parse_u64 moved outside the input");
	int64_t pid = 0, tid = 0;
	p = s;
	rc = ptid_parse(&p, end, &pid, &tid);
	check(p >= s && p <= end, "ptid_parse moved outside the input");
	check(rc < 0 || tid >= -1, "ptid_parse returned a thread id below -1");
}

static void hex_strings(const char *s, size_t n)
{
	char out[64];
	int rc = hex_decode_str(s, n, out, sizeof(out));
	check(rc < 0 || strlen(out) < sizeof(out), "hex_decode_str overflowed its output");
	uint8_t *bytes = malloc(n / 2 + 1);
	if (hex_decode(s, n / 2, bytes) == 0) {
		/* Hex we decoded re-encodes to the same text, case aside. */
		struct buf b = BUF_INIT;
		buf_put_hex(&b, bytes, n / 2);
		check(b.len == (n / 2) * 2 && strncasecmp(b.data, s, b.len) == 0,
		      "hex_decode and buf_put_hex disagree");
		buf_fini(&b);
	}
	free(bytes);
}

static void json(const char *text, size_t n)
{
	static const char *keys[] = {"type", "tids", "iptTraceSize", "enableTsc", "psbPeriod",
				     "kind", "tid",  "offset",	     "size",	  "cpuId"};
	yajl_val v;
	struct buf err = BUF_INIT, out = BUF_INIT;
	if (json_parse(text, &v, &err) == 0) {
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			const char *str;
			int64_t i;
			uint64_t u;
			bool b;
			yajl_val sub;
			json_get_string(v, keys[k], &str, &err);
			json_get_int(v, keys[k], &i, &err);
			json_get_uint64(v, keys[k], &u, &err);
			json_get_bool(v, keys[k], &b, &err);
			json_get_array(v, keys[k], &sub, &err);
			json_get_object(v, keys[k], &sub, &err);
		}
		yajl_tree_free(v);
		/* A document that parses reformats, and the compact form parses again (comments
		 * aside: yajl's tree parser allows them, the reformatter does not). */
		struct buf again = BUF_INIT;
		bool comments = strchr(text, '/') != NULL;
		check(comments || json_reformat(text, strlen(text), &out, false, &err) == 0,
		      "a parsed document does not reformat");
		check(comments || json_reformat(out.data, out.len, &again, true, &err) == 0,
		      "a reformatted document does not reformat again");
		buf_fini(&again);
	}
	buf_reset(&out);
	json_quote_len(&out, text, n);
	buf_fini(&out);
	buf_fini(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = 0;
	numbers(s, size);
	hex_strings(s, size);
	json(s, size);
	free(s);
	return 0;
}
