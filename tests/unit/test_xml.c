/* tests/unit/test_xml.c — XML escaping: markup entities, control bytes, valid and invalid UTF-8
 * (truncated, overlong, surrogates), embedded NULs with the length form, attribute helper. */
#include "protocol/xml.h"

#include <string.h>

#include "tests/unit/check.h"

static int escaped_is(const char *in, size_t len, const char *want)
{
	struct buf b = BUF_INIT;
	int ok;

	xml_escape_len(&b, in, len);
	ok = b.len == strlen(want) && (b.len == 0 || memcmp(b.data, want, b.len) == 0);
	if (!ok)
		fprintf(stderr, "xml_escape_n: got '%s', want '%s'\n", b.data, want);
	buf_fini(&b);
	return ok;
}

#define ESCAPES(in, want) CHECK(escaped_is(in, sizeof(in) - 1, want))

static void test_markup(void)
{
	ESCAPES("", "");
	ESCAPES("plain name-1.so", "plain name-1.so");
	ESCAPES("a<b>&\"c'", "a&lt;b&gt;&amp;&quot;c&apos;");
	ESCAPES("&&", "&amp;&amp;");
	ESCAPES("tab\there\nline\r", "tab\there\nline\r");
}

static void test_bytes_xml_cannot_carry(void)
{
	ESCAPES("a\001b\037c\177", "a?b?c\177");
	ESCAPES("nul\0end", "nul?end");
	ESCAPES("caf\xc3\xa9", "caf\xc3\xa9");		 /* é */
	ESCAPES("\xe2\x82\xac!", "\xe2\x82\xac!");	 /* € */
	ESCAPES("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"); /* U+1F600 */
	ESCAPES("\xff\xfe", "??");			 /* never valid */
	ESCAPES("\xc3", "?");				 /* truncated at the end */
	ESCAPES("\xe2\x82x", "??x");			 /* truncated in the middle */
	ESCAPES("\xc0\xaf", "??");			 /* overlong '/' */
	ESCAPES("\xe0\x80\xaf", "???");			 /* overlong, 3 bytes */
	ESCAPES("\xed\xa0\x80", "???");			 /* surrogate D800 */
	ESCAPES("\xf4\x90\x80\x80", "????");		 /* beyond U+10FFFF */
	ESCAPES("\xef\xbf\xbf", "???");			 /* U+FFFF */
}

static void test_attr_and_appending(void)
{
	struct buf b = BUF_INIT;

	buf_puts(&b, "<thread");
	xml_attr(&b, "id", "p1f.20");
	xml_attr(&b, "name", "w<1>&\"x\"");
	buf_puts(&b, "/>");
	CHECK(strcmp(b.data, "<thread id=\"p1f.20\" name=\"w&lt;1&gt;&amp;&quot;x&quot;\"/>") == 0);
	buf_reset(&b);
	xml_escape(&b, "a&b");
	xml_escape(&b, "<");
	CHECK(strcmp(b.data, "a&amp;b&lt;") == 0);
	buf_fini(&b);
}

static void test_long_run(void)
{
	static char in[100001];
	struct buf b = BUF_INIT;

	memset(in, 'x', sizeof(in) - 1);
	in[50000] = '&';
	xml_escape(&b, in);
	CHECK(b.len == sizeof(in) - 1 + 4);
	CHECK(memcmp(b.data + 50000, "&amp;x", 6) == 0);
	buf_fini(&b);
}

int main(void)
{
	test_markup();
	test_bytes_xml_cannot_carry();
	test_attr_and_appending();
	test_long_run();
	return check_result("test_xml");
}
