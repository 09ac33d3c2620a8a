/*
 * executor/executor.c: GoCoro_RunBlocking: the job, its awaitable (a gocoro native coroutine)
 * and the C callbacks of the Go executor (executor.go).
 *
 * A job is shared by the awaitable (loop thread, GIL), the goroutine and the deadline timer
 * (Go threads, no GIL); it is refcounted and freed by whoever drops the last reference.  Who
 * gets fn's result is decided by one compare-and-swap on `state`:
 *
 *   RUNNING -> DONE       the goroutine, after fn returned: the awaiter converts (to_python)
 *   RUNNING -> PANICKED   the goroutine recovered a Go panic: the awaiter raises PanicException
 *   RUNNING -> ABANDONED  the awaiter went away (cancelled, deadline, closed, freed): the
 *                         goroutine calls cleanup once fn returns
 *
 * and whichever side loses the race cleans up what the winner left (the awaiter calls cleanup
 * when it abandons a DONE job).  So exactly one of to_python / cleanup runs.
 */
#include "waker/waker.h"
#include "executor/executor.h"
#include "_cgo_export.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

enum { JOB_RUNNING = 0, JOB_DONE = 1, JOB_PANICKED = 2, JOB_ABANDONED = 3 };

struct gocoro_job {
    atomic_long refcnt;
    atomic_int state;
    atomic_int timed_out;
    volatile int32_t cancelled;  /* what fn polls */
    int fn_returned;             /* goroutine only */
    GoCoroBlockingFn fn;
    void *arg;
    GoCoroToPythonFn to_python;
    GoCoroCleanupFn cleanup;
    void *ret;
    char *panic_msg;
    GoCoroWaker *waker;          /* own reference */
    double timeout;
};

static atomic_int test_panic_flags;
static atomic_long st_jobs; /* live jobs, for the leak tests */

long gocoro_executor_jobs(void) { return atomic_load(&st_jobs); }

void gocoro_executor_set_test_panic(int where)
{
    int f = where == 1 ? GOCORO_JOB_TEST_PANIC_GOROUTINE : where == 2 ? GOCORO_JOB_TEST_PANIC_LAUNCH : 0;
    atomic_store(&test_panic_flags, f);
}

void gocoro_job_ref(gocoro_job *j) { atomic_fetch_add_explicit(&j->refcnt, 1, memory_order_relaxed); }

void gocoro_job_unref(gocoro_job *j)
{
    if (atomic_fetch_sub(&j->refcnt, 1) != 1)
        return;
    GoCoro_WakerRelease(j->waker); /* any thread */
    free(j->panic_msg);
    free(j);
    atomic_fetch_add(&st_jobs, -1);
}

static inline void job_set_cancelled(gocoro_job *j)
{
    __atomic_store_n(&j->cancelled, 1, __ATOMIC_SEQ_CST);
}

/* ---- goroutine side (no GIL) ---- */

void gocoro_job_run(gocoro_job *j)
{
    void *ret = j->fn(j->arg, &j->cancelled);
    j->ret = ret;
    j->fn_returned = 1;
    int expected = JOB_RUNNING;
    if (atomic_compare_exchange_strong(&j->state, &expected, JOB_DONE))
        GoCoro_Wake(j->waker);
    else if (j->cleanup != NULL) /* ABANDONED: nobody will convert it */
        j->cleanup(j->arg, ret);
}

void gocoro_job_timeout(gocoro_job *j)
{
    if (atomic_load(&j->state) != JOB_RUNNING)
        return;
    atomic_store(&j->timed_out, 1);
    job_set_cancelled(j);
    GoCoro_Wake(j->waker);
}

void gocoro_job_panicked(gocoro_job *j, const char *msg)
{
    if (j->panic_msg == NULL)
        j->panic_msg = strdup(msg ? msg : "Go panic in libgocoro executor");
    int expected = JOB_RUNNING;
    if (atomic_compare_exchange_strong(&j->state, &expected, JOB_PANICKED))
        GoCoro_Wake(j->waker);
    else if (expected == JOB_ABANDONED && !j->fn_returned && j->cleanup != NULL)
        j->cleanup(j->arg, NULL);
}

/* ---- the awaitable (GIL, loop thread) ---- */

typedef struct {
    gocoro_job *job; /* own reference */
    int settled;     /* to_python ran, or the result was handed to cleanup */
} aw_state;

/* The awaiter gives up on the result (cancelled, deadline, closed, freed). */
static void job_abandon(aw_state *s)
{
    if (s->settled)
        return;
    s->settled = 1;
    gocoro_job *j = s->job;
    job_set_cancelled(j);
    int expected = JOB_RUNNING;
    if (!atomic_compare_exchange_strong(&j->state, &expected, JOB_ABANDONED)) {
        /* fn already returned (DONE) or the executor panicked before it ran (PANICKED) */
        if (j->cleanup != NULL)
            j->cleanup(j->arg, expected == JOB_DONE ? j->ret : NULL);
    }
}

