/* gocoro_downstream._linked: direct linking (-lgocoro), no capsule.
 *
 *   countdown(n, sleep) -> coroutine: awaits sleep(0) n times, returns n.
 *   coroutine_type()    -> GoCoro_CoroutineType(), i.e. gocoro.Coroutine
 *
 * The GoCoro_* calls are ordinary dynamic symbol references into the library the gocoro
 * package installed (the module gocoro._gocoro itself), found by soname at load time.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "gocoro.h"

typedef struct {
    long remaining, total;
    PyObject *sleep; /* owned */
} countdown_state;

static int countdown_step(PyObject *self, void *st, PyObject *sent, PyObject *thrown,
                          PyObject **result)
{
    countdown_state *s = st;
    if (thrown != NULL)
        return GoCoro_Rethrow(thrown);
    if (s->remaining == 0) {
        *result = PyLong_FromLong(s->total);
        return *result ? GOCORO_RETURN : GOCORO_ERROR;
    }
    s->remaining--;
    *result = PyObject_CallFunction(s->sleep, "i", 0);
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
    .qualname = "gocoro_downstream.countdown",
    .filename = __FILE__,
    .firstlineno = __LINE__,
    .state_size = sizeof(countdown_state),
    .step = countdown_step,
    .traverse = countdown_traverse,
    .clear = countdown_clear,
};
static GoCoroCode *countdown_code;

static PyObject *countdown(PyObject *m, PyObject *args)
{
    long n;
    PyObject *sleep;
    if (!PyArg_ParseTuple(args, "lO:countdown", &n, &sleep))
        return NULL;
    if (n < 0)
        return PyErr_Format(PyExc_ValueError, "n must be >= 0");
    countdown_state init = {n, n, Py_NewRef(sleep)};
    PyObject *c = (PyObject *)GoCoro_New(countdown_code, &init, sizeof init, NULL);
    if (c == NULL)
        Py_DECREF(sleep);
    return c;
}

static PyObject *coroutine_type(PyObject *m, PyObject *unused)
{
    return Py_NewRef((PyObject *)GoCoro_CoroutineType());
}

static PyMethodDef methods[] = {
    {"countdown", countdown, METH_VARARGS, "countdown(n, sleep) -> coroutine"},
    {"coroutine_type", coroutine_type, METH_NOARGS, "the canonical gocoro.Coroutine type"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_linked", NULL, -1, methods};

PyMODINIT_FUNC PyInit__linked(void)
{
    /* direct mode needs no import step: the library initialises itself on first use */
    if (countdown_code == NULL && (countdown_code = GoCoro_Prepare(&countdown_spec)) == NULL)
        return NULL;
    return PyModule_Create(&module);
}
