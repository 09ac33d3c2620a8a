/*
 * climit.c -- the "C limit" anchor for the gocoro benchmarks (see bench/README.md).
 *
 * A minimal hand-written awaitable type: the fastest thing a C extension can practically do
 * without a library.  It has what a real awaitable needs and nothing else:
 *   - am_await returning self (so `await obj` and `obj.__await__()` work),
 *   - am_send (PyIter_Send uses it; `await` uses it on CPython 3.10/3.11 only -- from 3.12 the
 *     SEND opcode calls tp_iternext (or .send() for non-None values) and takes the return value
 *     from StopIteration, see bench/README.md),
 *   - tp_iter/tp_iternext (so `for`/deque can drive it),
 *   - send/throw/close methods (what asyncio/trio call on a coroutine),
 *   - GC support (a real awaitable holds arbitrary Python objects).
 * State: a countdown; each resume yields None until it reaches 0, then returns `value`.
 *
 * The module also carries the benchmark's C-level drivers, so every implementation is driven by
 * exactly the same C loop:
 *   drive_send(coro)  -- PyIter_Send(coro, None) until it stops (like _asyncio.Task.__step);
 *                        returns the number of resumptions.
 *   consume(it)       -- tp_iternext until exhausted (the loop of deque(it, maxlen=0)), for
 *                        iterators without __iter__ (PyO3's Coroutine).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    PyObject_HEAD
    Py_ssize_t remaining; /* suspensions left */
    PyObject *value;      /* return value, owned */
    int finished;
} CLimitObject;

static PyTypeObject CLimit_Type;

static PyObject *
climit_new_obj(Py_ssize_t n, PyObject *value)
{
    CLimitObject *self = PyObject_GC_New(CLimitObject, &CLimit_Type);
    if (self == NULL)
        return NULL;
    self->remaining = n;
    Py_INCREF(value);
    self->value = value;
    self->finished = 0;
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

static int
climit_traverse(CLimitObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->value);
    return 0;
}

static int
climit_clear(CLimitObject *self)
{
    Py_CLEAR(self->value);
    return 0;
}

static void
climit_dealloc(CLimitObject *self)
{
    PyObject_GC_UnTrack(self);
    Py_CLEAR(self->value);
    PyObject_GC_Del(self);
}

/* The whole "step": one branch and a counter. */
static PySendResult
climit_am_send(CLimitObject *self, PyObject *arg, PyObject **result)
{
    if (self->remaining > 0) {
        self->remaining--;
        Py_INCREF(Py_None);
        *result = Py_None;
        return PYGEN_NEXT;
    }
    if (self->finished) {
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse already awaited climit object");
        *result = NULL;
        return PYGEN_ERROR;
    }
    self->finished = 1;
    *result = self->value; /* steal */
    self->value = NULL;
    if (*result == NULL) {
        Py_INCREF(Py_None);
        *result = Py_None;
    }
    return PYGEN_RETURN;
}

static PyObject *
climit_return_to_stopiteration(PyObject *ret)
{
    /* What generators do (_PyGen_SetStopIterationValue): None -> no exception at all (the
     * caller treats a bare NULL as exhaustion), a plain value -> StopIteration(value) built
     * once, tuples/exceptions wrapped first so the value survives unpacking. */
    if (ret != Py_None) {
        if (!PyTuple_Check(ret) && !PyExceptionInstance_Check(ret)) {
            PyErr_SetObject(PyExc_StopIteration, ret);
        }
        else {
            PyObject *exc = PyObject_CallOneArg(PyExc_StopIteration, ret);
            if (exc != NULL) {
                PyErr_SetObject(PyExc_StopIteration, exc);
                Py_DECREF(exc);
            }
        }
    }
    Py_DECREF(ret);
    return NULL;
}

static PyObject *
climit_iternext(CLimitObject *self)
{
    PyObject *res;
    PySendResult r = climit_am_send(self, Py_None, &res);
    if (r == PYGEN_NEXT)
        return res;
    if (r == PYGEN_ERROR)
        return NULL;
    return climit_return_to_stopiteration(res);
}

static PyObject *
climit_send(CLimitObject *self, PyObject *arg)
{
    PyObject *res;
    PySendResult r = climit_am_send(self, arg, &res);
    if (r == PYGEN_NEXT)
        return res;
    if (r == PYGEN_ERROR)
        return NULL;
    if (res == Py_None) {
        Py_DECREF(res);
        PyErr_SetNone(PyExc_StopIteration);
        return NULL;
    }
    return climit_return_to_stopiteration(res);
}

