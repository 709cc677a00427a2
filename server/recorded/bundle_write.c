/* server/recorded/bundle_write.c — write a trace bundle from a stopped live target: the core
 * through server/core/, the PT bytes and cpu info from the collector, then the image list read
 * back from the written core, LLDB's trace.json and status.json. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector/collector.h"
#include "collector/recorded.h"
#include "protocol/json.h"
#include "server/core/core.h"
#include "server/handlers/handlers.h"
#include "server/recorded/bundle.h"
#include "server/recorded/recorded.h"
#include "server/target.h"

static int write_file(const char *dir, const char *name, const void *data, size_t len, char *err,
		      size_t errlen)
{
	char path[4200];
	const char *p = data;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto fail;
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	if (close(fd) == 0)
		return 0;
fail:
	snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno ? errno : EIO));
	return errno ? -errno : -EIO;
}

static int make_dir(const char *path, char *err, size_t errlen)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	snprintf(err, errlen, "cannot create the directory %s: %s", path, strerror(errno));
	return -errno;
}

/* Ends the document and writes it to dir/name. */
static int write_json(const char *dir, const char *name, struct json_gen *j, char *err,
		      size_t errlen)
{
	int ret = json_gen_finish(j);

	if (ret)
		snprintf(err, errlen, "internal error: %s is not a complete JSON document", name);
	else
		ret = write_file(dir, name, j->out->data, j->out->len, err, errlen);
	json_gen_fini(j);
	return ret;
}

static int write_traces(const char *dir, struct target *t, struct collector *col,
			struct bundle_status *st, char *err, size_t errlen)
{
	pid_t tids[BUNDLE_MAX_THREADS];
	int n = t->ops->threads(t, tids, BUNDLE_MAX_THREADS), ret = 0;
	char path[4200];

	snprintf(path, sizeof(path), "%s/trace", dir);
	if ((ret = make_dir(path, err, errlen)))
		return ret;
	for (int i = 0; i < n && i < BUNDLE_MAX_THREADS && !ret; i++) {
		struct bundle_thread *bt = &st->threads[st->nthreads];
		struct buf pt = BUF_INIT;

		if (col->ops->read_thread(col, tids[i], &pt) < 0) {
			buf_fini(&pt);
			continue; /* not traced */
		}
		bt->tid = tids[i];
		bt->bytes = pt.len;
		snprintf(bt->file, sizeof(bt->file), "trace/%d.pt", tids[i]);
		ret = write_file(dir, bt->file, pt.data, pt.len, err, errlen);
		st->nthreads++;
		buf_fini(&pt);
	}
	return ret;
}

static const char *flag_names[] = {"main", "loader", "vdso", "executing"};

/* Copy an image into dir/images/; returns the relative name ("" when not copied). */
/* mkdir -p for the directories of dir/rel (not its last component). */
static int make_parents(const char *dir, const char *rel, char *err, size_t errlen)
{
	char path[4200];
	int ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	for (char *slash = path + strlen(dir) + 1; !ret && (slash = strchr(slash, '/')); slash++) {
		*slash = 0;
		ret = make_dir(path, err, errlen);
		*slash = '/';
	}
	return ret;
}

/* Copy an image to dir/images/PATH (its absolute path below images/, so that a debugger's
 * sysroot can point there); returns the relative name ("" when not copied). */
static void copy_image(const char *dir, const struct recorded_image *img, char *rel, size_t cap)
{
	struct buf data = BUF_INIT;
	char err[4300] = "";

	snprintf(rel, cap, "images%s", img->path);
	if (col_read_file(img->path, &data))
		snprintf(err, sizeof(err), "cannot read %s", img->path);
	else if (!make_parents(dir, rel, err, sizeof(err)))
		write_file(dir, rel, data.data, data.len, err, sizeof(err));
	if (err[0]) {
		fprintf(stderr, "record: %s: %s is not copied into the bundle\n", err, img->path);
		rel[0] = 0;
	}
	buf_fini(&data);
}

