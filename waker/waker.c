/*
 * waker/waker.c: wakers, refcounted handles that any thread can wake without the GIL, their
 * per-loop hubs (asyncio, trio) and the wait awaitable (see the "Wakers and blocking work"
 * section of gocoro.h).
 *
 * Layout
 * ------
 * Every waker is bound to a *hub*, one per asyncio event loop / trio run, created lazily by the
 * first GoCoro_WakerNew on that loop.  A hub owns an eventfd (a pipe where there is none) that
 * its loop watches, and a lock-free multi-producer stack of pending wakers:
 *
 *   GoCoro_Wake (any thread):  pending 0->1 ? take a queue reference, push onto hub->head,
 *                              write the eventfd only if the stack was empty.
 *   drain (loop thread, GIL):  reset the eventfd, take the whole stack, and for each waker set
 *                              pending = 0 and complete its waiter (asyncio: fut.set_result(None)
 *                              unless done; trio: trio.lowlevel.reschedule(task)), or remember
 *                              the wake (woken = 1) when nobody waits.
 *
 * asyncio: the hub's Python side is a small callable (HubOwner) registered with
 * loop.add_reader(fd, owner); the loop owns it, and when the loop closes (or dies) the owner is
 * freed, which tears the hub down.  trio: the owner lives in a RunVar and a system task loops on
 * trio.lowlevel.wait_readable(fd) and drains; the run's end cancels it, which tears down.
 *
 * Lifetimes (the invariants everything below relies on)
 *   - Python objects hanging off a waker (its waiter) are only touched with the GIL on the loop
 *     thread.  GoCoro_WakerRelease never touches Python: the last reference pushes the waker
 *     onto its hub's stack marked `dead`, and the drain frees it on the loop thread; if the hub
 *     is already closed (teardown detached every waker and dropped its waiter first), it is
 *     freed right away in C.
 *   - The hub's C memory and its fds live until the last waker is gone (each waker holds a C
 *     reference), so a late GoCoro_Wake never writes to a closed or reused fd.
 *   - Teardown swaps the stack for the HUB_CLOSED sentinel; pushes fail from then on.  The
 *     stack is only ever taken whole (exchange), so the Treiber push has no ABA problem.
 */
#include "waker/waker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

enum { HUB_ASYNCIO = 1, HUB_TRIO = 2 };

typedef struct gc_hub gc_hub;

struct GoCoroWaker {
    atomic_long refcnt;
    atomic_int pending;          /* on hub->head, holding a queue reference */
    int dead;                    /* refcnt hit 0: queued only so the loop thread frees it */
    GoCoroWaker *qnext;          /* hub->head link */
    gc_hub *hub;                 /* C reference */
    /* ---- GIL held, loop thread ---- */
    GoCoroWaker *aprev, *anext;  /* hub->attached */
    PyObject *waiter;            /* asyncio future / trio task, or NULL */
    uint64_t wait_seq;           /* numbers the trio waits (detach only our own) */
    uint8_t attached;
    uint8_t woken;               /* a wake arrived while nobody waited */
};

struct gc_hub {
    atomic_long refcnt;          /* 1 while live (owner) + 1 per waker + transient */
    _Atomic(GoCoroWaker *) head; /* pending wakers, or HUB_CLOSED */
    int rfd, wfd;
    int lib;
    /* ---- GIL ---- */
    PyObject *owner;             /* borrowed HubOwner while live, NULL once torn down */
    PyObject *loop_wr;           /* asyncio: weakref to the loop */
    GoCoroWaker *attached;       /* wakers bound to this hub (not yet detached) */
    gc_hub *next_live;           /* asyncio registry */
    unsigned long thread_ident;
};

#define HUB_CLOSED ((GoCoroWaker *)(uintptr_t)1)

static atomic_long st_wakers, st_hubs; /* live objects, for the leak tests */

/* ------------------------------------------------------------------------------------------ */
/* hub: fds, references, the lock-free stack (any thread, no GIL)                             */

static int hub_open_fds(gc_hub *h)
{
#ifdef __linux__
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return -1;
    h->rfd = h->wfd = fd;
#else
    int p[2];
    if (pipe(p) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(p[i], F_SETFL, fcntl(p[i], F_GETFL) | O_NONBLOCK);
        fcntl(p[i], F_SETFD, FD_CLOEXEC);
    }
    h->rfd = p[0];
    h->wfd = p[1];
#endif
    return 0;
}

static void hub_signal(gc_hub *h)
{
    int saved = errno;
    ssize_t r;
#ifdef __linux__
    uint64_t one = 1;
    do
        r = write(h->wfd, &one, sizeof one);
    while (r < 0 && errno == EINTR);
#else
    char one = 1;
    do
        r = write(h->wfd, &one, 1);
    while (r < 0 && errno == EINTR);
#endif
    (void)r; /* EAGAIN: the fd is readable already */
    errno = saved;
}

