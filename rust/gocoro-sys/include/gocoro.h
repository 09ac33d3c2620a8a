/*
 * gocoro.h — public C API of libgocoro: native CPython awaitables from function pointers.
 *
 * Self-contained: compiles as C11 and C++ without Python.h.  Python objects appear as the
 * opaque `struct _object` (which *is* CPython's PyObject), so Rust/Zig/etc. bind it as an
 * opaque pointer.  When Python.h is included first, a static inline import helper
 * (GoCoro_ImportAPI) becomes available as well.
 *
 * Two ways to use it from an extension:
 *   1. Capsule (no link step, numpy-style): `#define GOCORO_USE_CAPSULE` before including this
 *      header, call GoCoro_ImportAPI() once in your module init; every GoCoro_* call then goes
 *      through the function table exported by `import gocoro` as the capsule `gocoro._C_API`.
 *      (The table pointer is `static`: a multi-file extension calls GoCoro_ImportAPI() in each
 *      translation unit, or keeps the gocoro calls in one file.)
 *   2. Direct link: link with -lgocoro (the same shared object Python imports as `gocoro`) and
 *      call GoCoro_* directly.  The library initialises itself on first use.
 * Either way every extension in an interpreter gets the *same* types and PanicException.
 *
 * Interpreters: gocoro keeps its types, PanicException, free lists and caches per interpreter
 * (subinterpreters, with their own GIL or a shared one, on 3.12+).  A GoCoroCode belongs to
 * the interpreter that prepared it: prepare per interpreter (e.g. in your module's state) and
 * create objects only in that interpreter.  The capsule's function table is one per process
 * and every function finds the current interpreter itself.
 *
 * The step protocol
 * -----------------
 * A native awaitable is a spec (callbacks + names) plus `state_size` bytes of inline state,
 * stored inside the Python object (one allocation).  Each time the driver resumes the object,
 * the library calls
 *
 *     int step(self, state, sent, thrown, &result)
 *
 *   self    borrowed: the Python object being stepped (for GoCoro_* helpers).
 *   state   the inline state (aligned to 16 bytes, zero-filled or copied from `init`).
 *   sent    borrowed: Py_None on the first step, the value sent by the driver after NEXT, or the
 *           result of the awaitable after AWAIT.  NULL exactly when `thrown` is non-NULL.
 *   thrown  borrowed exception *instance* thrown into the object (by throw(), close() ->
 *           GeneratorExit, task cancellation -> CancelledError, or raised by the awaitable
 *           given with AWAIT); the error indicator is *not* set.  To let it propagate, return
 *           GoCoro_Rethrow(thrown); to swallow it, just carry on.  Never on the first step:
 *           throwing into (or closing) an object that never started raises (or closes) without
 *           calling step, as for an async def.  While the step runs, `thrown` is the exception
 *           being handled, as in an `except` block: sys.exception() returns it, and an
 *           exception the step raises instead gets it as __context__ automatically.
 *   result  out: a NEW reference, see the return codes.
 *
 * Return codes (GOCORO_RETURN/ERROR/NEXT mirror CPython's PySendResult):
 *   GOCORO_NEXT    *result is yielded to the driver (e.g. an asyncio future, a trio trap, or a
 *                  generator item); the next step gets what is sent/thrown back.
 *   GOCORO_AWAIT   *result is an awaitable; the library drives it exactly like `await` (it gets
 *                  cr_await, send/throw/close are forwarded) and the next step receives its
 *                  return value as `sent` or its exception as `thrown`.
 *   GOCORO_RETURN  finished; *result is the return value (StopIteration.value).  The library
 *                  takes *result first, then calls `clear`.
 *   GOCORO_ERROR   finished with the Python exception that is set; a *result set anyway is
 *                  released.  A StopIteration raised here becomes RuntimeError (PEP 479;
 *                  also StopAsyncIteration in async generators), and the traceback gains a
 *                  frame naming the spec's name, filename and line.
 *   GOCORO_ITEM    async generators/iterators only: *result is the next item (`yield` in an
 *                  async def).
 * Misuse is reported at once, never crashes or leaks into later code: ERROR without an
 * exception, NEXT/AWAIT/ITEM without a result, any code but ERROR with an exception set (that
 * exception becomes the SystemError's __cause__), or an unknown code raise SystemError from the
 * step.  A NULL result with RETURN means None.
 *
 * A finished object (RETURN, ERROR, or closed) is never stepped again; its state memory stays
 * readable (GoCoro_GetState) until the object is freed, holding what `clear` left in it.
 * On CPython 3.12+, throw()/athrow() with the (type, value, traceback) signature warn
 * DeprecationWarning as CPython's own objects do; the single-argument form does not.  When an
 * outer generator or coroutine forwards such a throw() to the gocoro object it awaits, only the
 * outer one warns, as for CPython's objects (3.12/3.13 recognise the forwarded call by its
 * arguments arriving in a C array: see the README's API guide).
 *
 * A step must not call back into its own object (that raises "... already executing").
 * All callbacks run with the GIL held.
 */
