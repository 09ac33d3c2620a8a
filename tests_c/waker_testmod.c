/*
 * _gocoro_waker_test: test extension for gocoro wakers and GoCoro_RunBlocking (capsule mode).
 *
 *   Waker()                       GoCoro_WakerNew() (needs a running asyncio/uvloop/trio loop)
 *     .wait()                     GoCoro_WakerWait(): an awaitable
 *     .wake()                     GoCoro_Wake() (any Python thread)
 *     .wake_in_threads(n, per, delay_us=0)
 *                                 n detached pthreads (they never hold the GIL) each retain the
 *                                 waker, sleep delay_us, call GoCoro_Wake `per` times, release
 *     .release()                  drop this object's reference now (later calls: ValueError)
 *   live_threads()                pthreads started by this module still running
 *   native_wait(waker, times=1)   native coroutine: awaits GoCoro_WakerWait `times` times
 *   wake_by_threads(n, per)       native coroutine: makes a waker, hands it to n pthreads that
 *                                 wake it concurrently, awaits it once, returns 1
 *   sleep_ns(ns, value=0, timeout=0.0)        GoCoro_RunBlocking(nanosleep) -> value
 *   sleep_ns_fail(ns)             ... whose to_python raises ValueError
 *   cancellable(max_s, timeout=0.0)           polls *cancelled every 0.5 ms for up to max_s;
 *                                             returns True if it saw the flag
 *   blocking_stats() / reset_blocking_stats() counters: started, finished, to_python, cleanup,
 *                                             cancel_seen, live_args
 *   Board(n)                      stress helper: slots of wakers hammered by C threads
 *     .put(i, waker) .clear() .hammer(nthreads, total_wakes, burst=0, pause_us=0) .done()
 *     .join() -> wakes done
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define GOCORO_USE_CAPSULE
#include "gocoro.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

static atomic_long live_threads;

static void sleep_ns_raw(long long ns)
{
    if (ns <= 0)
        return; /* nanosleep(0) still sleeps for the timer slack (~50 us) */
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000LL), .tv_nsec = (long)(ns % 1000000000LL)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int start_detached(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    atomic_fetch_add(&live_threads, 1);
    int rc = pthread_create(&t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        atomic_fetch_sub(&live_threads, 1);
    return rc;
}

/* ---- waking threads ---- */
typedef struct {
    GoCoroWaker *w; /* own reference */
    long per;
    long delay_us;
} waker_thread_arg;

static void *waker_thread(void *p)
{
    waker_thread_arg *a = p;
    if (a->delay_us > 0)
        sleep_ns_raw((long long)a->delay_us * 1000);
    for (long i = 0; i < a->per; i++)
        GoCoro_Wake(a->w);
    GoCoro_WakerRelease(a->w); /* no GIL here: must be safe */
    free(a);
    atomic_fetch_sub(&live_threads, 1);
    return NULL;
}

static int spawn_wakers(GoCoroWaker *w, long n, long per, long delay_us)
{
    for (long i = 0; i < n; i++) {
        waker_thread_arg *a = malloc(sizeof *a);
        if (a == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        GoCoro_WakerRetain(w);
        a->w = w;
        a->per = per;
        a->delay_us = delay_us;
        if (start_detached(waker_thread, a) != 0) {
            GoCoro_WakerRelease(w);
            free(a);
            PyErr_SetString(PyExc_OSError, "pthread_create failed");
            return -1;
        }
    }
    return 0;
}

/* ---- Waker object ---- */
typedef struct {
    PyObject_HEAD
    GoCoroWaker *w;
} WakerObject;

static PyTypeObject WakerType;

static PyObject *waker_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    if (!PyArg_ParseTuple(args, ":Waker"))
        return NULL;
    GoCoroWaker *w = GoCoro_WakerNew();
    if (w == NULL)
        return NULL;
    WakerObject *o = (WakerObject *)type->tp_alloc(type, 0);
    if (o == NULL) {
        GoCoro_WakerRelease(w);
        return NULL;
    }
    o->w = w;
    return (PyObject *)o;
}

static void waker_dealloc(PyObject *self)
{
    GoCoro_WakerRelease(((WakerObject *)self)->w);
    Py_TYPE(self)->tp_free(self);
}

static int waker_get(PyObject *self, GoCoroWaker **out)
{
    WakerObject *o = (WakerObject *)self;
    if (o->w == NULL) {
        PyErr_SetString(PyExc_ValueError, "waker released");
        return -1;
    }
    *out = o->w;
    return 0;
}

static PyObject *waker_wait(PyObject *self, PyObject *unused)
{
    GoCoroWaker *w;
    if (waker_get(self, &w) < 0)
        return NULL;
    return GoCoro_WakerWait(w);
}

static PyObject *waker_wake(PyObject *self, PyObject *unused)
{
    GoCoroWaker *w;
    if (waker_get(self, &w) < 0)
        return NULL;
    GoCoro_Wake(w);
    Py_RETURN_NONE;
}

static PyObject *waker_wake_in_threads(PyObject *self, PyObject *args)
{
    long n, per, delay_us = 0;
    GoCoroWaker *w;
    if (!PyArg_ParseTuple(args, "ll|l:wake_in_threads", &n, &per, &delay_us) || waker_get(self, &w) < 0)
        return NULL;
    if (spawn_wakers(w, n, per, delay_us) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *waker_release(PyObject *self, PyObject *unused)
{
    WakerObject *o = (WakerObject *)self;
    GoCoroWaker *w = o->w;
    o->w = NULL;
    GoCoro_WakerRelease(w);
    Py_RETURN_NONE;
}

static PyMethodDef waker_methods[] = {
    {"wait", waker_wait, METH_NOARGS, NULL},
    {"wake", waker_wake, METH_NOARGS, NULL},
    {"wake_in_threads", waker_wake_in_threads, METH_VARARGS, NULL},
    {"release", waker_release, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyTypeObject WakerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_gocoro_waker_test.Waker",
    .tp_basicsize = sizeof(WakerObject),
    .tp_dealloc = waker_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = waker_new,
    .tp_methods = waker_methods,
};

/* ---- native_wait(waker, times) ---- */
typedef struct {
    PyObject *waker; /* WakerObject, owned */
    long times, resumed;
} nw_state;

static int nw_step(PyObject *self, void *st, PyObject *sent, PyObject *thrown, PyObject **result)
{
    nw_state *s = st;
    if (thrown != NULL)
        return GoCoro_Rethrow(thrown);
    if (s->resumed < 0)
        s->resumed = 0; /* first step */
    else
        s->resumed++;
    if (s->resumed >= s->times) {
        *result = PyLong_FromLong(s->resumed);
        return *result ? GOCORO_RETURN : GOCORO_ERROR;
    }
    GoCoroWaker *w;
    if (waker_get(s->waker, &w) < 0)
        return GOCORO_ERROR;
    *result = GoCoro_WakerWait(w);
    return *result ? GOCORO_AWAIT : GOCORO_ERROR;
}

static int nw_traverse(void *st, GoCoroVisitFn visit, void *arg)
{
    nw_state *s = st;
    return s->waker ? visit(s->waker, arg) : 0;
}

static void nw_clear(void *st) { Py_CLEAR(((nw_state *)st)->waker); }

static const GoCoroSpec nw_spec = {
    .abi_version = GOCORO_ABI_VERSION,
    .struct_size = sizeof(GoCoroSpec),
    .kind = GOCORO_KIND_COROUTINE,
    .name = "native_wait",
    .qualname = "_gocoro_waker_test.native_wait",
    .filename = __FILE__,
    .firstlineno = __LINE__,
    .state_size = sizeof(nw_state),
    .step = nw_step,
    .traverse = nw_traverse,
    .clear = nw_clear,
};

/* ---- wake_by_threads(n, per) ---- */
typedef struct {
    GoCoroWaker *w; /* own reference, from the first step */
    long n, per;
    int started;
} wbt_state;

static int wbt_step(PyObject *self, void *st, PyObject *sent, PyObject *thrown, PyObject **result)
{
    wbt_state *s = st;
    if (thrown != NULL)
        return GoCoro_Rethrow(thrown);
    if (s->started) {
        *result = PyLong_FromLong(1);
        return GOCORO_RETURN;
    }
    s->started = 1;
    s->w = GoCoro_WakerNew();
    if (s->w == NULL)
        return GOCORO_ERROR;
    if (spawn_wakers(s->w, s->n, s->per, 0) < 0)
        return GOCORO_ERROR;
    *result = GoCoro_WakerWait(s->w);
    return *result ? GOCORO_AWAIT : GOCORO_ERROR;
}

static void wbt_finalize(void *st)
{
    wbt_state *s = st;
    GoCoro_WakerRelease(s->w);
    s->w = NULL;
}

static const GoCoroSpec wbt_spec = {
    .abi_version = GOCORO_ABI_VERSION,
    .struct_size = sizeof(GoCoroSpec),
    .kind = GOCORO_KIND_COROUTINE,
    .name = "wake_by_threads",
    .qualname = "_gocoro_waker_test.wake_by_threads",
    .filename = __FILE__,
    .firstlineno = __LINE__,
    .state_size = sizeof(wbt_state),
    .step = wbt_step,
    .finalize = wbt_finalize,
};

static GoCoroCode *nw_code, *wbt_code;

static PyObject *native_wait(PyObject *mod, PyObject *args)
{
    nw_state init = {.times = 1, .resumed = -1};
    PyObject *waker;
    if (!PyArg_ParseTuple(args, "O!|l:native_wait", &WakerType, &waker, &init.times))
        return NULL;
    init.waker = Py_NewRef(waker);
    PyObject *c = GoCoro_New(nw_code, &init, sizeof init, NULL);
    if (c == NULL)
        Py_DECREF(waker);
    return c;
}

static PyObject *wake_by_threads(PyObject *mod, PyObject *args)
{
    wbt_state init = {0};
    if (!PyArg_ParseTuple(args, "ll:wake_by_threads", &init.n, &init.per))
        return NULL;
    return GoCoro_New(wbt_code, &init, sizeof init, NULL);
}

static PyObject *py_live_threads(PyObject *mod, PyObject *unused)
{
    return PyLong_FromLong(atomic_load(&live_threads));
}

/* ---- blocking work ---- */
static atomic_long c_started, c_finished, c_to_python, c_cleanup, c_cancel_seen, c_live_args;

typedef struct {
    long long ns;
    long value;
    double max_s;
    int fail;
} job_arg;

static job_arg *job_arg_new(void)
{
    job_arg *a = calloc(1, sizeof *a);
    if (a == NULL)
        PyErr_NoMemory();
    else
        atomic_fetch_add(&c_live_args, 1);
    return a;
}

static void job_arg_free(job_arg *a)
{
    free(a);
    atomic_fetch_sub(&c_live_args, 1);
}

static void *sleep_fn(void *arg, const volatile int32_t *cancelled)
{
    job_arg *a = arg;
    atomic_fetch_add(&c_started, 1);
    sleep_ns_raw(a->ns);
    atomic_fetch_add(&c_finished, 1);
    return (void *)(intptr_t)a->value;
}

static void *poll_fn(void *arg, const volatile int32_t *cancelled)
{
    job_arg *a = arg;
    atomic_fetch_add(&c_started, 1);
    long long waited = 0, limit = (long long)(a->max_s * 1e9);
    intptr_t seen = 0;
    while (waited < limit) {
        if (*cancelled) {
            seen = 1;
            atomic_fetch_add(&c_cancel_seen, 1);
            break;
        }
        sleep_ns_raw(500000);
        waited += 500000;
    }
    atomic_fetch_add(&c_finished, 1);
    return (void *)seen;
}

static GoCoroPyObject *job_to_python(void *arg, void *ret)
{
    job_arg *a = arg;
    int fail = a->fail;
    job_arg_free(a);
    atomic_fetch_add(&c_to_python, 1);
    if (fail) {
        PyErr_SetString(PyExc_ValueError, "to_python failed");
        return NULL;
    }
    return PyLong_FromLong((long)(intptr_t)ret);
}

static GoCoroPyObject *poll_to_python(void *arg, void *ret)
{
    job_arg_free(arg);
    atomic_fetch_add(&c_to_python, 1);
    return PyBool_FromLong(ret != NULL);
}

static void job_cleanup(void *arg, void *ret)
{
    job_arg_free(arg);
    atomic_fetch_add(&c_cleanup, 1);
}

static PyObject *run_job(job_arg *a, GoCoroBlockingFn fn, GoCoroToPythonFn tp, double timeout)
{
    PyObject *aw = GoCoro_RunBlocking(fn, a, tp, job_cleanup, timeout);
    if (aw == NULL)
        job_arg_free(a); /* failed: we still own arg */
    return aw;
}

static PyObject *py_sleep_ns(PyObject *mod, PyObject *args)
{
    long long ns;
    long value = 0;
    double timeout = 0;
    if (!PyArg_ParseTuple(args, "L|ld:sleep_ns", &ns, &value, &timeout))
        return NULL;
    job_arg *a = job_arg_new();
    if (a == NULL)
        return NULL;
    a->ns = ns;
    a->value = value;
    return run_job(a, sleep_fn, job_to_python, timeout);
}

static PyObject *py_sleep_ns_fail(PyObject *mod, PyObject *args)
{
    long long ns;
    if (!PyArg_ParseTuple(args, "L:sleep_ns_fail", &ns))
        return NULL;
    job_arg *a = job_arg_new();
    if (a == NULL)
        return NULL;
    a->ns = ns;
    a->fail = 1;
    return run_job(a, sleep_fn, job_to_python, 0);
}

static PyObject *py_cancellable(PyObject *mod, PyObject *args)
{
    double max_s, timeout = 0;
    if (!PyArg_ParseTuple(args, "d|d:cancellable", &max_s, &timeout))
        return NULL;
    job_arg *a = job_arg_new();
    if (a == NULL)
        return NULL;
    a->max_s = max_s;
    return run_job(a, poll_fn, poll_to_python, timeout);
}

static PyObject *py_blocking_stats(PyObject *mod, PyObject *unused)
{
    return Py_BuildValue("{s:l,s:l,s:l,s:l,s:l,s:l}", "started", atomic_load(&c_started), "finished",
                         atomic_load(&c_finished), "to_python", atomic_load(&c_to_python), "cleanup",
                         atomic_load(&c_cleanup), "cancel_seen", atomic_load(&c_cancel_seen),
                         "live_args", atomic_load(&c_live_args));
}

static PyObject *py_reset_blocking_stats(PyObject *mod, PyObject *unused)
{
    atomic_store(&c_started, 0);
    atomic_store(&c_finished, 0);
    atomic_store(&c_to_python, 0);
    atomic_store(&c_cleanup, 0);
    atomic_store(&c_cancel_seen, 0);
    Py_RETURN_NONE; /* live_args is not reset: it is a leak detector */
}

/* ---- Board: slots of wakers hammered by C threads ---- */
typedef struct {
    pthread_mutex_t mu;
    GoCoroWaker *w;
} slot_t;

typedef struct {
    PyObject_HEAD
    slot_t *slots;
    long n;
    pthread_t *threads;
    long nthreads;
    atomic_long remaining; /* wakes still to do */
    atomic_long wakes_done;
    atomic_int running;
    long burst, pause_us; /* pacing: sleep pause_us after every `burst` wakes (0: never) */
} BoardObject;

static PyTypeObject BoardType;

static PyObject *board_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    long n;
    if (!PyArg_ParseTuple(args, "l:Board", &n))
        return NULL;
    if (n <= 0)
        return PyErr_Format(PyExc_ValueError, "n must be > 0");
    BoardObject *b = (BoardObject *)type->tp_alloc(type, 0);
    if (b == NULL)
        return NULL;
    b->slots = calloc((size_t)n, sizeof(slot_t));
    if (b->slots == NULL) {
        Py_DECREF(b);
        return PyErr_NoMemory();
    }
    b->n = n;
    atomic_store(&b->running, -1); /* done() is False until a hammer() has finished */
    for (long i = 0; i < n; i++)
        pthread_mutex_init(&b->slots[i].mu, NULL);
    return (PyObject *)b;
}

static void board_join_threads(BoardObject *b)
{
    if (b->threads == NULL)
        return;
    Py_BEGIN_ALLOW_THREADS
    for (long i = 0; i < b->nthreads; i++)
        pthread_join(b->threads[i], NULL);
    Py_END_ALLOW_THREADS
    free(b->threads);
    b->threads = NULL;
    b->nthreads = 0;
}

static void board_clear_slots(BoardObject *b)
{
    for (long i = 0; i < b->n; i++) {
        pthread_mutex_lock(&b->slots[i].mu);
        GoCoroWaker *w = b->slots[i].w;
        b->slots[i].w = NULL;
        pthread_mutex_unlock(&b->slots[i].mu);
        GoCoro_WakerRelease(w);
    }
}

static void board_dealloc(PyObject *self)
{
    BoardObject *b = (BoardObject *)self;
    atomic_store(&b->remaining, 0);
    board_join_threads(b);
    if (b->slots != NULL) {
        board_clear_slots(b);
        for (long i = 0; i < b->n; i++)
            pthread_mutex_destroy(&b->slots[i].mu);
        free(b->slots);
    }
    Py_TYPE(self)->tp_free(self);
}

static PyObject *board_put(PyObject *self, PyObject *args)
{
    BoardObject *b = (BoardObject *)self;
    long i;
    PyObject *wo;
    if (!PyArg_ParseTuple(args, "lO!:put", &i, &WakerType, &wo))
        return NULL;
    if (i < 0 || i >= b->n)
        return PyErr_Format(PyExc_IndexError, "slot out of range");
    GoCoroWaker *w;
    if (waker_get(wo, &w) < 0)
        return NULL;
    GoCoro_WakerRetain(w);
    pthread_mutex_lock(&b->slots[i].mu);
    GoCoroWaker *old = b->slots[i].w;
    b->slots[i].w = w;
    pthread_mutex_unlock(&b->slots[i].mu);
    GoCoro_WakerRelease(old);
    Py_RETURN_NONE;
}

static PyObject *board_clear(PyObject *self, PyObject *unused)
{
    board_clear_slots((BoardObject *)self);
    Py_RETURN_NONE;
}

typedef struct {
    BoardObject *b;
    uint64_t seed;
} hammer_arg;

static void *hammer_thread(void *p)
{
    hammer_arg *ha = p;
    BoardObject *b = ha->b;
    uint64_t x = ha->seed | 1;
    long n = 0;
    free(ha);
    while (atomic_fetch_sub(&b->remaining, 1) > 0) {
        if (b->burst > 0 && ++n % b->burst == 0)
            sleep_ns_raw((long long)b->pause_us * 1000);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        slot_t *s = &b->slots[x % (uint64_t)b->n];
        pthread_mutex_lock(&s->mu);
        GoCoroWaker *w = s->w;
        GoCoro_WakerRetain(w);
        pthread_mutex_unlock(&s->mu);
        if (w != NULL) {
            GoCoro_Wake(w);
            GoCoro_WakerRelease(w); /* may be the last reference: off the GIL */
            atomic_fetch_add(&b->wakes_done, 1);
        }
    }
    atomic_fetch_sub(&b->running, 1);
    return NULL;
}

static PyObject *board_hammer(PyObject *self, PyObject *args)
{
    BoardObject *b = (BoardObject *)self;
    long nthreads, total, burst = 0, pause_us = 0;
    if (!PyArg_ParseTuple(args, "ll|ll:hammer", &nthreads, &total, &burst, &pause_us))
        return NULL;
    b->burst = burst;
    b->pause_us = pause_us;
    if (b->threads != NULL)
        return PyErr_Format(PyExc_RuntimeError, "already hammering");
    b->threads = calloc((size_t)nthreads, sizeof(pthread_t));
    if (b->threads == NULL)
        return PyErr_NoMemory();
    atomic_store(&b->remaining, total);
    atomic_store(&b->wakes_done, 0);
    atomic_store(&b->running, (int)nthreads);
    for (long i = 0; i < nthreads; i++) {
        hammer_arg *ha = malloc(sizeof *ha);
        ha->b = b;
        ha->seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1);
        if (pthread_create(&b->threads[i], NULL, hammer_thread, ha) != 0) {
            free(ha);
            atomic_fetch_sub(&b->running, 1);
            atomic_store(&b->remaining, 0);
            b->nthreads = i;
            return PyErr_Format(PyExc_OSError, "pthread_create failed");
        }
        b->nthreads = i + 1;
    }
    Py_RETURN_NONE;
}

static PyObject *board_done(PyObject *self, PyObject *unused)
{
    return PyBool_FromLong(atomic_load(&((BoardObject *)self)->running) == 0);
}

static PyObject *board_join(PyObject *self, PyObject *unused)
{
    BoardObject *b = (BoardObject *)self;
    board_join_threads(b);
    return PyLong_FromLong(atomic_load(&b->wakes_done));
}

static PyMethodDef board_methods[] = {
    {"put", board_put, METH_VARARGS, NULL},
    {"clear", board_clear, METH_NOARGS, NULL},
    {"hammer", board_hammer, METH_VARARGS, NULL},
    {"done", board_done, METH_NOARGS, NULL},
    {"join", board_join, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyTypeObject BoardType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_gocoro_waker_test.Board",
    .tp_basicsize = sizeof(BoardObject),
    .tp_dealloc = board_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = board_new,
    .tp_methods = board_methods,
};

/* ---- module ---- */
static PyMethodDef methods[] = {
    {"live_threads", py_live_threads, METH_NOARGS, NULL},
    {"native_wait", native_wait, METH_VARARGS, NULL},
    {"wake_by_threads", wake_by_threads, METH_VARARGS, NULL},
    {"sleep_ns", py_sleep_ns, METH_VARARGS, NULL},
    {"sleep_ns_fail", py_sleep_ns_fail, METH_VARARGS, NULL},
    {"cancellable", py_cancellable, METH_VARARGS, NULL},
    {"blocking_stats", py_blocking_stats, METH_NOARGS, NULL},
    {"reset_blocking_stats", py_reset_blocking_stats, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "_gocoro_waker_test", NULL, -1, methods};

PyMODINIT_FUNC PyInit__gocoro_waker_test(void)
{
    if (GoCoro_ImportAPI() < 0)
        return NULL;
    if (!GOCORO_API_HAS(GoCoro_APIPtr, RunBlocking) || GoCoro_APIPtr->RunBlocking == NULL) {
        PyErr_SetString(PyExc_ImportError, "gocoro lacks the waker API");
        return NULL;
    }
    nw_code = GoCoro_Prepare(&nw_spec);
    wbt_code = GoCoro_Prepare(&wbt_spec);
    if (nw_code == NULL || wbt_code == NULL)
        return NULL;
    if (PyType_Ready(&WakerType) < 0 || PyType_Ready(&BoardType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Waker", (PyObject *)&WakerType) < 0 ||
        PyModule_AddObjectRef(m, "Board", (PyObject *)&BoardType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
