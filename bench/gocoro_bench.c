/*
 * gocoro_bench.c -- the gocoro side of the benchmarks (see bench/README.md).
 *
 * Capsule mode: no link step, every GoCoro_* call goes through the `gocoro._C_API` table.
 *   steps(n)  -> gocoro coroutine; its step yields None n times (GOCORO_NEXT) then returns
 *                None (GOCORO_RETURN).  State: one counter, inline in the object.
 *   done()    -> gocoro coroutine whose first step returns 1 (GOCORO_RETURN).
 *   done_none() -> the same returning None.
 *   agen(n)   -> gocoro async generator yielding None n times (GOCORO_ITEM), then ending.
 *   chain(depth, leaf) -> gocoro coroutine awaiting chain(depth - 1, leaf), ..., the last one
 *                awaiting `leaf`; every level returns what it awaited (GOCORO_AWAIT, then
 *                GOCORO_RETURN of `sent`).  depth + 1 gocoro coroutines in all.
 * The specs are prepared once at import and kept in statics (GoCoroCode references).
 *
 * With the waker/executor API (detected at compile time through GOCORO_API_HAS):
 *   wake_waiter() -> gocoro coroutine: step 1 creates a waker, queues a reference for the
 *                    waker thread and awaits GoCoro_WakerWait(w); step 2 returns None.
 *   wake_fire()   -> hands every queued waker to ONE pthread (no GIL, created once), which
 *                    calls GoCoro_Wake on each, then GoCoro_WakerRelease.
 *   wake_pingpong() -> gocoro coroutine whose first step hands its waker to that thread at
 *                    once: one loop -> thread -> loop round trip per object.
 *   blocking_noop() -> GoCoro_RunBlocking(fn returning at once, to_python NULL -> None).
 *   HAS_WAKER     -> True when compiled with these.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define GOCORO_USE_CAPSULE
#include "gocoro.h"

#ifdef GOCORO_API_HAS
#define BENCH_HAS_WAKER 1
#include <pthread.h>
#include <stdlib.h>
#else
#define BENCH_HAS_WAKER 0
#endif

typedef struct {
    Py_ssize_t remaining;
} StepsState;

static GoCoroCode *steps_code; /* prepared specs, kept forever */
static GoCoroCode *done_code;
static GoCoroCode *done_none_code;
static PyObject *one;

static int
steps_step(GoCoroPyObject *self, void *state, GoCoroPyObject *sent, GoCoroPyObject *thrown,
           GoCoroPyObject **result)
{
    StepsState *st = (StepsState *)state;
    if (thrown != NULL)
        return GoCoro_Rethrow(thrown);
    Py_INCREF(Py_None);
    *result = (GoCoroPyObject *)Py_None;
    if (st->remaining > 0) {
        st->remaining--;
        return GOCORO_NEXT;
    }
    return GOCORO_RETURN;
}

static int
done_step(GoCoroPyObject *self, void *state, GoCoroPyObject *sent, GoCoroPyObject *thrown,
          GoCoroPyObject **result)
{
    if (thrown != NULL)
        return GoCoro_Rethrow(thrown);
    Py_INCREF(one);
    *result = (GoCoroPyObject *)one;
    return GOCORO_RETURN;
}

static int
done_none_step(GoCoroPyObject *self, void *state, GoCoroPyObject *sent, GoCoroPyObject *thrown,
               GoCoroPyObject **result)
{
    if (thrown != NULL)
        return GoCoro_Rethrow(thrown);
    Py_INCREF(Py_None);
    *result = (GoCoroPyObject *)Py_None;
    return GOCORO_RETURN;
}

static const GoCoroSpec steps_spec = {
    .abi_version = GOCORO_ABI_VERSION,
    .struct_size = sizeof(GoCoroSpec),
    .kind = GOCORO_KIND_COROUTINE,
    .name = "steps",
    .qualname = "gocoro_bench.steps",
    .filename = __FILE__,
    .firstlineno = __LINE__,
    .state_size = sizeof(StepsState),
    .step = steps_step,
};

