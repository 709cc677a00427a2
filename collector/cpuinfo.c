/* collector/cpuinfo.c — CPU identity for decoders: the host's (CPUID, /proc/cpuinfo) and the
 * emulated model the software backend reports, one libipt knows (errata lookup must pass). */
#include "collector/collector.h"

#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* Gemini Lake: known to pt_cpu_errata; its only erratum concerns OVF, never synthesized. */
#define EMULATED_FAMILY 6
#define EMULATED_MODEL 122
#define EMULATED_STEPPING 1

void col_emulated_cpu(struct col_cpu *out)
{
	memset(out, 0, sizeof(*out));
	strcpy(out->vendor, "GenuineIntel");
	out->family = EMULATED_FAMILY;
	out->model = EMULATED_MODEL;
	out->stepping = EMULATED_STEPPING;
}

void col_emulated_cpuinfo(struct buf *out)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	for (long i = 0; i < (n > 0 ? n : 1); i++)
		buf_printf(out,
			   "processor\t: %ld\n"
			   "vendor_id\t: GenuineIntel\n"
			   "cpu family\t: %d\n"
			   "model\t\t: %d\n"
			   "stepping\t: %d\n"
			   "model name\t: ptstub software Intel PT (emulated model)\n"
			   "flags\t\t: fpu tsc intel_pt\n\n",
			   i, EMULATED_FAMILY, EMULATED_MODEL, EMULATED_STEPPING);
}

void col_host_cpu(struct col_cpu *out)
{
	unsigned a, b, c, d;

	memset(out, 0, sizeof(*out));
	if (!__get_cpuid(0, &a, &b, &c, &d))
		return;
	memcpy(out->vendor, &b, 4);
	memcpy(out->vendor + 4, &d, 4);
	memcpy(out->vendor + 8, &c, 4);
	if (!__get_cpuid(1, &a, &b, &c, &d))
		return;
	out->family = (a >> 8) & 0xf;
	if (out->family == 0xf)
		out->family += (a >> 20) & 0xff;
	out->model = (a >> 4) & 0xf;
	if (out->family == 6 || out->family >= 0xf)
		out->model += (a >> 12) & 0xf0;
	out->stepping = a & 0xf;
}

int col_host_cpuinfo(struct buf *out)
{
	return col_read_file("/proc/cpuinfo", out);
}
