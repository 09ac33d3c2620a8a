/*
 * _send_probe: a minimal awaitable that records which entry point the interpreter used to
 * resume it.  It answers through am_send (the C send protocol, no exception on return) and
 * through tp_iternext / send() (the iterator protocol, return value in a StopIteration), and
 * counts each separately, so a test can tell which path `await` takes on a given CPython.
 *
 *   Probe(value, yields=0)   yields None `yields` times, then returns `value`.
 *   p.am_send_calls, p.iternext_calls, p.send_calls   counters
 *   iter_send(obj, arg) -> ("next" | "return", value)  PyIter_Send from C
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h> /* T_PYSSIZET, READONLY on 3.10/3.11 */

typedef struct {
    PyObject_HEAD
    PyObject *value;
    Py_ssize_t yields_left;
    int finished;
    Py_ssize_t am_send_calls;
    Py_ssize_t iternext_calls;
    Py_ssize_t send_calls;
} ProbeObject;

/* One resume, shared by every entry point: yield None or finish with the value. */
static PySendResult probe_resume(ProbeObject *p, PyObject **result)
{
    if (p->finished) {
        PyErr_SetString(PyExc_RuntimeError, "probe already finished");
        *result = NULL;
        return PYGEN_ERROR;
    }
    if (p->yields_left > 0) {
        p->yields_left--;
        *result = Py_NewRef(Py_None);
        return PYGEN_NEXT;
    }
    p->finished = 1;
    *result = Py_NewRef(p->value);
    return PYGEN_RETURN;
}

/* The iterator protocol's way to report a return value. */
static PyObject *probe_finish_via_exception(PyObject *value)
{
    if (value == Py_None) {
        Py_DECREF(value);
        return NULL; /* exhausted without an exception, as generators do */
    }
    PyObject *exc = PyObject_CallOneArg(PyExc_StopIteration, value);
    Py_DECREF(value);
    if (exc != NULL) {
        PyErr_SetObject(PyExc_StopIteration, exc);
        Py_DECREF(exc);
    }
    return NULL;
}

static PySendResult probe_am_send(PyObject *self, PyObject *arg, PyObject **result)
{
    ProbeObject *p = (ProbeObject *)self;
    p->am_send_calls++;
    return probe_resume(p, result);
}

static PyObject *probe_iternext(PyObject *self)
{
    ProbeObject *p = (ProbeObject *)self;
    PyObject *res;
    p->iternext_calls++;
    PySendResult r = probe_resume(p, &res);
    if (r == PYGEN_RETURN)
        return probe_finish_via_exception(res);
    return res;
}

static PyObject *probe_send(PyObject *self, PyObject *arg)
{
    ProbeObject *p = (ProbeObject *)self;
    PyObject *res;
    p->send_calls++;
    PySendResult r = probe_resume(p, &res);
    if (r == PYGEN_RETURN)
        return probe_finish_via_exception(res);
    return res;
}

static PyObject *probe_await(PyObject *self)
{
    return Py_NewRef(self);
}

static PyObject *probe_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"value", "yields", NULL};
    PyObject *value;
    Py_ssize_t yields = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|n:Probe", kwlist, &value, &yields))
        return NULL;
    ProbeObject *p = (ProbeObject *)type->tp_alloc(type, 0);
    if (p == NULL)
        return NULL;
    p->value = Py_NewRef(value);
    p->yields_left = yields;
    return (PyObject *)p;
}

static void probe_dealloc(PyObject *self)
{
    Py_XDECREF(((ProbeObject *)self)->value);
    Py_TYPE(self)->tp_free(self);
}

static PyMethodDef probe_methods[] = {
    {"send", probe_send, METH_O, "resume through the iterator protocol with a value"},
    {NULL, NULL, 0, NULL}};

static PyMemberDef probe_members[] = {
    {"am_send_calls", T_PYSSIZET, offsetof(ProbeObject, am_send_calls), READONLY, NULL},
    {"iternext_calls", T_PYSSIZET, offsetof(ProbeObject, iternext_calls), READONLY, NULL},
    {"send_calls", T_PYSSIZET, offsetof(ProbeObject, send_calls), READONLY, NULL},
    {NULL, 0, 0, 0, NULL}};

static PyAsyncMethods probe_as_async = {
    .am_await = probe_await,
    .am_send = probe_am_send,
};

static PyTypeObject ProbeType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_send_probe.Probe",
    .tp_basicsize = sizeof(ProbeObject),
    .tp_dealloc = probe_dealloc,
    .tp_as_async = &probe_as_async,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = probe_iternext,
    .tp_methods = probe_methods,
    .tp_members = probe_members,
    .tp_new = probe_new,
};

static PyObject *mod_iter_send(PyObject *m, PyObject *args)
{
    PyObject *obj, *arg, *res = NULL;
    if (!PyArg_ParseTuple(args, "OO:iter_send", &obj, &arg))
        return NULL;
    PySendResult r = PyIter_Send(obj, arg, &res);
    if (r == PYGEN_ERROR)
        return NULL;
    PyObject *out = Py_BuildValue("(sO)", r == PYGEN_RETURN ? "return" : "next", res);
    Py_DECREF(res);
    return out;
}

static PyMethodDef mod_methods[] = {
    {"iter_send", mod_iter_send, METH_VARARGS, "iter_send(obj, arg) -> (kind, value) via PyIter_Send"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "_send_probe", "which protocol the interpreter uses to resume an awaitable",
    -1, mod_methods,
};

PyMODINIT_FUNC PyInit__send_probe(void)
{
    if (PyType_Ready(&ProbeType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Probe", (PyObject *)&ProbeType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
