/*
 * coro/init.c: coro/'s part of the per-interpreter state (types, PanicException, ABC
 * registration, lookups, free lists) and the public entry points that need it
 * (GoCoro_CoroutineType, GoCoro_RaisePanic, GoCoro_PanicException).
 */
#include "coro/freelist.h"
#include "panic/panic.h"

/* ---------- Per-interpreter state ---------- */

static int gc_register_abc(const char *abc_name, PyTypeObject *type)
{
    PyObject *abc = PyImport_ImportModule("collections.abc");
    if (abc == NULL)
        return -1;
    PyObject *res, *cls = PyObject_GetAttrString(abc, abc_name);
    Py_DECREF(abc);
    if (cls == NULL)
        return -1;
    res = PyObject_CallMethod(cls, "register", "O", (PyObject *)type);
    Py_DECREF(cls);
    if (res == NULL)
        return -1;
    Py_DECREF(res);
    return 0;
}

static PyTypeObject *gc_new_type(PyObject *module, PyType_Spec *spec)
{
    return (PyTypeObject *)PyType_FromModuleAndSpec(module, spec, NULL);
}

int gocoro_coro_state_init(GoCoroState *st, PyObject *module)
{
    if ((st->coroutine_type = gc_new_type(module, &gc_coroutine_spec)) == NULL ||
        (st->wrapper_type = gc_new_type(module, &gc_wrapper_spec)) == NULL ||
        (st->code_type = gc_new_type(module, &gc_code_spec)) == NULL ||
        (st->generator_type = gc_new_type(module, &gc_generator_spec)) == NULL ||
        (st->iterator_type = gc_new_type(module, &gc_iterator_spec)) == NULL ||
        (st->asyncgen_type = gc_new_type(module, &gc_asyncgen_spec)) == NULL ||
        (st->asynciter_type = gc_new_type(module, &gc_asynciter_spec)) == NULL ||
        (st->asend_type = gc_new_type(module, &gc_asend_spec)) == NULL ||
        (st->athrow_type = gc_new_type(module, &gc_athrow_spec)) == NULL)
        return -1;
    /* coroutines are not iterators in Python's eyes (tp_iternext only serves `await`) */
    PyObject *d = st->coroutine_type->tp_dict;
    if (PyDict_GetItemString(d, "__next__") != NULL && PyDict_DelItemString(d, "__next__") < 0)
        return -1;
    PyType_Modified(st->coroutine_type);
    st->kind_types[GOCORO_KIND_COROUTINE] = st->coroutine_type;
    st->kind_types[GOCORO_KIND_GENERATOR] = st->generator_type;
    st->kind_types[GOCORO_KIND_ITERATOR] = st->iterator_type;
    st->kind_types[GOCORO_KIND_ASYNC_GENERATOR] = st->asyncgen_type;
    st->kind_types[GOCORO_KIND_ASYNC_ITERATOR] = st->asynciter_type;
    if ((st->panic_exc = gocoro_panic_create()) == NULL)
        return -1;
    st->get_asyncgen_hooks = PySys_GetObject("get_asyncgen_hooks"); /* borrowed */
    if (st->get_asyncgen_hooks == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "gocoro: sys.get_asyncgen_hooks is missing");
        return -1;
    }
    Py_INCREF(st->get_asyncgen_hooks);
    if ((st->frame_globals = Py_BuildValue("{s:s}", "__name__", "gocoro")) == NULL)
        return -1;
    if (gc_register_abc("Coroutine", st->coroutine_type) < 0 ||
        gc_register_abc("Generator", st->generator_type) < 0 ||
        gc_register_abc("Iterator", st->iterator_type) < 0 ||
        gc_register_abc("AsyncGenerator", st->asyncgen_type) < 0 ||
        gc_register_abc("AsyncIterator", st->asynciter_type) < 0)
        return -1;
    return 0;
}

int gocoro_coro_state_traverse(GoCoroState *st, visitproc visit, void *arg)
{
    Py_VISIT(st->coroutine_type);
    Py_VISIT(st->wrapper_type);
    Py_VISIT(st->code_type);
    Py_VISIT(st->generator_type);
    Py_VISIT(st->iterator_type);
    Py_VISIT(st->asyncgen_type);
    Py_VISIT(st->asynciter_type);
    Py_VISIT(st->asend_type);
    Py_VISIT(st->athrow_type);
    Py_VISIT(st->panic_exc);
    Py_VISIT(st->get_asyncgen_hooks);
    Py_VISIT(st->frame_globals);
    return 0;
}

void gocoro_coro_state_clear(GoCoroState *st)
{
    st->closing = 1;
    for (int b = 0; b < GC_FL_BUCKETS; b++)
        while (st->obj_fl_len[b] > 0)
            PyObject_GC_Del(st->obj_fl[b][--st->obj_fl_len[b]]);
    while (st->wr_fl_len > 0)
        PyObject_GC_Del(st->wr_fl[--st->wr_fl_len]);
    while (st->aw_fl_len > 0)
        PyObject_GC_Del(st->aw_fl[--st->aw_fl_len]);
    for (int k = 0; k < 5; k++)
        st->kind_types[k] = NULL;
    Py_CLEAR(st->coroutine_type);
    Py_CLEAR(st->wrapper_type);
    Py_CLEAR(st->code_type);
    Py_CLEAR(st->generator_type);
    Py_CLEAR(st->iterator_type);
    Py_CLEAR(st->asyncgen_type);
    Py_CLEAR(st->asynciter_type);
    Py_CLEAR(st->asend_type);
    Py_CLEAR(st->athrow_type);
    Py_CLEAR(st->panic_exc);
    Py_CLEAR(st->get_asyncgen_hooks);
    Py_CLEAR(st->frame_globals);
}

/* ---------- Public entry points ---------- */

GoCoroPyObject *GoCoro_CoroutineType(void)
{
    GoCoroState *st = gocoro_state_current();
    if (st == NULL)
        return NULL;
    return (PyObject *)st->coroutine_type;
}

int GoCoro_RaisePanic(const char *msg)
{
    gocoro_panic_set(msg);
    return GOCORO_ERROR;
}

GoCoroPyObject *GoCoro_PanicException(void)
{
    GoCoroState *st = gocoro_state_current();
    if (st == NULL)
        return NULL;
    return st->panic_exc;
}
