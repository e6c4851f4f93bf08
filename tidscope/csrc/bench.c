/* pthread_bench: pthread_create/pthread_join timed in C, so that `tidscope
 * bench-spawn` can put raw clone next to what a C program pays for pthreads,
 * with no compiler needed at run time.  Not part of the raw-clone path; its
 * typed face is tidscope/spawn/bench.py.
 */
#include "module.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static void *noop(void *arg)
{
	return arg;
}

static long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000L + t.tv_nsec;
}

/* n threads with default attributes (or stack_size bytes if nonzero),
 * created then joined one at a time (batch = 0) or all created, then all
 * joined.  Returns elapsed ns or -errno; every created thread is joined. */
static long time_pthreads(int n, int batch, size_t stack_size)
{
	pthread_t *t = calloc((size_t)(batch ? n : 1), sizeof(*t));
	pthread_attr_t attr;
	int made = 0, err = 0;

	if (!t)
		return -ENOMEM;
	pthread_attr_init(&attr);
	if (stack_size && (err = pthread_attr_setstacksize(&attr, stack_size)) != 0)
		goto out;
	long start = now_ns();
	for (int i = 0; i < n && !err; i++) {
		err = pthread_create(&t[batch ? i : 0], &attr, noop, NULL);
		if (err)
			break;
		if (batch)
			made++;
		else
			pthread_join(t[0], NULL);
	}
	for (int i = 0; i < made; i++)
		pthread_join(t[i], NULL);
	long elapsed = now_ns() - start;
out:
	pthread_attr_destroy(&attr);
	free(t);
	return err ? -err : elapsed;
}

/* pthread_bench(n, batch, stack_size=0) -> ns: pthreads timed in C. */
static PyObject *pthread_bench(PyObject *Py_UNUSED(mod), PyObject *args)
{
	int n, batch;
	Py_ssize_t stack_size = 0;
	long r;

	if (!PyArg_ParseTuple(args, "ip|n", &n, &batch, &stack_size))
		return NULL;
	if (n < 1 || stack_size < 0) {
		PyErr_SetString(PyExc_ValueError, "n must be positive, stack_size not negative");
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS
	r = time_pthreads(n, batch, (size_t)stack_size);
	Py_END_ALLOW_THREADS
	if (r < 0)
		return ts_errno_error((int)r);
	return PyLong_FromLong(r);
}

PyMethodDef ts_bench_methods[] = {
	{"pthread_bench", pthread_bench, METH_VARARGS,
	 "pthread_bench(n, batch, stack_size=0) -> ns for n pthread_create/join pairs."},
	{NULL, NULL, 0, NULL},
};
