/*
 * gocoro native coroutine type: CPython coroutine semantics over a C step function.
 *
 * The state machine follows CPython's Objects/genobject.c semantics (send/throw/close,
 * yield-from style delegation for GOCORO_AWAIT, PEP 479, finalisation), re-implemented over
 * the step protocol documented in include/gocoro.h.
 */
#include "gocoro_internal.h"

#include <pthread.h>
#include <string.h>

#if PY_VERSION_HEX >= 0x030D0000
/* Still exported by libpython 3.13, but its declaration moved to the internal headers. */
PyAPI_FUNC(void) _PyTraceback_Add(const char *, const char *, int);
#endif

#define GC_MAX_STATE ((size_t)1 << 24)

#define GC_LIKELY(x) __builtin_expect(!!(x), 1)
#define GC_UNLIKELY(x) __builtin_expect(!!(x), 0)

volatile int gocoro_forked_child = 0;

static void gc_atfork_child(void) { gocoro_forked_child = 1; }

__attribute__((constructor)) static void gc_register_atfork(void)
{
    pthread_atfork(NULL, NULL, gc_atfork_child);
}

int gocoro_go_unavailable(const char *what)
{
    if (!gocoro_forked_child)
        return 0;
    PyErr_Format(PyExc_RuntimeError,
                 "gocoro: %s needs the Go runtime, which cannot run in a child process created by "
                 "fork() (without exec) after libgocoro was loaded; call it in the parent, or use "
                 "the 'spawn' / 'forkserver' multiprocessing start method",
                 what);
    return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* exception helpers                                                                           */

PyObject *gocoro_fetch_exc(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    if (t == NULL)
        return NULL;
    PyErr_NormalizeException(&t, &v, &tb);
    if (tb != NULL && v != NULL)
        PyException_SetTraceback(v, tb);
    Py_XDECREF(t);
    Py_XDECREF(tb);
    return v;
#endif
}

void gocoro_restore_exc(PyObject *exc)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    PyObject *tb = PyException_GetTraceback(exc);
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, tb);
#endif
}

/* getattr that returns 0 with *out == NULL when the attribute is missing. */
static int PyObject_GetOptionalAttrString_compat(PyObject *o, const char *name, PyObject **out)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyObject_GetOptionalAttrString(o, name, out);
#else
    *out = PyObject_GetAttrString(o, name);
    if (*out != NULL)
        return 1;
    if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
#endif
}

/* Equivalent of CPython's StopIteration-with-value protocol for return values. */
static void gc_set_stop_iteration(PyObject *value)
{
    if (value == Py_None) {
        PyErr_SetNone(PyExc_StopIteration);
        return;
    }
    if (!PyTuple_Check(value) && !PyExceptionInstance_Check(value)) {
        PyErr_SetObject(PyExc_StopIteration, value);
        return;
    }
    PyObject *e = PyObject_CallOneArg(PyExc_StopIteration, value);
    if (e != NULL) {
        PyErr_SetObject(PyExc_StopIteration, e);
        Py_DECREF(e);
    }
}

static const char *gc_kind_word(GoCoroObject *c)
{
    switch (c->kind) {
    case GOCORO_KIND_GENERATOR:
    case GOCORO_KIND_ITERATOR:
        return "generator";
    case GOCORO_KIND_ASYNC_GENERATOR:
    case GOCORO_KIND_ASYNC_ITERATOR:
        return "async generator";
    default:
        return "coroutine";
    }
}

static inline PyObject *gc_qualname(GoCoroObject *c)
{
    return c->qualname ? c->qualname : c->code->qualname;
}

static inline PyObject *gc_name(GoCoroObject *c)
{
    return c->name ? c->name : c->code->name;
}

/* Drop everything the finished object owns (idempotent). */
static void gc_release(GoCoroObject *c)
{
    Py_CLEAR(c->await_obj);
    if (!c->cleared) {
        c->cleared = 1;
        if (c->code->spec.clear != NULL)
            c->code->spec.clear(c->state);
    }
}

/* The object finished by raising: add the native frame, apply PEP 479. */
static void gc_finish_error(GoCoroObject *c)
{
    GoCoroCode *code = c->code;
    _PyTraceback_Add(code->spec.name, code->filename_c, (int)code->spec.firstlineno);
    if (PyErr_ExceptionMatches(PyExc_StopIteration) ||
        (c->kind == GOCORO_KIND_ASYNC_GENERATOR &&
         PyErr_ExceptionMatches(PyExc_StopAsyncIteration))) {
        PyObject *orig = gocoro_fetch_exc();
        const char *what = PyErr_GivenExceptionMatches(orig, PyExc_StopIteration)
                               ? "StopIteration" : "StopAsyncIteration";
        PyErr_Format(PyExc_RuntimeError, "%s raised %s", gc_kind_word(c), what);
        PyObject *rt = gocoro_fetch_exc();
        PyException_SetCause(rt, Py_NewRef(orig));
        PyException_SetContext(rt, orig);
        gocoro_restore_exc(rt);
    }
}

/* The getter behind CPython coroutines' `cr_await` descriptor, looked up once: calling it
 * directly costs a few instructions where a lookup by name costs about a thousand. */
static getter gc_cr_await_get = NULL;

static int gc_coro_is_awaited(PyObject *o)
{
    if (GC_UNLIKELY(gc_cr_await_get == NULL)) {
        /* the class attribute is the descriptor itself */
        PyObject *d = PyObject_GetAttrString((PyObject *)&PyCoro_Type, "cr_await");
        if (d == NULL)
            return -1;
        if (!PyObject_TypeCheck(d, &PyGetSetDescr_Type) ||
            ((PyGetSetDescrObject *)d)->d_getset->get == NULL) {
            Py_DECREF(d);
            PyErr_SetString(PyExc_SystemError, "gocoro: coroutine type has no cr_await getter");
            return -1;
        }
        gc_cr_await_get = ((PyGetSetDescrObject *)d)->d_getset->get;
        Py_DECREF(d); /* the static type keeps it alive */
    }
    PyObject *yf = gc_cr_await_get(o, NULL);
    if (yf == NULL)
        return -1;
    int busy = yf != Py_None;
    Py_DECREF(yf);
    return busy;
}

/* A generator made by a @types.coroutine function (its code has CO_ITERABLE_COROUTINE). */
static int gc_gen_is_coroutine(PyObject *o)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyCodeObject *code = PyGen_GetCode((PyGenObject *)o);
    int flags = code->co_flags;
    Py_DECREF(code);
#else
    int flags = ((PyCodeObject *)((PyGenObject *)o)->gi_code)->co_flags;
#endif
    return (flags & CO_ITERABLE_COROUTINE) != 0;
}

/* CPython's rules for `await obj`: returns the iterator to drive, new reference. */
static PyObject *gc_awaitable_iter(PyObject *o)
{
    PyTypeObject *t = Py_TYPE(o);
    if (t == &GoCoro_CoroutineType_Impl) {
        if (((GoCoroObject *)o)->await_obj != NULL) {
            PyErr_SetString(PyExc_RuntimeError, "coroutine is being awaited already");
            return NULL;
        }
        return Py_NewRef(o);
    }
    if (PyCoro_CheckExact(o)) {
        int busy = gc_coro_is_awaited(o);
        if (busy < 0)
            return NULL;
        if (busy) {
            PyErr_SetString(PyExc_RuntimeError, "coroutine is being awaited already");
            return NULL;
        }
        return Py_NewRef(o);
    }
    if (PyGen_CheckExact(o) && gc_gen_is_coroutine(o)) /* @types.coroutine generators */
        return Py_NewRef(o);
    if (t->tp_as_async != NULL && t->tp_as_async->am_await != NULL) {
        PyObject *res = t->tp_as_async->am_await(o);
        if (res == NULL)
            return NULL;
        if (PyCoro_CheckExact(res) || Py_TYPE(res) == &GoCoro_CoroutineType_Impl) {
            Py_DECREF(res);
            PyErr_SetString(PyExc_TypeError, "__await__() returned a coroutine");
            return NULL;
        }
        if (!PyIter_Check(res)) {
            PyErr_Format(PyExc_TypeError, "__await__() returned non-iterator of type '%.100s'",
                         Py_TYPE(res)->tp_name);
            Py_DECREF(res);
            return NULL;
        }
        return res;
    }
    PyErr_Format(PyExc_TypeError, "object %.100s can't be used in 'await' expression", t->tp_name);
    return NULL;
}

static PySendResult gc_am_send(PyObject *self, PyObject *arg, PyObject **presult);