static void hub_reset_signal(gc_hub *h)
{
    int saved = errno;
#ifdef __linux__
    uint64_t v;
    ssize_t r;
    do
        r = read(h->rfd, &v, sizeof v);
    while (r < 0 && errno == EINTR);
    (void)r;
#else
    char buf[256];
    for (;;) {
        ssize_t r = read(h->rfd, buf, sizeof buf);
        if (r > 0 || (r < 0 && errno == EINTR))
            continue;
        break;
    }
#endif
    errno = saved;
}

static inline void hub_ref(gc_hub *h) { atomic_fetch_add_explicit(&h->refcnt, 1, memory_order_relaxed); }

static void hub_unref(gc_hub *h)
{
    if (atomic_fetch_sub(&h->refcnt, 1) != 1)
        return;
    if (h->rfd >= 0)
        close(h->rfd);
    if (h->wfd >= 0 && h->wfd != h->rfd)
        close(h->wfd);
    free(h);
    atomic_fetch_sub(&st_hubs, 1);
}

/* Push w onto the hub's stack: 1, or 0 when the hub is closed.  Signals the loop when the stack
 * was empty.  The caller keeps the hub alive across the call. */
static int hub_push(gc_hub *h, GoCoroWaker *w)
{
    GoCoroWaker *old = atomic_load(&h->head);
    do {
        if (old == HUB_CLOSED)
            return 0;
        w->qnext = old;
    } while (!atomic_compare_exchange_weak(&h->head, &old, w));
    if (old == NULL)
        hub_signal(h);
    return 1;
}

/* Free a waker that is detached from Python (no waiter, not attached).  Any thread. */
static void waker_free_c(GoCoroWaker *w)
{
    gc_hub *h = w->hub;
    free(w);
    atomic_fetch_sub(&st_wakers, 1);
    hub_unref(h);
}

/* ------------------------------------------------------------------------------------------ */
/* public, any thread                                                                          */

void GoCoro_WakerRetain(GoCoroWaker *w)
{
    if (w != NULL)
        atomic_fetch_add_explicit(&w->refcnt, 1, memory_order_relaxed);
}

void GoCoro_WakerRelease(GoCoroWaker *w)
{
    if (w == NULL || atomic_fetch_sub(&w->refcnt, 1) != 1)
        return;
    /* Last reference: nobody can wake it any more, so it is not on the stack (a queued waker
     * holds a queue reference).  Let the loop thread free its Python side. */
    gc_hub *h = w->hub;
    w->dead = 1;
    hub_ref(h); /* the drain may free w (and drop its hub reference) as soon as it is pushed */
    if (!hub_push(h, w))
        waker_free_c(w); /* hub closed: teardown already detached w and dropped its waiter */
    hub_unref(h);
}

void GoCoro_Wake(GoCoroWaker *w)
{
    if (w == NULL)
        return;
    /* a wake already queued and not yet drained absorbs this one */
    if (atomic_load(&w->pending) || atomic_exchange(&w->pending, 1))
        return;
    atomic_fetch_add_explicit(&w->refcnt, 1, memory_order_relaxed); /* the queue's reference */
    if (!hub_push(w->hub, w))
        atomic_fetch_sub(&w->refcnt, 1); /* loop gone; pending stays 1: later wakes are no-ops */
}

/* ------------------------------------------------------------------------------------------ */
/* cached Python helpers (GIL)                                                                 */

static PyObject *s_done, *s_set_result, *s_create_future, *s_add_reader, *s_get, *s_set;
static PyObject *s_trio, *s_asyncio, *s_name;

static int intern_strings(void)
{
    if (s_set != NULL)
        return 0;
#define INTERN(var, text)                                   \
    if ((var = PyUnicode_InternFromString(text)) == NULL)   \
        return -1;
    INTERN(s_done, "done");
    INTERN(s_set_result, "set_result");
    INTERN(s_create_future, "create_future");
    INTERN(s_add_reader, "add_reader");
    INTERN(s_get, "get");
    INTERN(s_trio, "trio");
    INTERN(s_asyncio, "asyncio");
    INTERN(s_name, "name");
    INTERN(s_set, "set"); /* last: marks the set complete */
#undef INTERN
    return 0;
}

/* weakref target identity test (no new reference kept) */
static int wr_is(PyObject *wr, PyObject *obj)
{
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *o = NULL;
    if (PyWeakref_GetRef(wr, &o) < 0) {
        PyErr_Clear();
        return 0;
    }
    Py_XDECREF(o);
    return o == obj;
#else
    return PyWeakref_GET_OBJECT(wr) == obj;
#endif
}

