/* protocol/json.h — JSON for our packets over yajl 2.1: a generator that writes into a struct
 * buf, typed getters over a parsed yajl_tree with errors that name the key, and a reformatter
 * (pretty printing for `ptstub query`). Pure code. */
#ifndef PTSTUB_PROTOCOL_JSON_H
#define PTSTUB_PROTOCOL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "protocol/buf.h"

/* A generator appending to out. Misuse (a value where a key is due, unbalanced ends) is
 * remembered and reported by json_gen_finish; emitters themselves never fail. The yajl handle
 * `g` may be passed to code that emits with yajl directly (decoder exports). */
struct json_gen {
	yajl_gen g;	  /* owned; output goes to out */
	struct buf *out;  /* not owned */
	int err;	  /* first error (negative errno), 0 if none */
	int depth;	  /* open maps and arrays */
	bool complete;	  /* one whole top-level value has been emitted */
	bool key_pending; /* a key was emitted, its value not yet */
};

void json_gen_init(struct json_gen *j, struct buf *out, bool pretty);
/* Check that the document is complete; 0 or -EINVAL. Does not free: call json_gen_fini.
 * Only values emitted through the json_* functions below are tracked, not direct yajl calls. */
int json_gen_finish(struct json_gen *j);
void json_gen_fini(struct json_gen *j);

void json_map_begin(struct json_gen *j);
void json_map_end(struct json_gen *j);
void json_array_begin(struct json_gen *j);
void json_array_end(struct json_gen *j);
void json_key(struct json_gen *j, const char *key);
void json_string(struct json_gen *j, const char *s); /* NULL emits null */
void json_string_len(struct json_gen *j, const char *s, size_t len);
void json_int(struct json_gen *j, int64_t v);
void json_uint64(struct json_gen *j, uint64_t v); /* full 64-bit range, as a number */
void json_bool(struct json_gen *j, bool v);
void json_null(struct json_gen *j);

/* For replies built by hand with buf_printf: append s as a quoted JSON string literal, with
 * `"`, backslash and control bytes escaped (\n, \t, \u00XX); other bytes are kept. */
void json_quote_len(struct buf *b, const char *s, size_t len);
void json_quote(struct buf *b, const char *s); /* NUL-terminated s */

/* Parse a NUL-terminated document. On error returns -EINVAL and appends yajl's message to err
 * (if not NULL). Free *out with yajl_tree_free. */
int json_parse(const char *text, yajl_val *out, struct buf *err);

/* Typed members of an object. Return 0, -ENOENT if the key is absent (or obj is not an object),
 * or -EINVAL if it has another type; both append a sentence naming the key and the expected
 * type to err (if not NULL). Strings point into the tree. json_get_uint64 accepts any
 * non-negative integer up to UINT64_MAX; json_get_int any integer that fits in int64_t. */
int json_get_string(yajl_val obj, const char *key, const char **out, struct buf *err);
int json_get_int(yajl_val obj, const char *key, int64_t *out, struct buf *err);
int json_get_uint64(yajl_val obj, const char *key, uint64_t *out, struct buf *err);
int json_get_bool(yajl_val obj, const char *key, bool *out, struct buf *err);
int json_get_array(yajl_val obj, const char *key, yajl_val *out, struct buf *err);
int json_get_object(yajl_val obj, const char *key, yajl_val *out, struct buf *err);

/* Re-emit the JSON document text[0..len) into out, pretty (indented, newline-terminated) or
 * compact. Large integers keep all their digits. 0, or -EINVAL (message in err) if text is not
 * one complete JSON document. */
int json_reformat(const char *text, size_t len, struct buf *out, bool pretty, struct buf *err);

#endif
