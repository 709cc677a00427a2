/* protocol/json.c — JSON helpers over yajl 2.1: a generator printing into a struct buf,
 * type-checked getters over yajl_tree with errors that name the key, and a streaming
 * reformatter (parser callbacks feeding a generator) used to pretty-print replies. */
#include "protocol/json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "protocol/hex.h"

static void json_print(void *ctx, const char *str, size_t len)
{
	buf_append(ctx, str, len);
}

/* A generator printing into out; the one place yajl_gen is configured. */
static yajl_gen json_gen_alloc(struct buf *out, bool pretty)
{
	yajl_gen g = yajl_gen_alloc(NULL);

	if (!g) {
		fputs("ptstub: out of memory allocating a JSON generator\n", stderr);
		abort();
	}
	yajl_gen_config(g, yajl_gen_print_callback, json_print, out);
	if (pretty) {
		yajl_gen_config(g, yajl_gen_beautify, 1);
		yajl_gen_config(g, yajl_gen_indent_string, "  ");
	}
	return g;
}

void json_gen_init(struct json_gen *j, struct buf *out, bool pretty)
{
	j->g = json_gen_alloc(out, pretty);
	j->out = out;
	j->err = 0;
	j->depth = 0;
	j->complete = false;
	j->key_pending = false;
}

int json_gen_finish(struct json_gen *j)
{
	if (!j->err && (j->depth != 0 || !j->complete))
		j->err = -EINVAL;
	return j->err;
}

void json_gen_fini(struct json_gen *j)
{
	if (j->g)
		yajl_gen_free(j->g);
	j->g = NULL;
}

/* Bookkeeping after one yajl call: depth change (+1 open, -1 close, 0 value or key). */
static void json_track(struct json_gen *j, yajl_gen_status st, int delta, bool is_key)
{
	/* yajl lets a map close right after a key: catch that here. */
	if (st == yajl_gen_status_ok && delta < 0 && j->key_pending)
		st = yajl_gen_generation_complete;
	if (st != yajl_gen_status_ok) {
		if (!j->err)
			j->err = -EINVAL;
		return;
	}
	j->depth += delta;
	j->key_pending = is_key;
	if (j->depth == 0 && delta <= 0 && !is_key)
		j->complete = true;
}

void json_map_begin(struct json_gen *j)
{
	json_track(j, yajl_gen_map_open(j->g), 1, false);
}

void json_map_end(struct json_gen *j)
{
	json_track(j, yajl_gen_map_close(j->g), -1, false);
}

void json_array_begin(struct json_gen *j)
{
	json_track(j, yajl_gen_array_open(j->g), 1, false);
}

void json_array_end(struct json_gen *j)
{
	json_track(j, yajl_gen_array_close(j->g), -1, false);
}

void json_key(struct json_gen *j, const char *key)
{
	json_track(j, yajl_gen_string(j->g, (const unsigned char *)key, strlen(key)), 0, true);
}

void json_string_len(struct json_gen *j, const char *s, size_t len)
{
	json_track(j, yajl_gen_string(j->g, (const unsigned char *)s, len), 0, false);
}

void json_string(struct json_gen *j, const char *s)
{
	if (s)
		json_string_len(j, s, strlen(s));
	else
		json_null(j);
}

void json_int(struct json_gen *j, int64_t v)
{
	json_track(j, yajl_gen_integer(j->g, v), 0, false);
}

void json_uint64(struct json_gen *j, uint64_t v)
{
	char digits[24];
	int n = snprintf(digits, sizeof(digits), "%" PRIu64, v);

	json_track(j, yajl_gen_number(j->g, digits, (size_t)n), 0, false);
}

void json_bool(struct json_gen *j, bool v)
{
	json_track(j, yajl_gen_bool(j->g, v), 0, false);
}

void json_null(struct json_gen *j)
{
	json_track(j, yajl_gen_null(j->g), 0, false);
}

void json_quote_len(struct buf *b, const char *s, size_t len)
{
	size_t start = 0;

	buf_putc(b, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		buf_append(b, s + start, i - start);
		if (c == '"' || c == '\\')
			buf_printf(b, "\\%c", c);
		else if (c == '\n')
			buf_puts(b, "\\n");
		else if (c == '\t')
			buf_puts(b, "\\t");
		else
			buf_printf(b, "\\u%04x", c);
		start = i + 1;
	}
	buf_append(b, s + start, len - start);
	buf_putc(b, '"');
}

void json_quote(struct buf *b, const char *s)
{
	json_quote_len(b, s, strlen(s));
}

int json_parse(const char *text, yajl_val *out, struct buf *err)
{
	char msg[256];

	msg[0] = '\0';
	*out = yajl_tree_parse(text, msg, sizeof(msg));
	if (*out)
		return 0;
	if (err)
		buf_printf(err, "invalid JSON: %s", msg[0] ? msg : "parse error");
	return -EINVAL;
}

