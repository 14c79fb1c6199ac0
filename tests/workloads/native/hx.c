// SPDX-License-Identifier: MIT
/*
 * hx.c - a C extension for the --native tests, built at test time with each
 * interpreter's headers: Python calls hx_outer, which calls back into
 * Python, which calls hx_leaf, which spins.  Plain C, no frame pointers
 * needed (the tests build it with -fomit-frame-pointer): unwinding it is
 * the CFI's job.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <time.h>

volatile unsigned long hx_sink;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* leaf(seconds): spin in C for that long. */
__attribute__((noinline)) PyObject *hx_leaf(PyObject *self, PyObject *arg)
{
	double secs = PyFloat_AsDouble(arg), t0 = now();

	(void)self;
	if (secs < 0 && PyErr_Occurred())
		return NULL;
	do {
		for (unsigned i = 0; i < 20000; i++)
			hx_sink += i * 2654435761u;
	} while (now() - t0 < secs);
	Py_RETURN_NONE;
}

/* outer(callable): call it, from C.  Not a tail call: this frame stays. */
__attribute__((noinline, optimize("no-optimize-sibling-calls"))) PyObject *hx_outer(PyObject *self,
										    PyObject *cb)
{
	PyObject *r;

	(void)self;
	r = PyObject_CallObject(cb, NULL);
	hx_sink++;
	return r;
}

/* n native frames deep, then cb(): make bench's 20 native frames. */
__attribute__((noinline, optimize("no-optimize-sibling-calls"))) static PyObject *deep(long n,
										       PyObject *cb)
{
	PyObject *r = n > 0 ? deep(n - 1, cb) : PyObject_CallObject(cb, NULL);

	hx_sink++;
	return r;
}

/* deep(n, callable) */
PyObject *hx_deep(PyObject *self, PyObject *args)
{
	PyObject *cb;
	long n;

	(void)self;
	if (!PyArg_ParseTuple(args, "lO", &n, &cb))
		return NULL;
	return deep(n, cb);
}

static PyMethodDef methods[] = {
	{ "leaf", hx_leaf, METH_O, "spin in C for the given seconds" },
	{ "outer", hx_outer, METH_O, "call the argument from C" },
	{ "deep", hx_deep, METH_VARARGS, "call the argument from n C frames down" },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "hx", NULL, -1, methods, NULL, NULL, NULL, NULL
};

/* Exported under -fvisibility=hidden too: 3.8's PyMODINIT_FUNC does not say so itself. */
__attribute__((visibility("default"))) PyMODINIT_FUNC PyInit_hx(void)
{
	return PyModule_Create(&module);
}
