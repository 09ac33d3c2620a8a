/*
 * coro/step.c: the send/throw/close engine every gocoro object kind shares, and delegation
 * to awaited iterators.
 *
 * The state machine follows CPython's Objects/genobject.c semantics (send/throw/close,
 * yield-from style delegation for GOCORO_AWAIT, PEP 479, finalisation), re-implemented over
 * the step protocol documented in include/gocoro.h.  The per-step fast path (gc_send_impl) is
 * inline in object.h; this file holds everything it falls back to.
 */
#include "coro/object.h"

#include <pthread.h>

/* ---------- Helpers ---------- */

/*
 * Delegation recurses in C: resuming a chain of gocoro objects that await each other nests one
 * C call per level.  While the C stack pointer is in the upper half of this thread's stack the
 * recursion needs no further guard, and checking that is a compare against a thread-local bound
 * (no call, no shared counter).  Below that -- and on a stack whose bounds are unknown or that
 * is not the thread's own -- Py_EnterRecursiveCall bounds it as CPython bounds C recursion.
 * (Py_EnterRecursiveCall at every level made a 100-deep chain 1.4x slower than the same chain of
 * async defs on 3.13: an out-of-line call each way and a read-modify-write of one counter that
 * every level waits for.)  Initial-exec TLS: the library already uses static TLS (Go runtime).
 */
typedef struct {
    uintptr_t lo;   /* lowest address of the upper half; 1 once known to be unusable */
    uintptr_t span; /* hi - lo */
} GcStackHalf;

static _Thread_local GcStackHalf gc_stack_half __attribute__((tls_model("initial-exec")));

static __attribute__((noinline)) void gc_stack_half_init(void)
{
    pthread_attr_t attr;
    void *addr;
    size_t size;
    GcStackHalf h = {1, 0}; /* unknown: never roomy */
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        if (pthread_attr_getstack(&attr, &addr, &size) == 0 && size >= 65536) {
            h.lo = (uintptr_t)addr + size / 2;
            h.span = size - size / 2;
        }
        pthread_attr_destroy(&attr);
    }
    gc_stack_half = h;
}

