/* The C reader's stat-line parser, and the objects a read batch becomes.
 *
 * A stat line is parsed here only in the form the kernel writes it (plain
 * decimal fields, a one-letter state, the name between the first '(' and
 * the last ')'): any other line goes whole to the caller's parse
 * (task.parse_stat), the one statement of the rules; tests hold the two to
 * the same answers.  Everything here runs with the GIL, on the thread that
 * steps the walk, after the batch's reads are done.
 */
#include "procread.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

/* A decimal field as the kernel prints it (optional '-', digits), ended by
 * a blank, a newline or the end; 0 if it is anything else or overflows. */
static int field(const char **at, const char *end, long long *out)
{
	const char *s = *at;
	int neg = 0;
	unsigned long long v = 0;

	if (s < end && *s == '-') {
		neg = 1;
		s++;
	}
	if (s == end || *s < '0' || *s > '9')
		return 0;
	while (s < end && *s >= '0' && *s <= '9') {
		if (v > (ULLONG_MAX - 9) / 10)
			return 0;
		v = v * 10 + (unsigned)(*s++ - '0');
	}
	if (v > (unsigned long long)LLONG_MAX)
		return 0;
	if (s < end && *s != ' ' && *s != '\n')
		return 0;
	*out = neg ? -(long long)v : (long long)v;
	*at = s < end && *s == ' ' ? s + 1 : s;
	return 1;
}

/* make(tid, tgid, ppid, name, state, tty_nr, cpu_ticks, start_ticks, nlwp,
 * uid, None, None, rest) for a line in the kernel's form; NULL with no
 * error set if the line is in any other form. */
static PyObject *fast(PyObject *make, int id, int tgid, const char *buf, long len, PyObject *uid)
{
	const char *open_ = memchr(buf, '(', (size_t)len);
	const char *close_ = memrchr(buf, ')', (size_t)len);
	const char *end = buf + len;
	const char *at, *rest_end = end;
	long long f[20];
	PyObject *args[13] = {NULL};
	PyObject *res = NULL;

	if (!open_ || !close_ || close_ < open_ || close_ + 4 > end)
		return NULL;
	at = close_ + 2;
	if (at[1] != ' ')
		return NULL; /* a state of one letter */
	at += 2;
	for (int i = 1; i < 20; i++)
		if (!field(&at, end, &f[i]))
			return NULL;
	if (f[1] < 0 || f[11] < 0 || f[12] < 0 || f[11] > LLONG_MAX - f[12])
		return NULL;
	while (rest_end > close_ + 2 && rest_end[-1] == '\n')
		rest_end--;
	args[0] = PyLong_FromLong(id);
	args[1] = PyLong_FromLong(tgid ? tgid : id);
	args[2] = PyLong_FromLongLong(f[1]);
	args[3] = PyUnicode_DecodeUTF8(open_ + 1, close_ - open_ - 1, "surrogateescape");
	args[4] = PyUnicode_FromOrdinal((unsigned char)close_[2]);
	args[5] = PyLong_FromUnsignedLong((unsigned long)(f[4] & 0xFFFFFFFFLL));
	args[6] = PyLong_FromLongLong(f[11] + f[12]);
	args[7] = PyLong_FromLongLong(f[19]);
	args[8] = PyLong_FromLongLong(f[17]);
	args[9] = Py_NewRef(uid);
	args[10] = Py_NewRef(Py_None);
	args[11] = Py_NewRef(Py_None);
	args[12] = PyBytes_FromStringAndSize(close_ + 2, rest_end - (close_ + 2));
	for (int i = 0; i < 13; i++)
		if (!args[i])
			goto out;
	res = PyObject_Vectorcall(make, args, 13, NULL);
out:
	for (int i = 0; i < 13; i++)
		Py_XDECREF(args[i]);
	if (!res && !PyErr_Occurred())
		PyErr_NoMemory();
	return res;
}

/* The object for one item: make(...) or parse(line, tid, tgid) (None if
 * that refuses the line); with files, (object, (bytes|None, ...)). */
static PyObject *object(const struct plan *p, const struct batch *b, const struct item *it,
			PyObject *make, PyObject *parse)
{
	const char *data = b->ar[it->arena].data;
	const char *line = data + it->off[0];
	PyObject *uid = it->has_uid ? PyLong_FromUnsignedLong(it->uid) : Py_NewRef(Py_None);
	PyObject *task, *raw, *pair;

	if (!uid)
		return NULL;
	task = fast(make, it->id, p->tgid, line, it->len[0], uid);
	if (!task && !PyErr_Occurred()) {
		task = PyObject_CallFunction(parse, "y#ii", line, (Py_ssize_t)it->len[0], it->id,
					     p->tgid ? p->tgid : it->id);
		if (task && task != Py_None && it->has_uid &&
		    PyObject_SetAttrString(task, "uid", uid) < 0)
			Py_CLEAR(task);
	}
	Py_DECREF(uid);
	if (!task || task == Py_None || !p->nfiles)
		return task;
	raw = PyTuple_New(p->nfiles);
	for (int f = 0; raw && f < p->nfiles; f++) {
		PyObject *v = it->len[1 + f] < 0 ? Py_NewRef(Py_None)
			: PyBytes_FromStringAndSize(data + it->off[1 + f], it->len[1 + f]);

		if (!v)
			Py_CLEAR(raw);
		else
			PyTuple_SET_ITEM(raw, f, v);
	}
	pair = raw ? PyTuple_Pack(2, task, raw) : NULL;
	Py_DECREF(task);
	Py_XDECREF(raw);
	return pair;
}

/* The batch's objects, in order, tasks left out; NULL on error (an errno
 * of ours kept by a read is raised as OSError). */
PyObject *objects(const struct plan *p, const struct batch *b, PyObject *make, PyObject *parse)
{
	PyObject *out;

	if (batch_fatal(b)) {
		errno = batch_fatal(b);
		return PyErr_SetFromErrnoWithFilename(PyExc_OSError, batch_fatal_path(b));
	}
	out = PyList_New(0);
	for (Py_ssize_t i = 0; out && i < b->count; i++) {
		const struct item *it = &b->items[i];
		PyObject *obj;

		if (it->len[0] < 0)
			continue;
		obj = object(p, b, it, make, parse);
		if (!obj || (obj != Py_None && PyList_Append(out, obj) < 0))
			Py_CLEAR(out);
		Py_XDECREF(obj);
	}
	return out;
}