/* CPython's rules for `yield from obj` in a (non-coroutine) generator. */
static PyObject *gc_yield_from_iter(PyObject *o)
{
    if (PyCoro_CheckExact(o) || Py_TYPE(o) == &GoCoro_CoroutineType_Impl) {
        PyErr_SetString(PyExc_TypeError,
                        "cannot 'yield from' a coroutine object in a non-coroutine generator");
        return NULL;
    }
    if (PyGen_CheckExact(o))
        return Py_NewRef(o);
    return PyObject_GetIter(o);
}
static inline int gc_send_impl(GoCoroObject *c, PyObject *arg, PyObject **presult);

/* Send into the delegated iterator (PyIter_Send, with our own type short-circuited). */
static inline PySendResult gc_delegate_send(PyObject *it, PyObject *arg, PyObject **res)
{
    if (Py_TYPE(it) == &GoCoro_CoroutineType_Impl)
        return gc_am_send(it, arg, res);
    return PyIter_Send(it, arg, res);
}

static int gc_after_step(GoCoroObject *c, int r, PyObject *res, PyObject **presult);

/* Step with an exception thrown in: like an `except` block around the resumed yield, `thrown`
 * is the exception being handled while the step runs (sys.exception() returns it, and an
 * exception the step raises gets it as __context__).  The step sees its own entry on the
 * thread's handled-exception stack, as a generator frame does. */
static __attribute__((noinline)) int gc_step_thrown(GoCoroObject *c, PyObject *thrown, PyObject **res)
{
    PyThreadState *ts = PyThreadState_Get();
    _PyErr_StackItem item;
    memset(&item, 0, sizeof item);
#if PY_VERSION_HEX < 0x030B0000
    item.exc_type = Py_NewRef((PyObject *)Py_TYPE(thrown));
    item.exc_traceback = PyException_GetTraceback(thrown);
#endif
    item.exc_value = Py_NewRef(thrown);
    item.previous_item = ts->exc_info;
    ts->exc_info = &item;
    int r = c->code->spec.step((PyObject *)c, c->state, NULL, thrown, res);
    ts->exc_info = item.previous_item;
#if PY_VERSION_HEX < 0x030B0000
    Py_XDECREF(item.exc_type);
    Py_XDECREF(item.exc_traceback);
#endif
    Py_XDECREF(item.exc_value);
    return r;
}

/* Call step with exactly one of sent/thrown. */
static inline int gc_call_step(GoCoroObject *c, PyObject *sent, PyObject *thrown, PyObject **res)
{
    if (GC_LIKELY(thrown == NULL))
        return c->code->spec.step((PyObject *)c, c->state, sent, NULL, res);
    return gc_step_thrown(c, thrown, res);
}

/*
 * Run step until it yields or finishes.  status must be GC_RUNNING.  `sent`/`thrown` are
 * borrowed.  Sets status to SUSPENDED or CLOSED before returning.  The plain "yield a value"
 * outcome is handled inline; everything else goes through gc_after_step.
 */
static inline int gc_run(GoCoroObject *c, PyObject *sent, PyObject *thrown, PyObject **presult)
{
    PyObject *res = NULL;
    int r = gc_call_step(c, sent, thrown, &res);
    if (GC_LIKELY(r == GOCORO_NEXT && res != NULL && !PyErr_Occurred())) {
        c->status = GC_SUSPENDED;
        *presult = res;
        return PYGEN_NEXT;
    }
    return gc_after_step(c, r, res, presult);
}

static const char *gc_code_name(int r)
{
    switch (r) {
    case GOCORO_RETURN: return "GOCORO_RETURN";
    case GOCORO_NEXT: return "GOCORO_NEXT";
    case GOCORO_AWAIT: return "GOCORO_AWAIT";
    case GOCORO_ITEM: return "GOCORO_ITEM";
    default: return NULL;
    }
}

/* A step returned `r` (anything but GOCORO_ERROR) with an exception set: replace it with a
 * SystemError naming the misuse, the stray exception as its cause. */
static void gc_misuse_with_exception(GoCoroObject *c, int r)
{
    PyObject *cause = gocoro_fetch_exc();
    const char *what = gc_code_name(r);
    if (what != NULL)
        PyErr_Format(PyExc_SystemError, "gocoro: step of '%s' returned %s with an exception set",
                     c->code->spec.name, what);
    else
        PyErr_Format(PyExc_SystemError,
                     "gocoro: step of '%s' returned invalid code %d with an exception set",
                     c->code->spec.name, r);
    PyObject *se = gocoro_fetch_exc();
    PyException_SetCause(se, Py_NewRef(cause));
    PyException_SetContext(se, cause);
    gocoro_restore_exc(se);
}

/* Handle a step result `r` (with its `res`), stepping again while awaitables finish at once. */
static __attribute__((noinline)) int gc_after_step(GoCoroObject *c, int r, PyObject *res,
                                                   PyObject **presult)
{
    for (;;) {
        PyObject *sent = NULL, *thrown = NULL;
        if (GC_UNLIKELY(r != GOCORO_ERROR && PyErr_Occurred())) {
            Py_XDECREF(res);
            gc_misuse_with_exception(c, r);
            goto error;
        }
        switch (r) {
        case GOCORO_NEXT:
            if (res == NULL)
                goto no_result;
            c->status = GC_SUSPENDED;
            *presult = res;
            return PYGEN_NEXT;
        case GOCORO_ITEM:
            if (c->kind < GOCORO_KIND_ASYNC_GENERATOR) {
                Py_XDECREF(res);
                PyErr_Format(PyExc_SystemError,
                             "gocoro: step of '%s' returned GOCORO_ITEM, which only async generators "
                             "and async iterators may",
                             c->code->spec.name);
                goto error;
            }
            if (res == NULL)
                goto no_result;
            c->status = GC_SUSPENDED;
            *presult = res;
            return GC_ITEM;
        case GOCORO_RETURN:
            c->status = GC_CLOSED;
            gc_release(c);
            *presult = res != NULL ? res : Py_NewRef(Py_None);
            return PYGEN_RETURN;
        case GOCORO_AWAIT: {
            if (res == NULL)
                goto no_result;
            PyObject *it = c->kind == GOCORO_KIND_GENERATOR ? gc_yield_from_iter(res) : gc_awaitable_iter(res);
            Py_DECREF(res);
            if (it == NULL) {
                /* like a failing `await x`: the error is raised at the await point */
                thrown = gocoro_fetch_exc();
            } else {
                PyObject *val = NULL;
                PySendResult sr;
                if (Py_EnterRecursiveCall(" while awaiting in a gocoro object")) {
                    sr = PYGEN_ERROR;
                } else {
                    sr = gc_delegate_send(it, Py_None, &val);
                    Py_LeaveRecursiveCall();
                }
                if (sr == PYGEN_NEXT) {
                    c->await_obj = it;
                    c->status = GC_SUSPENDED;
                    *presult = val;
                    return PYGEN_NEXT;
                }
                Py_DECREF(it);
                if (sr == PYGEN_RETURN)
                    sent = val;
                else
                    thrown = gocoro_fetch_exc();
            }
            /* the awaitable finished at once: step again with its outcome */
            res = NULL;
            r = gc_call_step(c, sent, thrown, &res);
            Py_XDECREF(sent);
            Py_XDECREF(thrown);
            continue;
        }
        case GOCORO_ERROR:
            Py_XDECREF(res);
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_SystemError,
                             "gocoro: step of '%s' returned GOCORO_ERROR without setting an exception",
                             c->code->spec.name);
            goto error;
        default:
            Py_XDECREF(res);
            PyErr_Format(PyExc_SystemError, "gocoro: step of '%s' returned invalid code %d",
                         c->code->spec.name, r);
            goto error;
        }
    no_result:
        PyErr_Format(PyExc_SystemError, "gocoro: step of '%s' returned %s without a result",
                     c->code->spec.name,
                     r == GOCORO_NEXT ? "GOCORO_NEXT" : r == GOCORO_ITEM ? "GOCORO_ITEM" : "GOCORO_AWAIT");
        goto error;
    }
error:
    c->status = GC_CLOSED;
    gc_finish_error(c);
    gc_release(c);
    *presult = NULL;
    return PYGEN_ERROR;
}

/* Resume after the delegated iterator finished (sr RETURN/ERROR, val owned for RETURN). */
static int gc_resume_after_delegate(GoCoroObject *c, int sr, PyObject *val, PyObject **presult)
{
    Py_CLEAR(c->await_obj);
    int out;
    if (sr == PYGEN_RETURN) {
        out = gc_run(c, val, NULL, presult);
        Py_DECREF(val);
    } else {
        PyObject *exc = gocoro_fetch_exc();
        out = gc_run(c, NULL, exc, presult);
        Py_XDECREF(exc);
    }
    return out;
}