static const GoCoroSpec done_spec = {
    .abi_version = GOCORO_ABI_VERSION,
    .struct_size = sizeof(GoCoroSpec),
    .kind = GOCORO_KIND_COROUTINE,
    .name = "done",
    .qualname = "gocoro_bench.done",
    .filename = __FILE__,
    .firstlineno = __LINE__,
    .state_size = 0,
    .step = done_step,
};

static const GoCoroSpec done_none_spec = {
    .abi_version = GOCORO_ABI_VERSION,
    .struct_size = sizeof(GoCoroSpec),
    .kind = GOCORO_KIND_COROUTINE,
    .name = "done_none",
    .qualname = "gocoro_bench.done_none",
    .filename = __FILE__,
    .firstlineno = __LINE__,
    .state_size = 0,
    .step = done_none_step,
};

/* ---------------- async generator ---------------- */

static GoCoroCode *agen_code;

static int
agen_step(GoCoroPyObject *self, void *state, GoCoroPyObject *sent, GoCoroPyObject *thrown,
          GoCoroPyObject **result)
{
    StepsState *st = (StepsState *)state;
    if (thrown != NULL)
        return GoCoro_Rethrow(thrown);
    Py_INCREF(Py_None);
    *result = (GoCoroPyObject *)Py_None;
    if (st->remaining > 0) {
        st->remaining--;
        return GOCORO_ITEM;
    }
    return GOCORO_RETURN;
}

static const GoCoroSpec agen_spec = {
    .abi_version = GOCORO_ABI_VERSION,
    .struct_size = sizeof(GoCoroSpec),
    .kind = GOCORO_KIND_ASYNC_GENERATOR,
    .name = "agen",
    .qualname = "gocoro_bench.agen",
    .filename = __FILE__,
    .firstlineno = __LINE__,
    .state_size = sizeof(StepsState),
    .step = agen_step,
};

static PyObject *
mod_agen(PyObject *mod, PyObject *arg)
{
    StepsState init;
    init.remaining = PyLong_AsSsize_t(arg);
    if (init.remaining == -1 && PyErr_Occurred())
        return NULL;
    return (PyObject *)GoCoro_New(agen_code, &init, sizeof init, NULL);
}

/* ---------------- await chains ---------------- */

typedef struct {
    Py_ssize_t depth;
    PyObject *leaf; /* owned until handed to the next level (or awaited by the last one) */
    int started;
} ChainState;

static GoCoroCode *chain_code;

static int
chain_step(GoCoroPyObject *self, void *state, GoCoroPyObject *sent, GoCoroPyObject *thrown,
           GoCoroPyObject **result)
{
    ChainState *st = (ChainState *)state;
    if (thrown != NULL) {
        Py_CLEAR(st->leaf);
        return GoCoro_Rethrow(thrown);
    }
    if (st->started) { /* the awaited level returned: pass its value up */
        Py_INCREF((PyObject *)sent);
        *result = sent;
        return GOCORO_RETURN;
    }
    st->started = 1;
    if (st->depth == 0) {
        *result = (GoCoroPyObject *)st->leaf; /* the reference moves to the library */
        st->leaf = NULL;
        return GOCORO_AWAIT;
    }
    ChainState next = {st->depth - 1, st->leaf, 0};
    *result = GoCoro_New(chain_code, &next, sizeof next, NULL); /* the leaf reference moves */
    st->leaf = NULL;
    if (*result == NULL) {
        Py_DECREF(next.leaf);
        return GOCORO_ERROR;
    }
    return GOCORO_AWAIT;
}

static int
chain_traverse(void *state, GoCoroVisitFn visit, void *arg)
{
    ChainState *st = (ChainState *)state;
    return st->leaf != NULL ? visit((GoCoroPyObject *)st->leaf, arg) : 0;
}

