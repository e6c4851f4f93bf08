/* The Group type: tidscope.core._rawclone's face of the raw-clone core.
 *
 * One type, Group: children cloned with one flag set, each running the same
 * short list of raw syscalls.  Every method parses its arguments, calls
 * group.c and turns -errno into OSError; policy and messages live in
 * tidscope/core/clone.py.  A Group is always joined before it is freed, and
 * the GIL is released whenever we may block.
 *
 * About 400 lines, and one idea: the type whole, its constructor's checks of
 * the children's program (parse_op) included - they are what childloop.c
 * relies on, and this constructor is the only way a program reaches a child.
 */
#include "module.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rawclone.h"

typedef struct {
	PyObject_HEAD
	struct ts_group g;
	int ready; /* g is initialised */
	int busy;  /* a method is running without the GIL */
	pid_t owner;
} Group;

/* Children belong to the process that cloned them: after fork(2), the copy
 * of a Group in the new process must neither wait for nor free them. */
static int usable(Group *self)
{
	if (!self->ready) {
		PyErr_SetString(PyExc_ValueError, "group is closed");
		return 0;
	}
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError, "group is in use by another thread");
		return 0;
	}
	return 1;
}

static int child_index(Group *self, Py_ssize_t i)
{
	if (!usable(self))
		return -1;
	if (i < 0 || i >= self->g.spawned) {
		PyErr_Format(PyExc_IndexError, "child %zd not spawned (%d are)", i,
			     self->g.spawned);
		return -1;
	}
	return (int)i;
}

static int parse_op(PyObject *item, struct ts_op *op, Py_ssize_t index)
{
	PyObject *args;
	Py_ssize_t n;
	int guarded = 0;

	/* (nr, args, kinds[, expect, guarded]) */
	if (!PyArg_ParseTuple(item, "lOk|lp", &op->nr, &args, &op->kinds, &op->expect, &guarded))
		return -1;
	op->guarded = guarded;
	PyObject *seq = PySequence_Fast(args, "op arguments must be a sequence");
	if (!seq)
		return -1;
	n = PySequence_Fast_GET_SIZE(seq);
	if (n > TS_NARGS) {
		Py_DECREF(seq);
		PyErr_Format(PyExc_ValueError, "a syscall takes at most %d arguments", TS_NARGS);
		return -1;
	}
	for (Py_ssize_t j = 0; j < n; j++) {
		op->arg[j] = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, j));
		if (op->arg[j] == -1 && PyErr_Occurred()) {
			Py_DECREF(seq);
			return -1;
		}
	}
	Py_DECREF(seq);
	if (op->kinds >> (TS_KIND_BITS * TS_NARGS)) {
		PyErr_SetString(PyExc_ValueError, "kinds names an argument past the sixth");
		return -1;
	}
	for (int j = 0; j < TS_NARGS; j++) {
		unsigned long kind = (op->kinds >> (TS_KIND_BITS * j)) & 7;
		if (kind > TS_ARG_STACK) {
			PyErr_Format(PyExc_ValueError, "op %zd: argument %d has no kind %lu",
				     index, j, kind);
			return -1;
		}
		long v = op->arg[j];
		if (kind == TS_ARG_RESULT && (v < 0 || v >= index)) {
			PyErr_Format(PyExc_ValueError, "op %zd: argument %d uses the result of op %ld,"
				     " which does not run before it", index, j, v);
			return -1;
		}
	}
	return 0;
}

/* clone3's set_tid: the tid asked for in each pid namespace, innermost first. */
static int parse_set_tid(PyObject *obj, struct ts_group *g)
{
	PyObject *seq = PySequence_Fast(obj, "set_tid must be a sequence");
	if (!seq)
		return -1;
	Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
	if (n > TS_MAX_SET_TID || (n && !g->clone3)) {
		Py_DECREF(seq);
		PyErr_Format(PyExc_ValueError, "set_tid takes at most %d tids, and only with clone3",
			     TS_MAX_SET_TID);
		return -1;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		long tid = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
		if (tid == -1 && PyErr_Occurred()) {
			Py_DECREF(seq);
			return -1;
		}
		if (tid < 1 || tid > INT_MAX) {
			Py_DECREF(seq);
			PyErr_Format(PyExc_ValueError, "set_tid: %ld is no tid", tid);
			return -1;
		}
		g->set_tid[i] = (pid_t)tid;
	}
	g->set_tid_size = (int)n;
	Py_DECREF(seq);
	return 0;
}

