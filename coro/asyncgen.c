/*
 * coro/asyncgen.c: the async generator type (GOCORO_KIND_ASYNC_GENERATOR), its asend()/athrow()
 * awaitables, and the async iterator type (GOCORO_KIND_ASYNC_ITERATOR) built on them.
 */
#include "coro/object.h"

/* ---------- Async Generator: hooks and awaitable creation ---------- */

enum { AW_INIT = 0, AW_ITER = 1, AW_CLOSED = 2 };

typedef struct {
    PyObject_HEAD
    GoCoroObject *gen;
    PyObject *sendval; /* asend: value for the first send; NULL for __anext__ */
    PyObject *args;    /* athrow: the throw() arguments tuple; NULL for aclose() */
    int state;
    uint8_t is_athrow;
    uint8_t finalized; /* tp_finalize ran (CPython then flags the GC header: never recycle) */
} AGAwaitable;

/* First iteration of an async generator: record the finalizer hook, call firstiter. */
static int ag_init_hooks(GoCoroObject *g)
{
    if (g->ag_hooks_inited)
        return 0;
    g->ag_hooks_inited = 1;
    PyObject *hooks = PyObject_CallNoArgs(g->code->st->get_asyncgen_hooks);
    if (hooks == NULL)
        return -1;
    PyObject *firstiter = PySequence_GetItem(hooks, 0);
    PyObject *finalizer = firstiter ? PySequence_GetItem(hooks, 1) : NULL;
    Py_DECREF(hooks);
    if (finalizer == NULL) {
        Py_XDECREF(firstiter);
        return -1;
    }
    if (finalizer != Py_None)
        Py_XSETREF(g->ag_finalizer, finalizer);
    else
        Py_DECREF(finalizer);
    int rc = 0;
    if (firstiter != Py_None) {
        PyObject *res = PyObject_CallOneArg(firstiter, (PyObject *)g);
        if (res == NULL)
            rc = -1;
        Py_XDECREF(res);
    }
    Py_DECREF(firstiter);
    return rc;
}

/* Turn a generator-level result into the awaitable-level one (CPython's unwrap rules). */
static PyObject *ag_unwrap(GoCoroObject *g, int sr, PyObject *res)
{
    switch (sr) {
    case PYGEN_NEXT: /* passed through to the event loop */
        return res;
    case GC_ITEM:
        g->ag_running_async = 0;
        gc_set_stop_iteration_item(res);
        Py_DECREF(res);
        return NULL;
    case PYGEN_RETURN:
        Py_DECREF(res);
        PyErr_SetNone(PyExc_StopAsyncIteration);
        g->ag_closed = 1;
        g->ag_running_async = 0;
        return NULL;
    default:
        if (PyErr_ExceptionMatches(PyExc_StopAsyncIteration) ||
            PyErr_ExceptionMatches(PyExc_GeneratorExit))
            g->ag_closed = 1;
        g->ag_running_async = 0;
        return NULL;
    }
}

static PyObject *ag_new_awaitable(GoCoroObject *g, PyObject *sendval, PyObject *args, int is_athrow)
{
    if (g->kind == GOCORO_KIND_ASYNC_GENERATOR && ag_init_hooks(g) < 0)
        return NULL;
    GoCoroState *st = g->code->st;
    PyTypeObject *type = is_athrow ? st->athrow_type : st->asend_type;
    AGAwaitable *a;
    if (st->aw_fl_len > 0) {
        a = (AGAwaitable *)st->aw_fl[--st->aw_fl_len];
        (void)PyObject_Init((PyObject *)a, type); /* takes a type ref */
    } else {
        a = PyObject_GC_New(AGAwaitable, type);
        if (a == NULL)
            return NULL;
    }
    a->finalized = 0;
    a->gen = (GoCoroObject *)Py_NewRef((PyObject *)g);
    a->sendval = sendval ? Py_NewRef(sendval) : NULL;
    a->args = args ? Py_NewRef(args) : NULL;
    a->state = AW_INIT;
    a->is_athrow = is_athrow;
    PyObject_GC_Track(a);
    return (PyObject *)a;
}

static PyObject *ag_anext(PyObject *self) { return ag_new_awaitable((GoCoroObject *)self, NULL, NULL, 0); }