static PyObject *wr_target(PyObject *wr) /* new reference, or NULL (no exception) when dead */
{
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *o = NULL;
    if (PyWeakref_GetRef(wr, &o) < 0)
        PyErr_Clear();
    return o;
#else
    PyObject *o = PyWeakref_GET_OBJECT(wr);
    return o == Py_None ? NULL : Py_NewRef(o);
#endif
}

/* 1 done, 0 pending, -1 error */
static int future_done(PyObject *fut)
{
    PyObject *r = PyObject_CallMethodNoArgs(fut, s_done);
    if (r == NULL)
        return -1;
    int d = PyObject_IsTrue(r);
    Py_DECREF(r);
    return d;
}

/* ---- trio ---- */
static struct {
    PyObject *module;           /* trio (cached once imported by the program) */
    PyObject *sniffio_local;    /* sniffio.thread_local: .name == "trio" inside trio tasks */
    PyObject *current_task, *wait_task_rescheduled, *reschedule, *abort_succeeded;
    PyObject *wait_readable, *spawn_system_task;
    PyObject *hub_var;          /* RunVar("gocoro_waker_hub") */
    PyObject *hub_task_fn;      /* builtin that makes the hub's system task */
} trio_api;

static int trio_init(PyObject *trio);

/* Which library drives the current thread?  Sets *trio_guess when trio is imported but sniffio
 * could not tell.  Returns 1 for trio, 0 otherwise, -1 on error. */
static int trio_running(int *trio_guess)
{
    *trio_guess = 0;
    if (trio_api.module == NULL) {
        PyObject *t = PyImport_GetModule(s_trio);
        if (t == NULL) {
            if (PyErr_Occurred())
                return -1;
            return 0; /* trio not imported: it cannot be running */
        }
        int r = trio_init(t);
        Py_DECREF(t);
        if (r < 0)
            return -1;
    }
    if (trio_api.sniffio_local != NULL) {
        PyObject *n = PyObject_GetAttr(trio_api.sniffio_local, s_name);
        if (n == NULL) {
            PyErr_Clear();
            *trio_guess = 1;
            return 0;
        }
        int is_trio = PyUnicode_Check(n) && PyUnicode_CompareWithASCIIString(n, "trio") == 0;
        Py_DECREF(n);
        return is_trio;
    }
    *trio_guess = 1;
    return 0;
}

/* ---- asyncio ---- */
static PyObject *get_running_loop_fn;

/* The running asyncio loop (new reference), None, or NULL with an exception. */
static PyObject *asyncio_running_loop(void)
{
    if (get_running_loop_fn == NULL) {
        PyObject *aio = PyImport_GetModule(s_asyncio);
        if (aio == NULL) {
            if (PyErr_Occurred())
                return NULL;
            Py_RETURN_NONE; /* asyncio not imported: no loop can be running */
        }
        Py_DECREF(aio);
        PyObject *m = PyImport_ImportModule("_asyncio");
        if (m == NULL) {
            PyErr_Clear();
            m = PyImport_ImportModule("asyncio.events");
            if (m == NULL)
                return NULL;
        }
        get_running_loop_fn = PyObject_GetAttrString(m, "_get_running_loop");
        Py_DECREF(m);
        if (get_running_loop_fn == NULL)
            return NULL;
    }
    return PyObject_CallNoArgs(get_running_loop_fn);
}

/* ------------------------------------------------------------------------------------------ */
/* HubOwner: the Python side of a hub (asyncio reader callback / trio RunVar value)            */

typedef struct {
    PyObject_HEAD
    gc_hub *hub; /* the owner's hub reference; NULL once torn down */
} HubOwner;

static gc_hub *asyncio_hubs; /* live asyncio hubs (GIL) */

static void waker_free_gil(GoCoroWaker *w);

/* GIL.  Tear the hub down: detach every waker (dropping its waiter), close the stack, drop the
 * owner's reference.  Wakers outlive it as inert C handles. */
