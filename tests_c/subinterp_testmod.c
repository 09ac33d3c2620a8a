/*
 * tests_c/subinterp_testmod.c: a multi-phase test extension for tests/test_subinterpreters.py,
 * built twice: `_gocoro_subinterp_capsule` (GOCORO_USE_CAPSULE) and `_gocoro_subinterp_linked`
 * (-lgocoro).  It supports own-GIL subinterpreters: every prepared code lives in its module
 * state, so each interpreter prepares its own.
 *
 *   counter(n)          coroutine: yields None n times (asyncio: a bare yield), returns n
 *   gen(n)              generator: 0 .. n-1
 *   agen(n)             async generator: 0 .. n-1, yielding to the event loop before each item
 *   wake_later(us)      coroutine: a waker woken by a C thread after `us` microseconds;
 *                       returns "woken"
 *   blocking(ns, value) GoCoro_RunBlocking(nanosleep(ns)) -> value
 *   cancellable(ms)     GoCoro_RunBlocking of a function polling *cancelled for up to ms
 *   blocking_stats()    (cancelled seen, cleanups run) over every interpreter (process-wide)
 *   coroutine_type() / panic_exception() / check(obj) / raise_panic(msg)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#ifdef SUBINTERP_CAPSULE
#define GOCORO_USE_CAPSULE
#define MODNAME "_gocoro_subinterp_capsule"
#define PYINIT PyInit__gocoro_subinterp_capsule
#else
#define MODNAME "_gocoro_subinterp_linked"
#define PYINIT PyInit__gocoro_subinterp_linked
#endif
#include "gocoro.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

/* process-wide on purpose: the tests read them from the main interpreter */
static atomic_long cancel_seen, cleanups;

typedef struct {
    GoCoroCode *counter, *gen, *agen, *wake;
} modstate;

static modstate *get_state(PyObject *m) { return (modstate *)PyModule_GetState(m); }

/* ---------- counter / gen / agen ---------- */

typedef struct {
    long n, i;
    int phase;
} count_state;

static int counter_step(PyObject *self, void *st, PyObject *sent, PyObject *thrown, PyObject **result)
{
    count_state *s = st;
    if (thrown != NULL)
        return GoCoro_Rethrow(thrown);
    if (s->i < s->n) {
        s->i++;
        *result = Py_NewRef(Py_None);
        return GOCORO_NEXT;
    }
    *result = PyLong_FromLong(s->n);
    return *result ? GOCORO_RETURN : GOCORO_ERROR;
}

static int gen_step(PyObject *self, void *st, PyObject *sent, PyObject *thrown, PyObject **result)
{
    count_state *s = st;
    if (thrown != NULL)
        return GoCoro_Rethrow(thrown);
    if (s->i < s->n) {
        *result = PyLong_FromLong(s->i++);
        return *result ? GOCORO_NEXT : GOCORO_ERROR;
    }
    return GOCORO_RETURN;
}

static int agen_step(PyObject *self, void *st, PyObject *sent, PyObject *thrown, PyObject **result)
{
    count_state *s = st;
    if (thrown != NULL)
        return GoCoro_Rethrow(thrown);
    if (s->i >= s->n)
        return GOCORO_RETURN;
    if (s->phase == 0) { /* yield to the event loop first */
        s->phase = 1;
        *result = Py_NewRef(Py_None);
        return GOCORO_NEXT;
    }
    s->phase = 0;
    *result = PyLong_FromLong(s->i++);
    return *result ? GOCORO_ITEM : GOCORO_ERROR;
}

/* ---------- wake_later ---------- */

typedef struct {
    GoCoroWaker *w;
    long us;
} waker_arg;

static void *waker_thread(void *p)
{
    waker_arg *a = p;
    struct timespec ts = {.tv_sec = a->us / 1000000, .tv_nsec = (a->us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0)
        ;
    GoCoro_Wake(a->w);
    GoCoro_WakerRelease(a->w);
    free(a);
    return NULL;
}

typedef struct {
    GoCoroWaker *w;
    long us;
    int phase;
} wake_state;

static int wake_step(PyObject *self, void *st, PyObject *sent, PyObject *thrown, PyObject **result)
{
    wake_state *s = st;
    if (thrown != NULL)
        return GoCoro_Rethrow(thrown);
    if (s->phase == 1) {
        *result = PyUnicode_FromString("woken");
        return *result ? GOCORO_RETURN : GOCORO_ERROR;
    }
    s->w = GoCoro_WakerNew();
    if (s->w == NULL)
        return GOCORO_ERROR;
    waker_arg *a = malloc(sizeof *a);
    if (a == NULL) {
        PyErr_NoMemory();
        return GOCORO_ERROR;
    }
    GoCoro_WakerRetain(s->w);
    a->w = s->w;
    a->us = s->us;
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, waker_thread, a);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        GoCoro_WakerRelease(a->w);
        free(a);
        PyErr_SetString(PyExc_OSError, "pthread_create failed");
        return GOCORO_ERROR;
    }
    *result = GoCoro_WakerWait(s->w);
    if (*result == NULL)
        return GOCORO_ERROR;
    s->phase = 1;
    return GOCORO_AWAIT;
}

