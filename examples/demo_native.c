/*
 * demo_native: an example C extension whose async functions are gocoro native coroutines.
 *
 *   countdown(n, sleep) -> coroutine: awaits sleep(0) n times (sleep = asyncio.sleep, trio.sleep,
 *                          anyio.sleep, ...: the native code never names an event loop), returns n.
 *   gather_sum(awaitables) -> coroutine: awaits each awaitable in turn and returns the sum.
 *
 * It uses the capsule API (no link step): GOCORO_USE_CAPSULE + GoCoro_ImportAPI().
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define GOCORO_USE_CAPSULE
#include "gocoro.h"

/* ---- countdown ---------------------------------------------------------------------- */
typedef struct {
    long remaining, total;
    PyObject *sleep; /* owned */
} countdown_state;

static int countdown_step(PyObject *self, void *st, PyObject *sent, PyObject *thrown, PyObject **result)
{
    countdown_state *s = st;
    if (thrown != NULL) /* cancellation or throw(): nothing to clean up, let it propagate */
        return GoCoro_Rethrow(thrown);
    if (s->remaining == 0) {
        *result = PyLong_FromLong(s->total);
        return *result ? GOCORO_RETURN : GOCORO_ERROR;
    }
    s->remaining--;
    *result = PyObject_CallFunction(s->sleep, "i", 0); /* an awaitable */
    return *result ? GOCORO_AWAIT : GOCORO_ERROR;
}

static int countdown_traverse(void *st, GoCoroVisitFn visit, void *arg)
{
    countdown_state *s = st;
    return s->sleep ? visit(s->sleep, arg) : 0;
}

static void countdown_clear(void *st)
{
    countdown_state *s = st;
    Py_CLEAR(s->sleep);
}

static const GoCoroSpec countdown_spec = {
    .abi_version = GOCORO_ABI_VERSION,
    .struct_size = sizeof(GoCoroSpec),
    .kind = GOCORO_KIND_COROUTINE,
    .name = "countdown",
    .qualname = "demo_native.countdown",
    .filename = __FILE__,
    .firstlineno = __LINE__,
    .state_size = sizeof(countdown_state),
    .step = countdown_step,
    .traverse = countdown_traverse,
    .clear = countdown_clear,
};

/* ---- gather_sum ---------------------------------------------------------------------- */
typedef struct {
    PyObject *items; /* owned tuple */
    Py_ssize_t next;
    PyObject *total; /* owned */
} sum_state;

static int sum_step(PyObject *self, void *st, PyObject *sent, PyObject *thrown, PyObject **result)
{
    sum_state *s = st;
    if (thrown != NULL)
        return GoCoro_Rethrow(thrown);
    if (s->next > 0) { /* `sent` is the result of the previous await */
        PyObject *t = PyNumber_Add(s->total, sent);
        if (t == NULL)
            return GOCORO_ERROR;
        Py_SETREF(s->total, t);
    }
    if (s->next == PyTuple_GET_SIZE(s->items)) {
        *result = Py_NewRef(s->total);
        return GOCORO_RETURN;
    }
    *result = Py_NewRef(PyTuple_GET_ITEM(s->items, s->next++));
    return GOCORO_AWAIT;
}

static int sum_traverse(void *st, GoCoroVisitFn visit, void *arg)
{
    sum_state *s = st;
    if (s->items && visit(s->items, arg))
        return 1;
    return s->total ? visit(s->total, arg) : 0;
}

static void sum_clear(void *st)
{
    sum_state *s = st;
    Py_CLEAR(s->items);
    Py_CLEAR(s->total);
}

static const GoCoroSpec sum_spec = {
    .abi_version = GOCORO_ABI_VERSION,
    .struct_size = sizeof(GoCoroSpec),
    .kind = GOCORO_KIND_COROUTINE,
    .name = "gather_sum",
    .qualname = "demo_native.gather_sum",
    .filename = __FILE__,
    .firstlineno = __LINE__,
    .state_size = sizeof(sum_state),
    .step = sum_step,
    .traverse = sum_traverse,
    .clear = sum_clear,
};

static GoCoroCode *countdown_code, *sum_code;

static PyObject *countdown(PyObject *mod, PyObject *args)
{
    countdown_state init = {0};
    PyObject *sleep;
    if (!PyArg_ParseTuple(args, "lO:countdown", &init.total, &sleep))
        return NULL;
    if (init.total < 0)
        return PyErr_Format(PyExc_ValueError, "countdown: n must be >= 0");
    init.remaining = init.total;
    init.sleep = Py_NewRef(sleep);
    PyObject *c = GoCoro_New(countdown_code, &init, sizeof(init), NULL);
    if (c == NULL)
        Py_DECREF(sleep);
    return c;
}

static PyObject *gather_sum(PyObject *mod, PyObject *arg)
{
    sum_state init = {0};
    init.items = PySequence_Tuple(arg);
    if (init.items == NULL)
        return NULL;
    init.total = PyLong_FromLong(0);
    PyObject *c = init.total ? GoCoro_New(sum_code, &init, sizeof(init), NULL) : NULL;
    if (c == NULL) {
        Py_XDECREF(init.items);
        Py_XDECREF(init.total);
    }
    return c;
}

static PyMethodDef methods[] = {
    {"countdown", countdown, METH_VARARGS, "countdown(n, sleep) -> awaits sleep(0) n times, returns n"},
    {"gather_sum", gather_sum, METH_O, "gather_sum(awaitables) -> awaits each, returns the sum"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "demo_native", NULL, -1, methods};

PyMODINIT_FUNC PyInit_demo_native(void)
{
    if (GoCoro_ImportAPI() < 0)
        return NULL;
    countdown_code = GoCoro_Prepare(&countdown_spec);
    sum_code = GoCoro_Prepare(&sum_spec);
    if (countdown_code == NULL || sum_code == NULL)
        return NULL;
    return PyModule_Create(&moddef);
}
