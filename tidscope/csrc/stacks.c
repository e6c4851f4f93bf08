/* Child stacks: one MAP_SHARED mapping per group, a guard page at the low
 * end of every stack; or, in the growsdown style, one MAP_GROWSDOWN mapping
 * per child above a PROT_NONE reservation.
 *
 * Invariant: a stack is unmapped only after its child can no longer run
 * (the kernel cleared its tid word, or wait4 reaped it): ts_stacks_unmap is
 * called by the group after every child was joined.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rawclone.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13: guard pages without a VMA split */
#endif

size_t ts_page_size(void)
{
	static size_t page;

	if (!page)
		page = (size_t)sysconf(_SC_PAGESIZE);
	return page;
}

/* Make [p, p + page) fault on any access.  Guard markers cost no VMA; older
 * kernels (or mappings they do not support) fall back to mprotect. */
static int guard(void *p)
{
	if (madvise(p, ts_page_size(), MADV_GUARD_INSTALL) == 0)
		return 0;
	if (mprotect(p, ts_page_size(), PROT_NONE) == 0)
		return 0;
	return -errno;
}

static int map_growsdown(void **out, size_t each)
{
	const size_t page = ts_page_size();
	char *res = mmap(NULL, each, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return -errno;
	/* The stack proper replaces all but the lowest page of the
	 * reservation, which stays PROT_NONE and stops it growing further. */
	void *stk = mmap(res + page, each - page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN |
				 MAP_STACK | MAP_NORESERVE,
			 -1, 0);
	if (stk == MAP_FAILED) {
		int err = -errno;
		munmap(res, each);
		return err;
	}
	*out = res;
	return 0;
}

int ts_stacks_map(struct ts_stacks *st, int count, size_t each, int growsdown)
{
	st->each = each;
	st->growsdown = growsdown;
	st->size = each * (size_t)count;
	st->base = NULL;
	st->maps = NULL;
	if (growsdown) {
		st->maps = calloc((size_t)count, sizeof(*st->maps));
		return st->maps ? 0 : -ENOMEM;
	}
	void *p = mmap(NULL, st->size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
		       -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	st->base = p;
	return 0;
}

/* Prepare stack i: low = first usable byte, top = one past the last. */
int ts_stack_get(struct ts_stacks *st, int i, void **low, void **top)
{
	const size_t page = ts_page_size();
	char *map;

	if (st->growsdown) {
		int err = map_growsdown(&st->maps[i], st->each);
		if (err)
			return err;
		map = st->maps[i];
	} else {
		map = (char *)st->base + (size_t)i * st->each;
		int err = guard(map);
		if (err)
			return err;
	}
	*low = map + page;
	*top = map + st->each;
	return 0;
}

/* Stack i was prepared but no child runs on it. */
void ts_stack_put(struct ts_stacks *st, int i)
{
	if (st->growsdown && st->maps[i]) {
		munmap(st->maps[i], st->each);
		st->maps[i] = NULL;
	}
}

void ts_stacks_unmap(struct ts_stacks *st, int count)
{
	if (st->growsdown) {
		for (int i = 0; st->maps && i < count; i++)
			if (st->maps[i])
				munmap(st->maps[i], st->each);
		free(st->maps);
		st->maps = NULL;
	} else if (st->base) {
		munmap(st->base, st->size);
		st->base = NULL;
	}
}