static PyObject *ag_asend(PyObject *self, PyObject *arg)
{
    return ag_new_awaitable((GoCoroObject *)self, arg, NULL, 0);
}

static PyObject *ag_athrow(PyObject *self, PyObject *args)
{
    PyObject *a0, *a1 = NULL, *a2 = NULL;
    if (!PyArg_UnpackTuple(args, "athrow", 1, 3, &a0, &a1, &a2))
        return NULL;
    if (gc_warn_throw_signature("athrow", PyTuple_GET_SIZE(args)) < 0)
        return NULL;
    return ag_new_awaitable((GoCoroObject *)self, NULL, args, 1);
}

static PyObject *ag_aclose(PyObject *self, PyObject *unused)
{
    return ag_new_awaitable((GoCoroObject *)self, NULL, NULL, 1);
}

/* ---------- Async Generator ASend and AThrow Awaitables ---------- */

static void aw_dealloc(PyObject *self)
{
    AGAwaitable *a = (AGAwaitable *)self;
    PyTypeObject *tp = Py_TYPE(self);
#if PY_VERSION_HEX >= 0x030D0000
    if (a->state == AW_INIT && PyObject_CallFinalizerFromDealloc(self) < 0)
        return; /* resurrected */
#endif
    PyObject_GC_UnTrack(self);
    GoCoroState *st = a->gen != NULL ? a->gen->code->st : NULL;
    Py_CLEAR(a->gen);
    Py_CLEAR(a->sendval);
    Py_CLEAR(a->args);
    /* the awaitable's type (a reference taken at creation) keeps the module, so st, alive */
    if (st != NULL && !a->finalized && !st->closing && st->aw_fl_len < AW_FL_DEPTH)
        st->aw_fl[st->aw_fl_len++] = self;
    else
        PyObject_GC_Del(self);
    Py_DECREF(tp);
}

static int aw_traverse(PyObject *self, visitproc visit, void *arg)
{
    AGAwaitable *a = (AGAwaitable *)self;
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(a->gen);
    Py_VISIT(a->sendval);
    Py_VISIT(a->args);
    return 0;
}

/* asend()/__anext__() awaitable: one resumption, as PyIter_Send reports it: PYGEN_NEXT (a value
 * for the event loop), PYGEN_RETURN (*presult is the generator's next item: the awaitable's
 * result, no StopIteration needed) or PYGEN_ERROR. */
static PySendResult asend_step(AGAwaitable *a, PyObject *arg, PyObject **presult)
{
    GoCoroObject *g = a->gen;
    *presult = NULL;
    if (a->state == AW_CLOSED) {
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse already awaited __anext__()/asend()");
        return PYGEN_ERROR;
    }
    if (a->state == AW_INIT) {
        if (g->ag_running_async) {
#if PY_VERSION_HEX >= 0x030D0000
            a->state = AW_CLOSED;
#endif
            PyErr_SetString(PyExc_RuntimeError, "anext(): asynchronous generator is already running");
            return PYGEN_ERROR;
        }
        if (arg == NULL || arg == Py_None)
            arg = a->sendval ? a->sendval : Py_None;
        a->state = AW_ITER;
    }
    if (arg == NULL)
        arg = Py_None;
    g->ag_running_async = 1;
    PyObject *res = NULL;
    int sr = gc_send_impl(g, arg, &res);
    if (GC_LIKELY(sr == GC_ITEM)) {
        g->ag_running_async = 0;
        a->state = AW_CLOSED;
        *presult = res;
        return PYGEN_RETURN;
    }
    if (sr == PYGEN_NEXT) {
        *presult = res;
        return PYGEN_NEXT;
    }
    (void)ag_unwrap(g, sr, res); /* sets StopAsyncIteration or keeps the error */
    g->ag_running_async = 0;
    a->state = AW_CLOSED;
    return PYGEN_ERROR;
}

/* am_send: how `await` drives the awaitable on 3.10/3.11 (an item costs no StopIteration). */
static PySendResult asend_am_send(PyObject *self, PyObject *arg, PyObject **presult)
{
    return asend_step((AGAwaitable *)self, arg, presult);
}

