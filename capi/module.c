/* The CPython extension module `gocoro._gocoro`, re-exported by the package `gocoro`
 * (single-phase init; C only, Go only off the hot path). */
#include "../coro/gocoro_internal.h"
#include "capi.h"
#include "../coro/waker.h"
#include "_cgo_export.h"

static PyObject *mod_runtime_info(PyObject *self, PyObject *unused)
{
    if (gocoro_go_unavailable("gocoro.runtime_info()"))
        return NULL;
    gocoro_runtime_info info;
    memset(&info, 0, sizeof(info));
    if (gocoro_go_runtime_info(&info) < 0)
        return NULL;
    return Py_BuildValue("{s:s,s:i,s:i,s:i,s:L,s:I}", "go_version", info.go_version, "gomaxprocs",
                         info.gomaxprocs, "num_cpu", info.num_cpu, "num_goroutine",
                         info.num_goroutine, "interpreters", info.interpreters, "abi_version",
                         (unsigned)GOCORO_ABI_VERSION);
}

static PyObject *mod_test_go_panic(PyObject *self, PyObject *arg)
{
    const char *msg = PyUnicode_AsUTF8(arg);
    if (msg == NULL)
        return NULL;
    if (gocoro_go_unavailable("gocoro._test_go_panic()"))
        return NULL;
    if (gocoro_go_test_panic((char *)msg) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef mod_methods[] = {
    {"runtime_info", mod_runtime_info, METH_NOARGS,
     "runtime_info() -> dict: Go runtime facts (Go-backed; RuntimeError in a forked child)."},
    {"_test_go_panic", mod_test_go_panic, METH_O,
     "_test_go_panic(msg): panic inside Go; must surface as gocoro.PanicException."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef gocoro_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "gocoro._gocoro",
    .m_doc = "gocoro: one canonical native coroutine type for every extension (see gocoro.h).",
    .m_size = -1,
    .m_methods = mod_methods,
};

PyMODINIT_FUNC PyInit__gocoro(void)
{
    if (gocoro_ensure_ready() < 0)
        return NULL;
    PyObject *m = PyModule_Create(&gocoro_module);
    if (m == NULL)
        return NULL;
    PyObject *capsule = PyCapsule_New((void *)&gocoro_api_table, GOCORO_CAPSULE_NAME, NULL);
    if (capsule == NULL || PyModule_AddObject(m, "_C_API", capsule) < 0) {
        Py_XDECREF(capsule);
        goto fail;
    }
    if (PyModule_AddObjectRef(m, "Coroutine", (PyObject *)&GoCoro_CoroutineType_Impl) < 0 ||
        PyModule_AddObjectRef(m, "CoroutineWrapper", (PyObject *)&GoCoro_WrapperType_Impl) < 0 ||
        PyModule_AddObjectRef(m, "NativeCode", (PyObject *)&GoCoro_CodeType_Impl) < 0 ||
        PyModule_AddObjectRef(m, "Generator", (PyObject *)&GoCoro_GeneratorType_Impl) < 0 ||
        PyModule_AddObjectRef(m, "Iterator", (PyObject *)&GoCoro_IteratorType_Impl) < 0 ||
        PyModule_AddObjectRef(m, "AsyncGenerator", (PyObject *)&GoCoro_AsyncGenType_Impl) < 0 ||
        PyModule_AddObjectRef(m, "AsyncIterator", (PyObject *)&GoCoro_AsyncIterType_Impl) < 0 ||
        PyModule_AddObjectRef(m, "AsyncGeneratorASend", (PyObject *)&GoCoro_AGASendType_Impl) < 0 ||
        PyModule_AddObjectRef(m, "AsyncGeneratorAThrow", (PyObject *)&GoCoro_AGAThrowType_Impl) < 0 ||
        PyModule_AddObjectRef(m, "PanicException", gocoro_panic_exc) < 0 ||
        PyModule_AddIntConstant(m, "ABI_VERSION", GOCORO_ABI_VERSION) < 0 ||
        PyModule_AddStringConstant(m, "__version__", "0.1.0") < 0)
        goto fail;
    if (gocoro_waker_module_init(m) < 0) /* wakers/executor: API table members, _waker_stats */
        goto fail;
    /* the per-interpreter registry lives in Go; a forked child must not call into Go */
    if (!gocoro_forked_child) {
        long long id = (long long)PyInterpreterState_GetID(PyInterpreterState_Get());
        if (gocoro_go_register_interp(id) < 0)
            goto fail;
    }
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
