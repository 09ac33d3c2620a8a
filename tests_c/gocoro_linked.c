/*
 * _gocoro_linked: test extension for gocoro using DIRECT linking (-lgocoro, no capsule).
 *
 *   make(value, yields=0)  a coroutine that yields None `yields` times, then returns value
 *   coroutine_type()       GoCoro_CoroutineType()
 *   panic_exception()      GoCoro_PanicException()
 *   check(obj)             GoCoro_Check(obj)
 *   panic_step(msg)        a coroutine whose step returns GoCoro_RaisePanic(msg)
 *
 * Module init does not import gocoro: the library must initialise itself on first use.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "gocoro.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    PyObject *value;
    long yields;
    int panic;
} LinkedState;

static int linked_step(GoCoroPyObject *self, void *state, GoCoroPyObject *sent, GoCoroPyObject *thrown,
                       GoCoroPyObject **result)
{
    LinkedState *st = (LinkedState *)state;
    if (thrown != NULL)
        return GoCoro_Rethrow(thrown);
    if (st->panic) {
        const char *msg = st->value ? PyUnicode_AsUTF8(st->value) : "panic";
        if (msg == NULL)
            return GOCORO_ERROR;
        return GoCoro_RaisePanic(msg);
    }
    if (st->yields > 0) {
        st->yields--;
        *result = (GoCoroPyObject *)Py_NewRef(Py_None);
        return GOCORO_NEXT;
    }
    *result = (GoCoroPyObject *)Py_NewRef(st->value ? st->value : Py_None);
    return GOCORO_RETURN;
}

static int linked_traverse(void *state, GoCoroVisitFn visit, void *arg)
{
    LinkedState *st = (LinkedState *)state;
    return st->value ? visit((GoCoroPyObject *)st->value, arg) : 0;
}

static void linked_clear(void *state)
{
    Py_CLEAR(((LinkedState *)state)->value);
}

static GoCoroCode *linked_code;

static int ensure_code(void)
{
    if (linked_code != NULL)
        return 0;
    GoCoroSpec s;
    memset(&s, 0, sizeof s);
    s.abi_version = GOCORO_ABI_VERSION;
    s.struct_size = sizeof s;
    s.kind = GOCORO_KIND_COROUTINE;
    s.name = "linked";
    s.qualname = "linked";
    s.filename = "gocoro_linked.c";
    s.firstlineno = 1;
    s.state_size = sizeof(LinkedState);
    s.step = linked_step;
    s.traverse = linked_traverse;
    s.clear = linked_clear;
    linked_code = GoCoro_Prepare(&s);
    if (linked_code == NULL && !PyErr_Occurred())
        PyErr_SetString(PyExc_SystemError, "GoCoro_Prepare returned NULL without an exception");
    return linked_code ? 0 : -1;
}

static PyObject *make_obj(PyObject *value, long yields, int panic)
{
    if (ensure_code() < 0)
        return NULL;
    LinkedState init = {value, yields, panic};
    PyObject *obj = (PyObject *)GoCoro_New(linked_code, &init, sizeof init, NULL);
    if (obj == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_SystemError, "GoCoro_New returned NULL without an exception");
        return NULL;
    }
    Py_INCREF(value);
    return obj;
}

static PyObject *l_make(PyObject *mod, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"value", "yields", NULL};
    PyObject *value = Py_None;
    long yields = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|Ol:make", kwlist, &value, &yields))
        return NULL;
    return make_obj(value, yields, 0);
}

static PyObject *l_panic_step(PyObject *mod, PyObject *msg)
{
    if (!PyUnicode_Check(msg)) {
        PyErr_SetString(PyExc_TypeError, "msg must be str");
        return NULL;
    }
    return make_obj(msg, 0, 1);
}

static PyObject *l_coroutine_type(PyObject *mod, PyObject *unused)
{
    PyObject *t = (PyObject *)GoCoro_CoroutineType();
    if (t == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_SystemError, "GoCoro_CoroutineType() is NULL");
        return NULL;
    }
    return Py_NewRef(t);
}

static PyObject *l_panic_exception(PyObject *mod, PyObject *unused)
{
    PyObject *e = (PyObject *)GoCoro_PanicException();
    if (e == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_SystemError, "GoCoro_PanicException() is NULL");
        return NULL;
    }
    return Py_NewRef(e);
}

static PyObject *l_check(PyObject *mod, PyObject *obj)
{
    int r = GoCoro_Check((GoCoroPyObject *)obj);
    if (PyErr_Occurred())
        return NULL;
    return PyLong_FromLong(r);
}

/* ---- wakers and blocking work through the direct (-lgocoro) API ---- */

