/* protocol/xml.h — escaping text for the XML documents we serve (target.xml, library lists,
 * thread lists, memory maps). Pure code. */
#ifndef PTSTUB_PROTOCOL_XML_H
#define PTSTUB_PROTOCOL_XML_H

#include <stddef.h>

#include "protocol/buf.h"

/* Append s[0..len) to b with & < > " ' written as entities, so the text is safe both as
 * element content and inside a quoted attribute. Control bytes that XML 1.0 cannot carry at
 * all (below 0x20 except tab, newline, carriage return) are written as '?'. Other bytes,
 * including UTF-8 sequences, are copied as they are. */
void xml_escape_len(struct buf *b, const char *s, size_t len);
void xml_escape(struct buf *b, const char *s); /* NUL-terminated s */

#endif