#ifndef GOCORO_H
#define GOCORO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bump GOCORO_ABI_VERSION on incompatible changes; tables and specs only ever grow (check
 * struct_size before touching a newer member). */
#define GOCORO_ABI_VERSION 1u

/* Step results. */
#define GOCORO_ERROR  (-1)
#define GOCORO_RETURN 0
#define GOCORO_NEXT   1
#define GOCORO_AWAIT  2
#define GOCORO_ITEM   3

/* What kind of Python object a spec makes. */
#define GOCORO_KIND_COROUTINE       0u /* gocoro.Coroutine: send/throw/close/__await__, am_send */
#define GOCORO_KIND_GENERATOR       1u /* gocoro.Generator: __next__/send/throw/close; NEXT is
                                          `yield`, AWAIT is `yield from` an iterable */
#define GOCORO_KIND_ITERATOR        2u /* gocoro.Iterator: __next__ only, step called directly
                                          with sent=None and never thrown into; NEXT = item,
                                          RETURN = end (a non-None result becomes
                                          StopIteration.value); an ERROR with StopIteration
                                          set simply ends iteration, that exception (and its
                                          value) reaching the caller (no PEP 479 here) */
#define GOCORO_KIND_ASYNC_GENERATOR 3u /* gocoro.AsyncGenerator: __anext__/asend/athrow/aclose;
                                          ITEM is `yield`, NEXT yields to the event loop,
                                          AWAIT is `await`, RETURN ends (value ignored);
                                          sys.set_asyncgen_hooks is honoured */
#define GOCORO_KIND_ASYNC_ITERATOR  4u /* gocoro.AsyncIterator: __aiter__/__anext__ only; step
                                          results as for async generators, no hooks; an ERROR
                                          with StopAsyncIteration set ends iteration */

struct _object;                       /* CPython's PyObject */
typedef struct _object GoCoroPyObject; /* never dereferenced by this header */

typedef int (*GoCoroVisitFn)(GoCoroPyObject *obj, void *arg); /* == CPython's visitproc */

typedef int (*GoCoroStepFn)(GoCoroPyObject *self, void *state, GoCoroPyObject *sent,
                            GoCoroPyObject *thrown, GoCoroPyObject **result);
/* Visit every Python object the state owns (as tp_traverse); return the first non-zero. */
typedef int (*GoCoroTraverseFn)(void *state, GoCoroVisitFn visit, void *arg);
/* Drop the Python references the state owns (must be idempotent: called by tp_clear, when
 * the object finishes, and before finalize). */
typedef void (*GoCoroClearFn)(void *state);
/* Release non-Python resources: called exactly once, right before the memory is freed. */
typedef void (*GoCoroFinalizeFn)(void *state);

typedef struct GoCoroSpec {
    uint32_t abi_version;   /* GOCORO_ABI_VERSION */
    uint32_t struct_size;   /* sizeof(GoCoroSpec) */
    uint32_t kind;          /* GOCORO_KIND_* */
    uint32_t flags;         /* reserved, 0 */
    const char *name;       /* __name__ (UTF-8, required) */
    const char *qualname;   /* __qualname__ (NULL: same as name) */
    const char *filename;   /* for tracebacks/cr_code (NULL: "<native>") */
    int32_t firstlineno;    /* for tracebacks/cr_code */
    uint32_t reserved0;
    size_t state_size;      /* bytes of inline state (0 allowed) */
    GoCoroStepFn step;          /* required */
    GoCoroTraverseFn traverse;  /* optional */
    GoCoroClearFn clear;        /* optional */
    GoCoroFinalizeFn finalize;  /* optional */
} GoCoroSpec;

/* A validated, prepared spec.  It is a Python object (keep the reference for as long as you
 * create objects from it, typically forever); every object made from it holds a reference. */
typedef struct GoCoroCode GoCoroCode;