static void wake_finalize(void *st)
{
    wake_state *s = st;
    GoCoro_WakerRelease(s->w);
    s->w = NULL;
}

/* ---------- blocking ---------- */

typedef struct {
    long long ns;
    long value;
} blocking_arg;

static void *blocking_fn(void *p, const volatile int32_t *cancelled)
{
    blocking_arg *a = p;
    struct timespec ts = {.tv_sec = (time_t)(a->ns / 1000000000LL), .tv_nsec = (long)(a->ns % 1000000000LL)};
    while (nanosleep(&ts, &ts) != 0)
        ;
    return p;
}

static PyObject *blocking_to_python(void *arg, void *ret)
{
    PyObject *r = PyLong_FromLong(((blocking_arg *)arg)->value);
    free(arg);
    return r;
}

static void blocking_cleanup(void *arg, void *ret)
{
    free(arg);
    atomic_fetch_add(&cleanups, 1);
}

static void *cancellable_fn(void *p, const volatile int32_t *cancelled)
{
    blocking_arg *a = p;
    for (long long waited = 0; waited < a->ns; waited += 500000) {
        if (*cancelled) {
            atomic_fetch_add(&cancel_seen, 1);
            break;
        }
        struct timespec ts = {0, 500000};
        nanosleep(&ts, NULL);
    }
    return p;
}

/* ---------- module functions ---------- */

static PyObject *make(PyObject *m, GoCoroCode *code, const void *init, size_t size)
{
    return GoCoro_New(code, init, size, NULL);
}

static PyObject *f_counter(PyObject *m, PyObject *arg)
{
    count_state s = {PyLong_AsLong(arg), 0, 0};
    if (s.n == -1 && PyErr_Occurred())
        return NULL;
    return make(m, get_state(m)->counter, &s, sizeof s);
}

static PyObject *f_gen(PyObject *m, PyObject *arg)
{
    count_state s = {PyLong_AsLong(arg), 0, 0};
    if (s.n == -1 && PyErr_Occurred())
        return NULL;
    return make(m, get_state(m)->gen, &s, sizeof s);
}

static PyObject *f_agen(PyObject *m, PyObject *arg)
{
    count_state s = {PyLong_AsLong(arg), 0, 0};
    if (s.n == -1 && PyErr_Occurred())
        return NULL;
    return make(m, get_state(m)->agen, &s, sizeof s);
}

static PyObject *f_wake_later(PyObject *m, PyObject *arg)
{
    wake_state s = {NULL, PyLong_AsLong(arg), 0};
    if (s.us == -1 && PyErr_Occurred())
        return NULL;
    return make(m, get_state(m)->wake, &s, sizeof s);
}

static PyObject *f_blocking(PyObject *m, PyObject *args)
{
    long long ns;
    long value;
    if (!PyArg_ParseTuple(args, "Ll", &ns, &value))
        return NULL;
    blocking_arg *a = malloc(sizeof *a);
    if (a == NULL)
        return PyErr_NoMemory();
    a->ns = ns;
    a->value = value;
    PyObject *aw = GoCoro_RunBlocking(blocking_fn, a, blocking_to_python, blocking_cleanup, 0.0);
    if (aw == NULL)
        free(a);
    return aw;
}

static PyObject *f_cancellable(PyObject *m, PyObject *arg)
{
    long ms = PyLong_AsLong(arg);
    if (ms == -1 && PyErr_Occurred())
        return NULL;
    blocking_arg *a = malloc(sizeof *a);
    if (a == NULL)
        return PyErr_NoMemory();
    a->ns = (long long)ms * 1000000;
    a->value = 0;
    PyObject *aw = GoCoro_RunBlocking(cancellable_fn, a, blocking_to_python, blocking_cleanup, 0.0);
    if (aw == NULL)
        free(a);
    return aw;
}

