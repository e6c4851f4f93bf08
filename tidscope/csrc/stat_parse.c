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

/* The head of a stat line in the kernel's form: the name between the first
 * '(' and the last ')' (open_, close_), then a state of one letter; where
 * the fields after the state begin, or NULL if the line has no such head. */
static const char *head(const char *buf, long len, const char **open_, const char **close_)
{
	const char *end = buf + len;

	*open_ = memchr(buf, '(', (size_t)len);
	*close_ = memrchr(buf, ')', (size_t)len);
	if (!*open_ || !*close_ || *close_ < *open_ || *close_ + 4 > end)
		return NULL;
	if ((*close_)[3] != ' ')
		return NULL; /* a state of one letter */
	return *close_ + 4;
}

/* make(tid, tgid, ppid, name, state, tty_nr, cpu_ticks, start_ticks, nlwp,
 * uid, None, None, rest) for a line in the kernel's form; NULL with no
 * error set if the line is in any other form. */
static PyObject *fast(PyObject *make, int id, int tgid, const char *buf, long len, PyObject *uid)
{
	const char *open_, *close_;
	const char *end = buf + len;
	const char *at = head(buf, len, &open_, &close_), *rest_end = end;
	long long f[20];
	PyObject *args[13] = {NULL};
	PyObject *res = NULL;

	if (!at)
		return NULL;
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

/* Step over a decimal field the numbers form does not keep (any size: a
 * rsslim of RLIM_INFINITY is no long long); 0 if it is no decimal field. */
static int skip(const char **at, const char *end)
{
	const char *s = *at;

	if (s < end && *s == '-')
		s++;
	if (s == end || *s < '0' || *s > '9')
		return 0;
	while (s < end && *s >= '0' && *s <= '9')
		s++;
	if (s < end && *s != ' ' && *s != '\n')
		return 0;
	*at = s < end && *s == ' ' ? s + 1 : s;
	return 1;
}

/* schedstat as the kernel writes it: three unsigned decimals, one blank
 * apart, a newline or the end after them; 0 if it is anything else. */
static int schedstat(const char *s, long len, long long out[3])
{
	const char *at = s, *end = s + len;

	for (int i = 0; i < 3; i++) {
		if (at < end && *at == '-')
			return 0;
		if (!field(&at, end, &out[i]))
			return 0;
		if ((i < 2) != (at > s && at[-1] == ' '))
			return 0; /* a blank between, none after the last */
	}
	return at == end || (at + 1 == end && *at == '\n');
}

/* The numbers form (see NUMBERS in tidscope/proc/threads.py): (tid, start,
 * name, state, minflt, majflt, utime, stime, nice, lcpu, rtprio, policy,
 * uid, run_ns, runs) for a stat line in the kernel's form with fields up to
 * 41 (policy) and a schedstat in the kernel's form or unread (None, None);
 * NULL with no error set for anything else, which the caller's parse reads. */
static PyObject *numbers(const char *buf, long len, int id, const char *sched, long slen,
			 PyObject *uid)
{
	const char *open_, *close_;
	const char *end = buf + len;
	const char *at = head(buf, len, &open_, &close_);
	/* stat fields 10 minflt, 12 majflt, 14 utime, 15 stime, 19 nice,
	 * 22 starttime, 39 processor, 40 rt_priority, 41 policy */
	static const signed char slot[42] = {
		[10] = 1, [12] = 2, [14] = 3, [15] = 4, [19] = 5, [22] = 6, [39] = 7, [40] = 8, [41] = 9,
	};
	long long v[10], ss[3];
	PyObject *t;

	if (!at)
		return NULL;
	for (int k = 4; k <= 41; k++) {
		if (!(slot[k] ? field(&at, end, &v[slot[k]]) : skip(&at, end)))
			return NULL;
		if (k < 41 && (at == end || at[-1] != ' '))
			return NULL; /* the line ended before policy */
	}
	for (int i = 1; i <= 9; i++)
		if (v[i] < 0 && i != 5)
			return NULL; /* only nice is signed */
	if (slen >= 0 && !schedstat(sched, slen, ss))
		return NULL;
	t = PyTuple_New(15);
	if (!t)
		return NULL;
	PyTuple_SET_ITEM(t, 0, PyLong_FromLong(id));
	PyTuple_SET_ITEM(t, 1, PyLong_FromLongLong(v[6]));
	PyTuple_SET_ITEM(t, 2, PyUnicode_DecodeUTF8(open_ + 1, close_ - open_ - 1, "surrogateescape"));
	PyTuple_SET_ITEM(t, 3, PyUnicode_FromOrdinal((unsigned char)close_[2]));
	PyTuple_SET_ITEM(t, 4, PyLong_FromLongLong(v[1]));
	PyTuple_SET_ITEM(t, 5, PyLong_FromLongLong(v[2]));
	PyTuple_SET_ITEM(t, 6, PyLong_FromLongLong(v[3]));
	PyTuple_SET_ITEM(t, 7, PyLong_FromLongLong(v[4]));
	PyTuple_SET_ITEM(t, 8, PyLong_FromLongLong(v[5]));
	PyTuple_SET_ITEM(t, 9, PyLong_FromLongLong(v[7]));
	PyTuple_SET_ITEM(t, 10, PyLong_FromLongLong(v[8]));
	PyTuple_SET_ITEM(t, 11, PyLong_FromLongLong(v[9]));
	PyTuple_SET_ITEM(t, 12, Py_NewRef(uid));
	PyTuple_SET_ITEM(t, 13, slen >= 0 ? PyLong_FromLongLong(ss[0]) : Py_NewRef(Py_None));
	PyTuple_SET_ITEM(t, 14, slen >= 0 ? PyLong_FromLongLong(ss[2]) : Py_NewRef(Py_None));
	for (int i = 0; i < 15; i++)
		if (!PyTuple_GET_ITEM(t, i)) {
			Py_DECREF(t);
			return NULL;
		}
	return t;
}

/* One item in the numbers form, or parse(line, tid, tgid, uid, schedstat)
 * (None if that refuses the line). */
static PyObject *numbers_object(const struct plan *p, const struct batch *b,
				const struct item *it, PyObject *parse, PyObject *uid)
{
	const char *data = b->ar[it->arena].data;
	const char *sched = p->nfiles ? data + it->off[1] : NULL;
	long slen = p->nfiles ? it->len[1] : -1;
	PyObject *t = numbers(data + it->off[0], it->len[0], it->id, sched, slen, uid);

	if (t || PyErr_Occurred())
		return t;
	if (slen < 0)
		return PyObject_CallFunction(parse, "y#iiOO", data + it->off[0], (Py_ssize_t)it->len[0],
					     it->id, p->tgid ? p->tgid : it->id, uid, Py_None);
	return PyObject_CallFunction(parse, "y#iiOy#", data + it->off[0], (Py_ssize_t)it->len[0],
				     it->id, p->tgid ? p->tgid : it->id, uid, sched, (Py_ssize_t)slen);
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
	if (p->numbers) {
		task = numbers_object(p, b, it, parse, uid);
		Py_DECREF(uid);
		return task;
	}
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
