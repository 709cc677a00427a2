/* tests/unit/test_perf_pt.c — the hardware backend without a PMU: sysfs parsing from a fake
 * tree, perf_event_attr building, AUX and DATA ring copies with wrap, TSC conversion, cpu
 * list, backend choice, and the clear error on a machine without intel_pt. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector/perf_pt.h"
#include "tests/unit/check.h"

static char root[64];

static void put(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	f = fopen(path, "w");
	CHECK(f);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void make_fake_sysfs(void)
{
	char dir[128];

	strcpy(root, "/tmp/test_perf_pt_XXXXXX");
	CHECK(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/format", root);
	mkdir(dir, 0755);
	snprintf(dir, sizeof(dir), "%s/caps", root);
	mkdir(dir, 0755);
	put("type", "9\n");
	put("format/tsc", "config:10\n");
	put("format/psb_period", "config:24-27\n");
	put("caps/psb_cyc", "1\n");
	put("caps/psb_periods", "003f\n");
}

static void remove_fake_sysfs(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	CHECK(system(cmd) == 0);
}

static void test_parse_format(void)
{
	int a = -1, b = -1;

	CHECK(perfpt_parse_format("config:10\n", &a, &b) == 0 && a == 10 && b == 10);
	CHECK(perfpt_parse_format("config:24-27", &a, &b) == 0 && a == 24 && b == 27);
	CHECK(perfpt_parse_format("config1:3", &a, &b) == -EINVAL);
	CHECK(perfpt_parse_format("config:", &a, &b) == -EINVAL);
	CHECK(perfpt_parse_format("config:27-24", &a, &b) == -EINVAL);
}

static void test_attr(void)
{
	struct col_config cfg = COL_CONFIG_INIT;
	struct perf_event_attr attr;
	struct perfpt_pmu pmu;
	char err[256];

	CHECK(perfpt_pmu_load(root, &pmu, err, sizeof(err)) == 0);
	CHECK(pmu.type == 9 && pmu.tsc_bit == 10 && pmu.psb_period_shift == 24);
	CHECK(pmu.psb_cyc && pmu.psb_periods == 0x3f);

	CHECK(perfpt_build_attr(&pmu, &cfg, false, &attr, err, sizeof(err)) == 0);
	CHECK(attr.type == 9 && attr.size == sizeof(attr) && attr.config == 0);
	CHECK(attr.exclude_kernel && attr.exclude_hv && attr.exclude_idle && !attr.disabled);

	cfg.enable_tsc = true;
	cfg.psb_period = 3;
	CHECK(perfpt_build_attr(&pmu, &cfg, true, &attr, err, sizeof(err)) == 0);
	CHECK(attr.config == ((1ull << 10) | (3ull << 24)) && attr.disabled);

	cfg.psb_period = 7;
	CHECK(perfpt_build_attr(&pmu, &cfg, false, &attr, err, sizeof(err)) == -EINVAL);
	CHECK(!strcmp(err, "Invalid psb_period. Valid values are: 0, 1, 2, 3, 4, 5"));
	pmu.psb_cyc = false;
	cfg.psb_period = 1;
	CHECK(perfpt_build_attr(&pmu, &cfg, false, &attr, err, sizeof(err)) == -EOPNOTSUPP);
	CHECK(!strcmp(err, "psb_period is unsupported in the system."));

	perfpt_context_switch_attr(&attr);
	CHECK(attr.type == PERF_TYPE_SOFTWARE && attr.context_switch && attr.sample_id_all);
	CHECK(attr.sample_type == (PERF_SAMPLE_TID | PERF_SAMPLE_TIME));
}

static void test_sizes(void)
{
	char err[256];

	CHECK(perfpt_aux_pages(4096, 4096) == 1);
	CHECK(perfpt_aux_pages(4 << 20, 4096) == 1024);
	CHECK(perfpt_aux_pages(12288, 4096) == 2);
	CHECK(col_check_trace_size(4096, err, sizeof(err)) == 0);
	CHECK(col_check_trace_size(1 << 20, err, sizeof(err)) == 0);
	CHECK(col_check_trace_size(5000, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "power of 2 greater than or equal to 4096 (2^12) bytes. It was 5000."));
	CHECK(col_check_trace_size(2048, err, sizeof(err)) == -EINVAL);
}

static void test_ring_copy(void)
{
	const uint8_t ring[8] = {'e', 'f', 'g', 'h', 'a', 'b', 'c', 'd'};
	struct buf out = BUF_INIT;

	perfpt_copy_aux(ring, 8, 4, &out); /* head inside the ring: oldest at head */
	CHECK(out.len == 8 && !memcmp(out.data, "abcdefgh", 8));
	buf_reset(&out);
	perfpt_copy_aux(ring, 8, 0, &out);
	CHECK(out.len == 8 && !memcmp(out.data, "efghabcd", 8));
	buf_reset(&out);
	perfpt_copy_data(ring, 8, 3, &out); /* not wrapped yet */
	CHECK(out.len == 3 && !memcmp(out.data, "efg", 3));
	buf_reset(&out);
	perfpt_copy_data(ring, 8, 12, &out); /* wrapped: head grows without bound */
	CHECK(out.len == 8 && !memcmp(out.data, "abcdefgh", 8));
	buf_fini(&out);
}

