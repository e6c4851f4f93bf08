/* The C reader's batched reads (see procread.h for the rules they keep).
 *
 * A batch's items are claimed one at a time, with an atomic counter, by at
 * most two threads (Walk's helper and the thread stepping the walk), each
 * reading into its own arena: no lock, and no Python object is touched, so
 * every read here runs without the GIL.  A file is read as files.read reads
 * it: the stat file in one read of SLOT bytes (a seq_file's first read
 * holds its whole line), any other file to its end or its cap (top's
 * schedstat, in the numbers form, in one read too: a short one is caught by
 * its parser, see stat_parse.c).  A failure that is the task's (gone, hidden, refused: what
 * files.LEFT_OUT holds) marks the file unread; any other (EMFILE, ENOMEM:
 * ours; EIO: the read failed) is kept in the arena's fatal, with the file,
 * and ends the reading of the batch: a failed read is no empty answer.
 */
#include "procread.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* What files.LEFT_OUT holds: a task gone, hidden or refused, and what no
 * /proc file answers (a fake root's socket or loop); any other failure is
 * raised, never taken for a task that is not there. */
static int left_out(int err)
{
	switch (err) {
	case ENOENT:
	case ESRCH:
	case EACCES:
	case EPERM:
	case ENOTDIR:
	case ELOOP:
	case ENXIO:
	case ENODEV:
	case EISDIR:
	case EOPNOTSUPP:
		return 1;
	}
	return 0;
}

/* Keep a failure that is no task's, and the file it came from. */
static void fail(struct arena *b, int err, const char *path)
{
	if (left_out(err) || b->fatal)
		return;
	b->fatal = err;
	snprintf(b->fatal_path, sizeof b->fatal_path, "%s", path);
}

static int reserve(struct arena *b, size_t more)
{
	size_t want = b->used + more;
	char *grown;

	if (want <= b->cap)
		return 1;
	want = want < 2 * b->cap ? 2 * b->cap : want;
	grown = PyMem_RawRealloc(b->data, want);
	if (!grown) {
		b->fatal = ENOMEM;
		snprintf(b->fatal_path, sizeof b->fatal_path, "%s", "the reader's buffer");
		return 0;
	}
	b->data = grown;
	b->cap = want;
	return 1;
}

/* Append the file at path (under dir_fd) to the arena, at most cap bytes
 * (in one read if once): its length, or -1 if it cannot be read (b->fatal
 * set if that is ours). */
static long slurp(struct arena *b, int dir_fd, const char *path, long cap, int once)
{
	int fd = openat(dir_fd, path, OPEN_FLAGS);
	long got = 0;

	if (fd < 0) {
		fail(b, errno, path);
		return -1;
	}
	while (got < cap) {
		size_t chunk = (size_t)(cap - got) < SLOT ? (size_t)(cap - got) : SLOT;
		ssize_t n;

		if (!reserve(b, (size_t)got + chunk)) /* room after what is read so far */
			break;
		n = read(fd, b->data + b->used + got, chunk);
		if (n < 0) {
			fail(b, errno, path);
			got = -1;
			break;
		}
		if (n == 0)
			break;
		got += n;
		if (once)
			break;
	}
	close(fd);
	if (b->fatal)
		return -1;
	return got;
}

/* Read one task into arena who: its stat file, its directory's owner if
 * the plan wants it, then each of the plan's files.  len[0] is set last,
 * once the task is complete: it stays -1 if the task is left out. */
void read_task(const struct plan *p, struct batch *batch, int who, struct item *it)
{
	struct arena *b = &batch->ar[who];

	char dir[16], path[16 + NAME_MAX_];
	long n, stat_len;

	for (int f = 0; f <= MAX_FILES; f++)
		it->len[f] = -1;
	it->has_uid = 0;
	it->arena = who;
	if (p->tgid && it->id == p->tgid && !p->leader_own)
		strcpy(dir, ".."); /* a group's leader: its process's files (group-wide times) */
	else
		snprintf(dir, sizeof(dir), "%d", it->id);
	/* stat: one read, as files.read */
	snprintf(path, sizeof(path), "%s/stat", dir);
	stat_len = slurp(b, p->dir_fd, path, SLOT, 1);
	if (stat_len < 0)
		return;
	it->off[0] = b->used;
	b->used += (size_t)stat_len;
	if (p->want_uid) {
		struct stat st;

		if (fstatat(p->dir_fd, dir, &st, 0) < 0) {
			fail(b, errno, dir);
			return; /* as snapshot._extras: a task gone meanwhile is left out */
		}
		it->uid = st.st_uid;
		it->has_uid = 1;
	}
	for (int f = 0; f < p->nfiles; f++) {
		snprintf(path, sizeof(path), "%s/%s", dir, p->files[f]);
		n = slurp(b, p->dir_fd, path, p->caps[f], p->numbers);
		if (b->fatal)
			return;
		it->off[1 + f] = b->used;
		it->len[1 + f] = n;
		if (n > 0)
			b->used += (size_t)n;
	}
	it->len[0] = stat_len; /* last: the task is complete */
}

/* Claim and read the batch's items until none is left, into arena who;
 * with skip_self, leave our own process's entry (a process walk, tgid 0)
 * unread, with length -2, for later. */
void read_batch(const struct plan *p, struct batch *b, int who, int skip_self)
{
	for (;;) {
		Py_ssize_t i = __atomic_fetch_add(&b->claim, 1, __ATOMIC_RELAXED);
		struct item *it;

		if (i >= b->count || b->ar[who].fatal)
			return;
		it = &b->items[i];
		if (skip_self && !p->tgid && it->id == p->self) {
			it->len[0] = -2;
			continue;
		}
		read_task(p, b, who, it);
	}
}

/* Empty the batch's arenas for count new items. */
void batch_reset(struct batch *b, Py_ssize_t count)
{
	b->count = count;
	b->claim = 0;
	for (int a = 0; a < 2; a++) {
		b->ar[a].used = 0;
		b->ar[a].fatal = 0;
	}
}

void batch_free(struct batch *b)
{
	PyMem_RawFree(b->items);
	PyMem_RawFree(b->ar[0].data);
	PyMem_RawFree(b->ar[1].data);
	memset(b, 0, sizeof(*b));
}

/* Room for size items (512 bytes of files each to start with; an arena
 * grows as it must); 0 with MemoryError set if there is none. */
int batch_init(struct batch *b, Py_ssize_t size)
{
	return batch_init_room(b, size, size);
}

/* batch_init, with arenas of room items' worth to start with. */
int batch_init_room(struct batch *b, Py_ssize_t size, Py_ssize_t room)
{
	memset(b, 0, sizeof(*b));
	b->items = PyMem_RawCalloc(size ? (size_t)size : 1, sizeof(struct item));
	for (int a = 0; a < 2; a++) {
		b->ar[a].cap = (size_t)(room ? room : 1) * 512;
		b->ar[a].data = PyMem_RawMalloc(b->ar[a].cap);
	}
	if (!b->items || !b->ar[0].data || !b->ar[1].data) {
		batch_free(b);
		PyErr_NoMemory();
		return 0;
	}
	return 1;
}

/* The numeric entries of directory fd, in the kernel's order (a group's
 * leader first in task/), from its start (a directory held open is listed
 * again at each reading); -1 with errno if it cannot be listed. */
Py_ssize_t list_ids(int fd, int **out)
{
	char buf[32768];
	Py_ssize_t n = 0, cap = 256;
	int *ids = PyMem_RawMalloc((size_t)cap * sizeof(int));
	long got;

	if (!ids) {
		errno = ENOMEM;
		return -1;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		int err = errno;

		PyMem_RawFree(ids);
		errno = err;
		return -1;
	}
	while ((got = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long at = 0; at < got;) {
			struct dirent64 *d = (struct dirent64 *)(buf + at);
			const char *name = d->d_name;
			long long id = 0;
			int ok = name[0] >= '1' && name[0] <= '9';

			for (const char *c = name; ok && *c; c++) {
				ok = *c >= '0' && *c <= '9' && id <= INT_MAX / 10;
				id = id * 10 + (*c - '0');
			}
			at += d->d_reclen;
			if (!ok || id > INT_MAX)
				continue;
			if (n == cap) {
				int *grown = PyMem_RawRealloc(ids, (size_t)(cap *= 2) * sizeof(int));

				if (!grown) {
					PyMem_RawFree(ids);
					errno = ENOMEM;
					return -1;
				}
				ids = grown;
			}
			ids[n++] = (int)id;
		}
	}
	if (got < 0) {
		int err = errno;

		PyMem_RawFree(ids);
		errno = err;
		return -1;
	}
	*out = ids;
	return n;
}