/* ---------- Wakers and blocking work: types ----------
 *
 * A waker lets native code suspend an awaitable until *any* thread says "go on", without that
 * thread ever touching the GIL; GoCoro_RunBlocking runs a blocking C function on a Go
 * goroutine (off the GIL) and resumes the awaiting task with its result.  Both work under
 * asyncio (any loop with add_reader: the default selector loop, uvloop), trio, and anyio on
 * either backend.
 *
 * Wake-ups are batched: GoCoro_Wake costs a few atomic operations, plus at most one write to a
 * per-event-loop eventfd while the loop has not drained the previous batch.  The loop thread
 * drains the batch and completes the waiting futures / reschedules the trio tasks.
 */

/* An opaque, reference-counted waker handle, bound to the event loop (asyncio loop or trio run)
 * that was running when it was created.  The handle may outlive the awaitables it made, the
 * coroutine that waits on it, and even the event loop: waking it then does nothing. */
typedef struct GoCoroWaker GoCoroWaker;

/* Blocking work for GoCoro_RunBlocking.  Called exactly once, WITHOUT the GIL, on an executor
 * thread (never use the Python C API in it).  *cancelled becomes non-zero once nobody waits for
 * the result any more (task cancelled, deadline passed, awaitable closed or freed): a long fn
 * should poll it and return early.  The return value is handed to to_python or cleanup. */
typedef void *(*GoCoroBlockingFn)(void *arg, const volatile int32_t *cancelled);
/* Convert fn's result: called with the GIL on the event loop thread, at most once.  Returns a
 * new reference (the awaiter's result) or NULL with an exception set (raised in the awaiter).
 * It owns `arg` and `ret` from then on (free them before returning). */
typedef GoCoroPyObject *(*GoCoroToPythonFn)(void *arg, void *ret);
/* Release arg/ret when nobody awaits the result any more; called at most once, instead of
 * to_python.  Runs on ANY thread, with or without the GIL: it must not use the Python C API
 * (wrap such code in PyGILState_Ensure/PyGILState_Release).  `ret` is what fn returned, or
 * NULL if fn never returned normally (a Go panic in the executor before fn ran). */
typedef void (*GoCoroCleanupFn)(void *arg, void *ret);

/* The function table behind the capsule `gocoro._C_API` (same functions as the exports). */
typedef struct GoCoroAPI {
    uint32_t abi_version;
    uint32_t struct_size;
    GoCoroCode *(*Prepare)(const GoCoroSpec *spec);
    GoCoroPyObject *(*New)(GoCoroCode *code, const void *init, size_t init_size, void **state_out);
    void *(*GetState)(GoCoroPyObject *obj);
    int (*RaisePanic)(const char *msg);
    int (*Rethrow)(GoCoroPyObject *exc);
    int (*Check)(GoCoroPyObject *obj);
    /* Deprecated: borrowed references to the MAIN interpreter's type and exception (NULL until
     * gocoro is initialised there).  One static table cannot name every interpreter's
     * objects; use the CoroutineType/PanicException functions below (what the capsule macros
     * GoCoro_CoroutineType()/GoCoro_PanicException() call). */
    GoCoroPyObject *coroutine_type;
    GoCoroPyObject *panic_exception;
    /* Wakers and blocking work (same ABI version: check struct_size, see GOCORO_API_HAS) */
    GoCoroWaker *(*WakerNew)(void);
    GoCoroPyObject *(*WakerWait)(GoCoroWaker *w);
    void (*Wake)(GoCoroWaker *w);
    void (*WakerRetain)(GoCoroWaker *w);
    void (*WakerRelease)(GoCoroWaker *w);
    GoCoroPyObject *(*RunBlocking)(GoCoroBlockingFn fn, void *arg, GoCoroToPythonFn to_python,
                                   GoCoroCleanupFn cleanup, double timeout_seconds);
    /* The current interpreter's canonical objects (same ABI version: check struct_size) */
    GoCoroPyObject *(*CoroutineType)(void);
    GoCoroPyObject *(*PanicException)(void);
} GoCoroAPI;

/* The table only grows within ABI version 1: a member exists in the table you got iff
 * offsetof(GoCoroAPI, member) + sizeof(member) <= api->struct_size.  GoCoro_ImportAPI() below
 * refuses a table smaller than the header it was compiled with, so capsule users compiled
 * against this header can call every member unconditionally; code that wants to run against
 * an older libgocoro checks struct_size itself (GOCORO_API_HAS). */
#define GOCORO_API_HAS(api, member) \
    ((api)->struct_size >= offsetof(GoCoroAPI, member) + sizeof(((GoCoroAPI *)0)->member))

#define GOCORO_CAPSULE_NAME "gocoro._C_API"

#if defined(GOCORO_USE_CAPSULE) && !defined(GOCORO_BUILDING_LIBRARY)

