/* capi/module.c: the CPython extension module `gocoro._gocoro` (re-exported by the
 * package `gocoro`) and its capsule API table
 * (single-phase init; C only, Go only off the hot path). */
#include "coro/coro.h"
#include "panic/panic.h"
#include "waker/waker.h"
#include "executor/executor.h"
#include "capi/capi.h"
#include "_cgo_export.h"

/* ---------- Capsule API table ---------- */

/* The function table behind `gocoro._C_API`; the object members are filled by PyInit_gocoro. */
static GoCoroAPI gocoro_api_table = {
    .abi_version = GOCORO_ABI_VERSION,
    .struct_size = sizeof(GoCoroAPI),
    .Prepare = GoCoro_Prepare,
    .New = GoCoro_New,
    .GetState = GoCoro_GetState,
    .RaisePanic = GoCoro_RaisePanic,
    .Rethrow = GoCoro_Rethrow,
    .Check = GoCoro_Check,
    .coroutine_type = NULL,
    .panic_exception = NULL,
    .WakerNew = GoCoro_WakerNew,
    .WakerWait = GoCoro_WakerWait,
    .Wake = GoCoro_Wake,
    .WakerRetain = GoCoro_WakerRetain,
    .WakerRelease = GoCoro_WakerRelease,
    .RunBlocking = GoCoro_RunBlocking,
};

/* ---------- Module functions ---------- */

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

static PyObject *mod_waker_stats(PyObject *self, PyObject *unused)
{
    long wakers, hubs, asyncio_hubs;
    gocoro_waker_stats(&wakers, &hubs, &asyncio_hubs);
    return Py_BuildValue("{s:l,s:l,s:l,s:l}", "wakers", wakers, "hubs", hubs, "asyncio_hubs",
                         asyncio_hubs, "jobs", gocoro_executor_jobs());
}

static PyObject *mod_test_executor_panic(PyObject *self, PyObject *arg)
{
    long where = PyLong_AsLong(arg);
    if (where == -1 && PyErr_Occurred())
        return NULL;
    gocoro_executor_set_test_panic((int)where);
    Py_RETURN_NONE;
}

static PyMethodDef mod_methods[] = {
    {"runtime_info", mod_runtime_info, METH_NOARGS,
     "runtime_info() -> dict: Go runtime facts (Go-backed; RuntimeError in a forked child)."},
    {"_test_go_panic", mod_test_go_panic, METH_O,
     "_test_go_panic(msg): panic inside Go; must surface as gocoro.PanicException."},
    {"_waker_stats", mod_waker_stats, METH_NOARGS,
     "_waker_stats() -> dict: live wakers, hubs and blocking jobs (leak tests)."},
    {"_test_executor_panic", mod_test_executor_panic, METH_O,
     "_test_executor_panic(where): make the next GoCoro_RunBlocking panic inside Go "
     "(1: in the goroutine -> the awaiter raises PanicException; 2: in the launch; 0: off)."},
    {NULL, NULL, 0, NULL}};

/* ---------- Module ---------- */

static struct PyModuleDef gocoro_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "gocoro._gocoro",
    .m_doc = "gocoro: one canonical native coroutine type for every extension (see gocoro.h).",
    .m_size = -1,
    .m_methods = mod_methods,
};

PyMODINIT_FUNC PyInit__gocoro(void)
{
    if (gocoro_ensure_ready() < 0 || gocoro_waker_ready() < 0)
        return NULL;
    gocoro_api_table.coroutine_type = (PyObject *)&GoCoro_CoroutineType_Impl;
    gocoro_api_table.panic_exception = gocoro_panic_exc;
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