static int Group_init(Group *self, PyObject *args, PyObject *kw)
{
	static char *names[] = {"flags", "count", "stack_size", "ops", "scratch",
				"park", "growsdown", "clone3", "exit_signal", "cgroup_fd",
				"private", "set_tid", NULL};
	unsigned long flags;
	int count, park = 1, growsdown = 0, clone3 = 0, exit_signal = 0, cgroup_fd = -1;
	Py_ssize_t stack_size;
	PyObject *ops, *scratch;
	Py_buffer priv = {0};
	PyObject *set_tid = NULL;
	const size_t page = ts_page_size();

	if (self->ready) {
		PyErr_SetString(PyExc_RuntimeError, "Group is already initialised");
		return -1;
	}
	if (!PyArg_ParseTupleAndKeywords(args, kw, "kinOO|pppiiy*O", names, &flags, &count,
					 &stack_size, &ops, &scratch, &park, &growsdown,
					 &clone3, &exit_signal, &cgroup_fd, &priv, &set_tid))
		return -1;
	if (priv.len > TS_PRIVATE_SIZE) {
		PyBuffer_Release(&priv);
		PyErr_Format(PyExc_ValueError, "the private area holds at most %d bytes",
			     TS_PRIVATE_SIZE);
		return -1;
	}
	unsigned char priv_init[TS_PRIVATE_SIZE] = {0};
	if (priv.buf)
		memcpy(priv_init, priv.buf, (size_t)priv.len);
	PyBuffer_Release(&priv);
	if (count < 1) {
		PyErr_SetString(PyExc_ValueError, "count must be at least 1");
		return -1;
	}
	if (stack_size < (Py_ssize_t)MIN_STACK_PAGES * (Py_ssize_t)page ||
	    (size_t)stack_size % page) {
		PyErr_Format(PyExc_ValueError,
			     "stack_size must be a multiple of %zu and at least %zu", page,
			     MIN_STACK_PAGES * page);
		return -1;
	}
	PyObject *opseq = PySequence_Fast(ops, "ops must be a sequence");
	if (!opseq)
		return -1;
	Py_ssize_t nops = PySequence_Fast_GET_SIZE(opseq);
	PyObject *scrseq = PySequence_Fast(scratch, "scratch must be a sequence");
	if (!scrseq) {
		Py_DECREF(opseq);
		return -1;
	}
	if (nops > TS_MAX_OPS || PySequence_Fast_GET_SIZE(scrseq) > count) {
		PyErr_Format(PyExc_ValueError,
			     "at most %d ops and one scratch buffer per child", TS_MAX_OPS);
		goto fail;
	}
	int err = ts_group_init(&self->g, flags, count, (size_t)stack_size, growsdown, park);
	if (err) {
		ts_errno_error(err);
		goto fail;
	}
	self->ready = 1;
	self->owner = (pid_t)syscall(SYS_getpid); /* the kernel's: libc's may lie */
	self->g.nops = (int)nops;
	self->g.clone3 = clone3;
	self->g.exit_signal = exit_signal;
	self->g.cgroup_fd = cgroup_fd;
	memcpy(self->g.priv, priv_init, TS_PRIVATE_SIZE);
	if (set_tid && set_tid != Py_None && parse_set_tid(set_tid, &self->g) < 0)
		goto fail;
	for (Py_ssize_t i = 0; i < nops; i++)
		if (parse_op(PySequence_Fast_GET_ITEM(opseq, i), &self->g.ops[i], i) < 0)
			goto fail;
	for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(scrseq); i++) {
		char *buf;
		Py_ssize_t len;
		if (PyBytes_AsStringAndSize(PySequence_Fast_GET_ITEM(scrseq, i), &buf, &len) < 0)
			goto fail;
		if (len > TS_SCRATCH_SIZE) {
			PyErr_Format(PyExc_ValueError, "scratch buffers hold at most %d bytes",
				     TS_SCRATCH_SIZE);
			goto fail;
		}
		memcpy(self->g.scratch + i * TS_SCRATCH_SIZE, buf, (size_t)len);
	}
	Py_DECREF(opseq);
	Py_DECREF(scrseq);
	return 0;
