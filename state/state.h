/* state/state.h: the per-interpreter state of libgocoro, and how every path finds it.
 *
 * One GoCoroState per interpreter, stored in the module state of the interpreter's `gocoro`
 * module instance (multi-phase init, capi/module.c).  Each package owns its section of the
 * struct and initialises, traverses and clears it from the module's exec/traverse/clear:
 *   coro/      the object types, PanicException, free lists, asyncgen-hook lookup, frame globals
 *   waker/     its private types, interned strings, asyncio and trio lookups, live asyncio hubs,
 *              the code objects of its awaitables
 *   executor/  the code object of the RunBlocking awaitable, its unsettled jobs, its test hook
 *
 * How each path reaches it (never through a process-wide global):
 *   - objects: through their code object, `c->code->st` (GoCoro_New, dealloc, free lists,
 *     frames, hooks); types, by flag (a shared tp_dealloc), never by identity with a static;
 *   - entry points without an object (GoCoro_Prepare, WakerNew, RunBlocking, CoroutineType,
 *     RaisePanic, Go panics): gocoro_state_current(), a per-thread cache in front of a lookup
 *     in the interpreter's dict that imports (or creates) the module on first use.
 * Lower packages depend on this one only; it depends on nothing but CPython. */
#ifndef GOCORO_STATE_H
#define GOCORO_STATE_H

#include "internal/gocoro_internal.h"

/* ---------- Free list geometry ---------- */

#define GC_FL_MAX_STATE 128                      /* largest recycled inline state, bytes */
#define GC_FL_BUCKETS (GC_FL_MAX_STATE / 16 + 1) /* one bucket per 16 bytes of state */
#define GC_FL_DEPTH 64                           /* objects kept per bucket */
#define WR_FL_DEPTH 32                           /* coroutine wrappers kept */
#define AW_FL_DEPTH 16                           /* asend/athrow awaitables kept */

struct gc_hub;

/* ---------- The state ---------- */

typedef struct GoCoroState {
    /* ---- identity (capi/) ---- */
    PyObject *module;          /* borrowed: the module instance whose state this is */
    PyObject *primary_module;  /* a second instance in the same interpreter: strong reference
                                  to the first one, whose types it re-exports; else NULL */
    int64_t interp_id;
    int registered;            /* found by gocoro_state_current() */
    int closing;               /* module clear started: free lists no longer take objects */
    int go_registered;         /* counted in the Go registry (capi/main.go) */
    int counted;               /* counted in capi's live states */

    /* ---- coro/ ---- */
    PyTypeObject *coroutine_type, *wrapper_type, *code_type, *generator_type, *iterator_type;
    PyTypeObject *asyncgen_type, *asynciter_type, *asend_type, *athrow_type;
    PyTypeObject *kind_types[5];   /* borrowed, indexed by GOCORO_KIND_* */
    PyObject *panic_exc;           /* gocoro.PanicException */
    PyObject *get_asyncgen_hooks;  /* sys.get_asyncgen_hooks */
    PyObject *frame_globals;       /* globals of the frames cr_frame & co. make */
    PyObject *obj_fl[GC_FL_BUCKETS][GC_FL_DEPTH]; /* recycled objects, untracked, no type ref */
    int obj_fl_len[GC_FL_BUCKETS];
    PyObject *wr_fl[WR_FL_DEPTH];  /* recycled coroutine wrappers */
    int wr_fl_len;
    PyObject *aw_fl[AW_FL_DEPTH];  /* recycled asend/athrow awaitables (`async for` makes one
                                      per item), untracked, no type ref */
    int aw_fl_len;

    /* ---- waker/ ---- */
    PyTypeObject *hubowner_type, *trioabort_type;
    PyObject *s_done, *s_set_result, *s_create_future, *s_add_reader, *s_get, *s_set;
    PyObject *s_trio, *s_asyncio, *s_name;
    PyObject *get_running_loop;    /* weakref to _asyncio._get_running_loop, once asyncio is
                                      imported (weak: see waker.c asyncio_running_loop) */
    struct {
        PyObject *module;          /* trio, once imported by the program */
        PyObject *sniffio_local;
        PyObject *current_task, *wait_task_rescheduled, *reschedule, *abort_succeeded;
        PyObject *wait_readable, *spawn_system_task;
        PyObject *hub_var;         /* RunVar("gocoro_waker_hub") */
        PyObject *hub_task_fn;     /* builtin that makes the hub's system task */
    } trio;
    struct gc_hub *asyncio_hubs;   /* live asyncio hubs of this interpreter */
    GoCoroCode *hubtask_code, *wait_code;

    /* ---- executor/ ---- */
    GoCoroCode *job_code;
    struct gocoro_job *jobs;       /* launched jobs whose awaitable has not settled */
    int test_panic_flags;
} GoCoroState;

/* ---------- Finding the state ---------- */

/* The current interpreter's state (borrowed), or NULL with an exception set.  GIL held.
 * Cheap after the first call on a thread (a per-thread cache keyed by the interpreter);
 * on a miss it imports the module, or creates it when it is not importable. */
GoCoroState *gocoro_state_current(void);

/* The current interpreter's state if the module is initialised there, else NULL (no
 * exception).  GIL held. */
GoCoroState *gocoro_state_find(void);

/* Make st the current interpreter's state (0 / -1 with an exception), or forget it.  Called by
 * the module's exec and clear/free.  GIL held. */
int gocoro_state_register(GoCoroState *st);
void gocoro_state_unregister(GoCoroState *st);

/* Set once by capi/ (the module's owner): import or create the module in the current
 * interpreter, returning its state (borrowed) or NULL with an exception. */
extern GoCoroState *(*gocoro_state_bootstrap)(void);

#endif