static void hub_teardown(gc_hub *h)
{
    PyObject *saved = gocoro_fetch_exc();
    h->owner = NULL;
    if (h->lib == HUB_ASYNCIO) {
        for (gc_hub **pp = &asyncio_hubs; *pp != NULL; pp = &(*pp)->next_live) {
            if (*pp == h) {
                *pp = h->next_live;
                break;
            }
        }
        h->next_live = NULL;
    }
    /* 1. Detach.  A decref below may run arbitrary code, but it cannot free an attached waker
     *    (a last release only pushes it onto the stack) nor attach a new one (owner is NULL). */
    GoCoroWaker *w;
    while ((w = h->attached) != NULL) {
        h->attached = w->anext;
        if (w->anext != NULL)
            w->anext->aprev = NULL;
        w->anext = w->aprev = NULL;
        w->attached = 0;
        PyObject *wt = w->waiter;
        w->waiter = NULL;
        Py_XDECREF(wt);
    }
    /* 2. Close the stack: later pushes fail (late wakes are no-ops, late releases free in C). */
    GoCoroWaker *list = atomic_exchange(&h->head, HUB_CLOSED);
    while (list != NULL && list != HUB_CLOSED) {
        GoCoroWaker *next = list->qnext;
        if (list->dead || atomic_fetch_sub(&list->refcnt, 1) == 1)
            waker_free_c(list); /* pending stays 1 for survivors: their wakes are no-ops */
        list = next;
    }
    Py_CLEAR(h->loop_wr);
    hub_unref(h); /* the owner's reference */
    if (saved != NULL)
        gocoro_restore_exc(saved);
}

static void waker_free_gil(GoCoroWaker *w)
{
    gc_hub *h = w->hub;
    if (w->attached) {
        if (w->aprev != NULL)
            w->aprev->anext = w->anext;
        else
            h->attached = w->anext;
        if (w->anext != NULL)
            w->anext->aprev = w->aprev;
        w->attached = 0;
    }
    PyObject *wt = w->waiter;
    w->waiter = NULL;
    waker_free_c(w);
    Py_XDECREF(wt);
}

/* Complete w's waiter, or remember the wake.  GIL, loop thread. */
static void waker_deliver(GoCoroWaker *w, int lib)
{
    PyObject *wt = w->waiter;
    if (wt == NULL) {
        w->woken = 1;
        return;
    }
    w->waiter = NULL;
    if (lib == HUB_ASYNCIO) {
        int done = future_done(wt);
        if (done == 0) {
            PyObject *r = PyObject_CallMethodOneArg(wt, s_set_result, Py_None);
            if (r == NULL)
                PyErr_WriteUnraisable(wt);
            Py_XDECREF(r);
        } else {
            if (done < 0)
                PyErr_WriteUnraisable(wt);
            w->woken = 1; /* the wait was cancelled: keep the wake for the next one */
        }
    } else {
        PyObject *r = PyObject_CallOneArg(trio_api.reschedule, wt);
        if (r == NULL)
            PyErr_WriteUnraisable(trio_api.reschedule);
        Py_XDECREF(r);
    }
    Py_DECREF(wt);
}

/* GIL, loop thread. */
static void hub_drain(gc_hub *h)
{
    if (h->owner == NULL)
        return;
    int lib = h->lib;
    PyObject *saved = gocoro_fetch_exc();
    hub_reset_signal(h); /* before taking the stack: a push after it signals again */
    GoCoroWaker *list = atomic_exchange(&h->head, NULL);
    GoCoroWaker *fifo = NULL;
    while (list != NULL) { /* the stack is LIFO: wake in arrival order */
        GoCoroWaker *next = list->qnext;
        list->qnext = fifo;
        fifo = list;
        list = next;
    }
    /* `fifo` is private now; every waker on it holds a queue reference (or is dead), so
     * re-entrant code run by the deliveries cannot free it under us.  h itself stays alive
     * while any of them holds its hub reference; it is not touched after the loop. */
    while (fifo != NULL) {
        GoCoroWaker *w = fifo;
        fifo = w->qnext;
        w->qnext = NULL;
        if (w->dead) {
            waker_free_gil(w);
            continue;
        }
        atomic_store(&w->pending, 0); /* a wake from now on queues again */
        waker_deliver(w, lib);
        if (atomic_fetch_sub(&w->refcnt, 1) == 1)
            waker_free_gil(w);
    }
    if (saved != NULL)
        gocoro_restore_exc(saved);
}

static void hubowner_teardown(HubOwner *o)
{
    gc_hub *h = o->hub;
    if (h == NULL)
        return;
    o->hub = NULL;
    hub_teardown(h);
}

static PyObject *hubowner_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    HubOwner *o = (HubOwner *)self;
    if (o->hub != NULL)
        hub_drain(o->hub);
    Py_RETURN_NONE;
}

static void hubowner_dealloc(PyObject *self)
{
    hubowner_teardown((HubOwner *)self);
    Py_TYPE(self)->tp_free(self);
}

static PyObject *hubowner_repr(PyObject *self)
{
    HubOwner *o = (HubOwner *)self;
    if (o->hub == NULL)
        return PyUnicode_FromFormat("<gocoro waker hub (closed) at %p>", self);
    return PyUnicode_FromFormat("<gocoro waker hub fd=%d (%s) at %p>", o->hub->rfd,
                                o->hub->lib == HUB_TRIO ? "trio" : "asyncio", self);
}

