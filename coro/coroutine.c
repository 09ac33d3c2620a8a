/*
 * coro/coroutine.c: the coroutine type (GOCORO_KIND_COROUTINE) and its __await__ iterator,
 * CPython's coroutine_wrapper.
 */
#include "coro/freelist.h"

/* ---------- Coroutine ---------- */

static PyObject *gc_await(PyObject *self);

static PyObject *gc_await_method(PyObject *self, PyObject *unused) { return gc_await(self); }

/* `await coro` (the am_await slot) iterates the coroutine itself, with no wrapper allocation,
 * exactly as CPython does for its own coroutines; only an explicit coro.__await__() call
 * returns a CoroutineWrapper (METH_COEXIST makes the method win over the slot wrapper). */
static PyObject *gc_await_self(PyObject *self)
{
    gc_note_delegated((GoCoroObject *)self);
    return Py_NewRef(self);
}

static PyMethodDef gc_methods[] = {
    {"__await__", gc_await_method, METH_NOARGS | METH_COEXIST,
     "Return an iterator to be used in await expression."},
    {"send", (PyCFunction)gc_send_method, METH_O,
     "send(arg) -> send 'arg' into coroutine,\nreturn next iterated value or raise StopIteration."},
    {"throw", (PyCFunction)(void (*)(void))gc_throw_method, METH_FASTCALL,
     "throw(value)\nthrow(type[,value[,traceback]])\n\nRaise exception in coroutine, return next "
     "iterated value or raise StopIteration."},
    {"close", gc_close_method, METH_NOARGS, "close() -> raise GeneratorExit inside coroutine."},
    {"__sizeof__", gc_sizeof, METH_NOARGS, NULL},
#if PY_VERSION_HEX >= 0x030D0000 /* as types.CoroutineType */
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS, "See PEP 585"},
#endif
    {NULL, NULL, 0, NULL}};

static PyGetSetDef gc_getset[] = {
    {"__name__", gc_get_name, gc_set_name, "name of the coroutine", NULL},
    {"__qualname__", gc_get_qualname, gc_set_qualname, "qualified name of the coroutine", NULL},
    {"cr_running", gc_get_running, NULL, NULL, NULL},
    {"cr_suspended", gc_get_suspended, NULL, NULL, NULL},
    {"cr_await", gc_get_await, NULL, "object being awaited on, or None", NULL},
    {"cr_frame", gc_get_frame, NULL, "None once finished, else a frame naming the native code", NULL},
    {"cr_origin", gc_get_origin, NULL,
     "where the coroutine was created (sys.set_coroutine_origin_tracking_depth), or None", NULL},
    {"cr_code", gc_get_code, NULL, "an empty code object naming the native function", NULL},
#if PY_VERSION_HEX >= 0x030F0000
    {"cr_state", gc_get_state, NULL, "current state as a string", "CORO"},
#endif
    {NULL, NULL, NULL, NULL, NULL}};

static PyType_Slot gc_slots[] = {
    GC_OBJECT_SLOTS,
    {Py_am_await, gc_await_self},
    {Py_am_send, gc_am_send},
    {Py_tp_repr, gc_repr},
    {Py_tp_doc, "A native coroutine implemented by a C step function (gocoro)."},
    {Py_tp_iternext, gen_iternext}, /* for the interpreter's await loop; __next__ is hidden */
    {Py_tp_methods, gc_methods},
    {Py_tp_getset, gc_getset},
    {Py_tp_finalize, gc_finalize},
    {0, NULL}};

PyType_Spec gc_coroutine_spec = {GC_OBJECT_SPEC("gocoro.Coroutine"), .slots = gc_slots};

/* ---------- Coroutine Wrapper (what coro.__await__() returns) ---------- */

static PyObject *gc_await(PyObject *self)
{
    GoCoroState *st = ((GoCoroObject *)self)->code->st;
    GoCoroWrapper *w;
    if (st->wr_fl_len > 0) {
        w = (GoCoroWrapper *)st->wr_fl[--st->wr_fl_len];
        (void)PyObject_Init((PyObject *)w, st->wrapper_type); /* takes a type reference */
    } else {
        w = PyObject_GC_New(GoCoroWrapper, st->wrapper_type);
        if (w == NULL)
            return NULL;
    }
    w->coro = (GoCoroObject *)Py_NewRef(self);
    PyObject_GC_Track(w);
    return (PyObject *)w;
}

static void wr_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    GoCoroObject *coro = ((GoCoroWrapper *)self)->coro;
    PyObject_GC_UnTrack(self);
    /* the wrapper's type (taken at creation) keeps the module, so st, alive until the end */
    GoCoroState *st = coro != NULL ? coro->code->st : NULL;
    ((GoCoroWrapper *)self)->coro = NULL;
    Py_XDECREF(coro);
    if (st != NULL && !st->closing && st->wr_fl_len < WR_FL_DEPTH)
        st->wr_fl[st->wr_fl_len++] = self;
    else
        PyObject_GC_Del(self);
    Py_DECREF(tp);
}

static int wr_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((GoCoroWrapper *)self)->coro);
    return 0;
}

static PyObject *wr_iternext(PyObject *self)
{
    return gc_iternext_impl(((GoCoroWrapper *)self)->coro);
}

static PySendResult wr_am_send(PyObject *self, PyObject *arg, PyObject **presult)
{
    return gc_am_send((PyObject *)((GoCoroWrapper *)self)->coro, arg, presult);
}

static PyObject *wr_send(PyObject *self, PyObject *arg)
{
    return gc_send_method((PyObject *)((GoCoroWrapper *)self)->coro, arg);
}

static PyObject *wr_throw(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return gc_throw_call(((GoCoroWrapper *)self)->coro, args, nargs, 0);
}

static PyObject *wr_close(PyObject *self, PyObject *unused)
{
    return gc_close_method((PyObject *)((GoCoroWrapper *)self)->coro, NULL);
}

static PyMethodDef wr_methods[] = {
    {"send", (PyCFunction)wr_send, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))wr_throw, METH_FASTCALL, NULL},
    {"close", wr_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyType_Slot wr_slots[] = {
    {Py_tp_dealloc, wr_dealloc},
    {Py_am_send, wr_am_send},
    {Py_tp_doc, "The iterator returned by gocoro.Coroutine.__await__()."},
    {Py_tp_traverse, wr_traverse},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, wr_iternext},
    {Py_tp_methods, wr_methods},
    {0, NULL}};

PyType_Spec gc_wrapper_spec = {
    .name = "gocoro.coroutine_wrapper", /* type(coro.__await__()).__name__ as in CPython */
    .basicsize = sizeof(GoCoroWrapper),
    .flags = GC_TYPE_FLAGS | Py_TPFLAGS_HAVE_GC,
    .slots = wr_slots,
};