static PyObject *f_blocking_stats(PyObject *m, PyObject *unused)
{
    return Py_BuildValue("(ll)", (long)atomic_load(&cancel_seen), (long)atomic_load(&cleanups));
}

static PyObject *f_coroutine_type(PyObject *m, PyObject *unused)
{
    PyObject *t = GoCoro_CoroutineType();
    return t ? Py_NewRef(t) : NULL;
}

static PyObject *f_panic_exception(PyObject *m, PyObject *unused)
{
    PyObject *t = GoCoro_PanicException();
    return t ? Py_NewRef(t) : NULL;
}

static PyObject *f_check(PyObject *m, PyObject *obj) { return PyLong_FromLong(GoCoro_Check(obj)); }

static PyObject *f_raise_panic(PyObject *m, PyObject *arg)
{
    const char *msg = PyUnicode_AsUTF8(arg);
    if (msg == NULL)
        return NULL;
    GoCoro_RaisePanic(msg);
    return NULL;
}

static PyMethodDef methods[] = {
    {"counter", f_counter, METH_O, NULL},
    {"gen", f_gen, METH_O, NULL},
    {"agen", f_agen, METH_O, NULL},
    {"wake_later", f_wake_later, METH_O, NULL},
    {"blocking", f_blocking, METH_VARARGS, NULL},
    {"cancellable", f_cancellable, METH_O, NULL},
    {"blocking_stats", f_blocking_stats, METH_NOARGS, NULL},
    {"coroutine_type", f_coroutine_type, METH_NOARGS, NULL},
    {"panic_exception", f_panic_exception, METH_NOARGS, NULL},
    {"check", f_check, METH_O, NULL},
    {"raise_panic", f_raise_panic, METH_O, NULL},
    {NULL, NULL, 0, NULL}};

/* ---------- module (multi-phase, per-interpreter state) ---------- */

static GoCoroCode *prepare(uint32_t kind, const char *name, size_t size, GoCoroStepFn step,
                           GoCoroFinalizeFn finalize)
{
    GoCoroSpec spec = {
        .abi_version = GOCORO_ABI_VERSION,
        .struct_size = sizeof(GoCoroSpec),
        .kind = kind,
        .name = name,
        .filename = __FILE__,
        .firstlineno = 1,
        .state_size = size,
        .step = step,
        .finalize = finalize,
    };
    return GoCoro_Prepare(&spec);
}

static int mod_exec(PyObject *m)
{
#ifdef SUBINTERP_CAPSULE
    if (GoCoro_ImportAPI() < 0)
        return -1;
#endif
    modstate *st = get_state(m);
    if ((st->counter = prepare(GOCORO_KIND_COROUTINE, "counter", sizeof(count_state), counter_step, NULL)) == NULL ||
        (st->gen = prepare(GOCORO_KIND_GENERATOR, "gen", sizeof(count_state), gen_step, NULL)) == NULL ||
        (st->agen = prepare(GOCORO_KIND_ASYNC_GENERATOR, "agen", sizeof(count_state), agen_step, NULL)) == NULL ||
        (st->wake = prepare(GOCORO_KIND_COROUTINE, "wake_later", sizeof(wake_state), wake_step, wake_finalize)) == NULL)
        return -1;
    return 0;
}

static int mod_traverse(PyObject *m, visitproc visit, void *arg)
{
    modstate *st = get_state(m);
    if (st == NULL)
        return 0;
    Py_VISIT(st->counter);
    Py_VISIT(st->gen);
    Py_VISIT(st->agen);
    Py_VISIT(st->wake);
    return 0;
}

static int mod_clear(PyObject *m)
{
    modstate *st = get_state(m);
    if (st == NULL)
        return 0;
    Py_CLEAR(st->counter);
    Py_CLEAR(st->gen);
    Py_CLEAR(st->agen);
    Py_CLEAR(st->wake);
    return 0;
}

static void mod_free(void *m) { mod_clear((PyObject *)m); }

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, mod_exec},
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL}};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT,
    .m_name = MODNAME,
    .m_size = sizeof(modstate),
    .m_methods = methods,
    .m_slots = slots,
    .m_traverse = mod_traverse,
    .m_clear = mod_clear,
    .m_free = mod_free,
};

PyMODINIT_FUNC PYINIT(void) { return PyModuleDef_Init(&moddef); }
