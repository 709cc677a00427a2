/* protocol/xml.h — escaping text for the XML documents we serve (target.xml, library lists,
 * thread lists, memory maps, btrace). Pure code. The output is always acceptable to an XML 1.0
 * parser such as GDB's expat: markup characters become entities, unusable bytes become '?'. */
#ifndef PTSTUB_PROTOCOL_XML_H
#define PTSTUB_PROTOCOL_XML_H

#include <stddef.h>

#include "protocol/buf.h"

/* Append s[0..len) to b, safe both as element content and inside a quoted attribute:
 * & < > " ' become entities; control bytes XML 1.0 cannot carry (below 0x20 except tab,
 * newline, carriage return), NUL, and bytes that are not part of a valid UTF-8 sequence
 * (thread names and paths are arbitrary bytes) become '?'. Valid UTF-8 is copied as is. */
void xml_escape_len(struct buf *b, const char *s, size_t len);
void xml_escape(struct buf *b, const char *s); /* NUL-terminated s */
/* Append ` name="escaped value"` (a leading space, then the attribute). */
void xml_attr(struct buf *b, const char *name, const char *value);

#endif