#if defined(__GNUC__) || defined(__clang__)
#define GOCORO_UNUSED __attribute__((unused))
#else
#define GOCORO_UNUSED
#endif
static const GoCoroAPI *GoCoro_APIPtr GOCORO_UNUSED = 0;

#define GoCoro_Prepare(spec)               (GoCoro_APIPtr->Prepare(spec))
#define GoCoro_New(code, init, size, out)  (GoCoro_APIPtr->New((code), (init), (size), (out)))
#define GoCoro_GetState(obj)               (GoCoro_APIPtr->GetState(obj))
#define GoCoro_RaisePanic(msg)             (GoCoro_APIPtr->RaisePanic(msg))
#define GoCoro_Rethrow(exc)                (GoCoro_APIPtr->Rethrow(exc))
#define GoCoro_Check(obj)                  (GoCoro_APIPtr->Check(obj))
#define GoCoro_CoroutineType()             (GoCoro_APIPtr->CoroutineType())
#define GoCoro_PanicException()            (GoCoro_APIPtr->PanicException())
/* Wakers and blocking work (GIL and thread rules: see the declarations below) */
#define GoCoro_WakerNew()                  (GoCoro_APIPtr->WakerNew())
#define GoCoro_WakerWait(w)                (GoCoro_APIPtr->WakerWait(w))
#define GoCoro_Wake(w)                     (GoCoro_APIPtr->Wake(w))
#define GoCoro_WakerRetain(w)              (GoCoro_APIPtr->WakerRetain(w))
#define GoCoro_WakerRelease(w)             (GoCoro_APIPtr->WakerRelease(w))
#define GoCoro_RunBlocking(fn, arg, to_python, cleanup, timeout) \
    (GoCoro_APIPtr->RunBlocking((fn), (arg), (to_python), (cleanup), (timeout)))

#ifdef Py_PYTHON_H
/* Import `gocoro` and fetch its function table.  0 on success, -1 with an exception set
 * (ImportError on a missing module or an ABI mismatch; the message names this header's ABI and
 * table size, and the installed gocoro's version, ABI and table size). */
static inline int GoCoro_ImportAPI(void)
{
    const GoCoroAPI *api;
    PyObject *mod = PyImport_ImportModule("gocoro");
    if (mod == NULL)
        return -1;
    api = (const GoCoroAPI *)PyCapsule_Import(GOCORO_CAPSULE_NAME, 0);
    if (api == NULL) {
        Py_DECREF(mod);
        return -1;
    }
    if (api->abi_version != GOCORO_ABI_VERSION || api->struct_size < sizeof(GoCoroAPI)) {
        PyObject *ver = PyObject_GetAttrString(mod, "__version__");
        const char *v = (ver != NULL && PyUnicode_Check(ver)) ? PyUnicode_AsUTF8(ver) : NULL;
        if (v == NULL) {
            PyErr_Clear();
            v = "(unknown version)";
        }
        PyErr_Format(PyExc_ImportError,
                     "gocoro ABI mismatch: this extension was built for ABI %u (table %u bytes), "
                     "the loaded gocoro %s provides ABI %u (table %u bytes); %s",
                     (unsigned)GOCORO_ABI_VERSION, (unsigned)sizeof(GoCoroAPI), v,
                     (unsigned)api->abi_version, (unsigned)api->struct_size,
                     api->abi_version != GOCORO_ABI_VERSION
                         ? "rebuild the extension against the installed gocoro"
                         : "upgrade gocoro to the version the extension was built with");
        Py_XDECREF(ver);
        Py_DECREF(mod);
        return -1;
    }
    Py_DECREF(mod);
    GoCoro_APIPtr = api;
    return 0;
}
#endif /* Py_PYTHON_H */

#else /* direct linking against libgocoro */

/* Validate and prepare a spec; new reference, or NULL with ValueError/TypeError/RuntimeError
 * (NULL spec, NULL step, unknown kind, ABI/struct size mismatch, missing name). */
GoCoroCode *GoCoro_Prepare(const GoCoroSpec *spec);
/* Create an object from a prepared spec.  `init` (may be NULL: zero-filled) must be exactly
 * `state_size` bytes; `init_size` is checked against it (ValueError).  *state_out (optional)
 * receives the inline state pointer.  New reference, or NULL with an exception set. */