static void test_tsc(void)
{
	struct perf_event_mmap_page pg;
	struct col_tsc_conversion conv;
	char err[256];
	int ret;

	memset(&pg, 0, sizeof(pg));
	pg.cap_user_time = 1;
	CHECK(perfpt_tsc_from_page(&pg, &conv, err, sizeof(err)) == -EOPNOTSUPP);
	CHECK(strstr(err, "'cap_user_time_zero' not supported"));
	pg.cap_user_time_zero = 1;
	pg.time_mult = 3;
	pg.time_shift = 1;
	pg.time_zero = 1000;
	CHECK(perfpt_tsc_from_page(&pg, &conv, err, sizeof(err)) == 0);
	/* q = 7 >> 1 = 3, r = 1: 1000 + 3*3 + (1*3 >> 1) = 1010 */
	CHECK(col_tsc_to_ns(&conv, 7) == 1010);
	/* The real kernel: either values or the sentence, never a crash. */
	ret = col_tsc_conversion_query(&conv, err, sizeof(err));
	CHECK(ret == 0 || strstr(err, "perf"));
}

static void test_cpus_and_choice(void)
{
	const char *text = "processor\t: 0\nvendor_id\t: X\n\nprocessor\t: 1\nmodel\t: 2\n\n"
			   "processor\t: 3\n";
	struct collector *c = NULL;
	char err[256];
	int cpus[4];

	CHECK(perfpt_parse_cpus(text, cpus, 4) == 3 && cpus[0] == 0 && cpus[2] == 3);
	CHECK(col_hw_available(root));
	CHECK(col_create(COL_BACKEND_AUTO, NULL, root, &c, err, sizeof(err)) == 0 && c);
	CHECK(c && !strcmp(c->ops->name, "perf-intel-pt"));
	col_destroy(c);
	c = NULL;
	CHECK(!col_hw_available("/nonexistent/intel_pt"));
	CHECK(perfpt_create(NULL, "/nonexistent/intel_pt", &c, err, sizeof(err)) == -ENODEV);
	CHECK(strstr(err, "intel_pt PMU not found") && strstr(err, "software backend"));
	if (!col_hw_available(NULL))
		CHECK(col_create(COL_BACKEND_HW, NULL, NULL, &c, err, sizeof(err)) == -ENODEV);
}

int main(void)
{
	enum col_backend b;

	make_fake_sysfs();
	test_parse_format();
	test_attr();
	test_sizes();
	test_ring_copy();
	test_tsc();
	test_cpus_and_choice();
	CHECK(col_backend_parse("sw", &b) == 0 && b == COL_BACKEND_SW);
	CHECK(col_backend_parse("hardware", &b) == 0 && b == COL_BACKEND_HW);
	CHECK(col_backend_parse("x", &b) == -EINVAL);
	remove_fake_sysfs();
	return check_result("test_perf_pt");
}
