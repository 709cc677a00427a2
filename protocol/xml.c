/* protocol/xml.c — XML escaping for target.xml, library lists and thread lists: plain runs are
 * copied in one piece, markup characters become entities, and what XML 1.0 cannot carry
 * (most control bytes, invalid UTF-8) becomes '?'. */
#include "protocol/xml.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* True for bytes copied as they are: printable ASCII other than markup characters. */
static bool xml_plain(uint8_t c)
{
	return c >= 0x20 && c < 0x80 && c != '&' && c != '<' && c != '>' && c != '"' && c != '\'';
}

/* Length of the valid UTF-8 sequence at s (at most len bytes), or 0 if it is not valid. */
static size_t utf8_seq_len(const uint8_t *s, size_t len)
{
	size_t n;
	uint32_t cp;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates, beyond U+10FFFF, and U+FFFE/U+FFFF are not XML chars. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) ||
	    cp > 0x10ffff || cp == 0xfffe || cp == 0xffff)
		return 0;
	return n;
}

/* The entity for a markup character, or NULL. */
static const char *xml_entity(uint8_t c)
{
	switch (c) {
	case '&':
		return "&amp;";
	case '<':
		return "&lt;";
	case '>':
		return "&gt;";
	case '"':
		return "&quot;";
	case '\'':
		return "&apos;";
	default:
		return NULL;
	}
}

/* One byte (or UTF-8 sequence) that is not plain: append its escaped form, return its size. */
static size_t xml_escape_one(struct buf *b, const uint8_t *s, size_t len)
{
	const char *entity = xml_entity(s[0]);
	size_t n;

	if (entity) {
		buf_puts(b, entity);
		return 1;
	}
	if (s[0] == '\t' || s[0] == '\n' || s[0] == '\r') {
		buf_putc(b, (char)s[0]);
		return 1;
	}
	n = s[0] >= 0x80 ? utf8_seq_len(s, len) : 0;
	if (n == 0) {
		buf_putc(b, '?');
		return 1;
	}
	buf_append(b, s, n);
	return n;
}

void xml_escape_len(struct buf *b, const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0;

	while (i < len) {
		size_t run = i;

		while (run < len && xml_plain(p[run]))
			run++;
		buf_append(b, p + i, run - i);
		if (run < len)
			run += xml_escape_one(b, p + run, len - run);
		i = run;
	}
}

void xml_escape(struct buf *b, const char *s)
{
	xml_escape_len(b, s, strlen(s));
}

void xml_attr(struct buf *b, const char *name, const char *value)
{
	buf_printf(b, " %s=\"", name);
	xml_escape(b, value);
	buf_putc(b, '"');
}
