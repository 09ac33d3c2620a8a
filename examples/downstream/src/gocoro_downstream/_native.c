/* gocoro_downstream._native: capsule mode, no link step.
 *
 *   sum_slowly(values, sleep) -> coroutine: awaits sleep(0) before adding each value, returns
 *                                the sum (sleep = asyncio.sleep, trio.sleep, ...).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define GOCORO_USE_CAPSULE
#include "gocoro.h"

typedef struct {
    PyObject *values; /* owned tuple */
    PyObject *sleep;  /* owned */
    PyObject *total;  /* owned */
    Py_ssize_t next;
} sum_state;

static int sum_step(PyObject *self, void *st, PyObject *sent, PyObject *thrown, PyObject **result)
{
    sum_state *s = st;
    if (thrown != NULL) /* task cancellation, throw(), close(): let it propagate */
        return GoCoro_Rethrow(thrown);
    if (s->next > 0) { /* sleep(0) finished: add the value it was awaited for */
        PyObject *t = PyNumber_Add(s->total, PyTuple_GET_ITEM(s->values, s->next - 1));
        if (t == NULL)
            return GOCORO_ERROR;
        Py_SETREF(s->total, t);
    }
    if (s->next == PyTuple_GET_SIZE(s->values)) {
        *result = Py_NewRef(s->total);
        return GOCORO_RETURN;
    }
    s->next++;
    *result = PyObject_CallFunction(s->sleep, "i", 0);
    return *result ? GOCORO_AWAIT : GOCORO_ERROR;
}

static int sum_traverse(void *st, GoCoroVisitFn visit, void *arg)
{
    sum_state *s = st;
    int r = s->values ? visit(s->values, arg) : 0;
    if (r == 0 && s->sleep)
        r = visit(s->sleep, arg);
    if (r == 0 && s->total)
        r = visit(s->total, arg);
    return r;
}

static void sum_clear(void *st)
{
    sum_state *s = st;
    Py_CLEAR(s->values);
    Py_CLEAR(s->sleep);
    Py_CLEAR(s->total);
}

static const GoCoroSpec sum_spec = {
    .abi_version = GOCORO_ABI_VERSION,
    .struct_size = sizeof(GoCoroSpec),
    .kind = GOCORO_KIND_COROUTINE,
    .name = "sum_slowly",
    .qualname = "gocoro_downstream.sum_slowly",
    .filename = __FILE__,
    .firstlineno = __LINE__,
    .state_size = sizeof(sum_state),
    .step = sum_step,
    .traverse = sum_traverse,
    .clear = sum_clear,
};
static GoCoroCode *sum_code;

static PyObject *sum_slowly(PyObject *m, PyObject *args)
{
    PyObject *values, *sleep;
    if (!PyArg_ParseTuple(args, "OO:sum_slowly", &values, &sleep))
        return NULL;
    sum_state init = {PySequence_Tuple(values), Py_NewRef(sleep), PyLong_FromLong(0), 0};
    PyObject *c = NULL;
    if (init.values && init.total)
        c = (PyObject *)GoCoro_New(sum_code, &init, sizeof init, NULL); /* takes the refs */
    if (c == NULL)
        sum_clear(&init);
    return c;
}

static PyMethodDef methods[] = {
    {"sum_slowly", sum_slowly, METH_VARARGS, "sum_slowly(values, sleep) -> coroutine"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", NULL, -1, methods};

PyMODINIT_FUNC PyInit__native(void)
{
    if (GoCoro_ImportAPI() < 0) /* ImportError if gocoro is missing or too old */
        return NULL;
    if (sum_code == NULL && (sum_code = GoCoro_Prepare(&sum_spec)) == NULL)
        return NULL;
    return PyModule_Create(&module);
}