static PyObject *
climit_throw(CLimitObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "throw expected 1 to 3 arguments");
        return NULL;
    }
    self->remaining = 0;
    self->finished = 1;
    Py_CLEAR(self->value);
    PyObject *typ = args[0];
    if (PyExceptionInstance_Check(typ)) {
        PyErr_SetObject((PyObject *)Py_TYPE(typ), typ);
    }
    else if (PyExceptionClass_Check(typ)) {
        PyErr_SetObject(typ, nargs > 1 ? args[1] : NULL);
    }
    else {
        PyErr_SetString(PyExc_TypeError, "exceptions must derive from BaseException");
    }
    return NULL;
}

static PyObject *
climit_close(CLimitObject *self, PyObject *Py_UNUSED(ignored))
{
    self->remaining = 0;
    self->finished = 1;
    Py_CLEAR(self->value);
    Py_RETURN_NONE;
}

static PyObject *
climit_await(PyObject *self)
{
    Py_INCREF(self);
    return self;
}

static PyMethodDef climit_methods[] = {
    {"send", (PyCFunction)climit_send, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))climit_throw, METH_FASTCALL, NULL},
    {"close", (PyCFunction)climit_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyAsyncMethods climit_as_async = {
    .am_await = climit_await,
    .am_send = (sendfunc)climit_am_send,
};

static PyTypeObject CLimit_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "climit.CLimit",
    .tp_basicsize = sizeof(CLimitObject),
    .tp_dealloc = (destructor)climit_dealloc,
    .tp_as_async = &climit_as_async,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)climit_traverse,
    .tp_clear = (inquiry)climit_clear,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)climit_iternext,
    .tp_methods = climit_methods,
};

static PyObject *one; /* the value returned by done() */

/* steps(n): suspends n times (yielding None), then returns None. */
static PyObject *
mod_steps(PyObject *mod, PyObject *arg)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    return climit_new_obj(n, Py_None);
}

/* done(): completes on the first resume with 1. */
static PyObject *
mod_done(PyObject *mod, PyObject *Py_UNUSED(ignored))
{
    return climit_new_obj(0, one);
}

/* done_none(): completes on the first resume with None. */
static PyObject *
mod_done_none(PyObject *mod, PyObject *Py_UNUSED(ignored))
{
    return climit_new_obj(0, Py_None);
}

/* drive_send(coro): resume with None via PyIter_Send until it returns or raises. */
static PyObject *
mod_drive_send(PyObject *mod, PyObject *coro)
{
    Py_ssize_t count = 0;
    PyObject *res = NULL;
    for (;;) {
        PySendResult r = PyIter_Send(coro, Py_None, &res);
        count++;
        if (r == PYGEN_NEXT) {
            Py_DECREF(res);
            continue;
        }
        if (r == PYGEN_ERROR)
            return NULL;
        Py_DECREF(res);
        return PyLong_FromSsize_t(count);
    }
}

/* consume(it): call tp_iternext until exhaustion (deque(it, maxlen=0) without iter()). */
static PyObject *
mod_consume(PyObject *mod, PyObject *it)
{
    iternextfunc next = Py_TYPE(it)->tp_iternext;
    PyObject *item;
    if (next == NULL) {
        PyErr_Format(PyExc_TypeError, "'%.100s' object is not an iterator", Py_TYPE(it)->tp_name);
        return NULL;
    }
    while ((item = next(it)) != NULL)
        Py_DECREF(item);
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_StopIteration))
            return NULL;
        PyErr_Clear();
    }
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"steps", mod_steps, METH_O, "steps(n) -> awaitable suspending n times, then returning None"},
    {"done", mod_done, METH_NOARGS, "done() -> awaitable completing immediately with 1"},
    {"done_none", mod_done_none, METH_NOARGS, "done_none() -> awaitable completing with None"},
    {"drive_send", mod_drive_send, METH_O, "drive_send(coro) -> number of PyIter_Send calls"},
    {"consume", mod_consume, METH_O, "consume(iterator) -> None; exhausts it via tp_iternext"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef climit_module = {
    PyModuleDef_HEAD_INIT, "climit", "gocoro benchmark anchor: minimal C awaitable", -1,
    module_methods,
};

PyMODINIT_FUNC
PyInit_climit(void)
{
    PyObject *m;
    if (PyType_Ready(&CLimit_Type) < 0)
        return NULL;
    one = PyLong_FromLong(1);
    if (one == NULL)
        return NULL;
    m = PyModule_Create(&climit_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&CLimit_Type);
    if (PyModule_AddObject(m, "CLimit", (PyObject *)&CLimit_Type) < 0) {
        Py_DECREF(&CLimit_Type);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
