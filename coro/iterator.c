/*
 * coro/iterator.c: the plain iterator type (GOCORO_KIND_ITERATOR), whose __next__ calls step
 * directly, without the send/throw/close engine.
 */
#include "coro/object.h"

/* ---------- Iterator ---------- */

static PyObject *it_iternext(PyObject *self)
{
    GoCoroObject *c = (GoCoroObject *)self;
    if (c->status >= GC_RUNNING) {
        if (c->status == GC_RUNNING)
            PyErr_SetString(PyExc_ValueError, "generator already executing");
        return NULL; /* exhausted */
    }
    c->status = GC_RUNNING;
    PyObject *res = NULL;
    int r = c->code->spec.step(self, c->state, Py_None, NULL, &res);
    if (GC_LIKELY(r == GOCORO_NEXT && res != NULL && !PyErr_Occurred())) {
        c->status = GC_SUSPENDED;
        return res;
    }
    c->status = GC_CLOSED;
    if (r != GOCORO_ERROR && PyErr_Occurred()) {
        Py_XDECREF(res);
        gc_misuse_with_exception(c, r);
        _PyTraceback_Add(c->code->spec.name, c->code->filename_c, (int)c->code->spec.firstlineno);
        gc_release(c);
        return NULL;
    }
    if (r == GOCORO_RETURN) {
        if (res != NULL && res != Py_None)
            gc_set_stop_iteration(res); /* the return value becomes StopIteration.value */
        Py_XDECREF(res);
        gc_release(c);
        return NULL;
    }
    Py_XDECREF(res);
    if (r == GOCORO_ERROR) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_SystemError,
                         "gocoro: step of '%s' returned GOCORO_ERROR without setting an exception",
                         c->code->spec.name);
    } else {
        PyErr_Format(PyExc_SystemError,
                     "gocoro: step of iterator '%s' returned %d; iterators may only return "
                     "GOCORO_NEXT (with an item), GOCORO_RETURN or GOCORO_ERROR",
                     c->code->spec.name, r);
    }
    if (!PyErr_ExceptionMatches(PyExc_StopIteration)) /* a StopIteration just ends iteration */
        _PyTraceback_Add(c->code->spec.name, c->code->filename_c, (int)c->code->spec.firstlineno);
    gc_release(c);
    return NULL;
}

static PyObject *it_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<iterator object %U at %p>", gc_qualname((GoCoroObject *)self), self);
}

static PyMethodDef it_methods[] = {{"__sizeof__", gc_sizeof, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};

static PyGetSetDef it_getset[] = {
    {"__name__", gc_get_name, gc_set_name, NULL, NULL},
    {"__qualname__", gc_get_qualname, gc_set_qualname, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyType_Slot it_slots[] = {
    GC_OBJECT_SLOTS,
    {Py_tp_repr, it_repr},
    {Py_tp_doc, "A native iterator whose __next__ is a C step function (gocoro)."},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, it_iternext},
    {Py_tp_methods, it_methods},
    {Py_tp_getset, it_getset},
    {0, NULL}};

PyType_Spec gc_iterator_spec = {GC_OBJECT_SPEC("gocoro.Iterator"), .slots = it_slots};