static void
chain_clear(void *state)
{
    Py_CLEAR(((ChainState *)state)->leaf);
}

static const GoCoroSpec chain_spec = {
    .abi_version = GOCORO_ABI_VERSION,
    .struct_size = sizeof(GoCoroSpec),
    .kind = GOCORO_KIND_COROUTINE,
    .name = "chain",
    .qualname = "gocoro_bench.chain",
    .filename = __FILE__,
    .firstlineno = __LINE__,
    .state_size = sizeof(ChainState),
    .step = chain_step,
    .traverse = chain_traverse,
    .clear = chain_clear,
};

static PyObject *
mod_chain(PyObject *mod, PyObject *args)
{
    ChainState init = {0, NULL, 0};
    PyObject *o;
    if (!PyArg_ParseTuple(args, "nO:chain", &init.depth, &init.leaf))
        return NULL;
    if (init.depth < 0) {
        PyErr_SetString(PyExc_ValueError, "chain: depth must be >= 0");
        return NULL;
    }
    Py_INCREF(init.leaf);
    o = (PyObject *)GoCoro_New(chain_code, &init, sizeof init, NULL);
    if (o == NULL)
        Py_DECREF(init.leaf);
    return o;
}

static PyObject *
mod_steps(PyObject *mod, PyObject *arg)
{
    StepsState init;
    init.remaining = PyLong_AsSsize_t(arg);
    if (init.remaining == -1 && PyErr_Occurred())
        return NULL;
    return (PyObject *)GoCoro_New(steps_code, &init, sizeof init, NULL);
}

static PyObject *
mod_done(PyObject *mod, PyObject *Py_UNUSED(ignored))
{
    return (PyObject *)GoCoro_New(done_code, NULL, 0, NULL);
}

static PyObject *
mod_done_none(PyObject *mod, PyObject *Py_UNUSED(ignored))
{
    return (PyObject *)GoCoro_New(done_none_code, NULL, 0, NULL);
}


#if BENCH_HAS_WAKER
/* ---------------- foreign-thread wakes ---------------- */

typedef struct {
    GoCoroWaker *w;
    int fire_now; /* ping-pong: hand the waker to the thread at once */
} WakeState;

static GoCoroCode *wake_code;
static GoCoroWaker **wk_pending; /* queued for the next wake_fire() (GIL protects it) */
static Py_ssize_t wk_pending_len, wk_pending_cap;

static pthread_mutex_t wk_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wk_cv = PTHREAD_COND_INITIALIZER;
static GoCoroWaker **wk_batch; /* owned by the waker thread while wk_has_batch */
static Py_ssize_t wk_batch_len;
static int wk_has_batch, wk_thread_started;

static void *
wk_thread_main(void *unused)
{
    for (;;) {
        GoCoroWaker **b;
        Py_ssize_t n, i;
        pthread_mutex_lock(&wk_mu);
        while (!wk_has_batch)
            pthread_cond_wait(&wk_cv, &wk_mu);
        b = wk_batch;
        n = wk_batch_len;
        pthread_mutex_unlock(&wk_mu);
        for (i = 0; i < n; i++) /* no GIL here: the point of the benchmark */
            GoCoro_Wake(b[i]);
        for (i = 0; i < n; i++)
            GoCoro_WakerRelease(b[i]);
        free(b);
        pthread_mutex_lock(&wk_mu);
        wk_has_batch = 0;
        wk_batch = NULL;
        pthread_cond_broadcast(&wk_cv);
        pthread_mutex_unlock(&wk_mu);
    }
    return NULL;
}

/* Hand `n` wakers (references owned by the batch, array from malloc) to the waker thread,
 * waiting (without the GIL) until it has finished the previous batch. */