static PyObject *asend_send(PyObject *self, PyObject *arg)
{
    PyObject *res;
    PySendResult sr = asend_step((AGAwaitable *)self, arg, &res);
    if (sr == PYGEN_NEXT)
        return res;
    if (sr == PYGEN_RETURN) {
        gc_set_stop_iteration_item(res);
        Py_DECREF(res);
    }
    return NULL;
}

static PyObject *asend_iternext(PyObject *self) { return asend_send(self, NULL); }

static PyObject *ag_throw_into(GoCoroObject *g, PyObject *const *args, Py_ssize_t nargs, int close_on_genexit,
                               int *sr_out, PyObject **res)
{
    *sr_out = gc_throw(g, args, nargs, close_on_genexit, res);
    return *res;
}

static PyObject *asend_throw(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    AGAwaitable *a = (AGAwaitable *)self;
    if (nargs < 1 || nargs > 3) {
        PyErr_Format(PyExc_TypeError, "throw expected 1 to 3 arguments, got %zd", nargs);
        return NULL;
    }
    if (a->state == AW_CLOSED) {
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse already awaited __anext__()/asend()");
        return NULL;
    }
#if PY_VERSION_HEX >= 0x030D0000
    if (a->state == AW_INIT) { /* 3.13: throw() starts the awaitable like send() does */
        if (a->gen->ag_running_async) {
            a->state = AW_CLOSED;
            PyErr_SetString(PyExc_RuntimeError, "anext(): asynchronous generator is already running");
            return NULL;
        }
        a->state = AW_ITER;
        a->gen->ag_running_async = 1;
    }
#endif
    /* 3.13 warns only once the awaitable started (and the generator was not running) */
    if (gc_warn_throw_signature("throw", nargs) < 0) {
#if PY_VERSION_HEX >= 0x030D0000
        a->gen->ag_running_async = 0;
        a->state = AW_CLOSED;
#endif
        return NULL;
    }
    int sr;
    PyObject *res = NULL;
    ag_throw_into(a->gen, args, nargs, 1, &sr, &res);
    res = ag_unwrap(a->gen, sr, res);
    if (res == NULL) {
#if PY_VERSION_HEX >= 0x030D0000
        a->gen->ag_running_async = 0;
#endif
        a->state = AW_CLOSED;
    }
    return res;
}

