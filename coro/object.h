/* coro/object.h: the layout every gocoro object shares, its status enum, and the engine entry
 * points the per-kind files (coroutine.c, generator.c, ...) build their types from.
 *
 * Private to coro/.  The send fast path (gc_send_impl) is static inline here so that every
 * type slot that steps an object inlines it exactly as when all kinds lived in one file. */
#ifndef GOCORO_CORO_OBJECT_H
#define GOCORO_CORO_OBJECT_H

#include "coro/coro.h"

#if PY_VERSION_HEX < 0x030C0000
#include <structmember.h>
#define Py_T_PYSSIZET T_PYSSIZET
#define Py_READONLY READONLY
#endif

#if PY_VERSION_HEX >= 0x030D0000
/* Still exported by libpython 3.13, but its declaration moved to the internal headers. */
PyAPI_FUNC(void) _PyTraceback_Add(const char *, const char *, int);
#endif

/* ---------- Layout ---------- */

/* Object status (one byte in every gocoro object). */
enum {
    GC_CREATED = 0,   /* never stepped */
    GC_SUSPENDED = 1, /* stepped at least once, waiting to be resumed */
    GC_RUNNING = 2,   /* inside step or a delegated send/throw/close */
    GC_CLOSED = 3     /* returned, raised or closed: never stepped again */
};

/* Internal send result beside PySendResult's RETURN(0)/ERROR(-1)/NEXT(1): an async
 * generator produced an item (GOCORO_ITEM). */
#define GC_ITEM 2

struct GoCoroCode {
    PyObject_HEAD
    GoCoroState *st;    /* the interpreter's state (its type keeps the module, so st, alive) */
    GoCoroSpec spec;    /* a copy, normalised to this library's struct size */
    PyObject *name;     /* str */
    PyObject *qualname; /* str */
    PyObject *filename; /* str */
    PyObject *code;     /* empty code object naming the native function (cr_code, tracebacks) */
    const char *filename_c;
};

typedef struct {
    PyObject_VAR_HEAD          /* ob_size == state size */
    GoCoroCode *code;
    PyObject *await_obj;       /* the awaitable being driven (cr_await), or NULL */
    PyObject *weakreflist;
    PyObject *name;            /* instance override of __name__, or NULL */
    PyObject *qualname;        /* instance override of __qualname__, or NULL */
    union {
        struct {
            uint8_t status;
            uint8_t awaiting;  /* 1 while await_obj is set (gc_set_await / gc_clear_await) */
        };
        uint16_t resume_word;  /* both at once, for the step fast path (gc_fast_resumable) */
    };
    uint8_t cleared;           /* spec->clear already ran for the finished object */
    uint8_t kind;
    union {
        uint8_t ag_hooks_inited; /* async generators: firstiter/finalizer looked up */
        uint8_t delegated;       /* other kinds: an `await`/`yield from` took it (forwarded.c) */
    };
    uint8_t ag_running_async;  /* async generators: an asend/athrow awaitable is running */
    uint8_t ag_closed;         /* async generators: aclose() started or exhausted */
    uint8_t finalized;         /* tp_finalize ran (CPython then flags the GC header: never recycle) */
    union {
        PyObject *ag_finalizer; /* async generators: sys.get_asyncgen_hooks().finalizer */
        PyObject *cr_origin;    /* coroutines: where it was created, or NULL */
    };
    _Alignas(16) unsigned char state[];
} GoCoroObject;

/* The delegate (cr_await) is set and cleared only through these, so `awaiting` always says
 * whether await_obj is set. */
static inline void gc_set_await(GoCoroObject *c, PyObject *it)
{
    c->await_obj = it;
    c->awaiting = 1;
}

static inline void gc_clear_await(GoCoroObject *c)
{
    c->awaiting = 0;
    Py_CLEAR(c->await_obj);
}

/* resume_word for `status` with no delegate. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define GC_RESUME_WORD(status) ((uint16_t)((status) << 8))
#else
#define GC_RESUME_WORD(status) ((uint16_t)(status))
#endif

/* Suspended with no delegate: the next send goes straight to the step (one 16-bit compare).
 * The fast paths below also write status as the whole word (`awaiting` is 0 there): a byte
 * store followed by this word load would defeat store-to-load forwarding and stall every
 * tight resume loop for several nanoseconds. */
