/* tidscope.core._rawclone: the module.
 *
 * Raw clone(2) children on stacks mapped by us: the Group type (pygroup.c),
 * the core's constants, and the cache of stacks kept for reuse; beside them
 * the two helpers module.h names (bench.c, command.c), each adding its own
 * functions.  module.h maps the files.
 */
#include "module.h"

#include <errno.h>

#include "rawclone.h"

PyObject *ts_errno_error(int neg_errno)
{
	errno = -neg_errno;
	return PyErr_SetFromErrno(PyExc_OSError);
}

static PyObject *trim_stack_cache(PyObject *Py_UNUSED(mod), PyObject *Py_UNUSED(arg))
{
	ts_stacks_trim();
	Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
	{"trim_stack_cache", trim_stack_cache, METH_NOARGS,
	 "Unmap the stack mappings kept for reuse."},
	{NULL, NULL, 0, NULL},
};

static int add_constants(PyObject *m)
{
#if defined(__x86_64__)
	const char *arch = "x86_64";
#else
	const char *arch = "aarch64";
#endif
	if (PyModule_AddStringConstant(m, "ARCH", arch) < 0 ||
	    PyModule_AddIntConstant(m, "PAGE_SIZE", (long)ts_page_size()) < 0 ||
	    PyModule_AddIntConstant(m, "MAX_OPS", TS_MAX_OPS) < 0 ||
	    PyModule_AddIntConstant(m, "SCRATCH_SIZE", TS_SCRATCH_SIZE) < 0 ||
	    PyModule_AddIntConstant(m, "PRIVATE_SIZE", TS_PRIVATE_SIZE) < 0 ||
	    PyModule_AddIntConstant(m, "SLOT_SIZE", (long)sizeof(struct ts_slot)) < 0 ||
	    PyModule_AddIntConstant(m, "MIN_STACK", (long)(MIN_STACK_PAGES * ts_page_size())) < 0)
		return -1;
	return 0;
}

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "tidscope.core._rawclone",
	.m_doc = "Raw clone(2) children on stacks mapped by us; see tidscope.core.clone.",
	.m_size = -1,
	.m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__rawclone(void)
{
	PyObject *m = PyModule_Create(&module);

	if (!m)
		return NULL;
	if (PyType_Ready(&ts_group_type) < 0 || add_constants(m) < 0 ||
	    PyModule_AddFunctions(m, ts_bench_methods) < 0 ||
	    PyModule_AddFunctions(m, ts_command_methods) < 0 ||
	    PyModule_AddObjectRef(m, "Group", (PyObject *)&ts_group_type) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