static bool image_has_file(const struct recorded_image *img)
{
	return img->path[0] == '/' && img->status != RECORDED_IMAGE_IN_CORE;
}

/* Link rel (below images/) to the copy of the image at path, relatively, so the bundle moves. */
static void link_alias(const char *dir, const char *alias, const char *path)
{
	char rel[600], target[4096] = "", link[4200], err[256];
	int depth = 0;

	snprintf(rel, sizeof(rel), "images%s", alias);
	for (const char *p = alias + 1; (p = strchr(p, '/')); p++)
		depth++;
	for (int i = 0; i < depth; i++)
		strcat(target, "../");
	strncat(target, path + 1, sizeof(target) - strlen(target) - 1);
	snprintf(link, sizeof(link), "%s/%s", dir, rel);
	if (make_parents(dir, rel, err, sizeof(err)) || (symlink(target, link) && errno != EEXIST))
		fprintf(stderr, "record: cannot link %s to the copy of %s\n", link, path);
}

/* The dynamic linker names libraries its own way (/lib/... where the mappings say
 * /usr/lib/...): link those names to the copies, so `set sysroot DIR/images` finds them. */
static void link_loader_names(const char *dir, struct target *t, const struct recorded_image *imgs,
			      size_t n)
{
	struct buf xml = BUF_INIT;
	const char *p;

	if (svr4_library_list(t, &xml, false) < 0)
		goto out;
	for (p = xml.data; (p = strstr(p, "<library name=\"")); p++) {
		char name[512];
		unsigned long long bias;
		const char *q = p + strlen("<library name=\""), *end = strchr(q, '"');
		const char *l_addr = end ? strstr(end, "l_addr=\"") : NULL;

		if (!end || !l_addr || (size_t)(end - q) >= sizeof(name) || *q != '/' ||
		    memchr(q, '&', (size_t)(end - q)) ||
		    sscanf(l_addr, "l_addr=\"%llx", &bias) != 1)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(end - q), q);
		for (size_t i = 0; i < n; i++)
			if (imgs[i].bias == bias && image_has_file(&imgs[i]) &&
			    strcmp(imgs[i].path, name))
				link_alias(dir, name, imgs[i].path);
	}
out:
	buf_fini(&xml);
}

static void put_int(struct json_gen *j, const char *key, int64_t v)
{
	json_key(j, key);
	json_int(j, v);
}

static void put_u64(struct json_gen *j, const char *key, uint64_t v)
{
	json_key(j, key);
	json_uint64(j, v);
}

static void put_str(struct json_gen *j, const char *key, const char *v)
{
	json_key(j, key);
	json_string(j, v);
}

static void put_hex(struct json_gen *j, const char *key, uint64_t v)
{
	char text[24];

	snprintf(text, sizeof(text), "0x%llx", (unsigned long long)v);
	put_str(j, key, text);
}

/* images.json and the modules of trace.json (files only: LLDB cannot load [vdso]). */
static void put_images(struct json_gen *images, struct json_gen *modules, const char *dir,
		       const struct recorded_image *imgs, size_t n, bool copy)
{
	json_map_begin(images);
	json_key(images, "images");
	json_array_begin(images);
	for (size_t i = 0; i < n; i++) {
		const struct recorded_image *img = &imgs[i];
		char rel[600] = "";

		if (copy && image_has_file(img) && img->status != RECORDED_IMAGE_MISSING)
			copy_image(dir, img, rel, sizeof(rel));
		json_map_begin(images);
		put_str(images, "path", img->path);
		put_str(images, "build_id", img->build_id[0] ? img->build_id : NULL);
		put_hex(images, "load_address", img->load_address);
		put_hex(images, "bias", img->bias);
		json_key(images, "flags");
		json_array_begin(images);
		for (unsigned b = 0; b < 4; b++)
			if (img->flags & (1u << b))
				json_string(images, flag_names[b]);
		json_array_end(images);
		put_str(images, "copy", rel[0] ? rel : NULL);
		json_map_end(images);
		if (!image_has_file(img))
			continue;
		json_map_begin(modules);
		put_str(modules, "systemPath", img->path);
		if (rel[0]) {
			put_str(modules, "file", rel);
		}
		put_hex(modules, "loadAddress", img->load_address);
		if (img->build_id[0]) {
			put_str(modules, "uuid", img->build_id);
		}
		json_map_end(modules);
	}
	json_array_end(images);
	json_map_end(images);
}

