/* tests/programs/fast_paths.c — the target of tests/server/test_fast_paths.py, which checks
 * the server's shortcuts against what a debugger must see anyway: a 1 MiB heap buffer with a
 * known pattern (read in a row of large requests, with read-ahead), xmm7 loaded with a known
 * value before a breakpoint (stop replies read only the general registers), zmm17 and k1 too
 * where the CPU has AVX-512, and three nested frames to step in (LLDB gets the stack in its
 * stop replies). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define FP_LEN (1u << 20)

uint8_t *fp_buffer;
unsigned fp_buffer_len = FP_LEN;
volatile int fp_sink;

/* The byte at offset i of the buffer (the test computes the same). */
static uint8_t fp_pattern(uint32_t i)
{
	return (uint8_t)((i * 2654435761u) >> 24);
}

void fp_marker(void)
{
	fp_sink++; /* LINE: marker */
}

void fp_inner(int depth)
{
	fp_sink += depth; /* LINE: inner */
	fp_sink *= 3;
	fp_sink -= depth;
}

void fp_middle(int depth)
{
	fp_inner(depth + 1);
	fp_sink++;
}

void fp_outer(void)
{
	fp_middle(1);
	fp_sink++;
}

/* zmm17 = 0x17170000000000NN for NN = 0..7 (element i holds i), k1 = 0xa5c3. */
__attribute__((target("avx512f"))) static void fp_load_avx512(void)
{
	static const uint64_t zmm17[8] = {
		0x1717000000000000, 0x1717000000000001, 0x1717000000000002, 0x1717000000000003,
		0x1717000000000004, 0x1717000000000005, 0x1717000000000006, 0x1717000000000007};

	__asm__ volatile("vmovdqu64 %0, %%zmm17\n\t"
			 "movl $0xa5c3, %%eax\n\t"
			 "kmovw %%eax, %%k1"
			 :
			 : "m"(zmm17)
			 : "xmm17", "eax", "k1");
}

int main(void)
{
	static const uint8_t xmm7[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
					 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};

	fp_buffer = malloc(FP_LEN);
	if (!fp_buffer)
		return 1;
	for (uint32_t i = 0; i < FP_LEN; i++)
		fp_buffer[i] = fp_pattern(i);
	if (__builtin_cpu_supports("avx512f"))
		fp_load_avx512();
	__asm__ volatile("movdqu %0, %%xmm7" : : "m"(xmm7) : "xmm7");
	fp_marker();
	fp_outer();
	printf("fast_paths: done %d\n", fp_sink);
	return 0;
}
