/* bench/programs/spin.c — a target that loops forever in simple instructions (something to
 * single-step through); prints "ready" once running. */
#include <stdio.h>

volatile unsigned long counter;

int main(void)
{
	printf("ready\n");
	fflush(stdout);
	for (;;)
		counter++;
}