static PyTypeObject HubOwnerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gocoro._WakerHub",
    .tp_basicsize = sizeof(HubOwner),
    .tp_dealloc = hubowner_dealloc,
    .tp_repr = hubowner_repr,
    .tp_call = hubowner_call,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The per-event-loop side of gocoro wakers (drains wake-ups when called).",
};

/* A new hub with its owner (new reference in *owner_out); the hub carries the owner's reference
 * plus one for the caller. */
static gc_hub *hub_new(int lib, PyObject **owner_out)
{
    if (PyType_Ready(&HubOwnerType) < 0)
        return NULL;
    gc_hub *h = calloc(1, sizeof *h);
    if (h == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    h->rfd = h->wfd = -1;
    if (hub_open_fds(h) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        free(h);
        return NULL;
    }
    atomic_init(&h->refcnt, 2);
    atomic_init(&h->head, NULL);
    h->lib = lib;
    h->thread_ident = PyThread_get_thread_ident();
    atomic_fetch_add(&st_hubs, 1);
    HubOwner *o = PyObject_New(HubOwner, &HubOwnerType);
    if (o == NULL) {
        hub_unref(h);
        hub_unref(h);
        return NULL;
    }
    o->hub = h;
    h->owner = (PyObject *)o;
    *owner_out = (PyObject *)o;
    return h;
}

/* The hub of the running asyncio loop (new C reference) or NULL with an exception. */
static gc_hub *asyncio_hub(PyObject *loop)
{
    gc_hub **pp, *h;
    for (pp = &asyncio_hubs; (h = *pp) != NULL; pp = &h->next_live) {
        if (h->owner != NULL && wr_is(h->loop_wr, loop)) {
            if (pp != &asyncio_hubs) { /* most recently used first */
                *pp = h->next_live;
                h->next_live = asyncio_hubs;
                asyncio_hubs = h;
            }
            h->thread_ident = PyThread_get_thread_ident(); /* a loop may be run on another thread later */
            hub_ref(h);
            return h;
        }
    }
    PyObject *owner = NULL;
    h = hub_new(HUB_ASYNCIO, &owner);
    if (h == NULL)
        return NULL;
    h->loop_wr = PyWeakref_NewRef(loop, NULL);
    PyObject *fd = h->loop_wr ? PyLong_FromLong(h->rfd) : NULL;
    PyObject *r = NULL;
    if (fd != NULL) {
        PyObject *args[3] = {loop, fd, owner};
        r = PyObject_VectorcallMethod(s_add_reader, args, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        Py_DECREF(fd);
    }
    if (r == NULL) {
        Py_DECREF(owner); /* tears down */
        hub_unref(h);
        return NULL;
    }
    Py_DECREF(r);
    h->next_live = asyncio_hubs;
    asyncio_hubs = h;
    Py_DECREF(owner); /* the loop owns it now; our C reference keeps h valid regardless */
    return h;
}

/* ---- trio: the hub's system task (a gocoro native coroutine) ---- */

typedef struct {
    PyObject *owner; /* HubOwner */
    int started;
} hubtask_state;

static int hubtask_step(PyObject *self, void *st, PyObject *sent, PyObject *thrown, PyObject **result)
{
    hubtask_state *s = st;
    HubOwner *o = (HubOwner *)s->owner;
    if (thrown != NULL) { /* the run is ending (Cancelled) or the task is being closed */
        hubowner_teardown(o);
        return GoCoro_Rethrow(thrown);
    }
    if (o->hub == NULL) {
        *result = Py_NewRef(Py_None);
        return GOCORO_RETURN;
    }
    if (s->started)
        hub_drain(o->hub);
    s->started = 1;
    if (o->hub == NULL) {
        *result = Py_NewRef(Py_None);
        return GOCORO_RETURN;
    }
    PyObject *fd = PyLong_FromLong(o->hub->rfd);
    if (fd == NULL)
        return GOCORO_ERROR;
    *result = PyObject_CallOneArg(trio_api.wait_readable, fd);
    Py_DECREF(fd);
    return *result ? GOCORO_AWAIT : GOCORO_ERROR;
}

static int hubtask_traverse(void *st, GoCoroVisitFn visit, void *arg)
{
    hubtask_state *s = st;
    return s->owner ? visit(s->owner, arg) : 0;
}

static void hubtask_clear(void *st)
{
    hubtask_state *s = st;
    Py_CLEAR(s->owner);
}

static GoCoroCode *hubtask_code;

static PyObject *hubtask_fn(PyObject *mod, PyObject *owner)
{
    if (hubtask_code == NULL) {
        static const GoCoroSpec spec = {
            .abi_version = GOCORO_ABI_VERSION,
            .struct_size = sizeof(GoCoroSpec),
            .kind = GOCORO_KIND_COROUTINE,
            .name = "waker_hub",
            .qualname = "gocoro.waker_hub",
            .filename = __FILE__,
            .firstlineno = __LINE__,
            .state_size = sizeof(hubtask_state),
            .step = hubtask_step,
            .traverse = hubtask_traverse,
            .clear = hubtask_clear,
        };
        hubtask_code = GoCoro_Prepare(&spec);
        if (hubtask_code == NULL)
            return NULL;
    }
    if (Py_TYPE(owner) != &HubOwnerType) {
        PyErr_SetString(PyExc_TypeError, "gocoro waker hub task: bad argument");
        return NULL;
    }
    hubtask_state init = {.owner = Py_NewRef(owner), .started = 0};
    PyObject *c = GoCoro_New(hubtask_code, &init, sizeof init, NULL);
    if (c == NULL)
        Py_DECREF(owner);
    return c;
}

static PyMethodDef hubtask_def = {"gocoro_waker_hub", hubtask_fn, METH_O,
                                  "Runs a trio system task that drains gocoro wake-ups."};

static int trio_init(PyObject *trio)
{
    PyObject *low = PyImport_ImportModule("trio.lowlevel");
    if (low == NULL)
        return -1;
    int rc = -1;
    PyObject *abort = NULL;
#define GET(var, name)                                          \
    if ((var = PyObject_GetAttrString(low, name)) == NULL)      \
        goto done;
    GET(trio_api.current_task, "current_task");
    GET(trio_api.wait_task_rescheduled, "wait_task_rescheduled");
    GET(trio_api.reschedule, "reschedule");
    GET(trio_api.wait_readable, "wait_readable");
    GET(trio_api.spawn_system_task, "spawn_system_task");
    GET(abort, "Abort");
#undef GET
    if ((trio_api.abort_succeeded = PyObject_GetAttrString(abort, "SUCCEEDED")) == NULL)
        goto done;
    {
        PyObject *runvar = PyObject_GetAttrString(low, "RunVar");
        if (runvar == NULL)
            goto done;
        trio_api.hub_var = PyObject_CallFunction(runvar, "s", "gocoro_waker_hub");
        Py_DECREF(runvar);
        if (trio_api.hub_var == NULL)
            goto done;
    }
    if ((trio_api.hub_task_fn = PyCFunction_New(&hubtask_def, NULL)) == NULL)
        goto done;
    {
        PyObject *sn = PyImport_ImportModule("sniffio");
        if (sn != NULL) {
            trio_api.sniffio_local = PyObject_GetAttrString(sn, "thread_local");
            Py_DECREF(sn);
        }
        if (trio_api.sniffio_local == NULL)
            PyErr_Clear(); /* fall back to trio.lowlevel.current_task() */
    }
    trio_api.module = Py_NewRef(trio);
    rc = 0;
done:
    Py_XDECREF(abort);
    Py_DECREF(low);
    return rc;
}

/* The hub of the running trio run (new C reference) or NULL with an exception. */
static gc_hub *trio_hub(void)
{
    PyObject *args[2] = {trio_api.hub_var, Py_None};
    PyObject *cur = PyObject_VectorcallMethod(s_get, args, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    if (cur == NULL)
        return NULL;
    if (Py_TYPE(cur) == &HubOwnerType && ((HubOwner *)cur)->hub != NULL) {
        gc_hub *h = ((HubOwner *)cur)->hub;
        hub_ref(h);
        Py_DECREF(cur);
        return h;
    }
    Py_DECREF(cur);
    PyObject *owner = NULL;
    gc_hub *h = hub_new(HUB_TRIO, &owner);
    if (h == NULL)
        return NULL;
    PyObject *kw = Py_BuildValue("{s:s}", "name", "gocoro waker hub");
    PyObject *pargs = kw ? PyTuple_Pack(2, trio_api.hub_task_fn, owner) : NULL;
    PyObject *task = pargs ? PyObject_Call(trio_api.spawn_system_task, pargs, kw) : NULL;
    Py_XDECREF(kw);
    Py_XDECREF(pargs);
    PyObject *r = NULL;
    if (task != NULL) {
        Py_DECREF(task);
        PyObject *sargs[2] = {trio_api.hub_var, owner};
        r = PyObject_VectorcallMethod(s_set, sargs, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    }
    if (r == NULL) {
        HubOwner *o = (HubOwner *)owner;
        PyObject *exc = gocoro_fetch_exc();
        hubowner_teardown(o);
        gocoro_restore_exc(exc);
        Py_DECREF(owner);
        hub_unref(h);
        return NULL;
    }
    Py_DECREF(r);
    Py_DECREF(owner); /* the RunVar and the system task own it */
    return h;
}

/* The hub of the running event loop (new C reference) or NULL with RuntimeError. */
static gc_hub *hub_current(void)
{
    if (intern_strings() < 0)
        return NULL;
    int guess = 0;
    int t = trio_running(&guess);
    if (t < 0)
        return NULL;
    if (t == 1)
        return trio_hub();
    PyObject *loop = asyncio_running_loop();
    if (loop == NULL)
        return NULL;
    if (loop != Py_None) {
        gc_hub *h = asyncio_hub(loop);
        Py_DECREF(loop);
        return h;
    }
    Py_DECREF(loop);
    if (guess) {
        PyObject *task = PyObject_CallNoArgs(trio_api.current_task);
        if (task != NULL) {
            Py_DECREF(task);
            return trio_hub();
        }
        PyErr_Clear();
    }
    PyErr_SetString(PyExc_RuntimeError,
                    "gocoro: no running event loop: wakers (GoCoro_WakerNew, GoCoro_RunBlocking) "
                    "work inside asyncio (incl. uvloop) or trio code, e.g. in a coroutine step");
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* public, GIL                                                                                 */

GoCoroWaker *GoCoro_WakerNew(void)
{
    if (gocoro_ensure_ready() < 0)
        return NULL;
    gc_hub *h = hub_current();
    if (h == NULL)
        return NULL;
    if (h->owner == NULL) {
        hub_unref(h);
        PyErr_SetString(PyExc_RuntimeError, "gocoro: the event loop is shutting down");
        return NULL;
    }
    GoCoroWaker *w = calloc(1, sizeof *w);
    if (w == NULL) {
        hub_unref(h);
        PyErr_NoMemory();
        return NULL;
    }
    atomic_init(&w->refcnt, 1);
    atomic_init(&w->pending, 0);
    w->hub = h; /* takes hub_current's reference */
    w->anext = h->attached;
    if (h->attached != NULL)
        h->attached->aprev = w;
    h->attached = w;
    w->attached = 1;
    atomic_fetch_add(&st_wakers, 1);
    return w;
}

static int waker_check_usable(GoCoroWaker *w, const char *what)
{
    if (w == NULL) {
        PyErr_Format(PyExc_SystemError, "%s: NULL waker", what);
        return -1;
    }
    if (w->hub->owner == NULL || !w->attached) {
        PyErr_Format(PyExc_RuntimeError,
                     "%s: the event loop of this waker is closed (or its trio run has ended)", what);
        return -1;
    }
    if (w->hub->thread_ident != PyThread_get_thread_ident()) {
        PyErr_Format(PyExc_RuntimeError, "%s: must be called on the thread of the waker's event loop",
                     what);
        return -1;
    }
    return 0;
}

/* Drop the registered wait `seq` if it is still the current one.  GIL, loop thread. */
static void waker_detach(GoCoroWaker *w, uint64_t seq)
{
    if (w->waiter != NULL && w->wait_seq == seq) {
        PyObject *wt = w->waiter;
        w->waiter = NULL;
        Py_DECREF(wt);
    }
}

/* ---- trio: the abort callback of one wait ---- */
typedef struct {
    PyObject_HEAD
    GoCoroWaker *w;
    uint64_t seq;
} TrioAbort;

static PyObject *trioabort_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    TrioAbort *a = (TrioAbort *)self;
    waker_detach(a->w, a->seq); /* a later wake must not reschedule the task again */
    return Py_NewRef(trio_api.abort_succeeded);
}

static void trioabort_dealloc(PyObject *self)
{
    GoCoro_WakerRelease(((TrioAbort *)self)->w);
    Py_TYPE(self)->tp_free(self);
}

static PyTypeObject TrioAbortType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gocoro._WakerAbort",
    .tp_basicsize = sizeof(TrioAbort),
    .tp_dealloc = trioabort_dealloc,
    .tp_call = trioabort_call,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "abort_fn of a gocoro waker wait under trio.",
};

/* ---- the wait awaitable: a native coroutine that registers its waiter when first driven and
 *      detaches it when the driver throws into it or closes it (cancellation, close(), GC), so a
 *      later wake is remembered for the next wait instead of going to a dead one. ---- */
typedef struct {
    GoCoroWaker *w; /* own reference */
    uint64_t seq;   /* our registration, 0 before */
    int done;
} wait_state;

static int wait_register_asyncio(GoCoroWaker *w, PyObject **result)
{
    PyObject *loop = wr_target(w->hub->loop_wr);
    if (loop == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "GoCoro_WakerWait: the waker's event loop is gone");
        return -1;
    }
    PyObject *fut = PyObject_CallMethodNoArgs(loop, s_create_future);
    Py_DECREF(loop);
    if (fut == NULL)
        return -1;
    w->waiter = Py_NewRef(fut);
    *result = fut;
    return 0;
}

static int wait_register_trio(GoCoroWaker *w, uint64_t seq, PyObject **result)
{
    if (PyType_Ready(&TrioAbortType) < 0)
        return -1;
    PyObject *task = PyObject_CallNoArgs(trio_api.current_task);
    if (task == NULL)
        return -1;
    TrioAbort *a = PyObject_New(TrioAbort, &TrioAbortType);
    if (a == NULL) {
        Py_DECREF(task);
        return -1;
    }
    GoCoro_WakerRetain(w);
    a->w = w;
    a->seq = seq;
    PyObject *aw = PyObject_CallOneArg(trio_api.wait_task_rescheduled, (PyObject *)a);
    Py_DECREF(a);
    if (aw == NULL) {
        Py_DECREF(task);
        return -1;
    }
    w->waiter = task;
    *result = aw;
    return 0;
}

static int wait_step(PyObject *self, void *st, PyObject *sent, PyObject *thrown, PyObject **result)
{
    wait_state *s = st;
    GoCoroWaker *w = s->w;
    if (thrown != NULL) {
        if (s->seq != 0 && !s->done)
            waker_detach(w, s->seq);
        s->done = 1;
        return GoCoro_Rethrow(thrown);
    }
    if (s->seq != 0 || s->done) { /* the future completed / the task was rescheduled */
        s->done = 1;
        *result = Py_NewRef(Py_None);
        return GOCORO_RETURN;
    }
    if (waker_check_usable(w, "GoCoro_WakerWait") < 0)
        return GOCORO_ERROR;
    if (w->woken) {
        w->woken = 0;
        s->done = 1;
        *result = Py_NewRef(Py_None);
        return GOCORO_RETURN;
    }
    if (w->waiter != NULL) {
        int busy = 1;
        if (w->hub->lib == HUB_ASYNCIO) { /* a cancelled future not yet detached is no waiter */
            busy = future_done(w->waiter);
            if (busy < 0)
                return GOCORO_ERROR;
            busy = !busy;
        }
        if (busy) {
            PyErr_SetString(PyExc_RuntimeError,
                            "GoCoro_WakerWait: the waker already has a pending waiter (one at a time)");
            return GOCORO_ERROR;
        }
        Py_CLEAR(w->waiter);
    }
    uint64_t seq = w->wait_seq + 1;
    int rc = w->hub->lib == HUB_ASYNCIO ? wait_register_asyncio(w, result)
                                        : wait_register_trio(w, seq, result);
    if (rc < 0)
        return GOCORO_ERROR;
    w->wait_seq = seq;
    s->seq = seq;
    return GOCORO_AWAIT;
}

static void wait_finalize(void *st)
{
    wait_state *s = st;
    if (s->w != NULL) {
        if (s->seq != 0 && !s->done)
            waker_detach(s->w, s->seq);
        GoCoro_WakerRelease(s->w);
        s->w = NULL;
    }
}

static GoCoroCode *wait_code;

GoCoroPyObject *GoCoro_WakerWait(GoCoroWaker *w)
{
    if (waker_check_usable(w, "GoCoro_WakerWait") < 0)
        return NULL;
    if (wait_code == NULL) {
        static const GoCoroSpec spec = {
            .abi_version = GOCORO_ABI_VERSION,
            .struct_size = sizeof(GoCoroSpec),
            .kind = GOCORO_KIND_COROUTINE,
            .name = "waker_wait",
            .qualname = "gocoro.waker_wait",
            .filename = __FILE__,
            .firstlineno = __LINE__,
            .state_size = sizeof(wait_state),
            .step = wait_step,
            .finalize = wait_finalize,
        };
        wait_code = GoCoro_Prepare(&spec);
        if (wait_code == NULL)
            return NULL;
    }
    wait_state init = {.w = w, .seq = 0, .done = 0};
    PyObject *c = GoCoro_New(wait_code, &init, sizeof init, NULL);
    if (c != NULL)
        GoCoro_WakerRetain(w);
    return c;
}

/* ------------------------------------------------------------------------------------------ */
/* readiness, diagnostics                                                                      */

int gocoro_waker_ready(void)
{
    if (PyType_Ready(&HubOwnerType) < 0 || PyType_Ready(&TrioAbortType) < 0)
        return -1;
    return 0;
}

void gocoro_waker_stats(long *wakers, long *hubs, long *asyncio_hubs_out)
{
    long n_asyncio = 0;
    for (gc_hub *h = asyncio_hubs; h != NULL; h = h->next_live)
        n_asyncio++;
    *wakers = (long)atomic_load(&st_wakers);
    *hubs = (long)atomic_load(&st_hubs);
    *asyncio_hubs_out = n_asyncio;
}
