/* tests/unit/test_json.c — the JSON helpers: generator output and misuse, typed getters and
 * their errors, 64-bit integers, and compact/pretty reformatting round trips. */
#include "protocol/json.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <string.h>

/* A reply in the shape of jLLDBTraceGetState, built with every emitter. */
static void build_doc(struct buf *out, bool pretty)
{
	struct json_gen j;

	json_gen_init(&j, out, pretty);
	json_map_begin(&j);
	json_key(&j, "name");
	json_string(&j, "a \"quoted\" /path}\n");
	json_key(&j, "tid");
	json_int(&j, -42);
	json_key(&j, "size");
	json_uint64(&j, UINT64_MAX);
	json_key(&j, "on");
	json_bool(&j, true);
	json_key(&j, "none");
	json_string(&j, NULL);
	json_key(&j, "list");
	json_array_begin(&j);
	json_int(&j, 1);
	json_string_len(&j, "ab\0c", 4);
	json_array_end(&j);
	json_map_end(&j);
	CHECK(json_gen_finish(&j) == 0);
	json_gen_fini(&j);
}

static void test_generate_and_parse(void)
{
	struct buf out = BUF_INIT, err = BUF_INIT;
	yajl_val doc, list;
	const char *s;
	int64_t i;
	uint64_t u;
	bool b;

	build_doc(&out, false);
	CHECK(strstr(out.data, "\"size\":18446744073709551615") != NULL);
	CHECK(strstr(out.data, "\"name\":\"a \\\"quoted\\\" /path}\\n\"") != NULL);
	CHECK(json_parse(out.data, &doc, &err) == 0);
	CHECK(json_get_string(doc, "name", &s, &err) == 0 &&
	      strcmp(s, "a \"quoted\" /path}\n") == 0);
	CHECK(json_get_int(doc, "tid", &i, &err) == 0 && i == -42);
	CHECK(json_get_uint64(doc, "size", &u, &err) == 0 && u == UINT64_MAX);
	CHECK(json_get_bool(doc, "on", &b, &err) == 0 && b);
	CHECK(json_get_array(doc, "list", &list, &err) == 0 && YAJL_GET_ARRAY(list)->len == 2);
	CHECK(err.len == 0);

	/* Type errors and missing keys name the key and the expected type. */
	CHECK(json_get_string(doc, "tid", &s, &err) == -EINVAL);
	CHECK(strcmp(err.data, "key \"tid\" must be a string") == 0);
	buf_reset(&err);
	CHECK(json_get_uint64(doc, "tid", &u, &err) == -EINVAL && strstr(err.data, "\"tid\""));
	CHECK(json_get_int(doc, "size", &i, NULL) == -EINVAL); /* does not fit in int64 */
	CHECK(json_get_bool(doc, "none", &b, NULL) == -EINVAL);
	CHECK(json_get_object(doc, "list", &list, NULL) == -EINVAL);
	buf_reset(&err);
	CHECK(json_get_int(doc, "missing", &i, &err) == -ENOENT);
	CHECK(strstr(err.data, "missing key \"missing\"") != NULL);
	CHECK(json_get_int(list, "tid", &i, NULL) == -ENOENT); /* not an object */
	yajl_tree_free(doc);

	buf_reset(&err);
	CHECK(json_parse("{\"a\":", &doc, &err) == -EINVAL &&
	      strncmp(err.data, "invalid JSON", 12) == 0);
	buf_fini(&out);
	buf_fini(&err);
}

static void test_generator_misuse(void)
{
	struct buf out = BUF_INIT;
	struct json_gen j;

	json_gen_init(&j, &out, false);
	json_map_begin(&j);
	CHECK(json_gen_finish(&j) == -EINVAL); /* unbalanced */
	json_gen_fini(&j);

	buf_reset(&out);
	json_gen_init(&j, &out, false);
	json_map_begin(&j);
	json_key(&j, "k");
	json_map_end(&j); /* a key without its value */
	CHECK(json_gen_finish(&j) == -EINVAL);
	json_gen_fini(&j);

	buf_reset(&out);
	json_gen_init(&j, &out, false);
	json_uint64(&j, 7); /* a lone scalar is a whole document */
	CHECK(json_gen_finish(&j) == 0 && strcmp(out.data, "7") == 0);
	json_gen_fini(&j);
	buf_fini(&out);
}

static void test_reformat(void)
{
	struct buf compact = BUF_INIT, pretty = BUF_INIT, again = BUF_INIT, err = BUF_INIT;

	build_doc(&compact, false);
	build_doc(&pretty, true);
	CHECK(strchr(pretty.data, '\n') && strstr(pretty.data, "\n  \"tid\": -42"));
	/* pretty → compact gives the compact form back, big integers intact */
	CHECK(json_reformat(pretty.data, pretty.len, &again, false, &err) == 0);
	CHECK(strcmp(again.data, compact.data) == 0);
	buf_reset(&again);
	CHECK(json_reformat(compact.data, compact.len, &again, true, &err) == 0);
	CHECK(strcmp(again.data, pretty.data) == 0);

	buf_reset(&again);
	buf_puts(&again, "keep");
	CHECK(json_reformat("{\"a\":[1,2}", 10, &again, true, &err) == -EINVAL);
	CHECK(strcmp(again.data, "keep") == 0 && strstr(err.data, "invalid JSON"));
	buf_reset(&err);
	CHECK(json_reformat("OK", 2, &again, true, &err) == -EINVAL);
	buf_fini(&compact);
	buf_fini(&pretty);
	buf_fini(&again);
	buf_fini(&err);
}

/* Hand-built literals must parse back to the very same bytes. */
static void test_quote(void)
{
	static const char tricky[] = "q\"b\\s/n\nt\tc\x01\x1f}*#$\xc3\xa9";
	struct buf b = BUF_INIT;
	yajl_val doc;
	const char *s;

	buf_puts(&b, "{\"k\":");
	json_quote(&b, tricky);
	buf_putc(&b, '}');
	CHECK(strstr(b.data, "\\u0001\\u001f") != NULL);
	CHECK(json_parse(b.data, &doc, NULL) == 0);
	CHECK(json_get_string(doc, "k", &s, NULL) == 0 && strcmp(s, tricky) == 0);
	yajl_tree_free(doc);
	buf_reset(&b);
	json_quote_len(&b, "", 0);
	CHECK(strcmp(b.data, "\"\"") == 0);
	buf_fini(&b);
}

int main(void)
{
	test_quote();
	test_generate_and_parse();
	test_generator_misuse();
	test_reformat();
	return check_result("test_json");
}