static PyObject *athrow_throw(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

static PyObject *aw_close(PyObject *self, PyObject *unused)
{
    AGAwaitable *a = (AGAwaitable *)self;
#if PY_VERSION_HEX >= 0x030D0000
    /* 3.13: closing the awaitable throws GeneratorExit into the generator */
    if (a->state == AW_CLOSED)
        Py_RETURN_NONE;
    PyObject *exc = PyExc_GeneratorExit;
    PyObject *res = a->is_athrow ? athrow_throw(self, &exc, 1) : asend_throw(self, &exc, 1);
    if (res != NULL) {
        Py_DECREF(res);
        PyErr_SetString(PyExc_RuntimeError, "coroutine ignored GeneratorExit");
        return NULL;
    }
    if (PyErr_ExceptionMatches(PyExc_StopIteration) || PyErr_ExceptionMatches(PyExc_StopAsyncIteration) ||
        PyErr_ExceptionMatches(PyExc_GeneratorExit)) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    return NULL;
#else
    a->state = AW_CLOSED;
    Py_RETURN_NONE;
#endif
}

#if PY_VERSION_HEX >= 0x030D0000
/* 3.13: an __anext__()/asend()/athrow()/aclose() awaitable dropped unawaited warns. */
static void aw_finalize(PyObject *self)
{
    AGAwaitable *a = (AGAwaitable *)self;
    a->finalized = 1;
    if (a->state != AW_INIT)
        return;
    PyObject *saved = gocoro_fetch_exc();
    const char *meth = !a->is_athrow ? "asend" : a->args == NULL ? "aclose" : "athrow";
    if (PyErr_WarnFormat(PyExc_RuntimeWarning, 1, "coroutine method '%s' of '%U' was never awaited",
                         meth, gc_qualname(a->gen)) < 0)
        gc_write_unraisable("finalizing async generator", (PyObject *)a->gen); /* as CPython */
    if (saved != NULL)
        gocoro_restore_exc(saved);
}
#endif

/* athrow()/aclose() awaitable: send */
/* What an aclose() awaitable makes of a send/throw outcome `sr`/`res` of its generator: a value
 * yielded to the event loop passes through; an item means GeneratorExit was ignored
 * (RuntimeError); the end of the generator, or GeneratorExit/StopAsyncIteration propagating,
 * completes the aclose() (StopIteration); any other error propagates.  Closes the awaitable
 * unless a value passes through. */
static PyObject *aclose_outcome(AGAwaitable *a, GoCoroObject *g, int sr, PyObject *res)
{
    if (sr == PYGEN_NEXT)
        return res;
    g->ag_running_async = 0;
    a->state = AW_CLOSED;
    if (sr == GC_ITEM) {
        Py_DECREF(res);
        PyErr_SetString(PyExc_RuntimeError, "async generator ignored GeneratorExit");
        return NULL;
    }
    if (sr == PYGEN_RETURN) {
        Py_DECREF(res);
        PyErr_SetNone(PyExc_StopAsyncIteration);
    }
    if (PyErr_ExceptionMatches(PyExc_StopAsyncIteration) || PyErr_ExceptionMatches(PyExc_GeneratorExit)) {
        PyErr_Clear();
        PyErr_SetNone(PyExc_StopIteration);
    }
    return NULL;
}

static PyObject *athrow_send(PyObject *self, PyObject *arg)
{
    AGAwaitable *a = (AGAwaitable *)self;
    GoCoroObject *g = a->gen;
    PyObject *res = NULL;
    int sr;
    if (a->state == AW_CLOSED) {
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse already awaited aclose()/athrow()");
        return NULL;
    }
    if (g->status == GC_CLOSED) {
        a->state = AW_CLOSED;
        PyErr_SetNone(PyExc_StopIteration);
        return NULL;
    }
    if (a->state == AW_INIT) {
        if (g->ag_running_async) {
            a->state = AW_CLOSED;
            PyErr_SetString(PyExc_RuntimeError, a->args == NULL
                                                    ? "aclose(): asynchronous generator is already running"
                                                    : "athrow(): asynchronous generator is already running");
            return NULL;
        }
        if (g->ag_closed) {
            a->state = AW_CLOSED;
            PyErr_SetNone(PyExc_StopAsyncIteration);
            return NULL;
        }
        if (arg != NULL && arg != Py_None) {
            PyErr_SetString(PyExc_RuntimeError, "can't send non-None value to a just-started coroutine");
            return NULL;
        }
        a->state = AW_ITER;
        g->ag_running_async = 1;
        if (a->args == NULL) { /* aclose() */
            g->ag_closed = 1;
            PyObject *exc = PyObject_CallNoArgs(PyExc_GeneratorExit);
            if (exc == NULL)
                goto check_error;
            sr = gc_throw(g, &exc, 1, 0, &res);
            Py_DECREF(exc);
            goto aclose_result;
        }
        ag_throw_into(g, &PyTuple_GET_ITEM(a->args, 0), PyTuple_GET_SIZE(a->args), 0, &sr, &res);
        res = ag_unwrap(g, sr, res);
        if (res == NULL)
            goto check_error;
        return res;
    }
    /* AW_ITER */
    sr = gc_send_impl(g, arg ? arg : Py_None, &res);
    if (a->args != NULL) /* as CPython: the awaitable stays usable after an item or an error */
        return ag_unwrap(g, sr, res);
aclose_result:
    return aclose_outcome(a, g, sr, res);
check_error:
    g->ag_running_async = 0;
    a->state = AW_CLOSED;
    if (PyErr_ExceptionMatches(PyExc_StopAsyncIteration) || PyErr_ExceptionMatches(PyExc_GeneratorExit)) {
        if (a->args == NULL) { /* aclose() completed */
            PyErr_Clear();
            PyErr_SetNone(PyExc_StopIteration);
        }
    }
    return NULL;
}

static PyObject *athrow_iternext(PyObject *self) { return athrow_send(self, Py_None); }

static PyObject *athrow_throw(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    AGAwaitable *a = (AGAwaitable *)self;
    GoCoroObject *g = a->gen;
    if (nargs < 1 || nargs > 3) {
        PyErr_Format(PyExc_TypeError, "throw expected 1 to 3 arguments, got %zd", nargs);
        return NULL;
    }
    if (a->state == AW_CLOSED) {
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse already awaited aclose()/athrow()");
        return NULL;
    }
#if PY_VERSION_HEX >= 0x030D0000
    if (a->state == AW_INIT) { /* 3.13: throw() starts the awaitable like send() does */
        if (g->ag_running_async) {
            a->state = AW_CLOSED;
            PyErr_SetString(PyExc_RuntimeError, a->args == NULL
                                                    ? "aclose(): asynchronous generator is already running"
                                                    : "athrow(): asynchronous generator is already running");
            return NULL;
        }
        a->state = AW_ITER;
        g->ag_running_async = 1;
    }
#endif
    /* 3.13 warns only once the awaitable started (and the generator was not running) */
    if (gc_warn_throw_signature("throw", nargs) < 0) {
#if PY_VERSION_HEX >= 0x030D0000
        g->ag_running_async = 0;
        a->state = AW_CLOSED;
#endif
        return NULL;
    }
    int sr;
    PyObject *res = NULL;
    ag_throw_into(g, args, nargs, 1, &sr, &res);
#if PY_VERSION_HEX < 0x030D0000
    /* up to 3.12, throw() on these awaitables never changes the awaitable's own state */
    if (a->args != NULL)
        return ag_unwrap(g, sr, res);
    if (sr == PYGEN_NEXT)
        return res;
    if (sr == GC_ITEM) { /* (except this one, which closes it) */
        Py_DECREF(res);
        g->ag_running_async = 0;
        a->state = AW_CLOSED;
        PyErr_SetString(PyExc_RuntimeError, "async generator ignored GeneratorExit");
        return NULL;
    }
    if (sr == PYGEN_RETURN) {
        Py_DECREF(res);
        PyErr_SetNone(PyExc_StopAsyncIteration);
    }
    if (PyErr_ExceptionMatches(PyExc_StopAsyncIteration) || PyErr_ExceptionMatches(PyExc_GeneratorExit)) {
        PyErr_Clear();
        PyErr_SetNone(PyExc_StopIteration);
    }
    return NULL;
#endif
    if (a->args != NULL) {
        res = ag_unwrap(g, sr, res);
        if (res == NULL) {
            g->ag_running_async = 0;
            a->state = AW_CLOSED;
        }
        return res;
    }
    return aclose_outcome(a, g, sr, res); /* aclose() */
}

static PyMethodDef asend_methods[] = {
    {"send", asend_send, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))asend_throw, METH_FASTCALL, NULL},
    {"close", aw_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyMethodDef athrow_methods[] = {
    {"send", athrow_send, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))athrow_throw, METH_FASTCALL, NULL},
    {"close", aw_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyObject *aw_await(PyObject *self) { return Py_NewRef(self); }

/* CPython's reprs for these awaitables */
static PyObject *asend_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<async_generator_asend object at %p>", self);
}