static int
hand_batch(GoCoroWaker **b, Py_ssize_t n)
{
    if (!wk_thread_started) {
        pthread_t t;
        if (pthread_create(&t, NULL, wk_thread_main, NULL) != 0) {
            PyErr_SetString(PyExc_RuntimeError, "pthread_create failed");
            return -1;
        }
        pthread_detach(t);
        wk_thread_started = 1;
    }
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&wk_mu);
    while (wk_has_batch)
        pthread_cond_wait(&wk_cv, &wk_mu);
    wk_batch = b;
    wk_batch_len = n;
    wk_has_batch = 1;
    pthread_cond_broadcast(&wk_cv);
    pthread_mutex_unlock(&wk_mu);
    Py_END_ALLOW_THREADS
    return 0;
}

static int
wake_step(GoCoroPyObject *self, void *state, GoCoroPyObject *sent, GoCoroPyObject *thrown,
          GoCoroPyObject **result)
{
    WakeState *st = (WakeState *)state;
    if (thrown != NULL || st->w != NULL) { /* second step (woken) or an exception */
        if (st->w != NULL) {
            GoCoro_WakerRelease(st->w);
            st->w = NULL;
        }
        if (thrown != NULL)
            return GoCoro_Rethrow(thrown);
        Py_INCREF(Py_None);
        *result = (GoCoroPyObject *)Py_None;
        return GOCORO_RETURN;
    }
    st->w = GoCoro_WakerNew();
    if (st->w == NULL)
        return GOCORO_ERROR;
    if (st->fire_now) {
        GoCoroWaker **b = malloc(sizeof *b);
        if (b == NULL) {
            PyErr_NoMemory();
            return GOCORO_ERROR;
        }
        *result = GoCoro_WakerWait(st->w);
        if (*result == NULL) {
            free(b);
            return GOCORO_ERROR;
        }
        GoCoro_WakerRetain(st->w);
        b[0] = st->w;
        if (hand_batch(b, 1) < 0) {
            GoCoro_WakerRelease(st->w);
            free(b);
            Py_DECREF((PyObject *)*result);
            return GOCORO_ERROR;
        }
        return GOCORO_AWAIT;
    }
    if (wk_pending_len == wk_pending_cap) {
        Py_ssize_t cap = wk_pending_cap ? wk_pending_cap * 2 : 1024;
        GoCoroWaker **p = realloc(wk_pending, (size_t)cap * sizeof *p);
        if (p == NULL) {
            PyErr_NoMemory();
            return GOCORO_ERROR;
        }
        wk_pending = p;
        wk_pending_cap = cap;
    }
    GoCoro_WakerRetain(st->w); /* the waker thread's reference */
    wk_pending[wk_pending_len++] = st->w;
    *result = GoCoro_WakerWait(st->w);
    return *result != NULL ? GOCORO_AWAIT : GOCORO_ERROR;
}

static void
wake_finalize(void *state)
{
    WakeState *st = (WakeState *)state;
    if (st->w != NULL) {
        GoCoro_WakerRelease(st->w);
        st->w = NULL;
    }
}

static const GoCoroSpec wake_spec = {
    .abi_version = GOCORO_ABI_VERSION,
    .struct_size = sizeof(GoCoroSpec),
    .kind = GOCORO_KIND_COROUTINE,
    .name = "wake_waiter",
    .qualname = "gocoro_bench.wake_waiter",
    .filename = __FILE__,
    .firstlineno = __LINE__,
    .state_size = sizeof(WakeState),
    .step = wake_step,
    .finalize = wake_finalize,
};

static PyObject *
mod_wake_waiter(PyObject *mod, PyObject *Py_UNUSED(ignored))
{
    return (PyObject *)GoCoro_New(wake_code, NULL, 0, NULL);
}

/* wake_pingpong(): one round trip -- the first step gives its waker to the waker thread right
 * away and awaits it; the thread wakes it. */
