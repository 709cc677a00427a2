/* protocol/xml.c — XML escaping for target.xml, library and thread lists.
 * Placeholder while the helpers are written. */
#include "protocol/buf.h"
