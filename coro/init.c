/*
 * coro/init.c: readiness once per process (types, PanicException, ABC registration) and the
 * public entry points that need it (GoCoro_CoroutineType, GoCoro_RaisePanic,
 * GoCoro_PanicException).
 */
#include "coro/object.h"
#include "panic/panic.h"

/* ---------- Readiness ---------- */

static int gocoro_ready = 0;

static int gc_register_abc(const char *abc_name, PyObject *type)
{
    PyObject *abc = PyImport_ImportModule("collections.abc");
    if (abc == NULL)
        return -1;
    PyObject *res, *cls = PyObject_GetAttrString(abc, abc_name);
    Py_DECREF(abc);
    if (cls == NULL)
        return -1;
    res = PyObject_CallMethod(cls, "register", "O", type);
    Py_DECREF(cls);
    if (res == NULL)
        return -1;
    Py_DECREF(res);
    return 0;
}

int gocoro_ensure_ready(void)
{
    if (gocoro_ready)
        return 0;
    PyTypeObject *all[] = {&GoCoro_CoroutineType_Impl, &GoCoro_WrapperType_Impl, &GoCoro_CodeType_Impl,
                           &GoCoro_GeneratorType_Impl, &GoCoro_IteratorType_Impl,
                           &GoCoro_AsyncGenType_Impl, &GoCoro_AGASendType_Impl,
                           &GoCoro_AGAThrowType_Impl, &GoCoro_AsyncIterType_Impl};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (PyType_Ready(all[i]) < 0)
            return -1;
    /* coroutines are not iterators in Python's eyes (tp_iternext only serves `await`) */
    if (PyDict_GetItemString(GoCoro_CoroutineType_Impl.tp_dict, "__next__") != NULL &&
        PyDict_DelItemString(GoCoro_CoroutineType_Impl.tp_dict, "__next__") < 0)
        return -1;
    PyType_Modified(&GoCoro_CoroutineType_Impl);
    if (gocoro_panic_create() == NULL)
        return -1;
    if (ag_ready() < 0)
        return -1;
    if (gc_register_abc("Coroutine", (PyObject *)&GoCoro_CoroutineType_Impl) < 0 ||
        gc_register_abc("Generator", (PyObject *)&GoCoro_GeneratorType_Impl) < 0 ||
        gc_register_abc("Iterator", (PyObject *)&GoCoro_IteratorType_Impl) < 0 ||
        gc_register_abc("AsyncGenerator", (PyObject *)&GoCoro_AsyncGenType_Impl) < 0 ||
        gc_register_abc("AsyncIterator", (PyObject *)&GoCoro_AsyncIterType_Impl) < 0)
        return -1;
    gocoro_ready = 1;
    return 0;
}

/* ---------- Public entry points ---------- */

GoCoroPyObject *GoCoro_CoroutineType(void)
{
    if (gocoro_ensure_ready() < 0)
        return NULL;
    return (PyObject *)&GoCoro_CoroutineType_Impl;
}

int GoCoro_RaisePanic(const char *msg)
{
    if (gocoro_ensure_ready() < 0)
        return GOCORO_ERROR;
    PyErr_SetString(gocoro_panic_exc, msg ? msg : "panic");
    return GOCORO_ERROR;
}

GoCoroPyObject *GoCoro_PanicException(void)
{
    if (gocoro_ensure_ready() < 0)
        return NULL;
    return gocoro_panic_exc;
}