static PyObject *
mod_wake_pingpong(PyObject *mod, PyObject *Py_UNUSED(ignored))
{
    WakeState init = {NULL, 1};
    return (PyObject *)GoCoro_New(wake_code, &init, sizeof init, NULL);
}

/* Hand every queued waker to the waker thread; returns how many. */
static PyObject *
mod_wake_fire(PyObject *mod, PyObject *Py_UNUSED(ignored))
{
    GoCoroWaker **b = wk_pending;
    Py_ssize_t n = wk_pending_len, i;
    wk_pending = NULL;
    wk_pending_len = wk_pending_cap = 0;
    if (hand_batch(b, n) < 0) {
        for (i = 0; i < n; i++)
            GoCoro_WakerRelease(b[i]);
        free(b);
        return NULL;
    }
    return PyLong_FromSsize_t(n);
}

/* ---------------- blocking work ---------------- */

static void *
noop_blocking(void *arg, const volatile int32_t *cancelled)
{
    return NULL;
}

static PyObject *
mod_blocking_noop(PyObject *mod, PyObject *Py_UNUSED(ignored))
{
    return (PyObject *)GoCoro_RunBlocking(noop_blocking, NULL, NULL, NULL, 0.0);
}
#endif /* BENCH_HAS_WAKER */

static PyMethodDef module_methods[] = {
    {"steps", mod_steps, METH_O, "steps(n) -> gocoro coroutine suspending n times, returning None"},
    {"done", mod_done, METH_NOARGS, "done() -> gocoro coroutine completing immediately with 1"},
    {"done_none", mod_done_none, METH_NOARGS, "done_none() -> the same, completing with None"},
    {"agen", mod_agen, METH_O, "agen(n) -> gocoro async generator yielding None n times"},
    {"chain", mod_chain, METH_VARARGS, "chain(depth, leaf) -> depth+1 gocoro coroutines awaiting "
                                       "each other, the last one awaiting leaf"},
#if BENCH_HAS_WAKER
    {"wake_waiter", mod_wake_waiter, METH_NOARGS, "wake_waiter() -> coroutine waiting on a waker"},
    {"wake_pingpong", mod_wake_pingpong, METH_NOARGS, "wake_pingpong() -> one thread round trip"},
    {"wake_fire", mod_wake_fire, METH_NOARGS, "wake_fire() -> n; wake the queued wakers from a thread"},
    {"blocking_noop", mod_blocking_noop, METH_NOARGS, "blocking_noop() -> GoCoro_RunBlocking(no-op)"},
#endif
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef gocoro_bench_module = {
    PyModuleDef_HEAD_INIT, "gocoro_bench", "gocoro benchmark extension (capsule mode)", -1,
    module_methods,
};

PyMODINIT_FUNC
PyInit_gocoro_bench(void)
{
    if (GoCoro_ImportAPI() < 0)
        return NULL;
    if (steps_code == NULL) {
        steps_code = GoCoro_Prepare(&steps_spec);
        if (steps_code == NULL)
            return NULL;
        done_code = GoCoro_Prepare(&done_spec);
        if (done_code == NULL)
            return NULL;
        done_none_code = GoCoro_Prepare(&done_none_spec);
        if (done_none_code == NULL)
            return NULL;
        agen_code = GoCoro_Prepare(&agen_spec);
        if (agen_code == NULL)
            return NULL;
        chain_code = GoCoro_Prepare(&chain_spec);
        if (chain_code == NULL)
            return NULL;
        one = PyLong_FromLong(1);
        if (one == NULL)
            return NULL;
#if BENCH_HAS_WAKER
        wake_code = GoCoro_Prepare(&wake_spec);
        if (wake_code == NULL)
            return NULL;
#endif
    }
    PyObject *m = PyModule_Create(&gocoro_bench_module);
    if (m != NULL && PyModule_AddObject(m, "HAS_WAKER", PyBool_FromLong(BENCH_HAS_WAKER)) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
