/* protocol/xml.c — XML escaping for target.xml, library lists and thread lists: plain runs are
 * copied in one piece, the five markup characters become entities. */
#include "protocol/xml.h"

#include <string.h>

/* The replacement for each byte that cannot go out as itself, or NULL. */
static const char *xml_replacement(unsigned char c)
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
	case '\t':
	case '\n':
	case '\r':
		return NULL;
	default:
		return c < 0x20 ? "?" : NULL;
	}
}

void xml_escape_len(struct buf *b, const char *s, size_t len)
{
	size_t start = 0;

	for (size_t i = 0; i < len; i++) {
		const char *rep = xml_replacement((unsigned char)s[i]);

		if (!rep)
			continue;
		buf_append(b, s + start, i - start);
		buf_puts(b, rep);
		start = i + 1;
	}
	buf_append(b, s + start, len - start);
}

void xml_escape(struct buf *b, const char *s)
{
	xml_escape_len(b, s, strlen(s));
}