typedef struct {
    GoCoroWaker *waker;
    int phase;
} WakeState;

static int wake_step(GoCoroPyObject *self, void *state, GoCoroPyObject *sent, GoCoroPyObject *thrown,
                     GoCoroPyObject **result)
{
    WakeState *st = (WakeState *)state;
    if (thrown != NULL)
        return GoCoro_Rethrow(thrown);
    if (st->phase == 0) {
        st->phase = 1;
        st->waker = GoCoro_WakerNew();
        if (st->waker == NULL)
            return GOCORO_ERROR;
        GoCoro_Wake(st->waker); /* woken before the wait: the wait completes at once */
        GoCoro_Wake(st->waker); /* idempotent */
        *result = GoCoro_WakerWait(st->waker);
        return *result ? GOCORO_AWAIT : GOCORO_ERROR;
    }
    *result = (GoCoroPyObject *)PyUnicode_FromString("woken");
    return *result ? GOCORO_RETURN : GOCORO_ERROR;
}

static void wake_finalize(void *state)
{
    WakeState *st = (WakeState *)state;
    GoCoro_WakerRelease(st->waker); /* NULL is ignored */
    st->waker = NULL;
}

static const GoCoroSpec wake_spec = {
    .abi_version = GOCORO_ABI_VERSION,
    .struct_size = sizeof(GoCoroSpec),
    .kind = GOCORO_KIND_COROUTINE,
    .name = "wake_soon",
    .qualname = "_gocoro_linked.wake_soon",
    .filename = __FILE__,
    .firstlineno = __LINE__,
    .state_size = sizeof(WakeState),
    .step = wake_step,
    .finalize = wake_finalize,
};

static GoCoroCode *wake_code;

static PyObject *l_wake_soon(PyObject *mod, PyObject *unused)
{
    if (wake_code == NULL && (wake_code = GoCoro_Prepare(&wake_spec)) == NULL)
        return NULL;
    return (PyObject *)GoCoro_New(wake_code, NULL, 0, NULL);
}

typedef struct { long a, b; } AddArgs;

static void *add_fn(void *arg, const volatile int32_t *cancelled)
{
    AddArgs *x = (AddArgs *)arg;
    (void)cancelled;
    x->a += x->b; /* "blocking" work, without the GIL */
    return x;
}

static GoCoroPyObject *add_to_python(void *arg, void *ret)
{
    long v = ((AddArgs *)ret)->a;
    free(arg);
    return (GoCoroPyObject *)PyLong_FromLong(v);
}

static void add_cleanup(void *arg, void *ret)
{
    (void)ret;
    free(arg);
}

static PyObject *l_blocking_add(PyObject *mod, PyObject *args)
{
    AddArgs *x = (AddArgs *)malloc(sizeof(AddArgs));
    if (x == NULL)
        return PyErr_NoMemory();
    if (!PyArg_ParseTuple(args, "ll:blocking_add", &x->a, &x->b)) {
        free(x);
        return NULL;
    }
    PyObject *aw = (PyObject *)GoCoro_RunBlocking(add_fn, x, add_to_python, add_cleanup, 0.0);
    if (aw == NULL)
        free(x); /* on failure the caller still owns arg */
    return aw;
}

static PyMethodDef methods[] = {
    {"wake_soon", l_wake_soon, METH_NOARGS, NULL},
    {"blocking_add", l_blocking_add, METH_VARARGS, NULL},
    {"make", (PyCFunction)(void (*)(void))l_make, METH_VARARGS | METH_KEYWORDS, NULL},
    {"panic_step", l_panic_step, METH_O, NULL},
    {"coroutine_type", l_coroutine_type, METH_NOARGS, NULL},
    {"panic_exception", l_panic_exception, METH_NOARGS, NULL},
    {"check", l_check, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "_gocoro_linked", "gocoro test extension (direct -lgocoro linking)", -1,
    methods,
};

PyMODINIT_FUNC PyInit__gocoro_linked(void)
{
    return PyModule_Create(&moddef);
}