/* The member key of obj checked with is(); the error sentence names key and type. */
static int json_member(yajl_val obj, const char *key, bool (*is)(yajl_val), const char *type,
		       yajl_val *out, struct buf *err)
{
	const char *path[] = {key, NULL};
	yajl_val v = YAJL_IS_OBJECT(obj) ? yajl_tree_get(obj, path, yajl_t_any) : NULL;

	if (!v) {
		if (err)
			buf_printf(err, "missing key \"%s\" (expected %s)", key, type);
		return -ENOENT;
	}
	if (!is(v)) {
		if (err)
			buf_printf(err, "key \"%s\" must be %s", key, type);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static bool is_string(yajl_val v)
{
	return YAJL_IS_STRING(v);
}

static bool is_integer(yajl_val v)
{
	return YAJL_IS_INTEGER(v);
}

/* Digits only: a non-negative integer (its range is checked while parsing). */
static bool is_unsigned(yajl_val v)
{
	const char *s = YAJL_IS_NUMBER(v) ? v->u.number.r : NULL;

	return s && *s && strspn(s, "0123456789") == strlen(s);
}

static bool is_bool(yajl_val v)
{
	return YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v);
}

static bool is_array(yajl_val v)
{
	return YAJL_IS_ARRAY(v);
}

static bool is_object(yajl_val v)
{
	return YAJL_IS_OBJECT(v);
}

int json_get_string(yajl_val obj, const char *key, const char **out, struct buf *err)
{
	yajl_val v;
	int ret = json_member(obj, key, is_string, "a string", &v, err);

	if (!ret)
		*out = YAJL_GET_STRING(v);
	return ret;
}

int json_get_int(yajl_val obj, const char *key, int64_t *out, struct buf *err)
{
	yajl_val v;
	int ret = json_member(obj, key, is_integer, "an integer", &v, err);

	if (!ret)
		*out = YAJL_GET_INTEGER(v);
	return ret;
}

int json_get_uint64(yajl_val obj, const char *key, uint64_t *out, struct buf *err)
{
	yajl_val v;
	int ret = json_member(obj, key, is_unsigned, "a non-negative integer", &v, err);
	const char *s;

	if (ret)
		return ret;
	s = v->u.number.r;
	if (dec_parse_u64(&s, s + strlen(s), out)) {
		if (err)
			buf_printf(err, "key \"%s\" must be an integer below 2^64", key);
		return -EINVAL;
	}
	return 0;
}

int json_get_bool(yajl_val obj, const char *key, bool *out, struct buf *err)
{
	yajl_val v;
	int ret = json_member(obj, key, is_bool, "a boolean", &v, err);

	if (!ret)
		*out = YAJL_IS_TRUE(v);
	return ret;
}

int json_get_array(yajl_val obj, const char *key, yajl_val *out, struct buf *err)
{
	return json_member(obj, key, is_array, "an array", out, err);
}

int json_get_object(yajl_val obj, const char *key, yajl_val *out, struct buf *err)
{
	return json_member(obj, key, is_object, "an object", out, err);
}

/* Reformatter: each parser callback re-emits its token on the generator (the context). */
static int rf_null(void *g)
{
	return yajl_gen_null(g) == yajl_gen_status_ok;
}

static int rf_bool(void *g, int v)
{
	return yajl_gen_bool(g, v) == yajl_gen_status_ok;
}

static int rf_number(void *g, const char *s, size_t len)
{
	return yajl_gen_number(g, s, len) == yajl_gen_status_ok;
}

static int rf_string(void *g, const unsigned char *s, size_t len)
{
	return yajl_gen_string(g, s, len) == yajl_gen_status_ok;
}

static int rf_map_open(void *g)
{
	return yajl_gen_map_open(g) == yajl_gen_status_ok;
}

static int rf_map_close(void *g)
{
	return yajl_gen_map_close(g) == yajl_gen_status_ok;
}

static int rf_array_open(void *g)
{
	return yajl_gen_array_open(g) == yajl_gen_status_ok;
}

static int rf_array_close(void *g)
{
	return yajl_gen_array_close(g) == yajl_gen_status_ok;
}

static const yajl_callbacks reformat_callbacks = {
	.yajl_null = rf_null,
	.yajl_boolean = rf_bool,
	.yajl_number = rf_number,
	.yajl_string = rf_string,
	.yajl_start_map = rf_map_open,
	.yajl_map_key = rf_string,
	.yajl_end_map = rf_map_close,
	.yajl_start_array = rf_array_open,
	.yajl_end_array = rf_array_close,
};

int json_reformat(const char *text, size_t len, struct buf *out, bool pretty, struct buf *err)
{
	size_t start = out->len;
	yajl_gen g = json_gen_alloc(out, pretty);
	yajl_handle h = yajl_alloc(&reformat_callbacks, NULL, g);
	yajl_status st = yajl_parse(h, (const unsigned char *)text, len);
	int ret = 0;

	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	if (st != yajl_status_ok) {
		if (err) {
			unsigned char *msg = yajl_get_error(h, 0, (const unsigned char *)text, len);

			buf_printf(err, "invalid JSON: %s", (const char *)msg);
			yajl_free_error(h, msg);
		}
		if (out->data) {
			out->len = start;
			out->data[start] = '\0';
		}
		ret = -EINVAL;
	}
	yajl_free(h);
	yajl_gen_free(g);
	return ret;
}