GoCoroPyObject *GoCoro_New(GoCoroCode *code, const void *init, size_t init_size, void **state_out);
/* The inline state of a gocoro object, or NULL with TypeError. */
void *GoCoro_GetState(GoCoroPyObject *obj);
/* Set gocoro.PanicException(msg); returns GOCORO_ERROR so a step can `return GoCoro_RaisePanic(..)`. */
int GoCoro_RaisePanic(const char *msg);
/* Re-raise an exception instance (e.g. `thrown`) with its traceback; returns GOCORO_ERROR. */
int GoCoro_Rethrow(GoCoroPyObject *exc);
/* 1 if obj is an object made by gocoro (any kind), else 0.  Never fails. */
int GoCoro_Check(GoCoroPyObject *obj);
/* Borrowed references to the current interpreter's canonical type and exception (initialising
 * gocoro in that interpreter if needed), or NULL with an exception set. */
GoCoroPyObject *GoCoro_CoroutineType(void);
GoCoroPyObject *GoCoro_PanicException(void);

/* ---------- Wakers and blocking work: functions ---------- */

/* GIL held, on an event loop thread (typically inside a step).  A new waker (one reference,
 * owned by the caller) bound to the running event loop: asyncio (including uvloop and anyio's
 * asyncio backend) or trio (including anyio's trio backend).  NULL with RuntimeError("no
 * running event loop ...") outside of one. */
GoCoroWaker *GoCoro_WakerNew(void);
/* GIL held, on the waker's event loop thread.  A NEW awaitable (a gocoro coroutine) that
 * completes with None once the waker is woken: at once if it was woken since the last wait was
 * satisfied, otherwise at the next GoCoro_Wake.  Return it from a step with GOCORO_AWAIT (or
 * await it from Python).  It registers itself when first driven (asyncio: it awaits a
 * loop.create_future() future; trio: trio.lowlevel.wait_task_rescheduled) and detaches when the
 * driver throws into it or closes it (task cancellation, close(), garbage collection): a wake
 * that arrives with nobody waiting is remembered for the next wait, never lost and never
 * delivered to a dead wait.  Re-armable: after a wake was consumed, a new wait waits for the
 * next wake.  One waiter at a time (RuntimeError when a second one starts while the first is
 * still waiting).  The awaitable holds its own reference to w: the caller keeps (and must
 * eventually release) its own, and may release it right after this call.  NULL with an
 * exception set on error (RuntimeError once the event loop is closed / the trio run ended, or
 * on another thread). */
GoCoroPyObject *GoCoro_WakerWait(GoCoroWaker *w);
/* ANY thread, GIL not needed (holding it is fine).  Wake the waker: idempotent until the wake
 * is consumed (several wakes before the waiter runs resume it once).  Lock-free; never blocks;
 * never calls Python.  The caller must own a reference to w.  Does nothing once the event
 * loop is gone. */
void GoCoro_Wake(GoCoroWaker *w);
/* ANY thread, GIL not needed.  Add a reference (e.g. before handing w to another thread). */
void GoCoro_WakerRetain(GoCoroWaker *w);
/* ANY thread, GIL not needed.  Drop a reference; NULL is ignored.  The Python parts of the
 * last reference are released later on the event loop thread (or when the loop closes). */
void GoCoro_WakerRelease(GoCoroWaker *w);
/* GIL held, on an event loop thread.  Start fn(arg, cancelled) now on a goroutine (without the
 * GIL) and return a NEW awaitable for its outcome:
 *   - fn returned and the awaiter is still waiting: the awaiter resumes with to_python(arg,
 *     ret) (GIL, loop thread; NULL + exception raises it in the awaiter; to_python == NULL:
 *     cleanup(arg, ret) runs and the result is None);
 *   - the awaiting task is cancelled, or the awaitable is closed/freed first: *cancelled is set,
 *     the awaiter gets the cancellation at once, and cleanup(arg, ret) runs once fn returns;
 *   - timeout_seconds > 0 and the deadline passes first (the clock starts now): *cancelled is
 *     set, the awaiter raises the builtin TimeoutError, cleanup(arg, ret) runs once fn returns;
 *   - a Go panic in the executor: the awaiter raises gocoro.PanicException, cleanup runs.
 * On success exactly one of to_python and cleanup (either may be NULL) is eventually called.
 * Returns NULL with an exception set (and calls neither: the caller still owns arg) without a
 * running event loop, in a child process created by fork() (RuntimeError: the Go runtime does
 * not survive fork), or when the launch itself fails (PanicException, MemoryError).
 * At most GOCORO_MAX_BLOCKING (environment variable, default 512) fns run at a time; later
 * jobs queue (their deadline runs while queued).  fn runs even if cancelled while queued. */
GoCoroPyObject *GoCoro_RunBlocking(GoCoroBlockingFn fn, void *arg, GoCoroToPythonFn to_python,
                                   GoCoroCleanupFn cleanup, double timeout_seconds);

#endif

#ifdef __cplusplus
}
#endif

#endif /* GOCORO_H */