static inline int gc_fast_resumable(GoCoroObject *c)
{
    return c->resume_word == GC_RESUME_WORD(GC_SUSPENDED);
}

/* Store a constant resume word.  On x86-64 as one `movw $imm16` (compilers tuned for generic
 * x86 avoid that encoding for the decoder's sake and emit two instructions instead; from the
 * loop caches of current cores it costs nothing extra). */
#if defined(__GNUC__) && defined(__x86_64__)
#define GC_STORE_RESUME_WORD(c, status)                                                        \
    __asm__ __volatile__("movw %1, %0" : "=m"((c)->resume_word) : "i"(GC_RESUME_WORD(status)))
#else
#define GC_STORE_RESUME_WORD(c, status) ((c)->resume_word = GC_RESUME_WORD(status))
#endif

/* Suspend an object that has no delegate after its step yielded: the whole word, like the
 * fast paths, so that the next resume's word load is forwarded from this store. */
static inline void gc_suspend_after_step(GoCoroObject *c)
{
    assert(c->await_obj == NULL);
    GC_STORE_RESUME_WORD(c, GC_SUSPENDED);
}

/* ---------- Names ---------- */

static inline const char *gc_kind_word(GoCoroObject *c)
{
    switch (c->kind) {
    case GOCORO_KIND_GENERATOR:
    case GOCORO_KIND_ITERATOR:
        return "generator";
    case GOCORO_KIND_ASYNC_GENERATOR:
    case GOCORO_KIND_ASYNC_ITERATOR:
        return "async generator";
    default:
        return "coroutine";
    }
}

static inline PyObject *gc_qualname(GoCoroObject *c)
{
    return c->qualname ? c->qualname : c->code->qualname;
}

static inline PyObject *gc_name(GoCoroObject *c)
{
    return c->name ? c->name : c->code->name;
}

/* ---------- Step engine (step.c) ---------- */

/* Raise StopIteration carrying `value` as its value (CPython's return-value protocol). */
GOCORO_HIDDEN void gc_set_stop_iteration(PyObject *value);
/* The same for an async generator item delivered by an asend()/athrow() awaitable. */
GOCORO_HIDDEN void gc_set_stop_iteration_item(PyObject *value);
/* Drop everything the finished object owns (idempotent). */
GOCORO_HIDDEN void gc_release(GoCoroObject *c);
/* Handle a step result `r` (with its `res`), stepping again while awaitables finish at once. */
GOCORO_HIDDEN __attribute__((noinline)) int gc_after_step(GoCoroObject *c, int r, PyObject *res,
                                                          PyObject **presult);
/* A step returned `r` (anything but GOCORO_ERROR) with an exception set: replace it with a
 * SystemError naming the misuse, the stray exception as its cause. */
GOCORO_HIDDEN void gc_misuse_with_exception(GoCoroObject *c, int r);
/* Resume with `arg` (send) when the fast path does not apply.  PYGEN_* or GC_ITEM. */
GOCORO_HIDDEN __attribute__((noinline)) int gc_send_slow(GoCoroObject *c, PyObject *arg,
                                                         PyObject **presult);
/* throw(*args) into the object; close_on_genexit: a GeneratorExit closes the delegate. */
GOCORO_HIDDEN int gc_throw(GoCoroObject *c, PyObject *const *args, Py_ssize_t nargs,
                           int close_on_genexit, PyObject **presult);
/* 3.12+ deprecates the (type, exc, tb) form of throw()/athrow(): warn like CPython. */
GOCORO_HIDDEN int gc_warn_throw_signature(const char *meth, Py_ssize_t nargs);
#if PY_VERSION_HEX >= 0x030C0000
/* Whether throw(*args) (nargs > 1) on `c` is an outer generator's throw() forwarded to the
 * object it awaits, which warned already (forwarded.c). */