static int gc_check_resumable(GoCoroObject *c, PyObject *arg, int closing)
{
    switch (c->status) {
    case GC_RUNNING:
        PyErr_Format(PyExc_ValueError, "%s already executing", gc_kind_word(c));
        return -1;
    case GC_CLOSED:
        if (c->kind == GOCORO_KIND_COROUTINE && !closing)
            PyErr_SetString(PyExc_RuntimeError, "cannot reuse already awaited coroutine");
        return -1;
    case GC_CREATED:
        if (arg != NULL && arg != Py_None) {
            PyErr_Format(PyExc_TypeError, "can't send non-None value to a just-started %s",
                         gc_kind_word(c));
            return -1;
        }
        return 0;
    default:
        return 0;
    }
}

/* Resume with `arg` (send).  Returns PYGEN_* or GC_ITEM (async generators only). */
static __attribute__((noinline)) int gc_send_slow(GoCoroObject *c, PyObject *arg, PyObject **presult);

/* The per-step hot path: a suspended object with no delegate whose step yields a value.  Kept
 * tiny and inlined into every slot; everything else lives out of line (no register spills). */
static inline int gc_send_impl(GoCoroObject *c, PyObject *arg, PyObject **presult)
{
    if (GC_LIKELY(c->status == GC_SUSPENDED && c->await_obj == NULL)) {
        c->status = GC_RUNNING;
        PyObject *res = NULL;
        int r = c->code->spec.step((PyObject *)c, c->state, arg, NULL, &res);
        if (GC_LIKELY(r == GOCORO_NEXT && res != NULL && !PyErr_Occurred())) {
            c->status = GC_SUSPENDED;
            *presult = res;
            return PYGEN_NEXT;
        }
        return gc_after_step(c, r, res, presult);
    }
    return gc_send_slow(c, arg, presult);
}

static int gc_send_slow(GoCoroObject *c, PyObject *arg, PyObject **presult)
{
    if (c->status != GC_SUSPENDED) {
        if (c->status == GC_CLOSED && c->kind != GOCORO_KIND_COROUTINE) {
            *presult = Py_NewRef(Py_None); /* an exhausted generator just stops again */
            return PYGEN_RETURN;
        }
        if (gc_check_resumable(c, arg, 0) < 0) {
            *presult = NULL;
            return PYGEN_ERROR;
        }
    }
    c->status = GC_RUNNING;
    if (c->await_obj != NULL) {
        PyObject *val = NULL;
        /* a chain of native awaits recurses in C: bound it like CPython bounds C recursion */
        if (Py_EnterRecursiveCall(" while awaiting in a gocoro object")) {
            PyObject *err = gocoro_fetch_exc();
            Py_CLEAR(c->await_obj);
            int out = gc_run(c, NULL, err, presult);
            Py_DECREF(err);
            return out;
        }
        PySendResult sr = gc_delegate_send(c->await_obj, arg, &val);
        Py_LeaveRecursiveCall();
        if (sr == PYGEN_NEXT) {
            c->status = GC_SUSPENDED;
            *presult = val;
            return PYGEN_NEXT;
        }
        return gc_resume_after_delegate(c, sr, val, presult);
    }
    return gc_run(c, arg, NULL, presult);
}

static PySendResult gc_am_send(PyObject *self, PyObject *arg, PyObject **presult)
{
    return (PySendResult)gc_send_impl((GoCoroObject *)self, arg, presult);
}

/* send(value): the PyIter_Send result converted to the iterator protocol. */
static PyObject *gc_send_method(PyObject *self, PyObject *arg)
{
    PyObject *res = NULL;
    PySendResult sr = gc_am_send(self, arg, &res);
    if (sr == PYGEN_NEXT)
        return res;
    if (sr == PYGEN_RETURN) {
        gc_set_stop_iteration(res);
        Py_DECREF(res);
    }
    return NULL;
}

/* Close a delegated iterator: 0 ok, -1 with an exception set (to be thrown into the body).
 * As in CPython, failing to look up a delegate's close() is only reported as unraisable. */
static int gc_close_iter(PyObject *it)
{
    PyObject *ret;
    if (PyGen_CheckExact(it) || PyCoro_CheckExact(it) || GoCoro_Check(it)) {
        ret = PyObject_CallMethod(it, "close", NULL);
    } else {
        PyObject *meth;
        if (PyObject_GetOptionalAttrString_compat(it, "close", &meth) < 0) {
            PyErr_WriteUnraisable(it);
            return 0;
        }
        if (meth == NULL)
            return 0;
        ret = PyObject_CallNoArgs(meth);
        Py_DECREF(meth);
    }
    if (ret == NULL)
        return -1;
    Py_DECREF(ret);
    return 0;
}

/* 3.12+ deprecates the (type, exc, tb) form of throw()/athrow(): warn like CPython. */
static int gc_warn_throw_signature(const char *meth, Py_ssize_t nargs)
{
#if PY_VERSION_HEX >= 0x030C0000
    if (nargs > 1)
        return PyErr_WarnFormat(PyExc_DeprecationWarning, 1,
                                "the (type, exc, tb) signature of %s() is deprecated, "
                                "use the single-arg signature instead.",
                                meth);
#else
    (void)meth;
    (void)nargs;
#endif
    return 0;
}

/* Normalise throw()'s (typ[, val[, tb]]) into an exception instance (new ref) or NULL. */
static PyObject *gc_make_throw_exc(PyObject *typ, PyObject *val, PyObject *tb)
{
    if (tb == Py_None)
        tb = NULL;
    else if (tb != NULL && !PyTraceBack_Check(tb)) {
        PyErr_SetString(PyExc_TypeError, "throw() third argument must be a traceback object");
        return NULL;
    }
    PyObject *exc;
    if (PyExceptionClass_Check(typ)) {
        PyObject *t = Py_NewRef(typ), *v = val ? Py_NewRef(val) : NULL, *tb2 = tb ? Py_NewRef(tb) : NULL;
        PyErr_NormalizeException(&t, &v, &tb2);
        if (v == NULL || !PyExceptionInstance_Check(v)) {
            Py_XDECREF(t);
            Py_XDECREF(v);
            Py_XDECREF(tb2);
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "calling exception class did not return an exception");
            return NULL;
        }
        if (tb2 != NULL)
            PyException_SetTraceback(v, tb2);
        Py_XDECREF(t);
        Py_XDECREF(tb2);
        exc = v;
    } else if (PyExceptionInstance_Check(typ)) {
        if (val != NULL && val != Py_None) {
            PyErr_SetString(PyExc_TypeError, "instance exception may not have a separate value");
            return NULL;
        }
        exc = Py_NewRef(typ);
        if (tb != NULL)
            PyException_SetTraceback(exc, tb);
    } else {
        PyErr_Format(PyExc_TypeError,
                     "exceptions must be classes or instances deriving from BaseException, not %s",
                     Py_TYPE(typ)->tp_name);
        return NULL;
    }
    return exc;
}

/* The thrown exception lands in this object's own step (no delegate involved). */
static int gc_throw_here(GoCoroObject *c, PyObject *exc, PyObject **presult)
{
    if (c->status == GC_CLOSED) {
        if (c->kind == GOCORO_KIND_COROUTINE)
            PyErr_SetString(PyExc_RuntimeError, "cannot reuse already awaited coroutine");
        else
            gocoro_restore_exc(Py_NewRef(exc));
        return PYGEN_ERROR;
    }
    if (c->status == GC_CREATED) {
        /* the body never started: the exception propagates straight out */
        c->status = GC_CLOSED;
        gocoro_restore_exc(Py_NewRef(exc));
#if PY_VERSION_HEX >= 0x030C0000
        /* 3.12+ does not run an unstarted frame at all: no PEP 479 conversion either */
        GoCoroCode *code = c->code;
        _PyTraceback_Add(code->spec.name, code->filename_c, (int)code->spec.firstlineno);
#else
        gc_finish_error(c);
#endif
        gc_release(c);
        return PYGEN_ERROR;
    }
    c->status = GC_RUNNING;
    return gc_run(c, NULL, exc, presult);
}

/*
 * throw(*args) into the object.  Like CPython, the arguments travel unvalidated down the chain
 * of delegates and are checked where the exception lands: a delegate with its own throw()
 * method receives exactly what the caller passed.  close_on_genexit: a GeneratorExit closes
 * the delegate instead of being thrown into it (throw()/close()), athrow() passes 0.
 */