static PyObject *athrow_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<async_generator_athrow object at %p>", self);
}

#if PY_VERSION_HEX >= 0x030D0000
#define AW_FINALIZE_SLOT {Py_tp_finalize, aw_finalize},
#else
#define AW_FINALIZE_SLOT
#endif

static PyType_Slot asend_slots[] = {
    {Py_tp_dealloc, aw_dealloc},
    {Py_am_await, aw_await},
    {Py_tp_traverse, aw_traverse},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, asend_iternext},
    {Py_am_send, asend_am_send},
    {Py_tp_repr, asend_repr},
    AW_FINALIZE_SLOT
    {Py_tp_methods, asend_methods},
    {0, NULL}};

PyType_Spec gc_asend_spec = {
    .name = "gocoro.AsyncGeneratorASend",
    .basicsize = sizeof(AGAwaitable),
    .flags = GC_TYPE_FLAGS | Py_TPFLAGS_HAVE_GC,
    .slots = asend_slots,
};

static PyType_Slot athrow_slots[] = {
    {Py_tp_dealloc, aw_dealloc},
    {Py_am_await, aw_await},
    {Py_tp_traverse, aw_traverse},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, athrow_iternext},
    {Py_tp_repr, athrow_repr},
    AW_FINALIZE_SLOT
    {Py_tp_methods, athrow_methods},
    {0, NULL}};

