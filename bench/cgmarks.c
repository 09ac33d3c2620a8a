/*
 * cgmarks.c -- callgrind client requests for the instruction-count pass of the benchmarks
 * (`./build.sh bench --instructions`, see bench/README.md).
 *
 *   on_valgrind()  -> True when the process runs under valgrind
 *   zero()         -> CALLGRIND_ZERO_STATS: the event counters start from 0
 *   dump(tag)      -> CALLGRIND_DUMP_STATS_AT(tag): writes one profile part (file <out>.<part>)
 *                     with the counts since zero()
 *
 * Both requests act on the calling thread's counters; with --separate-threads=no (as
 * bench/run.sh runs callgrind) those are the whole process's, so the work of helper threads
 * (the loop's waker threads, tokio workers, the Go runtime) is counted too.  bench.py brackets
 * each measured run with zero()/dump() and reads the `summary:` line of the part.  Collection
 * is not toggled: callgrind keeps the collect state per thread, so a toggle on the main thread
 * would miss the helper threads' work.  Outside valgrind the requests are a few no-op
 * instructions.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <valgrind/callgrind.h>

static PyObject *
on_valgrind(PyObject *mod, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(RUNNING_ON_VALGRIND ? 1 : 0);
}

static PyObject *
zero(PyObject *mod, PyObject *Py_UNUSED(ignored))
{
    CALLGRIND_ZERO_STATS;
    Py_RETURN_NONE;
}

static PyObject *
dump(PyObject *mod, PyObject *tag)
{
    const char *s = PyUnicode_AsUTF8(tag);
    if (s == NULL)
        return NULL;
    CALLGRIND_DUMP_STATS_AT(s);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"on_valgrind", on_valgrind, METH_NOARGS, "on_valgrind() -> True under valgrind"},
    {"zero", zero, METH_NOARGS, "zero() -> None; CALLGRIND_ZERO_STATS"},
    {"dump", dump, METH_O, "dump(tag) -> None; CALLGRIND_DUMP_STATS_AT(tag)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "cgmarks", "callgrind client requests for bench.py", -1, methods,
};

PyMODINIT_FUNC
PyInit_cgmarks(void)
{
    return PyModule_Create(&module);
}