static int gc_throw(GoCoroObject *c, PyObject *const *args, Py_ssize_t nargs, int close_on_genexit,
                    PyObject **presult)
{
    *presult = NULL;
    if (c->status == GC_RUNNING) {
        PyErr_Format(PyExc_ValueError, "%s already executing", gc_kind_word(c));
        return PYGEN_ERROR;
    }
    PyObject *yf = c->status == GC_SUSPENDED ? c->await_obj : NULL;
    if (yf != NULL) {
        if (close_on_genexit && PyErr_GivenExceptionMatches(args[0], PyExc_GeneratorExit)) {
            c->status = GC_RUNNING;
            int err = gc_close_iter(yf);
            c->status = GC_SUSPENDED;
            Py_CLEAR(c->await_obj);
            if (err < 0) {
                PyObject *e2 = gocoro_fetch_exc();
                c->status = GC_RUNNING;
                int out = gc_run(c, NULL, e2, presult);
                Py_DECREF(e2);
                return out;
            }
            goto throw_here;
        }
        PyObject *ret = NULL;
        Py_INCREF(yf);
        if (GoCoro_Check(yf) && ((GoCoroObject *)yf)->kind <= GOCORO_KIND_GENERATOR) {
            c->status = GC_RUNNING;
            int sr = PYGEN_ERROR;
            if (!Py_EnterRecursiveCall(" while throwing into a gocoro object")) {
                sr = gc_throw((GoCoroObject *)yf, args, nargs, close_on_genexit, &ret);
                Py_LeaveRecursiveCall();
            }
            Py_DECREF(yf);
            if (sr == PYGEN_NEXT) {
                c->status = GC_SUSPENDED;
                *presult = ret;
                return PYGEN_NEXT;
            }
            return gc_resume_after_delegate(c, sr, ret, presult);
        }
        if (PyGen_CheckExact(yf) || PyCoro_CheckExact(yf)) {
            /* validated "inside" the delegate: a bad throw() raises there and lands here */
            PyObject *exc = gc_make_throw_exc(args[0], nargs > 1 ? args[1] : NULL, nargs > 2 ? args[2] : NULL);
            if (exc != NULL) {
                c->status = GC_RUNNING;
                ret = PyObject_CallMethod(yf, "throw", "O", exc);
                Py_DECREF(exc);
            }
        } else {
            PyObject *meth;
            if (PyObject_GetOptionalAttrString_compat(yf, "throw", &meth) < 0) {
                Py_DECREF(yf); /* the lookup error leaves throw() untouched */
                return PYGEN_ERROR;
            }
            if (meth == NULL) {
                Py_DECREF(yf);
                PyObject *exc = gc_make_throw_exc(args[0], nargs > 1 ? args[1] : NULL,
                                                  nargs > 2 ? args[2] : NULL);
                if (exc == NULL)
                    return PYGEN_ERROR;
                Py_CLEAR(c->await_obj);
                int out = gc_throw_here(c, exc, presult);
                Py_DECREF(exc);
                return out;
            }
            c->status = GC_RUNNING;
            ret = PyObject_Vectorcall(meth, args, (size_t)nargs, NULL);
            Py_DECREF(meth);
        }
        Py_DECREF(yf);
        if (ret != NULL) {
            c->status = GC_SUSPENDED;
            *presult = ret;
            return PYGEN_NEXT;
        }
        c->status = GC_RUNNING;
        /* the delegate finished: StopIteration carries its return value */
        if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
            PyObject *si = gocoro_fetch_exc();
            PyObject *val = PyObject_GetAttrString(si, "value");
            Py_DECREF(si);
            if (val != NULL)
                return gc_resume_after_delegate(c, PYGEN_RETURN, val, presult);
        }
        return gc_resume_after_delegate(c, PYGEN_ERROR, NULL, presult);
    }
throw_here:;
    PyObject *exc = gc_make_throw_exc(args[0], nargs > 1 ? args[1] : NULL, nargs > 2 ? args[2] : NULL);
    if (exc == NULL)
        return PYGEN_ERROR;
    int out = gc_throw_here(c, exc, presult);
    Py_DECREF(exc);
    return out;
}

static PyObject *gc_throw_method(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 3) {
        PyErr_Format(PyExc_TypeError, nargs < 1 ? "throw expected at least 1 argument, got %zd"
                                                : "throw expected at most 3 arguments, got %zd",
                     nargs);
        return NULL;
    }
    if (gc_warn_throw_signature("throw", nargs) < 0)
        return NULL;
    PyObject *res = NULL;
    int sr = gc_throw((GoCoroObject *)self, args, nargs, 1, &res);
    if (sr == PYGEN_NEXT)
        return res;
    if (sr == PYGEN_RETURN) {
        gc_set_stop_iteration(res);
        Py_DECREF(res);
    }
    return NULL;
}

