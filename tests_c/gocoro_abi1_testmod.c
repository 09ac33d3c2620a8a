/*
 * _gocoro_abi1: an extension "compiled against an older gocoro.h" (tests_c/gocoro_abi1_baseline.h,
 * the ABI-1 baseline with the smaller function table).  It does exactly what an extension built
 * with that header does: import the capsule with that header's check (abi_version equal,
 * struct_size >= the table it knows), prepare specs of its struct_size, create and run objects.
 *
 *   sizes()               (sizeof its GoCoroSpec, sizeof its GoCoroAPI, the library's struct_size)
 *   countdown(n, sleep)   coroutine: awaits sleep(0) n times, returns n
 *   gen(n)                generator: yields 0..n-1
 *   panic()               coroutine whose step raises gocoro.PanicException("old panic")
 *   coroutine_type(), panic_exception(), check(obj)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "gocoro_abi1_baseline.h"

static const OldGoCoroAPI *api;

static int import_old_api(void) /* the baseline header's GoCoro_ImportAPI */
{
    PyObject *mod = PyImport_ImportModule("gocoro");
    if (mod == NULL)
        return -1;
    Py_DECREF(mod);
    api = (const OldGoCoroAPI *)PyCapsule_Import(OLD_GOCORO_CAPSULE_NAME, 0);
    if (api == NULL)
        return -1;
    if (api->abi_version != OLD_GOCORO_ABI_VERSION || api->struct_size < sizeof(OldGoCoroAPI)) {
        PyErr_Format(PyExc_ImportError, "gocoro ABI mismatch (baseline header)");
        api = NULL;
        return -1;
    }
    return 0;
}

typedef struct {
    long left, total;
    PyObject *sleep;
} cd_state;

static int cd_step(PyObject *self, void *st, PyObject *sent, PyObject *thrown, PyObject **result)
{
    cd_state *s = st;
    if (thrown)
        return api->Rethrow(thrown);
    if (s->left == 0) {
        *result = PyLong_FromLong(s->total);
        return *result ? OLD_GOCORO_RETURN : OLD_GOCORO_ERROR;
    }
    s->left--;
    *result = PyObject_CallFunction(s->sleep, "i", 0);
    return *result ? OLD_GOCORO_AWAIT : OLD_GOCORO_ERROR;
}

static int cd_traverse(void *st, OldVisitFn visit, void *arg)
{
    cd_state *s = st;
    return s->sleep ? visit(s->sleep, arg) : 0;
}

static void cd_clear(void *st)
{
    Py_CLEAR(((cd_state *)st)->sleep);
}

static int gen_step(PyObject *self, void *st, PyObject *sent, PyObject *thrown, PyObject **result)
{
    long *s = st; /* s[0] = next, s[1] = end */
    if (thrown)
        return api->Rethrow(thrown);
    if (s[0] == s[1])
        return OLD_GOCORO_RETURN;
    *result = PyLong_FromLong(s[0]++);
    return *result ? OLD_GOCORO_NEXT : OLD_GOCORO_ERROR;
}

static int panic_step(PyObject *self, void *st, PyObject *sent, PyObject *thrown, PyObject **result)
{
    return api->RaisePanic("old panic");
}

static OldGoCoroSpec cd_spec = {OLD_GOCORO_ABI_VERSION, sizeof(OldGoCoroSpec),
                                OLD_GOCORO_KIND_COROUTINE, 0, "countdown", "_gocoro_abi1.countdown",
                                __FILE__, __LINE__, 0, sizeof(cd_state), cd_step, cd_traverse,
                                cd_clear, NULL};
static OldGoCoroSpec gen_spec = {OLD_GOCORO_ABI_VERSION, sizeof(OldGoCoroSpec),
                                 OLD_GOCORO_KIND_GENERATOR, 0, "gen", "_gocoro_abi1.gen", __FILE__,
                                 __LINE__, 0, 2 * sizeof(long), gen_step, NULL, NULL, NULL};
static OldGoCoroSpec panic_spec = {OLD_GOCORO_ABI_VERSION, sizeof(OldGoCoroSpec),
                                   OLD_GOCORO_KIND_COROUTINE, 0, "panic", NULL, NULL, 0, 0, 0,
                                   panic_step, NULL, NULL, NULL};
static OldGoCoroCode *cd_code, *gen_code, *panic_code;

static PyObject *sizes(PyObject *m, PyObject *u)
{
    return Py_BuildValue("(nnI)", (Py_ssize_t)sizeof(OldGoCoroSpec),
                         (Py_ssize_t)sizeof(OldGoCoroAPI), (unsigned)api->struct_size);
}

static PyObject *countdown(PyObject *m, PyObject *args)
{
    long n;
    PyObject *sleep;
    if (!PyArg_ParseTuple(args, "lO", &n, &sleep))
        return NULL;
    cd_state init = {n, n, Py_NewRef(sleep)};
    PyObject *c = api->New(cd_code, &init, sizeof init, NULL);
    if (c == NULL)
        Py_DECREF(sleep);
    return c;
}

static PyObject *gen(PyObject *m, PyObject *arg)
{
    long init[2] = {0, PyLong_AsLong(arg)};
    if (init[1] == -1 && PyErr_Occurred())
        return NULL;
    return api->New(gen_code, init, sizeof init, NULL);
}

static PyObject *panic(PyObject *m, PyObject *u) { return api->New(panic_code, NULL, 0, NULL); }
static PyObject *coroutine_type(PyObject *m, PyObject *u) { return Py_NewRef(api->coroutine_type); }
static PyObject *panic_exception(PyObject *m, PyObject *u) { return Py_NewRef(api->panic_exception); }
static PyObject *check(PyObject *m, PyObject *o) { return PyBool_FromLong(api->Check(o)); }

static PyMethodDef methods[] = {
    {"sizes", sizes, METH_NOARGS, NULL},
    {"countdown", countdown, METH_VARARGS, NULL},
    {"gen", gen, METH_O, NULL},
    {"panic", panic, METH_NOARGS, NULL},
    {"coroutine_type", coroutine_type, METH_NOARGS, NULL},
    {"panic_exception", panic_exception, METH_NOARGS, NULL},
    {"check", check, METH_O, NULL},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_gocoro_abi1", NULL, -1, methods};

PyMODINIT_FUNC PyInit__gocoro_abi1(void)
{
    if (api == NULL && import_old_api() < 0)
        return NULL;
    if ((cd_code == NULL && !(cd_code = api->Prepare(&cd_spec))) ||
        (gen_code == NULL && !(gen_code = api->Prepare(&gen_spec))) ||
        (panic_code == NULL && !(panic_code = api->Prepare(&panic_spec))))
        return NULL;
    return PyModule_Create(&module);
}
