/* tests/unit/test_buf.c — the growable buffer: growth across many appends, NUL termination,
 * printf past the first reservation, hex writers, tail/commit and consume. */
#include "protocol/buf.h"
#include "tests/unit/check.h"

#include <string.h>

static void test_append_and_growth(void)
{
	struct buf b = BUF_INIT;
	size_t total = 0;

	for (int i = 0; i < 1000; i++) {
		buf_puts(&b, "abc");
		total += 3;
		CHECK(b.len == total && b.cap >= b.len && b.data[b.len] == '\0');
	}
	CHECK(memcmp(b.data + 2997, "abc", 3) == 0);
	buf_reset(&b);
	CHECK(b.len == 0 && b.data[0] == '\0' && b.cap >= 3000);
	buf_putc(&b, 'x');
	buf_append(&b, "", 0);
	CHECK(strcmp(b.data, "x") == 0);
	buf_fini(&b);
	CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
	buf_append(&b, NULL, 0); /* an empty buffer is still a C string */
	CHECK(b.data && b.data[0] == '\0');
	buf_fini(&b);
}

static void test_printf(void)
{
	struct buf b = BUF_INIT;
	char big[300];

	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_printf(&b, "%d-%s", 42, "x");
	buf_printf(&b, "[%s]", big); /* longer than the first reservation */
	CHECK(b.len == 4 + 301 && strncmp(b.data, "42-x[qqq", 8) == 0);
	CHECK(b.data[b.len - 1] == ']' && b.data[b.len] == '\0');
	buf_fini(&b);
}

static void test_hex(void)
{
	struct buf b = BUF_INIT;
	const uint8_t bytes[] = {0x00, 0x7f, 0xab, 0xff};

	buf_put_hex(&b, bytes, sizeof(bytes));
	CHECK(strcmp(b.data, "007fabff") == 0);
	buf_reset(&b);
	buf_put_hex_str(&b, "/bin");
	CHECK(strcmp(b.data, "2f62696e") == 0);
	buf_reset(&b);
	buf_put_hex_u64(&b, 0);
	buf_putc(&b, ',');
	buf_put_hex_u64(&b, 0x1f);
	buf_putc(&b, ',');
	buf_put_hex_u64(&b, UINT64_MAX);
	CHECK(strcmp(b.data, "0,1f,ffffffffffffffff") == 0);
	buf_fini(&b);
}

static void test_tail_and_consume(void)
{
	struct buf b = BUF_INIT;
	char *t = buf_tail(&b, 5);

	memcpy(t, "hello", 5);
	buf_commit(&b, 5);
	buf_puts(&b, " world");
	buf_consume(&b, 6);
	CHECK(b.len == 5 && strcmp(b.data, "world") == 0);
	buf_consume(&b, 100);
	CHECK(b.len == 0 && b.data[0] == '\0');
	buf_fini(&b);
}

int main(void)
{
	test_append_and_growth();
	test_printf();
	test_hex();
	test_tail_and_consume();
	return check_result("test_buf");
}