static PyObject *gc_close_method(PyObject *self, PyObject *unused)
{
    GoCoroObject *c = (GoCoroObject *)self;
    if (c->status == GC_RUNNING) {
        PyErr_Format(PyExc_ValueError, "%s already executing", gc_kind_word(c));
        return NULL;
    }
    if (c->status != GC_SUSPENDED) {
        c->status = GC_CLOSED;
        gc_release(c);
        Py_RETURN_NONE;
    }
    int err = 0;
    if (c->await_obj != NULL) {
        c->status = GC_RUNNING;
        err = gc_close_iter(c->await_obj);
        c->status = GC_SUSPENDED;
        Py_CLEAR(c->await_obj);
    }
    PyObject *exc = err < 0 ? gocoro_fetch_exc() : PyObject_CallNoArgs(PyExc_GeneratorExit);
    if (exc == NULL)
        return NULL;
    PyObject *res = NULL;
    c->status = GC_RUNNING;
    int sr = gc_run(c, NULL, exc, &res);
    Py_DECREF(exc);
    if (sr == PYGEN_NEXT || sr == GC_ITEM) {
        Py_DECREF(res);
        PyErr_Format(PyExc_RuntimeError, "%s ignored GeneratorExit", gc_kind_word(c));
        return NULL;
    }
    if (sr == PYGEN_RETURN && c->kind >= GOCORO_KIND_ASYNC_GENERATOR) {
        /* an async generator returning on GeneratorExit surfaces as StopAsyncIteration */
        Py_DECREF(res);
        PyErr_SetNone(PyExc_StopAsyncIteration);
        return NULL;
    }
    if (sr == PYGEN_RETURN) {
#if PY_VERSION_HEX >= 0x030D0000
        return res;
#else
        Py_DECREF(res);
        Py_RETURN_NONE;
#endif
    }
    if (PyErr_ExceptionMatches(PyExc_StopIteration) || PyErr_ExceptionMatches(PyExc_GeneratorExit)) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* lifecycle                                                                                   */

/* "coroutine ... was never awaited"; with a recorded cr_origin, through the warnings module's
 * formatter as CPython does (it appends "Coroutine created at ..."). */
static void gc_warn_never_awaited(GoCoroObject *c)
{
    PyObject *self = (PyObject *)c;
    if (c->cr_origin != NULL) {
        PyObject *warnings = PyImport_ImportModule("warnings");
        PyObject *res = NULL;
        if (warnings != NULL) {
            res = PyObject_CallMethod(warnings, "_warn_unawaited_coroutine", "O", self);
            Py_DECREF(warnings);
        }
        if (res != NULL) {
            Py_DECREF(res);
            return;
        }
        if (!PyErr_ExceptionMatches(PyExc_RuntimeWarning)) {
            PyErr_WriteUnraisable(self);
            return;
        }
        PyErr_Clear(); /* the warning was raised as an error: report it like the plain case */
    }
    if (PyErr_WarnFormat(PyExc_RuntimeWarning, 1, "coroutine '%U' was never awaited", gc_qualname(c)) < 0)
        PyErr_WriteUnraisable(self);
}

static void gc_finalize(PyObject *self)
{
    GoCoroObject *c = (GoCoroObject *)self;
    c->finalized = 1;
    if (c->status == GC_CLOSED || c->status == GC_RUNNING)
        return;
    PyObject *saved = gocoro_fetch_exc();
    if (c->kind == GOCORO_KIND_ASYNC_GENERATOR && c->ag_finalizer != NULL && !c->ag_closed) {
        /* sys.set_asyncgen_hooks(finalizer=...): e.g. asyncio schedules aclose() on its loop */
        PyObject *res = PyObject_CallOneArg(c->ag_finalizer, self);
        if (res == NULL)
            PyErr_WriteUnraisable(self);
        else
            Py_DECREF(res);
    } else if (c->status == GC_CREATED) {
        if (c->kind == GOCORO_KIND_COROUTINE)
            gc_warn_never_awaited(c);
    } else {
        PyObject *res = gc_close_method(self, NULL);
        if (res == NULL)
            PyErr_WriteUnraisable(self);
        else
            Py_DECREF(res);
    }
    if (saved != NULL)
        gocoro_restore_exc(saved);
}

static int gc_traverse(PyObject *self, visitproc visit, void *arg)
{
    GoCoroObject *c = (GoCoroObject *)self;
    Py_VISIT(c->code);
    Py_VISIT(c->await_obj);
    Py_VISIT(c->name);
    Py_VISIT(c->qualname);
    Py_VISIT(c->ag_finalizer);
    if (!c->cleared && c->code->spec.traverse != NULL)
        return c->code->spec.traverse(c->state, (GoCoroVisitFn)visit, arg);
    return 0;
}

static int gc_clear(PyObject *self)
{
    GoCoroObject *c = (GoCoroObject *)self;
    if (c->status == GC_RUNNING)
        return 0;
    c->status = GC_CLOSED; /* its state is gone: it must never be stepped again */
    gc_release(c);
    Py_CLEAR(c->name);
    Py_CLEAR(c->qualname);
    Py_CLEAR(c->ag_finalizer);
    return 0;
}

/*
 * Free lists: creation and destruction are on the hot path of `await native()`, and most of
 * their cost is the allocator plus GC bookkeeping.  Objects whose state fits in a small
 * bucket (state size rounded up to 16 bytes, up to GC_FL_MAX_STATE) are recycled, untracked,
 * per bucket.  Protected by the GIL like everything else here.
 */
#define GC_FL_MAX_STATE 128
#define GC_FL_BUCKETS (GC_FL_MAX_STATE / 16 + 1)
#define GC_FL_DEPTH 64
static GoCoroObject *gc_fl[GC_FL_BUCKETS][GC_FL_DEPTH];
static int gc_fl_len[GC_FL_BUCKETS];

static inline GoCoroObject *gc_alloc(PyTypeObject *type, size_t n)
{
    if (n <= GC_FL_MAX_STATE) {
        size_t b = (n + 15) >> 4;
        if (gc_fl_len[b] > 0) {
            GoCoroObject *c = gc_fl[b][--gc_fl_len[b]];
            (void)PyObject_InitVar((PyVarObject *)c, type, (Py_ssize_t)n);
            return c;
        }
        /* allocate the whole bucket so the object can be recycled for any size in it */
        GoCoroObject *c = PyObject_GC_NewVar(GoCoroObject, type, (Py_ssize_t)(b << 4));
        if (c != NULL)
            Py_SET_SIZE(c, (Py_ssize_t)n);
        return c;
    }
    return PyObject_GC_NewVar(GoCoroObject, type, (Py_ssize_t)n);
}

static inline void gc_free(GoCoroObject *c)
{
    size_t n = (size_t)Py_SIZE(c);
    if (n <= GC_FL_MAX_STATE && !c->finalized) {
        size_t b = (n + 15) >> 4;
        if (gc_fl_len[b] < GC_FL_DEPTH) {
            gc_fl[b][gc_fl_len[b]++] = c;
            return;
        }
    }
    PyObject_GC_Del(c);
}

static void gc_dealloc(PyObject *self)
{
    GoCoroObject *c = (GoCoroObject *)self;
    PyObject_GC_UnTrack(self);
    if (c->weakreflist != NULL)
        PyObject_ClearWeakRefs(self);
    if (c->status != GC_CLOSED && Py_TYPE(self)->tp_finalize != NULL) {
        PyObject_GC_Track(self);
        if (PyObject_CallFinalizerFromDealloc(self) < 0)
            return; /* resurrected */
        PyObject_GC_UnTrack(self);
    }
    gc_release(c);
    if (c->code->spec.finalize != NULL)
        c->code->spec.finalize(c->state);
    Py_CLEAR(c->name);
    Py_CLEAR(c->qualname);
    Py_CLEAR(c->ag_finalizer);
    Py_DECREF(c->code);
    gc_free(c);
}

static PyObject *gc_repr(PyObject *self)
{
    GoCoroObject *c = (GoCoroObject *)self;
    const char *word = c->kind == GOCORO_KIND_ASYNC_GENERATOR ? "async_generator" : gc_kind_word(c);
    return PyUnicode_FromFormat("<%s object %U at %p>", word, gc_qualname(c), self);
}

/* ------------------------------------------------------------------------------------------ */
/* attributes                                                                                  */

static PyObject *gc_get_name(PyObject *self, void *closure)
{
    return Py_NewRef(gc_name((GoCoroObject *)self));
}

static int gc_set_name_impl(PyObject **slot, PyObject *value, const char *attr)
{
    if (value == NULL || !PyUnicode_Check(value)) {
        PyErr_Format(PyExc_TypeError, "%s must be set to a string object", attr);
        return -1;
    }
    Py_XSETREF(*slot, Py_NewRef(value));
    return 0;
}

static int gc_set_name(PyObject *self, PyObject *value, void *closure)
{
    return gc_set_name_impl(&((GoCoroObject *)self)->name, value, "__name__");
}

static PyObject *gc_get_qualname(PyObject *self, void *closure)
{
    return Py_NewRef(gc_qualname((GoCoroObject *)self));
}

static int gc_set_qualname(PyObject *self, PyObject *value, void *closure)
{
    return gc_set_name_impl(&((GoCoroObject *)self)->qualname, value, "__qualname__");
}

static PyObject *gc_get_running(PyObject *self, void *closure)
{
    return PyBool_FromLong(((GoCoroObject *)self)->status == GC_RUNNING);
}

static PyObject *gc_get_suspended(PyObject *self, void *closure)
{
    return PyBool_FromLong(((GoCoroObject *)self)->status == GC_SUSPENDED);
}

static PyObject *gc_get_await(PyObject *self, void *closure)
{
    PyObject *yf = ((GoCoroObject *)self)->await_obj;
    return Py_NewRef(yf ? yf : Py_None);
}

/* cr_origin: recorded at creation while sys.set_coroutine_origin_tracking_depth() > 0. */
static PyObject *gc_get_origin(PyObject *self, void *closure)
{
    GoCoroObject *c = (GoCoroObject *)self;
    return Py_NewRef(c->cr_origin != NULL ? c->cr_origin : Py_None);
}

/* ((filename, lineno, function), ...) of the `depth` innermost Python frames, innermost first,
 * as CPython records them for coroutines it creates. */
static PyObject *gc_compute_origin(int depth)
{
    PyObject *list = PyList_New(0);
    if (list == NULL)
        return NULL;
    PyFrameObject *f = PyEval_GetFrame(); /* borrowed */
    Py_XINCREF(f);
    while (f != NULL && PyList_GET_SIZE(list) < depth) {
        PyCodeObject *code = PyFrame_GetCode(f);
        PyObject *info = Py_BuildValue("(OiO)", code->co_filename, PyFrame_GetLineNumber(f), code->co_name);
        Py_DECREF(code);
        if (info == NULL || PyList_Append(list, info) < 0) {
            Py_XDECREF(info);
            Py_DECREF(f);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(info);
        Py_SETREF(f, PyFrame_GetBack(f));
    }
    Py_XDECREF(f);
    PyObject *t = PyList_AsTuple(list);
    Py_DECREF(list);
    return t;
}

static PyObject *gc_frame_globals = NULL;

/* cr_frame/gi_frame/ag_frame: None once finished (what inspect.getcoroutinestate and friends
 * test), otherwise a fresh frame of the empty code object naming the native function. */
static PyObject *gc_get_frame(PyObject *self, void *closure)
{
    GoCoroObject *c = (GoCoroObject *)self;
    if (c->status == GC_CLOSED)
        Py_RETURN_NONE;
    if (gc_frame_globals == NULL) {
        gc_frame_globals = Py_BuildValue("{s:s}", "__name__", "gocoro");
        if (gc_frame_globals == NULL)
            return NULL;
    }
    PyFrameObject *f = PyFrame_New(PyThreadState_Get(), (PyCodeObject *)c->code->code,
                                   gc_frame_globals, NULL);
#if PY_VERSION_HEX < 0x030B0000
    /* 3.10's inspect.getcoroutinestate tells CREATED from SUSPENDED by f_lasti == -1 */
    if (f != NULL && c->status != GC_CREATED) {
        f->f_lasti = 0;
        /* ... and computes f_lineno from f_lasti unless f_trace is set; the empty code object
         * has no line table, so pin the line explicitly (the frame never runs) */
        f->f_lineno = (int)c->code->spec.firstlineno;
        Py_XSETREF(f->f_trace, Py_NewRef(Py_None));
    }
#endif
    return (PyObject *)f;
}

static PyObject *gc_get_code(PyObject *self, void *closure)
{
    return Py_NewRef(((GoCoroObject *)self)->code->code);
}

static PyObject *gc_sizeof(PyObject *self, PyObject *unused)
{
    size_t n = (size_t)Py_SIZE(self);
    if (n <= GC_FL_MAX_STATE) /* the allocation is rounded up to the free-list bucket */
        n = (n + 15) & ~(size_t)15;
    return PyLong_FromSsize_t((Py_ssize_t)(offsetof(GoCoroObject, state) + n));
}

static PyObject *gc_await(PyObject *self);

static PyObject *gc_await_method(PyObject *self, PyObject *unused) { return gc_await(self); }

/* `await coro` (the am_await slot) iterates the coroutine itself, with no wrapper allocation,
 * exactly as CPython does for its own coroutines; only an explicit coro.__await__() call
 * returns a CoroutineWrapper (METH_COEXIST makes the method win over the slot wrapper). */
static PyObject *gc_await_self(PyObject *self) { return Py_NewRef(self); }

static PyObject *gen_iternext(PyObject *self);

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
    {NULL, NULL, NULL, NULL, NULL}};

static PyAsyncMethods gc_as_async = {
    .am_await = gc_await_self,
    .am_send = gc_am_send,
};

/* The slots every gocoro object type shares: the layout (GoCoroObject + inline state), GC,
 * weak references and the common deallocator (which GoCoro_Check relies on). */
#define GC_OBJECT_SLOTS                                                                        \
    .tp_basicsize = offsetof(GoCoroObject, state), .tp_itemsize = 1, .tp_dealloc = gc_dealloc, \
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, .tp_traverse = gc_traverse,             \
    .tp_clear = gc_clear, .tp_weaklistoffset = offsetof(GoCoroObject, weakreflist)

PyTypeObject GoCoro_CoroutineType_Impl = {
    PyVarObject_HEAD_INIT(NULL, 0)
    GC_OBJECT_SLOTS,
    .tp_name = "gocoro.Coroutine",
    .tp_as_async = &gc_as_async,
    .tp_repr = gc_repr,
    .tp_doc = "A native coroutine implemented by a C step function (gocoro).",
    .tp_iternext = gen_iternext, /* for the interpreter's await loop; __next__ is hidden */
    .tp_methods = gc_methods,
    .tp_getset = gc_getset,
    .tp_finalize = gc_finalize,
};

/* ------------------------------------------------------------------------------------------ */
/* __await__ wrapper (CPython's coroutine_wrapper)                                             */

typedef struct {
    PyObject_HEAD
    GoCoroObject *coro;
} GoCoroWrapper;

#define WR_FL_DEPTH 32
static GoCoroWrapper *wr_fl[WR_FL_DEPTH];
static int wr_fl_len;

static PyObject *gc_await(PyObject *self)
{
    GoCoroWrapper *w;
    if (wr_fl_len > 0) {
        w = wr_fl[--wr_fl_len];
        (void)PyObject_Init((PyObject *)w, &GoCoro_WrapperType_Impl);
    } else {
        w = PyObject_GC_New(GoCoroWrapper, &GoCoro_WrapperType_Impl);
        if (w == NULL)
            return NULL;
    }
    w->coro = (GoCoroObject *)Py_NewRef(self);
    PyObject_GC_Track(w);
    return (PyObject *)w;
}

static void wr_dealloc(PyObject *self)
{
    PyObject_GC_UnTrack(self);
    Py_CLEAR(((GoCoroWrapper *)self)->coro);
    if (wr_fl_len < WR_FL_DEPTH)
        wr_fl[wr_fl_len++] = (GoCoroWrapper *)self;
    else
        PyObject_GC_Del(self);
}

static int wr_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(((GoCoroWrapper *)self)->coro);
    return 0;
}

