/* server/handlers/files.c — vFile host I/O, read-only: open, pread, close, fstat, size,
 * exists, setfs. Unless --allow-file-access is given, only files the target maps (its
 * executable and libraries) and its own /proc entries can be opened. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "protocol/hex.h"
#include "server/handlers/handlers.h"

#define MAX_FILES 32
static int open_files[MAX_FILES] = {[0 ... MAX_FILES - 1] = -1};
static struct session *file_owner[MAX_FILES]; /* the session that opened each slot */

static void close_slot(int slot)
{
	close(open_files[slot]);
	open_files[slot] = -1;
	file_owner[slot] = NULL;
}

void vfile_session_drop(struct session *s)
{
	for (int slot = 0; slot < MAX_FILES; slot++)
		if (open_files[slot] >= 0 && file_owner[slot] == s)
			close_slot(slot);
}

/* GDB's File-I/O errno values. */
static int gdb_errno(int e)
{
	switch (e) {
	case EPERM: return 1;
	case ENOENT: return 2;
	case EINTR: return 4;
	case EIO: return 5;
	case EBADF: return 9;
	case EACCES: return 13;
	case EFAULT: return 14;
	case EBUSY: return 16;
	case EEXIST: return 17;
	case ENODEV: return 19;
	case ENOTDIR: return 20;
	case EISDIR: return 21;
	case EINVAL: return 22;
	case ENFILE: return 23;
	case EMFILE: return 24;
	case EFBIG: return 27;
	case ENOSPC: return 28;
	case ESPIPE: return 29;
	case EROFS: return 30;
	case ENAMETOOLONG: return 91;
	default: return 9999;
	}
}

static void reply_f_error(struct session *s, int e)
{
	buf_printf(&s->reply, "F-1,%x", gdb_errno(e));
}

/* Compared by canonical path: clients name libraries as the dynamic linker does
 * (/lib/...), the maps list them resolved (/usr/lib/...). */
static bool path_allowed(struct session *s, const char *requested)
{
	if (s->opts->allow_file_access)
		return true;
	char path[PATH_MAX];
	if (!realpath(requested, path))
		return false;
	if (!s->target)
		return false;
	/* A live target's own /proc entries; a recorded target's pid may belong to an unrelated
	 * process by now. */
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/%d/", s->pid);
	if (!s->target->ops->read_only(s->target) && strncmp(path, proc, strlen(proc)) == 0)
		return true;
	struct tgt_process_info pi;
	if (s->target->ops->process_info(s->target, &pi) == 0 && strcmp(pi.exe, path) == 0)
		return true;
	struct tgt_region *r = NULL;
	size_t n = 0;
	bool ok = false;
	if (s->target->ops->regions(s->target, &r, &n) == 0)
		for (size_t i = 0; i < n && !ok; i++)
			ok = strcmp(r[i].path, path) == 0;
	free(r);
	return ok;
}

/* Decodes hex(path) up to ',' or the end; *rest points after it. */
static bool get_path(const char *p, const char *end, char *path, size_t cap, const char **rest)
{
	const char *comma = memchr(p, ',', (size_t)(end - p));
	const char *stop = comma ? comma : end;
	if (hex_decode_str(p, (size_t)(stop - p), path, cap) < 0 || !path[0])
		return false;
	if (rest)
		*rest = comma ? comma + 1 : end;
	return true;
}

