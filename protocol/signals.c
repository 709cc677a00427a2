/* protocol/signals.c — translation between GDB's signal numbering and Linux x86-64's.
 * The classic signals map by a table; real-time signals follow GDB's REALTIME ranges. */
#include "protocol/signals.h"

#include <stddef.h>

/* Linux signal number (index) -> GDB signal number; 0 = no GDB equivalent. */
static const unsigned char linux_to_gdb[32] = {
	[1] = 1,   /* HUP */  [2] = 2,   /* INT */  [3] = 3,   /* QUIT */ [4] = 4,   /* ILL */
	[5] = 5,   /* TRAP */ [6] = 6,   /* ABRT */ [7] = 10,  /* BUS */  [8] = 8,   /* FPE */
	[9] = 9,   /* KILL */ [10] = 30, /* USR1 */ [11] = 11, /* SEGV */ [12] = 31, /* USR2 */
	[13] = 13, /* PIPE */ [14] = 14, /* ALRM */ [15] = 15, /* TERM */ [16] = 0,  /* STKFLT */
	[17] = 20, /* CHLD */ [18] = 19, /* CONT */ [19] = 17, /* STOP */ [20] = 18, /* TSTP */
	[21] = 21, /* TTIN */ [22] = 22, /* TTOU */ [23] = 16, /* URG */  [24] = 24, /* XCPU */
	[25] = 25, /* XFSZ */ [26] = 26, /* VTALRM */ [27] = 27, /* PROF */ [28] = 28, /* WINCH */
	[29] = 23, /* IO */   [30] = 32, /* PWR */  [31] = 12, /* SYS */
};

int sig_linux_to_gdb(int sig)
{
	if (sig <= 0)
		return 0;
	if (sig < 32)
		return linux_to_gdb[sig] ? linux_to_gdb[sig] : 143;
	if (sig == 32)
		return 77;
	if (sig <= 63)
		return sig + 12;
	if (sig <= 127)
		return sig + 14;
	return 143;
}

int sig_gdb_to_linux(int gsig)
{
	if (gsig == 0)
		return 0;
	for (int s = 1; s < 32; s++)
		if (linux_to_gdb[s] == gsig)
			return s;
	if (gsig == 77)
		return 32;
	if (gsig >= 45 && gsig <= 75)
		return gsig - 12;
	if (gsig >= 78 && gsig <= 141)
		return gsig - 14;
	return -1;
}