/* 1: recursing one more level needs no Py_EnterRecursiveCall. */
static inline int gc_stack_roomy(void)
{
    if (GC_UNLIKELY(gc_stack_half.lo == 0))
        gc_stack_half_init();
    return (uintptr_t)__builtin_frame_address(0) - gc_stack_half.lo < gc_stack_half.span;
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
#if PY_VERSION_HEX >= 0x030C0000
/* 3.12+ instantiates every exception it raises, and `await` takes an awaitable's result only
 * from StopIteration (tp_iternext): build StopIteration(value) directly, exactly as
 * BaseException_new and StopIteration_init would (args, value, everything else empty), instead
 * of calling the type (about 40% of the cost of an `async for` item).  0, or -1 with
 * MemoryError. */
static int gc_raise_stop_iteration_direct(PyObject *value, int none_as_arg)
{
    PyTypeObject *t = (PyTypeObject *)PyExc_StopIteration;
    PyObject *args = value == Py_None && !none_as_arg ? PyTuple_New(0) : PyTuple_Pack(1, value);
    if (args == NULL)
        return -1;
    PyStopIterationObject *e = (PyStopIterationObject *)t->tp_alloc(t, 0);
    if (e == NULL) {
        Py_DECREF(args);
        return -1;
    }
    e->args = args;
    e->value = Py_NewRef(value);
    PyErr_SetRaisedException((PyObject *)e);
    return 0;
}
#endif

void gc_set_stop_iteration_item(PyObject *value)
{
#if PY_VERSION_HEX >= 0x030E0000
    /* 3.14+ raises StopIteration(item) for async generator items without implicit chaining */
    (void)gc_raise_stop_iteration_direct(value, 1);
#else
    gc_set_stop_iteration(value);
#endif
}

void gc_set_stop_iteration(PyObject *value)
{
#if PY_VERSION_HEX >= 0x030E0000
    /* 3.14+: a return value other than None becomes StopIteration(value) without implicit
     * chaining; None still goes through PyErr_SetNone */
    if (value != Py_None) {
        (void)gc_raise_stop_iteration_direct(value, 1);
        return;
    }
#endif
#if PY_VERSION_HEX >= 0x030C0000
    /* while an exception is being handled, PyErr_SetObject also makes it the __context__ */
    PyObject *handled = PyErr_GetHandledException();
    if (GC_LIKELY(handled == NULL)) {
        (void)gc_raise_stop_iteration_direct(value, 0);
        return;
    }
    Py_DECREF(handled);
#endif
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

/* Drop everything the finished object owns (idempotent). */
void gc_release(GoCoroObject *c)
{
    gc_clear_await(c);
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

/* ---------- Delegation ---------- */

/* The getter behind CPython coroutines' `cr_await` descriptor, looked up once: calling it
 * directly costs a few instructions where a lookup by name costs about a thousand.  A C
 * function of libpython, the same in every interpreter. */
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
    if (gc_is_coroutine(o)) {
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
        if (PyCoro_CheckExact(res) || gc_is_coroutine(res)) {
            Py_DECREF(res);
#if PY_VERSION_HEX >= 0x030F0000
            PyErr_Format(PyExc_TypeError, "%T.__await__() must return an iterator, not coroutine", o);
#else
            PyErr_SetString(PyExc_TypeError, "__await__() returned a coroutine");
#endif
            return NULL;
        }
        if (!PyIter_Check(res)) {
#if PY_VERSION_HEX >= 0x030F0000
            PyErr_Format(PyExc_TypeError, "%T.__await__() must return an iterator, not %T", o, res);
#else
            PyErr_Format(PyExc_TypeError, "__await__() returned non-iterator of type '%.100s'",
                         Py_TYPE(res)->tp_name);
#endif
            Py_DECREF(res);
            return NULL;
        }
        return res;
    }
#if PY_VERSION_HEX >= 0x030E0000
    PyErr_Format(PyExc_TypeError, "'%.100s' object can't be awaited", t->tp_name);
#else
    PyErr_Format(PyExc_TypeError, "object %.100s can't be used in 'await' expression", t->tp_name);
#endif
    return NULL;
}


/* CPython's rules for `yield from obj` in a (non-coroutine) generator. */
static PyObject *gc_yield_from_iter(PyObject *o)
{
    if (PyCoro_CheckExact(o) || gc_is_coroutine(o)) {
        PyErr_SetString(PyExc_TypeError,
                        "cannot 'yield from' a coroutine object in a non-coroutine generator");
        return NULL;
    }
    if (PyGen_CheckExact(o))
        return Py_NewRef(o);
    return PyObject_GetIter(o);
}

/* Send into the delegated iterator (PyIter_Send, with our own type short-circuited). */
static inline PySendResult gc_delegate_send(PyObject *it, PyObject *arg, PyObject **res)
{
    if (gc_is_coroutine(it))
        return gc_am_send(it, arg, res);
    return PyIter_Send(it, arg, res);
}

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
    if (GC_LIKELY(r == GOCORO_NEXT && res != NULL && !gc_error_set())) {
        gc_suspend_after_step(c);
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

void gc_misuse_with_exception(GoCoroObject *c, int r)
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
int gc_after_step(GoCoroObject *c, int r, PyObject *res, PyObject **presult)
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
            gc_suspend_after_step(c);
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
            gc_suspend_after_step(c);
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
                int counted = !gc_stack_roomy();
                if (counted && Py_EnterRecursiveCall(" while awaiting in a gocoro object")) {
                    sr = PYGEN_ERROR;
                } else {
                    sr = gc_delegate_send(it, Py_None, &val);
                    if (counted)
                        Py_LeaveRecursiveCall();
                }
                if (sr == PYGEN_NEXT) {
                    gc_set_await(c, it);
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
    gc_clear_await(c);
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
int gc_send_slow(GoCoroObject *c, PyObject *arg, PyObject **presult)
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
        /* a chain of native awaits recurses in C: bounded as gc_stack_roomy() describes */
        int counted = !gc_stack_roomy();
        if (counted && Py_EnterRecursiveCall(" while awaiting in a gocoro object")) {
            PyObject *err = gocoro_fetch_exc();
            gc_clear_await(c);
            int out = gc_run(c, NULL, err, presult);
            Py_DECREF(err);
            return out;
        }
        PySendResult sr = gc_delegate_send(c->await_obj, arg, &val);
        if (counted)
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

/* The send result `sr` (with `res`) in tp_iternext's shape. */
static PyObject *gc_iternext_result(int sr, PyObject *res)
{
    if (sr == PYGEN_NEXT)
        return res;
    if (sr == PYGEN_RETURN) {
        if (res != Py_None)
            gc_set_stop_iteration(res);
        Py_DECREF(res);
    }
    return NULL;
}

PyObject *gc_iternext_after_step(GoCoroObject *c, int r, PyObject *res)
{
    PyObject *out = NULL;
    int sr = gc_after_step(c, r, res, &out);
    return gc_iternext_result(sr, out);
}

PyObject *gc_iternext_slow(GoCoroObject *c)
{
    PyObject *out = NULL;
    int sr = gc_send_slow(c, Py_None, &out);
    return gc_iternext_result(sr, out);
}

PySendResult gc_am_send(PyObject *self, PyObject *arg, PyObject **presult)
{
    return (PySendResult)gc_send_impl((GoCoroObject *)self, arg, presult);
}

/* ---------- send() ---------- */

/* send(value): the PyIter_Send result converted to the iterator protocol. */
PyObject *gc_send_method(PyObject *self, PyObject *arg)
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

/* ---------- throw() and close() ---------- */

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
            gc_write_unraisable("closing generator", it);
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
int gc_warn_throw_signature(const char *meth, Py_ssize_t nargs)
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
int gc_throw(GoCoroObject *c, PyObject *const *args, Py_ssize_t nargs, int close_on_genexit,
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
            gc_clear_await(c);
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
                gc_clear_await(c);
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

PyObject *gc_throw_call(GoCoroObject *c, PyObject *const *args, Py_ssize_t nargs, int own_method)
{
    if (nargs < 1 || nargs > 3) {
        PyErr_Format(PyExc_TypeError, nargs < 1 ? "throw expected at least 1 argument, got %zd"
                                                : "throw expected at most 3 arguments, got %zd",
                     nargs);
        return NULL;
    }
#if PY_VERSION_HEX >= 0x030C0000
    /* a native generator or coroutine warns in its own throw() unless its awaiter forwards the
     * call; CPython's coroutine_wrapper (coro.__await__()) always warns */
    if (nargs > 1 && !(own_method && gc_throw_is_forwarded(c, args)) &&
        gc_warn_throw_signature("throw", nargs) < 0)
        return NULL;
#else
    (void)own_method;
#endif
    PyObject *res = NULL;
    int sr = gc_throw(c, args, nargs, 1, &res);
    if (sr == PYGEN_NEXT)
        return res;
    if (sr == PYGEN_RETURN) {
        gc_set_stop_iteration(res);
        Py_DECREF(res);
    }
    return NULL;
}

PyObject *gc_throw_method(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return gc_throw_call((GoCoroObject *)self, args, nargs, 1);
}

PyObject *gc_close_method(PyObject *self, PyObject *unused)
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
        gc_clear_await(c);
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
#if PY_VERSION_HEX < 0x030F0000
    if (sr == PYGEN_RETURN && c->kind >= GOCORO_KIND_ASYNC_GENERATOR) {
        /* up to 3.14, an async generator returning on GeneratorExit surfaces as
         * StopAsyncIteration (reported as unraisable when finalizing) */
        Py_DECREF(res);
        PyErr_SetNone(PyExc_StopAsyncIteration);
        return NULL;
    }
#endif
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
