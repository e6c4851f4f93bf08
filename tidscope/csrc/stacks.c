/* Child stacks and slots.
 *
 * A group's stacks are one private mapping, [stack 0]...[stack n-1], each
 * with a guard page at its low end; in the growsdown style each child gets
 * its own MAP_GROWSDOWN mapping above a PROT_NONE page instead.  Beside them,
 * one MAP_SHARED area holds a page of group words (the release word) and
 * then one slot per child, so that children that do not share our memory
 * still report back.  Children never touch their stacks (see childloop.c).
 *
 * Invariants: a stack is unmapped or reused only after its child can no
 * longer run on it (the kernel cleared its tid word, or wait4 reaped it) -
 * the group releases its stacks only after joining every child; and a
 * mapping some child may still use (one we could not reap) is never reused.
 * Released mappings are kept in a small cache, guard pages installed, so
 * that spawning again costs no mmap, madvise or page faults, as in a
 * pthread library.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rawclone.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13: guard pages without a VMA split */
#endif

#define CACHE_SLOTS 4
#define CACHE_BYTES (256UL << 20) /* stacks' address space, not memory */

static struct ts_stacks cache[CACHE_SLOTS];
static size_t cached_bytes;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

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

static int from_cache(struct ts_stacks *st)
{
	int found = 0;

	pthread_mutex_lock(&cache_lock);
	for (int i = 0; i < CACHE_SLOTS && !found; i++) {
		struct ts_stacks *c = &cache[i];
		if (c->base && c->each == st->each && c->count == st->count) {
			*st = *c;
			cached_bytes -= c->size;
			memset(c, 0, sizeof(*c));
			found = 1;
		}
	}
	pthread_mutex_unlock(&cache_lock);
	return found;
}

static int to_cache(const struct ts_stacks *st)
{
	int kept = 0;

	pthread_mutex_lock(&cache_lock);
	for (int i = 0; i < CACHE_SLOTS && !kept; i++) {
		if (!cache[i].base && cached_bytes + st->size <= CACHE_BYTES) {
			cache[i] = *st;
			cached_bytes += st->size;
			kept = 1;
		}
	}
	pthread_mutex_unlock(&cache_lock);
	return kept;
}

static size_t slots_offset(void)
{
	return ts_page_size();
}

int ts_stacks_map(struct ts_stacks *st, int count, size_t each, int growsdown)
{
	memset(st, 0, sizeof(*st));
	st->each = each;
	st->count = count;
	st->growsdown = growsdown;
	if (growsdown) {
		st->maps = calloc((size_t)count, sizeof(*st->maps));
		if (!st->maps)
			return -ENOMEM;
	} else if (!from_cache(st)) {
		st->size = each * (size_t)count;
		void *p = mmap(NULL, st->size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
		if (p == MAP_FAILED) {
			int err = -errno;
			memset(st, 0, sizeof(*st));
			return err;
		}
		st->base = p;
	}
	if (!st->shared) {
		st->shared_size = slots_offset() + sizeof(struct ts_slot) * (size_t)count;
		void *p = mmap(NULL, st->shared_size, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED) {
			int err = -errno;
			st->shared = NULL;
			ts_stacks_unmap(st, 0);
			return err;
		}
		st->shared = p;
	}
	memset(st->shared, 0, slots_offset()); /* the release word starts at 0 */
	return 0;
}

struct ts_slot *ts_slot_of(struct ts_stacks *st, int i)
{
	return (struct ts_slot *)(st->shared + slots_offset()) + i;
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
		map = st->base + (size_t)i * st->each;
		if (i >= st->guarded) { /* a cached mapping keeps its guards */
			int err = guard(map);
			if (err)
				return err;
			st->guarded = i + 1;
		}
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

/* Release the stacks; ``reusable``: no child of ours can still touch them. */
void ts_stacks_unmap(struct ts_stacks *st, int reusable)
{
	if (st->growsdown) {
		for (int i = 0; st->maps && i < st->count; i++)
			if (st->maps[i])
				munmap(st->maps[i], st->each);
		free(st->maps);
	} else if (st->base && reusable && to_cache(st)) {
		st->shared = NULL; /* the cache owns both mappings now */
	} else if (st->base) {
		munmap(st->base, st->size);
	}
	if (st->shared)
		munmap(st->shared, st->shared_size);
	memset(st, 0, sizeof(*st));
}

/* Unmap every cached mapping. */
void ts_stacks_trim(void)
{
	pthread_mutex_lock(&cache_lock);
	for (int i = 0; i < CACHE_SLOTS; i++) {
		if (cache[i].base) {
			munmap(cache[i].base, cache[i].size);
			munmap(cache[i].shared, cache[i].shared_size);
		}
		memset(&cache[i], 0, sizeof(cache[i]));
	}
	cached_bytes = 0;
	pthread_mutex_unlock(&cache_lock);
}