static PyObject *wr_iternext(PyObject *self)
{
    PyObject *res = NULL;
    int sr = gc_send_impl(((GoCoroWrapper *)self)->coro, Py_None, &res);
    if (GC_LIKELY(sr == PYGEN_NEXT))
        return res;
    if (sr == PYGEN_RETURN) {
        if (res != Py_None)
            gc_set_stop_iteration(res);
        Py_DECREF(res);
    }
    return NULL;
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
    return gc_throw_method((PyObject *)((GoCoroWrapper *)self)->coro, args, nargs);
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

static PyAsyncMethods wr_as_async = {.am_send = wr_am_send};

PyTypeObject GoCoro_WrapperType_Impl = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gocoro.coroutine_wrapper", /* type(coro.__await__()).__name__ as in CPython */
    .tp_basicsize = sizeof(GoCoroWrapper),
    .tp_dealloc = wr_dealloc,
    .tp_as_async = &wr_as_async,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The iterator returned by gocoro.Coroutine.__await__().",
    .tp_traverse = wr_traverse,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = wr_iternext,
    .tp_methods = wr_methods,
};

/* ------------------------------------------------------------------------------------------ */
/* generators (GOCORO_KIND_GENERATOR): GOCORO_AWAIT works like `yield from`                    */

static PyObject *gen_iternext(PyObject *self)
{
    PyObject *res = NULL;
    int sr = gc_send_impl((GoCoroObject *)self, Py_None, &res);
    if (sr == PYGEN_NEXT)
        return res;
    if (sr == PYGEN_RETURN) {
        if (res != Py_None)
            gc_set_stop_iteration(res);
        Py_DECREF(res);
    }
    return NULL;
}

static PyMethodDef gen_methods[] = {
    {"send", (PyCFunction)gc_send_method, METH_O,
     "send(arg) -> send 'arg' into generator,\nreturn next yielded value or raise StopIteration."},
    {"throw", (PyCFunction)(void (*)(void))gc_throw_method, METH_FASTCALL,
     "throw(value)\nthrow(type[,value[,tb]])\n\nRaise exception in generator, return next yielded "
     "value or raise StopIteration."},
    {"close", gc_close_method, METH_NOARGS, "close() -> raise GeneratorExit inside generator."},
    {"__sizeof__", gc_sizeof, METH_NOARGS, NULL},
#if PY_VERSION_HEX >= 0x030D0000 /* as types.GeneratorType */
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS, "See PEP 585"},
#endif
    {NULL, NULL, 0, NULL}};