GOCORO_HIDDEN int gc_throw_is_forwarded(GoCoroObject *c, PyObject *const *args);
#endif
/* What an `await` or `yield from` taking `c` notes (see forwarded.c). */
static inline void gc_note_delegated(GoCoroObject *c)
{
#if PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030E0000
    c->delegated = 1;
#else
    (void)c;
#endif
}
/* The am_send slot and the send()/throw()/close() methods every steppable kind shares. */
GOCORO_HIDDEN PySendResult gc_am_send(PyObject *self, PyObject *arg, PyObject **presult);
GOCORO_HIDDEN PyObject *gc_send_method(PyObject *self, PyObject *arg);
GOCORO_HIDDEN PyObject *gc_throw_method(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
/* throw(*args) into `c` as a method call: own_method 1 for the object's own throw(), 0 for
 * the coroutine wrapper's (which always warns about the deprecated three-argument form). */
GOCORO_HIDDEN PyObject *gc_throw_call(GoCoroObject *c, PyObject *const *args, Py_ssize_t nargs,
                                      int own_method);
GOCORO_HIDDEN PyObject *gc_close_method(PyObject *self, PyObject *unused);

/* Whether an exception is set, for the per-step check that a step yielding a value left none
 * behind.  Since 3.12 the error indicator is one field of the thread state (read here without
 * PyErr_Occurred's extra call and type lookup); the thread-state lookup itself is a TLS read. */
static inline int gc_error_set(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyThreadState_GetUnchecked()->current_exception != NULL;
#elif PY_VERSION_HEX >= 0x030C0000
    return _PyThreadState_UncheckedGet()->current_exception != NULL;
#else
    return PyErr_Occurred() != NULL;
#endif
}

/* The per-step hot path: a suspended object with no delegate whose step yields a value.  Kept
 * tiny and inlined into every slot; everything else lives out of line (no register spills). */
static inline int gc_send_impl(GoCoroObject *c, PyObject *arg, PyObject **presult)
{
    if (GC_LIKELY(gc_fast_resumable(c))) {
        GC_STORE_RESUME_WORD(c, GC_RUNNING);
        PyObject *res = NULL;
        int r = c->code->spec.step((PyObject *)c, c->state, arg, NULL, &res);
        if (GC_LIKELY(r == GOCORO_NEXT && res != NULL && !gc_error_set())) {
            GC_STORE_RESUME_WORD(c, GC_SUSPENDED);
            *presult = res;
            return PYGEN_NEXT;
        }
        return gc_after_step(c, r, res, presult);
    }
    return gc_send_slow(c, arg, presult);
}

/* The same fast path in tp_iternext's shape (send(None); a value, or NULL with StopIteration or
 * an error set), for the slots the interpreter calls for `await`/`yield from` and iteration
 * (the coroutine wrapper's and the generator's tp_iternext).  Written so that only `c` lives
 * across the calls: every other outcome is a tail call out of line. */
GOCORO_HIDDEN __attribute__((noinline)) PyObject *gc_iternext_after_step(GoCoroObject *c, int r,
                                                                         PyObject *res);
GOCORO_HIDDEN __attribute__((noinline)) PyObject *gc_iternext_slow(GoCoroObject *c);

static inline PyObject *gc_iternext_impl(GoCoroObject *c)
{
    if (GC_LIKELY(gc_fast_resumable(c))) {
        GC_STORE_RESUME_WORD(c, GC_RUNNING);
        PyObject *res = NULL;
        int r = c->code->spec.step((PyObject *)c, c->state, Py_None, NULL, &res);
        if (GC_UNLIKELY(r != GOCORO_NEXT))
            return gc_iternext_after_step(c, r, res);
        if (GC_UNLIKELY(res == NULL) || GC_UNLIKELY(gc_error_set()))
            return gc_iternext_after_step(c, GOCORO_NEXT, res);
        GC_STORE_RESUME_WORD(c, GC_SUSPENDED);
        return res;
    }
    return gc_iternext_slow(c);
}

/* ---------- Shared object protocol (object.c) ---------- */

GOCORO_HIDDEN void gc_finalize(PyObject *self);
/* Report the current exception as unraisable, as CPython does while `doing` something to `obj`
 * ("closing generator", "finalizing coroutine"...): up to 3.13 the hook gets the object; since
 * 3.14 it gets object=None and the message "Exception ignored while <doing> <repr>". */
GOCORO_HIDDEN void gc_write_unraisable(const char *doing, PyObject *obj);
GOCORO_HIDDEN int gc_traverse(PyObject *self, visitproc visit, void *arg);
GOCORO_HIDDEN int gc_clear(PyObject *self);
GOCORO_HIDDEN void gc_dealloc(PyObject *self);
GOCORO_HIDDEN PyObject *gc_repr(PyObject *self);
GOCORO_HIDDEN PyObject *gc_get_name(PyObject *self, void *closure);
GOCORO_HIDDEN int gc_set_name(PyObject *self, PyObject *value, void *closure);
GOCORO_HIDDEN PyObject *gc_get_qualname(PyObject *self, void *closure);
GOCORO_HIDDEN int gc_set_qualname(PyObject *self, PyObject *value, void *closure);
GOCORO_HIDDEN PyObject *gc_get_running(PyObject *self, void *closure);
GOCORO_HIDDEN PyObject *gc_get_suspended(PyObject *self, void *closure);
GOCORO_HIDDEN PyObject *gc_get_await(PyObject *self, void *closure);
GOCORO_HIDDEN PyObject *gc_get_origin(PyObject *self, void *closure);
/* cr_origin for a coroutine created now: the `depth` innermost Python frames.  New ref / NULL. */
GOCORO_HIDDEN PyObject *gc_compute_origin(int depth);
#if PY_VERSION_HEX >= 0x030F0000
/* 3.15's cr_state / gi_state / ag_state; the getset closure is the prefix ("CORO", ...). */
GOCORO_HIDDEN PyObject *gc_get_state(PyObject *self, void *prefix);
#endif
GOCORO_HIDDEN PyObject *gc_get_frame(PyObject *self, void *closure);
GOCORO_HIDDEN PyObject *gc_get_code(PyObject *self, void *closure);
GOCORO_HIDDEN PyObject *gc_sizeof(PyObject *self, PyObject *unused);

/* ---------- Type specs ---------- */

/* Every gocoro type is a heap type, one per interpreter, created from these specs by
 * gocoro_coro_state_init: immutable, not instantiable nor subclassable from Python. */
#define GC_TYPE_FLAGS (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION)

/* __weaklistoffset__ of the object kinds (object.c). */
GOCORO_HIDDEN extern PyMemberDef gc_members[];

/* The spec fields and slots every gocoro object type shares: the layout (GoCoroObject +
 * inline state), GC, weak references and the common deallocator (which GoCoro_Check and the
 * per-interpreter type tests rely on). */
#define GC_OBJECT_SPEC(tpname)                                                                 \
    .name = tpname, .basicsize = (int)offsetof(GoCoroObject, state), .itemsize = 1,           \
    .flags = GC_TYPE_FLAGS | Py_TPFLAGS_HAVE_GC
#define GC_OBJECT_SLOTS                                                                        \
    {Py_tp_dealloc, gc_dealloc}, {Py_tp_traverse, gc_traverse}, {Py_tp_clear, gc_clear},       \
    {Py_tp_members, gc_members}

GOCORO_HIDDEN extern PyType_Spec gc_coroutine_spec, gc_wrapper_spec, gc_code_spec, gc_generator_spec,
    gc_iterator_spec, gc_asyncgen_spec, gc_asynciter_spec, gc_asend_spec, gc_athrow_spec;

/* 1 if o is a gocoro object (any interpreter's types: they share tp_dealloc). */
static inline int gc_is_object(PyObject *o)
{
    return Py_TYPE(o)->tp_dealloc == gc_dealloc;
}

/* 1 if o is a gocoro coroutine (what `Py_TYPE(o) == the coroutine type` tests, without
 * reaching for an interpreter's type object). */
static inline int gc_is_coroutine(PyObject *o)
{
    return gc_is_object(o) && ((GoCoroObject *)o)->kind == GOCORO_KIND_COROUTINE;
}

/* ---------- Per-kind entry points ---------- */

/* generator.c: tp_iternext of generators, also the coroutine's (for the interpreter's await loop). */
GOCORO_HIDDEN PyObject *gen_iternext(PyObject *self);

#endif
