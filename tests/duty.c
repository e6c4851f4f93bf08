/* tests/test_top.py's workload: raw threads (pthreads, no interpreter and no
 * GIL between them) with known duty cycles, a pool, and threads born and
 * ended on request.
 *
 *   duty100  spins
 *   duty50   spins 5 ms of every 10 ms (by the monotonic clock), sleeps the rest
 *   duty10   spins 1 ms of every 10 ms
 *   idle     blocks on a pipe nobody writes
 *   worker-1..worker-4   block on the same pipe
 *
 * With the argument "quiet", the duty threads block too (a test of its own
 * spinning thread then competes with the machine's load alone).
 *
 * It prints one line, {"pid": P, "tids": {"duty100": T, ...}}, once every
 * thread has named itself, then reads commands from stdin, one a line:
 * "birth NAME" starts a spinning thread NAME and prints {"tid": T};
 * "death NAME" ends that thread, joins it, and prints {"gone": T}.  It exits
 * when stdin closes.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct worker {
	char name[16];
	int duty; /* percent; -1 blocks */
	atomic_int tid;
	atomic_int stop;
	pthread_t thread;
};

static int block_fds[2];

static long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000L + t.tv_nsec;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	const long period = 10000000L;

	pthread_setname_np(pthread_self(), w->name);
	atomic_store(&w->tid, (int)syscall(SYS_gettid));
	if (w->duty < 0) {
		char c;

		while (read(block_fds[0], &c, 1) > 0)
			;
		return NULL;
	}
	while (!atomic_load(&w->stop)) {
		long start = now_ns(), busy = period * w->duty / 100;

		while (now_ns() - start < busy)
			;
		if (w->duty < 100) {
			long left = period - (now_ns() - start);
			struct timespec t = {0, left > 0 ? left : 0};

			nanosleep(&t, NULL);
		}
	}
	return NULL;
}

static void start(struct worker *w, const char *name, int duty)
{
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->duty = duty;
	if (pthread_create(&w->thread, NULL, run, w))
		exit(3);
	while (!atomic_load(&w->tid))
		usleep(1000);
}

#define FIXED 8
#define MORE 16

int main(int argc, char **argv)
{
	static struct worker fixed[FIXED], born[MORE];
	static const char *names[FIXED] = {"duty100", "duty50", "duty10", "idle",
					   "worker-1", "worker-2", "worker-3", "worker-4"};
	static const int duties[FIXED] = {100, 50, 10, -1, -1, -1, -1, -1};
	char line[128];
	int nborn = 0;

	if (pipe(block_fds))
		return 2;
	int quiet = argc > 1 && !strcmp(argv[1], "quiet");

	for (int i = 0; i < FIXED; i++)
		start(&fixed[i], names[i], quiet ? -1 : duties[i]);
	printf("{\"pid\": %d, \"tids\": {", getpid());
	for (int i = 0; i < FIXED; i++)
		printf("%s\"%s\": %d", i ? ", " : "", names[i], atomic_load(&fixed[i].tid));
	printf("}}\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		char name[16] = "";

		if (sscanf(line, "birth %15s", name) == 1 && nborn < MORE) {
			start(&born[nborn], name, 100);
			printf("{\"tid\": %d}\n", atomic_load(&born[nborn].tid));
			nborn++;
		} else if (sscanf(line, "death %15s", name) == 1) {
			int gone = 0;

			for (int i = 0; i < nborn; i++)
				if (!strcmp(born[i].name, name) && !atomic_load(&born[i].stop)) {
					atomic_store(&born[i].stop, 1);
					pthread_join(born[i].thread, NULL);
					gone = atomic_load(&born[i].tid);
				}
			printf("{\"gone\": %d}\n", gone);
		} else {
			printf("{\"error\": \"unknown command\"}\n");
		}
		fflush(stdout);
	}
	close(block_fds[1]);
	for (int i = 0; i < nborn; i++) {
		atomic_store(&born[i].stop, 1);
		pthread_join(born[i].thread, NULL);
	}
	/* the spinners never stop on their own: exit ends them with the process */
	return 0;
}