fail:
	Py_DECREF(opseq);
	Py_DECREF(scrseq);
	if (self->ready)
		ts_group_free(&self->g);
	self->ready = 0;
	return -1;
}

static void join_all(Group *self)
{
	if ((pid_t)syscall(SYS_getpid) != self->owner) { /* a fork's copy: not our children */
		self->g.spawned = 0;
		return;
	}
	self->busy = 1;
	Py_BEGIN_ALLOW_THREADS
	for (int i = 0; i < self->g.spawned; i++)
		ts_join_one(&self->g, i);
	Py_END_ALLOW_THREADS
	self->busy = 0;
}

static void Group_dealloc(Group *self)
{
	if (self->ready && !self->busy) {
		join_all(self);
		ts_group_free(&self->g);
		self->ready = 0;
	}
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Group_spawn(Group *self, PyObject *Py_UNUSED(arg))
{
	int err = 0;

	if (!usable(self))
		return NULL;
	self->busy = 1;
	Py_BEGIN_ALLOW_THREADS
	while (!err && self->g.spawned < self->g.count)
		err = ts_spawn_one(&self->g);
	Py_END_ALLOW_THREADS
	self->busy = 0;
	if (err)
		return ts_errno_error(err);
	return PyLong_FromLong(self->g.spawned);
}

static PyObject *Group_wait_ran(Group *self, PyObject *arg)
{
	double timeout = PyFloat_AsDouble(arg);
	int late = 0;

	if (timeout == -1.0 && PyErr_Occurred())
		return NULL;
	if (!usable(self))
		return NULL;
	const long ns = (long)(timeout * 1e9);
	self->busy = 1;
	Py_BEGIN_ALLOW_THREADS
	for (int i = 0; i < self->g.spawned; i++)
		late += ts_wait_ran(&self->g, i, ns) != 0;
	Py_END_ALLOW_THREADS
	self->busy = 0;
	return PyBool_FromLong(!late);
}

static PyObject *Group_release(Group *self, PyObject *Py_UNUSED(arg))
{
	if (!usable(self))
		return NULL;
	ts_release(&self->g);
	Py_RETURN_NONE;
}

static PyObject *Group_join(Group *self, PyObject *Py_UNUSED(arg))
{
	if (!usable(self))
		return NULL;
	join_all(self);
	/* Signals that arrived while we waited surface now, after the join. */
	if (PyErr_CheckSignals() < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *Group_close(Group *self, PyObject *Py_UNUSED(arg))
{
	if (self->ready) {
		if (!usable(self))
			return NULL;
		join_all(self);
		ts_group_free(&self->g);
		self->ready = 0;
	}
	if (PyErr_CheckSignals() < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *Group_enter(Group *self, PyObject *Py_UNUSED(arg))
{
	return Py_NewRef(self);
}

static PyObject *Group_exit(Group *self, PyObject *Py_UNUSED(args))
{
	PyObject *r = Group_close(self, NULL);
	Py_XDECREF(r);
	return r ? Py_NewRef(Py_False) : NULL;
}

static PyObject *Group_child(Group *self, PyObject *arg)
{
	int i = child_index(self, PyLong_AsSsize_t(arg));

	if (i < 0)
		return NULL;
	const struct ts_child *c = &self->g.child[i];
	const struct ts_slot *s = c->slot;
	/* stopped_at is written before state: read after it, it is current. */
	const int state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
	const int stopped_at = __atomic_load_n(&s->stopped_at, __ATOMIC_RELAXED);
	PyObject *ret = PyTuple_New(self->g.nops);
	if (!ret)
		return NULL;
	for (int k = 0; k < self->g.nops; k++) {
		long v = c->joined || state ? s->ret[k] : 0;
		PyTuple_SET_ITEM(ret, k, PyLong_FromLong(v));
	}
	return Py_BuildValue(
		"{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:N,s:y#,s:(kkkkkk),s:k,s:k,s:i,s:i,s:l,s:i,"
		"s:i,s:i,s:i}",
		"tid", c->tid, "state", state, "stopped_at", stopped_at, "ptid", s->ptid,
		"ctid", __atomic_load_n(&s->ctid, __ATOMIC_ACQUIRE), "joined", c->joined,
		"reaped", c->reaped, "wstatus", c->wstatus, "results", ret, "scratch",
		s->scratch, (Py_ssize_t)TS_SCRATCH_SIZE, "regs", c->regs[0], c->regs[1], c->regs[2],
		c->regs[3], c->regs[4], c->regs[5], "stack_low", (unsigned long)c->stack_low,
		"slot", (unsigned long)s, "pidfd", c->pidfd, "pidfd_word", s->pidfd,
		"resumed_ns", c->resumed_ns, "state_at_resume", c->state_at_resume,
		"ended_stopped", c->ended_stopped, "wait_errno", c->wait_errno, "waitid_errno",
		c->waitid_errno);
}

static PyObject *Group_private(Group *self, PyObject *Py_UNUSED(arg))
{
	if (!usable(self))
		return NULL;
	return PyBytes_FromStringAndSize((const char *)self->g.priv, TS_PRIVATE_SIZE);
}

static PyObject *Group_private_address(Group *self, PyObject *Py_UNUSED(arg))
{
	if (!usable(self))
		return NULL;
	return PyLong_FromUnsignedLong((unsigned long)self->g.priv);
}

static PyObject *Group_get_spawned(Group *self, void *Py_UNUSED(c))
{
	return PyLong_FromLong(self->ready ? self->g.spawned : 0);
}

static PyObject *Group_get_count(Group *self, void *Py_UNUSED(c))
{
	return PyLong_FromLong(self->ready ? self->g.count : 0);
}

static PyObject *Group_get_flags(Group *self, void *Py_UNUSED(c))
{
	return PyLong_FromUnsignedLong(self->ready ? self->g.flags : 0);
}

static PyObject *Group_get_failed_in(Group *self, void *Py_UNUSED(c))
{
	if (!self->ready || !self->g.failed_in)
		Py_RETURN_NONE;
	return PyUnicode_FromString(self->g.failed_in);
}

static PyObject *Group_get_closed(Group *self, void *Py_UNUSED(c))
{
	return PyBool_FromLong(!self->ready);
}

static PyMethodDef Group_methods[] = {
	{"spawn", (PyCFunction)Group_spawn, METH_NOARGS,
	 "Clone the children not yet spawned; OSError at the first failure."},
	{"wait_ran", (PyCFunction)Group_wait_ran, METH_O,
	 "Wait up to timeout seconds (each) until every child ran its program."},
	{"release", (PyCFunction)Group_release, METH_NOARGS,
	 "Let parked children exit."},
	{"join", (PyCFunction)Group_join, METH_NOARGS,
	 "Release, then wait for every spawned child (GIL released)."},
	{"close", (PyCFunction)Group_close, METH_NOARGS,
	 "Join, then unmap the stacks; idempotent."},
	{"child", (PyCFunction)Group_child, METH_O,
	 "What child i reported, and what we passed to clone for it."},
	{"private", (PyCFunction)Group_private, METH_NOARGS,
	 "The group's private area, as this process sees it."},
	{"private_address", (PyCFunction)Group_private_address, METH_NOARGS,
	 "Where the private area is, in this process."},
	{"__enter__", (PyCFunction)Group_enter, METH_NOARGS, NULL},
	{"__exit__", (PyCFunction)Group_exit, METH_VARARGS, NULL},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef Group_getset[] = {
	{"spawned", (getter)Group_get_spawned, NULL, "children cloned so far", NULL},
	{"count", (getter)Group_get_count, NULL, "children asked for", NULL},
	{"flags", (getter)Group_get_flags, NULL, "clone flags of every child", NULL},
	{"closed", (getter)Group_get_closed, NULL, "joined and unmapped", NULL},
	{"failed_in", (getter)Group_get_failed_in, NULL,
	 "'stack' or 'clone': the step of the last spawn attempt", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject ts_group_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "tidscope.core._rawclone.Group",
	.tp_basicsize = sizeof(Group),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Raw clone(2) children sharing one flag set and one syscall program.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)Group_init,
	.tp_dealloc = (destructor)Group_dealloc,
	.tp_methods = Group_methods,
	.tp_getset = Group_getset,
};
