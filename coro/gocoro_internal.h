/* Internal declarations shared by the C parts of coro/, panic/ and capi/ (not installed). */
#ifndef GOCORO_INTERNAL_H
#define GOCORO_INTERNAL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <stdint.h>

#define GOCORO_BUILDING_LIBRARY 1
#include "gocoro.h"

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
    uint8_t status;
    uint8_t cleared;           /* spec->clear already ran for the finished object */
    uint8_t kind;
    uint8_t ag_hooks_inited;   /* async generators: firstiter/finalizer looked up */
    uint8_t ag_running_async;  /* async generators: an asend/athrow awaitable is running */
    uint8_t ag_closed;         /* async generators: aclose() started or exhausted */
    uint8_t finalized;         /* tp_finalize ran (CPython then flags the GC header: never recycle) */
    uint8_t pad[1];
    union {
        PyObject *ag_finalizer; /* async generators: sys.get_asyncgen_hooks().finalizer */
        PyObject *cr_origin;    /* coroutines: where it was created, or NULL */
    };
    _Alignas(16) unsigned char state[];
} GoCoroObject;

extern PyTypeObject GoCoro_CoroutineType_Impl;
extern PyTypeObject GoCoro_WrapperType_Impl;
extern PyTypeObject GoCoro_CodeType_Impl;
extern PyTypeObject GoCoro_GeneratorType_Impl;
extern PyTypeObject GoCoro_IteratorType_Impl;
extern PyTypeObject GoCoro_AsyncGenType_Impl;
extern PyTypeObject GoCoro_AsyncIterType_Impl;
extern PyTypeObject GoCoro_AGASendType_Impl;
extern PyTypeObject GoCoro_AGAThrowType_Impl;
extern PyObject *gocoro_panic_exc;      /* gocoro.PanicException */
extern volatile int gocoro_forked_child; /* set by the pthread_atfork child handler */
extern GoCoroAPI gocoro_api_table;

/* Create the types, PanicException and ABC registrations once per process.  0 / -1. */
int gocoro_ensure_ready(void);
/* panic/: create gocoro.PanicException (called by gocoro_ensure_ready). */
PyObject *gocoro_panic_create(void);
/* RuntimeError for Go-backed calls in a forked child; returns 0 if Go is usable. */
int gocoro_go_unavailable(const char *what);

/* Exception helpers portable across 3.10-3.13. */
PyObject *gocoro_fetch_exc(void);           /* new ref or NULL */
void gocoro_restore_exc(PyObject *exc);     /* steals */

#endif