PyType_Spec gc_athrow_spec = {
    .name = "gocoro.AsyncGeneratorAThrow",
    .basicsize = sizeof(AGAwaitable),
    .flags = GC_TYPE_FLAGS | Py_TPFLAGS_HAVE_GC,
    .slots = athrow_slots,
};

/* ---------- Async Generator ---------- */

static PyObject *ag_self(PyObject *self) { return Py_NewRef(self); }

static PyObject *ag_get_running(PyObject *self, void *closure)
{
    return PyBool_FromLong(((GoCoroObject *)self)->ag_running_async);
}

static PyMethodDef ag_methods[] = {
    {"asend", ag_asend, METH_O, "asend(v) -> send 'v' in generator."},
    {"athrow", ag_athrow, METH_VARARGS, "athrow(value)\nathrow(type[,value[,tb]])\n\nraise exception in generator."},
    {"aclose", ag_aclose, METH_NOARGS, "aclose() -> raise GeneratorExit inside generator."},
    {"__sizeof__", gc_sizeof, METH_NOARGS, NULL},
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS, "See PEP 585"}, /* as types.AsyncGeneratorType */
    {NULL, NULL, 0, NULL}};

static PyGetSetDef ag_getset[] = {
    {"__name__", gc_get_name, gc_set_name, "name of the async generator", NULL},
    {"__qualname__", gc_get_qualname, gc_set_qualname, "qualified name of the async generator", NULL},
    {"ag_running", ag_get_running, NULL, NULL, NULL},
    {"ag_suspended", gc_get_suspended, NULL, NULL, NULL},
    {"ag_await", gc_get_await, NULL, "object being awaited on, or None", NULL},
    {"ag_frame", gc_get_frame, NULL, "None once finished, else a frame naming the native code", NULL},
    {"ag_code", gc_get_code, NULL, "an empty code object naming the native function", NULL},
#if PY_VERSION_HEX >= 0x030F0000
    {"ag_state", gc_get_state, NULL, "current state as a string", "AGEN"},
#endif
    {NULL, NULL, NULL, NULL, NULL}};

static PyType_Slot ag_slots[] = {
    GC_OBJECT_SLOTS,
    {Py_am_aiter, ag_self},
    {Py_am_anext, ag_anext},
    {Py_tp_repr, gc_repr},
    {Py_tp_doc, "A native async generator implemented by a C step function (gocoro)."},
    {Py_tp_methods, ag_methods},
    {Py_tp_getset, ag_getset},
    {Py_tp_finalize, gc_finalize},
    {0, NULL}};

PyType_Spec gc_asyncgen_spec = {GC_OBJECT_SPEC("gocoro.AsyncGenerator"), .slots = ag_slots};

/* ---------- Async Iterator ---------- */

/* GOCORO_KIND_ASYNC_ITERATOR: __aiter__/__anext__ over the same machinery, without
 * asend/athrow/aclose and without the asyncgen hooks. */
static PyMethodDef ai_methods[] = {{"__sizeof__", gc_sizeof, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};

static PyGetSetDef ai_getset[] = {
    {"__name__", gc_get_name, gc_set_name, NULL, NULL},
    {"__qualname__", gc_get_qualname, gc_set_qualname, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyObject *ai_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<async_iterator object %U at %p>", gc_qualname((GoCoroObject *)self), self);
}

static PyType_Slot ai_slots[] = {
    GC_OBJECT_SLOTS,
    {Py_am_aiter, ag_self},
    {Py_am_anext, ag_anext},
    {Py_tp_repr, ai_repr},
    {Py_tp_doc, "A native async iterator whose __anext__ steps a C function (gocoro)."},
    {Py_tp_methods, ai_methods},
    {Py_tp_getset, ai_getset},
    {Py_tp_finalize, gc_finalize},
    {0, NULL}};

PyType_Spec gc_asynciter_spec = {GC_OBJECT_SPEC("gocoro.AsyncIterator"), .slots = ai_slots};