static void put_trace_head(struct json_gen *j, struct collector *col,
			   const struct bundle_status *st)
{
	struct col_cpu cpu;

	col->ops->cpu_identity(col, &cpu);
	json_map_begin(j);
	put_str(j, "type", "intel-pt");
	json_key(j, "cpuInfo");
	json_map_begin(j);
	put_str(j, "vendor", strcmp(cpu.vendor, "GenuineIntel") ? "unknown" : "GenuineIntel");
	put_int(j, "family", cpu.family);
	put_int(j, "model", cpu.model);
	put_int(j, "stepping", cpu.stepping);
	json_map_end(j);
	json_key(j, "processes");
	json_array_begin(j);
	json_map_begin(j);
	put_int(j, "pid", st->pid);
	put_str(j, "triple", "x86_64-unknown-linux-gnu");
	json_key(j, "threads");
	json_array_begin(j);
	for (size_t i = 0; i < st->nthreads; i++) {
		json_map_begin(j);
		put_int(j, "tid", st->threads[i].tid);
		put_str(j, "iptTrace", st->threads[i].file);
		json_map_end(j);
	}
	json_array_end(j);
	json_key(j, "modules");
	json_array_begin(j);
}

static void put_trace_tail(struct json_gen *j, struct collector *col)
{
	struct col_tsc_conversion conv;

	json_array_end(j); /* modules */
	json_map_end(j);   /* the process */
	json_array_end(j); /* processes */
	if (col->ops->tsc_conversion(col, &conv) == 0) {
		json_key(j, "tscPerfZeroConversion");
		json_map_begin(j);
		put_int(j, "timeMult", conv.time_mult);
		put_int(j, "timeShift", conv.time_shift);
		put_u64(j, "timeZero", conv.time_zero);
		json_map_end(j);
	}
	json_map_end(j);
}

/* images.json and trace.json, from the image note of the core just written. */
static int write_descriptions(const char *dir, struct collector *col,
			      const struct bundle_status *st, bool copy, char *err, size_t errlen)
{
	struct buf images_text = BUF_INIT, trace_text = BUF_INIT, diag = BUF_INIT;
	struct json_gen images, trace;
	const struct recorded_image *imgs;
	size_t nimgs;
	struct target *rt;
	char core[4200];
	int ret;

	snprintf(core, sizeof(core), "%s/core", dir);
	ret = recorded_target_open(core, NULL, &rt, &diag, err, errlen);
	buf_fini(&diag);
	if (ret)
		return ret;
	json_gen_init(&images, &images_text, true);
	json_gen_init(&trace, &trace_text, true);
	if (col)
		put_trace_head(&trace, col, st);
	else
		json_array_begin(&trace); /* a scratch array: no trace.json without a trace */
	nimgs = recorded_target_images(rt, &imgs);
	put_images(&images, &trace, dir, imgs, nimgs, copy);
	if (copy)
		link_loader_names(dir, rt, imgs, nimgs);
	ret = write_json(dir, "images.json", &images, err, errlen);
	if (col)
		put_trace_tail(&trace, col);
	if (col && !ret)
		ret = write_json(dir, "trace.json", &trace, err, errlen);
	else
		json_gen_fini(&trace);
	rt->ops->destroy(rt);
	buf_fini(&images_text);
	buf_fini(&trace_text);
	return ret;
}