/* Opens path read-only if it exists and the policy allows it; -errno otherwise. */
static int open_checked(struct session *s, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	if (!path_allowed(s, path))
		return -EACCES;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static enum handler_result vfile_open(struct session *s, const char *p, const char *end)
{
	char path[4096];
	const char *rest;
	uint64_t flags = 0;
	if (!get_path(p, end, path, sizeof(path), &rest) || hex_parse_u64(&rest, end, &flags) < 0) {
		reply_f_error(s, EINVAL);
		return HANDLER_REPLY;
	}
	if (flags & 3) { /* WRONLY or RDWR: this server only reads */
		reply_f_error(s, EROFS);
		return HANDLER_REPLY;
	}
	int slot = 0;
	while (slot < MAX_FILES && open_files[slot] >= 0)
		slot++;
	if (slot == MAX_FILES) {
		reply_f_error(s, EMFILE);
		return HANDLER_REPLY;
	}
	int fd = open_checked(s, path);
	if (fd < 0) {
		reply_f_error(s, -fd);
		return HANDLER_REPLY;
	}
	open_files[slot] = fd;
	file_owner[slot] = s;
	buf_printf(&s->reply, "F%x", slot);
	return HANDLER_REPLY;
}

static int get_fd(struct session *s, const char **p, const char *end)
{
	uint64_t slot;
	if (hex_parse_u64(p, end, &slot) < 0 || slot >= MAX_FILES || open_files[slot] < 0 ||
	    file_owner[slot] != s)
		return -1;
	return (int)slot;
}

static enum handler_result vfile_pread(struct session *s, const char *p, const char *end)
{
	uint64_t count, off;
	int slot = get_fd(s, &p, end);
	if (slot < 0 || p >= end || *p++ != ',' || parse_addr_len(p, (size_t)(end - p), &count, &off,
								 NULL) < 0) {
		reply_f_error(s, slot < 0 ? EBADF : EINVAL);
		return HANDLER_REPLY;
	}
	if (count > SESSION_PACKET_SIZE / 2)
		count = SESSION_PACKET_SIZE / 2;
	char tmp[32];
	size_t hdr = (size_t)snprintf(tmp, sizeof(tmp), "F%llx;", (unsigned long long)count);
	uint8_t *dst = buf_tail(&s->reply, hdr + count);
	ssize_t n = pread(open_files[slot], dst + hdr, count, (off_t)off);
	if (n < 0) {
		reply_f_error(s, errno);
		return HANDLER_REPLY;
	}
	/* Rewrite the header with the real count, then move the data up behind it. */
	size_t real = (size_t)snprintf(tmp, sizeof(tmp), "F%zx;", (size_t)n);
	memmove(dst + real, dst + hdr, (size_t)n);
	memcpy(dst, tmp, real);
	buf_commit(&s->reply, real + (size_t)n);
	return HANDLER_REPLY;
}

static enum handler_result vfile_close(struct session *s, const char *p, const char *end)
{
	int slot = get_fd(s, &p, end);
	if (slot < 0) {
		reply_f_error(s, EBADF);
		return HANDLER_REPLY;
	}
	close_slot(slot);
	buf_puts(&s->reply, "F0");
	return HANDLER_REPLY;
}

static void put_be(struct buf *b, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--)
		buf_putc(b, (char)(v >> (8 * i)));
}

static enum handler_result vfile_fstat(struct session *s, const char *p, const char *end)
{
	struct stat st;
	int slot = get_fd(s, &p, end);
	if (slot < 0 || fstat(open_files[slot], &st) < 0) {
		reply_f_error(s, slot < 0 ? EBADF : errno);
		return HANDLER_REPLY;
	}
	buf_puts(&s->reply, "F40;");
	put_be(&s->reply, st.st_dev, 4);
	put_be(&s->reply, st.st_ino, 4);
	put_be(&s->reply, st.st_mode, 4);
	put_be(&s->reply, st.st_nlink, 4);
	put_be(&s->reply, st.st_uid, 4);
	put_be(&s->reply, st.st_gid, 4);
	put_be(&s->reply, st.st_rdev, 4);
	put_be(&s->reply, (uint64_t)st.st_size, 8);
	put_be(&s->reply, (uint64_t)st.st_blksize, 8);
	put_be(&s->reply, (uint64_t)st.st_blocks, 8);
	put_be(&s->reply, (uint64_t)st.st_atime, 4);
	put_be(&s->reply, (uint64_t)st.st_mtime, 4);
	put_be(&s->reply, (uint64_t)st.st_ctime, 4);
	return HANDLER_REPLY;
}

static enum handler_result vfile_size_or_exists(struct session *s, const char *p, const char *end,
						bool exists)
{
	char path[4096];
	struct stat st;
	if (!get_path(p, end, path, sizeof(path), NULL)) {
		reply_f_error(s, EINVAL);
		return HANDLER_REPLY;
	}
	int rc = stat(path, &st) < 0 ? -errno : path_allowed(s, path) ? 0 : -EACCES;
	if (exists)
		buf_puts(&s->reply, rc == 0 ? "F,1" : "F,0");
	else if (rc < 0)
		reply_f_error(s, -rc);
	else
		buf_printf(&s->reply, "F%llx", (unsigned long long)st.st_size);
	return HANDLER_REPLY;
}

/* args: ":<op>:<arguments>" */
enum handler_result handle_vFile(struct session *s, const char *args, size_t len)
{
	const char *end = args + len;
	static const struct {
		const char *name;
		int op;
	} ops[] = {{":open:", 0}, {":pread:", 1}, {":close:", 2}, {":fstat:", 3},
		   {":size:", 4},  {":exists:", 5}, {":setfs:", 6}};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t nl = strlen(ops[i].name);
		if (len < nl || memcmp(args, ops[i].name, nl) != 0)
			continue;
		const char *p = args + nl;
		switch (ops[i].op) {
		case 0: return vfile_open(s, p, end);
		case 1: return vfile_pread(s, p, end);
		case 2: return vfile_close(s, p, end);
		case 3: return vfile_fstat(s, p, end);
		case 4: return vfile_size_or_exists(s, p, end, false);
		case 5: return vfile_size_or_exists(s, p, end, true);
		case 6: buf_puts(&s->reply, "F0"); return HANDLER_REPLY;
		}
	}
	return HANDLER_REPLY; /* other vFile operations: unsupported */
}
