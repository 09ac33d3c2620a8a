/*
 * coro/object.c: what every gocoro object kind shares beyond stepping: finalisation, GC
 * support, deallocation into the free lists, repr, and the attributes (names, running and
 * suspended flags, the awaited object, frame and code objects).
 */
#include "coro/freelist.h"

/* ---------- Lifecycle ---------- */

void gc_write_unraisable(const char *doing, PyObject *obj)
{
#if PY_VERSION_HEX >= 0x030E0000
    PyErr_FormatUnraisable("Exception ignored while %s %R", doing, obj);
#else
    (void)doing;
    PyErr_WriteUnraisable(obj);
#endif
}

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
            gc_write_unraisable("finalizing coroutine", self);
            return;
        }
        PyErr_Clear(); /* the warning was raised as an error: report it like the plain case */
    }
    if (PyErr_WarnFormat(PyExc_RuntimeWarning, 1, "coroutine '%U' was never awaited", gc_qualname(c)) < 0)
        gc_write_unraisable("finalizing coroutine", self);
}

void gc_finalize(PyObject *self)
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
            gc_write_unraisable("finalizing generator", self);
        else
            Py_DECREF(res);
    } else if (c->status == GC_CREATED) {
        if (c->kind == GOCORO_KIND_COROUTINE)
            gc_warn_never_awaited(c);
    } else {
        PyObject *res = gc_close_method(self, NULL);
        if (res == NULL)
            gc_write_unraisable("closing generator", self);
        else
            Py_DECREF(res);
    }
    if (saved != NULL)
        gocoro_restore_exc(saved);
}

int gc_traverse(PyObject *self, visitproc visit, void *arg)
{
    GoCoroObject *c = (GoCoroObject *)self;
    Py_VISIT(Py_TYPE(self)); /* heap type */
    Py_VISIT(c->code);
    Py_VISIT(c->await_obj);
    Py_VISIT(c->name);
    Py_VISIT(c->qualname);
    Py_VISIT(c->ag_finalizer);
    if (!c->cleared && c->code->spec.traverse != NULL)
        return c->code->spec.traverse(c->state, (GoCoroVisitFn)visit, arg);
    return 0;
}

int gc_clear(PyObject *self)
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

void gc_dealloc(PyObject *self)
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
    GoCoroCode *code = c->code;
    GoCoroState *st = code->st;
    c->code = NULL;
    Py_DECREF(code); /* st stays alive: c's type holds the module */
    gc_free(st, c);
}

PyObject *gc_repr(PyObject *self)
{
    GoCoroObject *c = (GoCoroObject *)self;
    const char *word = c->kind == GOCORO_KIND_ASYNC_GENERATOR ? "async_generator" : gc_kind_word(c);
    return PyUnicode_FromFormat("<%s object %U at %p>", word, gc_qualname(c), self);
}

/* ---------- Attributes ---------- */

PyObject *gc_get_name(PyObject *self, void *closure)
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

int gc_set_name(PyObject *self, PyObject *value, void *closure)
{
    return gc_set_name_impl(&((GoCoroObject *)self)->name, value, "__name__");
}

PyObject *gc_get_qualname(PyObject *self, void *closure)
{
    return Py_NewRef(gc_qualname((GoCoroObject *)self));
}

int gc_set_qualname(PyObject *self, PyObject *value, void *closure)
{
    return gc_set_name_impl(&((GoCoroObject *)self)->qualname, value, "__qualname__");
}

PyObject *gc_get_running(PyObject *self, void *closure)
{
    return PyBool_FromLong(((GoCoroObject *)self)->status == GC_RUNNING);
}

PyObject *gc_get_suspended(PyObject *self, void *closure)
{
    return PyBool_FromLong(((GoCoroObject *)self)->status == GC_SUSPENDED);
}

PyObject *gc_get_await(PyObject *self, void *closure)
{
    PyObject *yf = ((GoCoroObject *)self)->await_obj;
    return Py_NewRef(yf ? yf : Py_None);
}

/* cr_origin: recorded at creation while sys.set_coroutine_origin_tracking_depth() > 0. */
PyObject *gc_get_origin(PyObject *self, void *closure)
{
    GoCoroObject *c = (GoCoroObject *)self;
    return Py_NewRef(c->cr_origin != NULL ? c->cr_origin : Py_None);
}

/* ((filename, lineno, function), ...) of the `depth` innermost Python frames, innermost first,
 * as CPython records them for coroutines it creates. */
PyObject *gc_compute_origin(int depth)
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

#if PY_VERSION_HEX >= 0x030F0000
/* "CORO_SUSPENDED", ...: what inspect.getcoroutinestate() and friends return since 3.15. */
PyObject *gc_get_state(PyObject *self, void *prefix)
{
    static const char *const names[] = {
        [GC_CREATED] = "CREATED", [GC_SUSPENDED] = "SUSPENDED", [GC_RUNNING] = "RUNNING", [GC_CLOSED] = "CLOSED"};
    return PyUnicode_FromFormat("%s_%s", (const char *)prefix, names[((GoCoroObject *)self)->status]);
}
#endif

/* cr_frame/gi_frame/ag_frame: None once finished (what inspect.getcoroutinestate and friends
 * test), otherwise a fresh frame of the empty code object naming the native function. */
PyObject *gc_get_frame(PyObject *self, void *closure)
{
    GoCoroObject *c = (GoCoroObject *)self;
    if (c->status == GC_CLOSED)
        Py_RETURN_NONE;
    PyFrameObject *f = PyFrame_New(PyThreadState_Get(), (PyCodeObject *)c->code->code,
                                   c->code->st->frame_globals, NULL);
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

PyObject *gc_get_code(PyObject *self, void *closure)
{
    return Py_NewRef(((GoCoroObject *)self)->code->code);
}

PyObject *gc_sizeof(PyObject *self, PyObject *unused)
{
    size_t n = (size_t)Py_SIZE(self);
    if (n <= GC_FL_MAX_STATE) /* the allocation is rounded up to the free-list bucket */
        n = (n + 15) & ~(size_t)15;
    return PyLong_FromSsize_t((Py_ssize_t)(offsetof(GoCoroObject, state) + n));
}

/* ---------- Identity and state access ---------- */

PyMemberDef gc_members[] = {
    {"__weaklistoffset__", Py_T_PYSSIZET, offsetof(GoCoroObject, weakreflist), Py_READONLY, NULL},
    {NULL, 0, 0, 0, NULL}};

int GoCoro_Check(GoCoroPyObject *obj)
{
    /* every gocoro object type of every interpreter shares the deallocator */
    return obj != NULL && gc_is_object(obj);
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