static void put_signal(struct json_gen *j, const char *key, int signo)
{
	char name[32];
	const char *abbrev = signo > 0 ? sigabbrev_np(signo) : NULL;

	put_int(j, key, signo);
	snprintf(name, sizeof(name), "SIG%s", abbrev ? abbrev : "?");
	put_str(j, "signal_name", signo > 0 ? name : NULL);
}

static void put_outcome(struct json_gen *j, const struct bundle_status *st)
{
	json_key(j, "outcome");
	if (!st->ended) {
		json_null(j);
		return;
	}
	json_map_begin(j);
	if (st->exit_signal) {
		put_signal(j, "signal", st->exit_signal);
	} else {
		put_int(j, "exit_status", st->exit_status);
	}
	json_map_end(j);
}

int bundle_write_status(const char *dir, const struct bundle_status *st, char *err, size_t errlen)
{
	struct buf text = BUF_INIT;
	struct json_gen j;
	int ret;

	json_gen_init(&j, &text, true);
	json_map_begin(&j);
	put_str(&j, "format", "ptstub-bundle");
	put_int(&j, "version", 1);
	json_key(&j, "program");
	json_array_begin(&j);
	for (char *const *a = st->argv; a && *a; a++)
		json_string(&j, *a);
	json_array_end(&j);
	put_int(&j, "pid", st->pid);
	put_int(&j, "tid", st->tid);
	put_str(&j, "trigger", st->trigger);
	put_str(&j, "function", st->function[0] ? st->function : NULL);
	put_signal(&j, "signal", st->signo);
	put_str(&j, "time", st->time);
	put_str(&j, "trace_backend", st->backend);
	put_u64(&j, "trace_size", st->trace_size);
	json_key(&j, "threads");
	json_array_begin(&j);
	for (size_t i = 0; i < st->nthreads; i++) {
		json_map_begin(&j);
		put_int(&j, "tid", st->threads[i].tid);
		put_str(&j, "trace", st->threads[i].file);
		put_u64(&j, "bytes", st->threads[i].bytes);
		json_map_end(&j);
	}
	json_array_end(&j);
	put_outcome(&j, st);
	json_map_end(&j);
	ret = write_json(dir, "status.json", &j, err, errlen);
	buf_fini(&text);
	return ret;
}

static int write_cpuinfo(const char *dir, struct collector *col, char *err, size_t errlen)
{
	struct buf text = BUF_INIT;
	int ret = col->ops->cpu_info(col, &text);

	if (ret == 0)
		ret = write_file(dir, "cpuinfo", text.data, text.len, err, errlen);
	else
		snprintf(err, errlen, "cannot read the cpu info: %s", strerror(-ret));
	buf_fini(&text);
	return ret;
}

int bundle_write(const char *dir, struct target *t, struct collector *col, struct bundle_status *st,
		 bool copy_images, char *err, size_t errlen)
{
	struct core_options copt = {.first_tid = st->tid, .quiet = true};
	char core[4200];
	time_t now = time(NULL);
	int ret;

	strftime(st->time, sizeof(st->time), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	snprintf(st->backend, sizeof(st->backend), "%s", col ? col->ops->name : "off");
	st->nthreads = 0;
	if ((ret = make_dir(dir, err, errlen)))
		return ret;
	snprintf(core, sizeof(core), "%s/core", dir);
	ret = core_write(t, core, CORE_STYLE_MODIFIED, &copt, err, errlen);
	if (!ret && col)
		ret = write_traces(dir, t, col, st, err, errlen);
	if (!ret && col)
		ret = write_cpuinfo(dir, col, err, errlen);
	if (!ret)
		ret = write_descriptions(dir, col, st, copy_images, err, errlen);
	if (!ret)
		ret = bundle_write_status(dir, st, err, errlen);
	return ret;
}