static int aw_step(PyObject *self, void *st, PyObject *sent, PyObject *thrown, PyObject **result)
{
    aw_state *s = st;
    gocoro_job *j = s->job;
    if (thrown != NULL) { /* cancellation / throw() / close() */
        job_abandon(s);
        return GoCoro_Rethrow(thrown);
    }
    if (atomic_load(&j->timed_out)) {
        job_abandon(s);
        char buf[64];
        snprintf(buf, sizeof buf, "%g", j->timeout);
        PyErr_Format(PyExc_TimeoutError, "gocoro: blocking call exceeded its deadline of %s s", buf);
        return GOCORO_ERROR;
    }
    int state = atomic_load(&j->state);
    if (state == JOB_DONE) {
        s->settled = 1;
        if (j->to_python == NULL) {
            if (j->cleanup != NULL)
                j->cleanup(j->arg, j->ret);
            *result = Py_NewRef(Py_None);
            return GOCORO_RETURN;
        }
        PyObject *r = j->to_python(j->arg, j->ret);
        if (r == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_SystemError,
                                "GoCoro_RunBlocking: to_python returned NULL without an exception");
            return GOCORO_ERROR;
        }
        *result = r;
        return GOCORO_RETURN;
    }
    if (state == JOB_PANICKED) {
        s->settled = 1;
        if (j->cleanup != NULL)
            j->cleanup(j->arg, NULL);
        return GoCoro_RaisePanic(j->panic_msg ? j->panic_msg : "Go panic in libgocoro executor");
    }
    *result = GoCoro_WakerWait(j->waker);
    if (*result == NULL) {
        PyObject *exc = gocoro_fetch_exc();
        job_abandon(s);
        gocoro_restore_exc(exc);
        return GOCORO_ERROR;
    }
    return GOCORO_AWAIT;
}

static void aw_finalize(void *st)
{
    aw_state *s = st;
    if (s->job == NULL)
        return;
    job_abandon(s); /* no-op once settled */
    gocoro_job_unref(s->job);
    s->job = NULL;
}

static GoCoroCode *aw_code;

GoCoroPyObject *GoCoro_RunBlocking(GoCoroBlockingFn fn, void *arg, GoCoroToPythonFn to_python,
                                   GoCoroCleanupFn cleanup, double timeout_seconds)
{
    if (gocoro_go_unavailable("GoCoro_RunBlocking()"))
        return NULL;
    if (fn == NULL) {
        PyErr_SetString(PyExc_ValueError, "GoCoro_RunBlocking: fn is NULL");
        return NULL;
    }
    if (isnan(timeout_seconds)) {
        PyErr_SetString(PyExc_ValueError, "GoCoro_RunBlocking: timeout_seconds is NaN");
        return NULL;
    }
    if (aw_code == NULL) {
        static const GoCoroSpec spec = {
            .abi_version = GOCORO_ABI_VERSION,
            .struct_size = sizeof(GoCoroSpec),
            .kind = GOCORO_KIND_COROUTINE,
            .name = "run_blocking",
            .qualname = "gocoro.run_blocking",
            .filename = __FILE__,
            .firstlineno = __LINE__,
            .state_size = sizeof(aw_state),
            .step = aw_step,
            .finalize = aw_finalize,
        };
        aw_code = GoCoro_Prepare(&spec);
        if (aw_code == NULL)
            return NULL;
    }
    long long timeout_ns = 0;
    if (timeout_seconds > 0) {
        double ns = timeout_seconds * 1e9;
        timeout_ns = ns >= 9.0e18 ? (long long)9e18 : ns < 1 ? 1 : (long long)ns;
    }
    GoCoroWaker *w = GoCoro_WakerNew();
    if (w == NULL)
        return NULL;
    gocoro_job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        GoCoro_WakerRelease(w);
        return PyErr_NoMemory();
    }
    atomic_init(&j->refcnt, 1); /* the awaitable's */
    atomic_init(&j->state, JOB_RUNNING);
    atomic_init(&j->timed_out, 0);
    j->fn = fn;
    j->arg = arg;
    j->to_python = to_python;
    j->cleanup = cleanup;
    j->waker = w;
    j->timeout = timeout_seconds;
    atomic_fetch_add(&st_jobs, 1);
    aw_state init = {.job = j, .settled = 0};
    PyObject *aw = GoCoro_New(aw_code, &init, sizeof init, NULL);
    if (aw == NULL) {
        gocoro_job_unref(j);
        return NULL;
    }
    int flags = atomic_exchange(&test_panic_flags, 0);
    gocoro_job_ref(j); /* the goroutine's */
    if (gocoro_go_run_job(j, timeout_ns, flags) < 0) {
        /* nothing started: the caller keeps arg, so neither to_python nor cleanup may run */
        gocoro_job_unref(j);
        ((aw_state *)GoCoro_GetState(aw))->settled = 1;
        PyObject *exc = gocoro_fetch_exc();
        PyObject *r = PyObject_CallMethod(aw, "close", NULL); /* quietly: it was never awaited */
        if (r == NULL)
            PyErr_Clear();
        Py_XDECREF(r);
        Py_DECREF(aw);
        if (exc != NULL)
            gocoro_restore_exc(exc);
        else if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "GoCoro_RunBlocking: launching the job failed");
        return NULL;
    }
    return aw;
}