static PyGetSetDef gen_getset[] = {
    {"__name__", gc_get_name, gc_set_name, "name of the generator", NULL},
    {"__qualname__", gc_get_qualname, gc_set_qualname, "qualified name of the generator", NULL},
    {"gi_running", gc_get_running, NULL, NULL, NULL},
    {"gi_suspended", gc_get_suspended, NULL, NULL, NULL},
    {"gi_yieldfrom", gc_get_await, NULL, "object being iterated by yield from, or None", NULL},
    {"gi_frame", gc_get_frame, NULL, "None once finished, else a frame naming the native code", NULL},
    {"gi_code", gc_get_code, NULL, "an empty code object naming the native function", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyAsyncMethods gen_as_async = {.am_send = gc_am_send};

PyTypeObject GoCoro_GeneratorType_Impl = {
    PyVarObject_HEAD_INIT(NULL, 0)
    GC_OBJECT_SLOTS,
    .tp_name = "gocoro.Generator",
    .tp_as_async = &gen_as_async,
    .tp_repr = gc_repr,
    .tp_doc = "A native generator implemented by a C step function (gocoro).",
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = gen_iternext,
    .tp_methods = gen_methods,
    .tp_getset = gen_getset,
    .tp_finalize = gc_finalize,
};

/* ------------------------------------------------------------------------------------------ */
/* plain iterators (GOCORO_KIND_ITERATOR): __next__ calls step directly                        */

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

PyTypeObject GoCoro_IteratorType_Impl = {
    PyVarObject_HEAD_INIT(NULL, 0)
    GC_OBJECT_SLOTS,
    .tp_name = "gocoro.Iterator",
    .tp_repr = it_repr,
    .tp_doc = "A native iterator whose __next__ is a C step function (gocoro).",
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = it_iternext,
    .tp_methods = it_methods,
    .tp_getset = it_getset,
};

/* ------------------------------------------------------------------------------------------ */
/* async generators (GOCORO_KIND_ASYNC_GENERATOR)                                              */

enum { AW_INIT = 0, AW_ITER = 1, AW_CLOSED = 2 };

typedef struct {
    PyObject_HEAD
    GoCoroObject *gen;
    PyObject *sendval; /* asend: value for the first send; NULL for __anext__ */
    PyObject *args;    /* athrow: the throw() arguments tuple; NULL for aclose() */
    int state;
    int is_athrow;
} AGAwaitable;

static PyObject *get_asyncgen_hooks_fn = NULL;

/* First iteration of an async generator: record the finalizer hook, call firstiter. */
static int ag_init_hooks(GoCoroObject *g)
{
    if (g->ag_hooks_inited)
        return 0;
    g->ag_hooks_inited = 1;
    PyObject *hooks = PyObject_CallNoArgs(get_asyncgen_hooks_fn);
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
        gc_set_stop_iteration(res);
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
    AGAwaitable *a = PyObject_GC_New(AGAwaitable, is_athrow ? &GoCoro_AGAThrowType_Impl
                                                            : &GoCoro_AGASendType_Impl);
    if (a == NULL)
        return NULL;
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

static void aw_dealloc(PyObject *self)
{
    AGAwaitable *a = (AGAwaitable *)self;
#if PY_VERSION_HEX >= 0x030D0000
    if (a->state == AW_INIT && PyObject_CallFinalizerFromDealloc(self) < 0)
        return; /* resurrected */
#endif
    PyObject_GC_UnTrack(self);
    Py_CLEAR(a->gen);
    Py_CLEAR(a->sendval);
    Py_CLEAR(a->args);
    PyObject_GC_Del(self);
}

static int aw_traverse(PyObject *self, visitproc visit, void *arg)
{
    AGAwaitable *a = (AGAwaitable *)self;
    Py_VISIT(a->gen);
    Py_VISIT(a->sendval);
    Py_VISIT(a->args);
    return 0;
}

static PyObject *asend_send(PyObject *self, PyObject *arg)
{
    AGAwaitable *a = (AGAwaitable *)self;
    GoCoroObject *g = a->gen;
    if (a->state == AW_CLOSED) {
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse already awaited __anext__()/asend()");
        return NULL;
    }
    if (a->state == AW_INIT) {
        if (g->ag_running_async) {
#if PY_VERSION_HEX >= 0x030D0000
            a->state = AW_CLOSED;
#endif
            PyErr_SetString(PyExc_RuntimeError, "anext(): asynchronous generator is already running");
            return NULL;
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
    res = ag_unwrap(g, sr, res);
    if (res == NULL) {
        g->ag_running_async = 0;
        a->state = AW_CLOSED;
    }
    return res;
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
    if (a->state != AW_INIT)
        return;
    PyObject *saved = gocoro_fetch_exc();
    const char *meth = !a->is_athrow ? "asend" : a->args == NULL ? "aclose" : "athrow";
    if (PyErr_WarnFormat(PyExc_RuntimeWarning, 1, "coroutine method '%s' of '%U' was never awaited",
                         meth, gc_qualname(a->gen)) < 0)
        PyErr_WriteUnraisable(self);
    if (saved != NULL)
        gocoro_restore_exc(saved);
}
#endif

/* athrow()/aclose() awaitable: send */
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
    if (sr == PYGEN_NEXT)
        return res;
    if (sr == GC_ITEM) {
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
    /* aclose() */
    if (sr == PYGEN_NEXT)
        return res;
    if (sr == GC_ITEM) {
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
    g->ag_running_async = 0;
    a->state = AW_CLOSED;
    if (PyErr_ExceptionMatches(PyExc_StopAsyncIteration) || PyErr_ExceptionMatches(PyExc_GeneratorExit)) {
        PyErr_Clear();
        PyErr_SetNone(PyExc_StopIteration);
    }
    return NULL;
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

static PyAsyncMethods aw_as_async = {.am_await = aw_await};

PyTypeObject GoCoro_AGASendType_Impl = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gocoro.AsyncGeneratorASend",
    .tp_basicsize = sizeof(AGAwaitable),
    .tp_dealloc = aw_dealloc,
    .tp_as_async = &aw_as_async,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = aw_traverse,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = asend_iternext,
    .tp_repr = asend_repr,
#if PY_VERSION_HEX >= 0x030D0000
    .tp_finalize = aw_finalize,
#endif
    .tp_methods = asend_methods,
};

PyTypeObject GoCoro_AGAThrowType_Impl = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gocoro.AsyncGeneratorAThrow",
    .tp_basicsize = sizeof(AGAwaitable),
    .tp_dealloc = aw_dealloc,
    .tp_as_async = &aw_as_async,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = aw_traverse,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = athrow_iternext,
    .tp_repr = athrow_repr,
#if PY_VERSION_HEX >= 0x030D0000
    .tp_finalize = aw_finalize,
#endif
    .tp_methods = athrow_methods,
};

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
    {NULL, NULL, NULL, NULL, NULL}};

static PyAsyncMethods ag_as_async = {.am_aiter = ag_self, .am_anext = ag_anext};

/* async iterators (GOCORO_KIND_ASYNC_ITERATOR): __aiter__/__anext__ over the same machinery,
 * without asend/athrow/aclose and without the asyncgen hooks. */
static PyMethodDef ai_methods[] = {{"__sizeof__", gc_sizeof, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};

static PyGetSetDef ai_getset[] = {
    {"__name__", gc_get_name, gc_set_name, NULL, NULL},
    {"__qualname__", gc_get_qualname, gc_set_qualname, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyObject *ai_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<async_iterator object %U at %p>", gc_qualname((GoCoroObject *)self), self);
}

PyTypeObject GoCoro_AsyncIterType_Impl = {
    PyVarObject_HEAD_INIT(NULL, 0)
    GC_OBJECT_SLOTS,
    .tp_name = "gocoro.AsyncIterator",
    .tp_as_async = &ag_as_async,
    .tp_repr = ai_repr,
    .tp_doc = "A native async iterator whose __anext__ steps a C function (gocoro).",
    .tp_methods = ai_methods,
    .tp_getset = ai_getset,
    .tp_finalize = gc_finalize,
};

PyTypeObject GoCoro_AsyncGenType_Impl = {
    PyVarObject_HEAD_INIT(NULL, 0)
    GC_OBJECT_SLOTS,
    .tp_name = "gocoro.AsyncGenerator",
    .tp_as_async = &ag_as_async,
    .tp_repr = gc_repr,
    .tp_doc = "A native async generator implemented by a C step function (gocoro).",
    .tp_methods = ag_methods,
    .tp_getset = ag_getset,
    .tp_finalize = gc_finalize,
};

/* ------------------------------------------------------------------------------------------ */
/* prepared specs                                                                              */

static void code_dealloc(PyObject *self)
{
    GoCoroCode *k = (GoCoroCode *)self;
    Py_XDECREF(k->name);
    Py_XDECREF(k->qualname);
    Py_XDECREF(k->filename);
    Py_XDECREF(k->code);
    PyObject_Free(self);
}

static PyObject *code_repr(PyObject *self)
{
    GoCoroCode *k = (GoCoroCode *)self;
    return PyUnicode_FromFormat("<gocoro.NativeCode %U (%U:%d), kind %u, state %zu bytes>",
                                k->qualname, k->filename, (int)k->spec.firstlineno,
                                (unsigned)k->spec.kind, k->spec.state_size);
}

PyTypeObject GoCoro_CodeType_Impl = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gocoro.NativeCode",
    .tp_basicsize = sizeof(GoCoroCode),
    .tp_dealloc = code_dealloc,
    .tp_repr = code_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A prepared GoCoroSpec (what GoCoro_Prepare returns).",
};

/* The first ABI-1 spec layout ends after `finalize`. */
#define GC_SPEC_MIN_SIZE (offsetof(GoCoroSpec, finalize) + sizeof(GoCoroFinalizeFn))

GoCoroCode *GoCoro_Prepare(const GoCoroSpec *spec)
{
    if (gocoro_ensure_ready() < 0)
        return NULL;
    if (spec == NULL) {
        PyErr_SetString(PyExc_ValueError, "GoCoro_Prepare: spec is NULL");
        return NULL;
    }
    if (spec->abi_version != GOCORO_ABI_VERSION) {
        PyErr_Format(PyExc_RuntimeError,
                     "GoCoro_Prepare: gocoro ABI mismatch: the spec was built for ABI %u, this "
                     "libgocoro provides ABI %u (rebuild the extension against this gocoro.h)",
                     (unsigned)spec->abi_version, (unsigned)GOCORO_ABI_VERSION);
        return NULL;
    }
    if (spec->struct_size < GC_SPEC_MIN_SIZE) {
        PyErr_Format(PyExc_ValueError,
                     "GoCoro_Prepare: GoCoroSpec.struct_size is %u, expected %zu "
                     "(set it to sizeof(GoCoroSpec))",
                     (unsigned)spec->struct_size, sizeof(GoCoroSpec));
        return NULL;
    }
    if (spec->struct_size > sizeof(GoCoroSpec)) {
        /* a newer header: accept it only if the members we do not know are all zero */
        const unsigned char *p = (const unsigned char *)spec;
        for (size_t i = sizeof(GoCoroSpec); i < spec->struct_size; i++) {
            if (p[i] != 0) {
                PyErr_Format(PyExc_ValueError,
                             "GoCoro_Prepare: the spec (struct_size %u) uses members this libgocoro "
                             "(GoCoroSpec of %zu bytes) does not know; upgrade libgocoro",
                             (unsigned)spec->struct_size, sizeof(GoCoroSpec));
                return NULL;
            }
        }
    }
    if (spec->name == NULL) {
        PyErr_SetString(PyExc_ValueError, "GoCoro_Prepare: GoCoroSpec.name is NULL");
        return NULL;
    }
    if (spec->step == NULL) {
        PyErr_Format(PyExc_ValueError, "GoCoro_Prepare: GoCoroSpec.step is NULL (spec '%s')", spec->name);
        return NULL;
    }
    if (spec->kind > GOCORO_KIND_ASYNC_ITERATOR) {
        PyErr_Format(PyExc_ValueError,
                     "GoCoro_Prepare: unknown GoCoroSpec.kind %u (spec '%s'); expected one of "
                     "GOCORO_KIND_COROUTINE (0), _GENERATOR (1), _ITERATOR (2), _ASYNC_GENERATOR (3), "
                     "_ASYNC_ITERATOR (4)",
                     (unsigned)spec->kind, spec->name);
        return NULL;
    }
    if (spec->flags != 0) {
        PyErr_Format(PyExc_ValueError, "GoCoro_Prepare: unknown GoCoroSpec.flags 0x%x (spec '%s')",
                     (unsigned)spec->flags, spec->name);
        return NULL;
    }
    if (spec->state_size > GC_MAX_STATE) {
        PyErr_Format(PyExc_ValueError,
                     "GoCoro_Prepare: state_size %zu of spec '%s' is larger than the maximum %zu",
                     spec->state_size, spec->name, GC_MAX_STATE);
        return NULL;
    }
    GoCoroCode *k = PyObject_New(GoCoroCode, &GoCoro_CodeType_Impl);
    if (k == NULL)
        return NULL;
    memset(&k->spec, 0, sizeof(k->spec));
    memcpy(&k->spec, spec, spec->struct_size < sizeof(GoCoroSpec) ? spec->struct_size : sizeof(GoCoroSpec));
    k->spec.struct_size = sizeof(GoCoroSpec);
    k->qualname = k->filename = k->code = NULL;
    k->filename_c = spec->filename ? spec->filename : "<native>";
    k->name = PyUnicode_FromString(spec->name);
    if (k->name == NULL)
        goto fail;
    PyUnicode_InternInPlace(&k->name);
    k->qualname = spec->qualname ? PyUnicode_FromString(spec->qualname) : Py_NewRef(k->name);
    if (k->qualname == NULL)
        goto fail;
    k->filename = PyUnicode_FromString(k->filename_c);
    if (k->filename == NULL)
        goto fail;
    k->code = (PyObject *)PyCode_NewEmpty(k->filename_c, spec->name, (int)spec->firstlineno);
    if (k->code == NULL)
        goto fail;
    /* the spec's strings must outlive the code object: keep our own copies */
    k->spec.name = PyUnicode_AsUTF8(k->name);
    k->spec.qualname = PyUnicode_AsUTF8(k->qualname);
    k->filename_c = PyUnicode_AsUTF8(k->filename);
    k->spec.filename = k->filename_c;
    return k;
fail:
    Py_DECREF(k);
    return NULL;
}

static PyTypeObject *const gc_types[] = {&GoCoro_CoroutineType_Impl, &GoCoro_GeneratorType_Impl,
                                         &GoCoro_IteratorType_Impl, &GoCoro_AsyncGenType_Impl,
                                         &GoCoro_AsyncIterType_Impl};

GoCoroPyObject *GoCoro_New(GoCoroCode *code, const void *init, size_t init_size, void **state_out)
{
    if (code == NULL || Py_TYPE(code) != &GoCoro_CodeType_Impl) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "GoCoro_New: code is not a GoCoroCode from GoCoro_Prepare");
        return NULL;
    }
    size_t n = code->spec.state_size;
    if (init_size != n && !(init == NULL && init_size == 0)) {
        PyErr_Format(PyExc_ValueError,
                     "GoCoro_New: init_size %zu does not match state_size %zu of spec '%s'",
                     init_size, n, code->spec.name);
        return NULL;
    }
    PyObject *origin = NULL;
    if (GC_UNLIKELY(PyThreadState_Get()->coroutine_origin_tracking_depth > 0) &&
        code->spec.kind == GOCORO_KIND_COROUTINE) {
        origin = gc_compute_origin(PyThreadState_Get()->coroutine_origin_tracking_depth);
        if (origin == NULL)
            return NULL;
    }
    GoCoroObject *c = gc_alloc(gc_types[code->spec.kind], n);
    if (c == NULL) {
        Py_XDECREF(origin);
        return NULL;
    }
    c->code = (GoCoroCode *)Py_NewRef((PyObject *)code);
    c->await_obj = NULL;
    c->weakreflist = NULL;
    c->name = NULL;
    c->qualname = NULL;
    c->status = GC_CREATED;
    c->cleared = 0;
    c->kind = (uint8_t)code->spec.kind;
    c->ag_hooks_inited = c->ag_running_async = c->ag_closed = c->finalized = 0;
    if (n != 0) {
        if (init != NULL)
            memcpy(c->state, init, n);
        else
            memset(c->state, 0, n);
    }
    if (state_out != NULL)
        *state_out = c->state;
    c->cr_origin = origin;
    PyObject_GC_Track(c);
    return (PyObject *)c;
}

int GoCoro_Check(GoCoroPyObject *obj)
{
    /* every gocoro object type shares the deallocator */
    return obj != NULL && Py_TYPE(obj)->tp_dealloc == gc_dealloc;
}

void *GoCoro_GetState(GoCoroPyObject *obj)
{
    if (!GoCoro_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "GoCoro_GetState: expected a gocoro object, got %.100s",
                     obj ? Py_TYPE(obj)->tp_name : "NULL");
        return NULL;
    }
    return ((GoCoroObject *)obj)->state;
}

int GoCoro_Rethrow(GoCoroPyObject *exc)
{
    if (exc == NULL || !PyExceptionInstance_Check(exc)) {
        PyErr_Format(PyExc_TypeError, "GoCoro_Rethrow: expected an exception instance, got %.100s",
                     exc ? Py_TYPE(exc)->tp_name : "NULL");
        return GOCORO_ERROR;
    }
    gocoro_restore_exc(Py_NewRef(exc));
    return GOCORO_ERROR;
}

GoCoroPyObject *GoCoro_CoroutineType(void)
{
    if (gocoro_ensure_ready() < 0)
        return NULL;
    return (PyObject *)&GoCoro_CoroutineType_Impl;
}

/* ------------------------------------------------------------------------------------------ */

static int gocoro_ready = 0;

GoCoroAPI gocoro_api_table;

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
    if (get_asyncgen_hooks_fn == NULL) {
        get_asyncgen_hooks_fn = PySys_GetObject("get_asyncgen_hooks"); /* borrowed */
        if (get_asyncgen_hooks_fn == NULL) {
            PyErr_SetString(PyExc_RuntimeError, "gocoro: sys.get_asyncgen_hooks is missing");
            return -1;
        }
        Py_INCREF(get_asyncgen_hooks_fn);
    }
    if (gc_register_abc("Coroutine", (PyObject *)&GoCoro_CoroutineType_Impl) < 0 ||
        gc_register_abc("Generator", (PyObject *)&GoCoro_GeneratorType_Impl) < 0 ||
        gc_register_abc("Iterator", (PyObject *)&GoCoro_IteratorType_Impl) < 0 ||
        gc_register_abc("AsyncGenerator", (PyObject *)&GoCoro_AsyncGenType_Impl) < 0 ||
        gc_register_abc("AsyncIterator", (PyObject *)&GoCoro_AsyncIterType_Impl) < 0)
        return -1;
    gocoro_api_table.coroutine_type = (PyObject *)&GoCoro_CoroutineType_Impl;
    gocoro_api_table.panic_exception = gocoro_panic_exc;
    gocoro_ready = 1;
    return 0;
}

GoCoroAPI gocoro_api_table = {
    .abi_version = GOCORO_ABI_VERSION,
    .struct_size = sizeof(GoCoroAPI),
    .Prepare = GoCoro_Prepare,
    .New = GoCoro_New,
    .GetState = GoCoro_GetState,
    .RaisePanic = GoCoro_RaisePanic,
    .Rethrow = GoCoro_Rethrow,
    .Check = GoCoro_Check,
    .coroutine_type = NULL, /* filled by gocoro_ensure_ready */
    .panic_exception = NULL,
};
