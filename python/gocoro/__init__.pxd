# cython: language_level=3
# Cython declarations for gocoro.h (capsule mode: no link step).
#
#     from gocoro cimport GoCoroSpec, GoCoroCode, GoCoro_Prepare, GoCoro_New, import_gocoro, ...
#     import_gocoro()          # once, at module import (imports gocoro, fetches gocoro._C_API)
#
# Build with include_dirs=[gocoro.get_include()]; Cython finds this file through sys.path.
# Steps are `cdef int step(...) except -1`: GOCORO_ERROR is -1 with an exception set, which is
# what Cython returns when a Python exception escapes, so a step may run ordinary Python code.
# The calls go through the function table `gocoro._C_API` (macros in the header, declared here
# like functions); every Cython module that cimports this file calls import_gocoro() itself.
from cpython.ref cimport PyObject
from libc.stdint cimport uint32_t, int32_t

# Must come before gocoro.h is included: select the capsule flavour of the header.
cdef extern from *:
    """
    #ifndef GOCORO_USE_CAPSULE
    #define GOCORO_USE_CAPSULE
    #endif
    """

cdef extern from "gocoro.h":
    unsigned int GOCORO_ABI_VERSION
    const char *GOCORO_CAPSULE_NAME

    # step results
    int GOCORO_ERROR, GOCORO_RETURN, GOCORO_NEXT, GOCORO_AWAIT, GOCORO_ITEM
    # kinds
    unsigned int GOCORO_KIND_COROUTINE, GOCORO_KIND_GENERATOR, GOCORO_KIND_ITERATOR
    unsigned int GOCORO_KIND_ASYNC_GENERATOR, GOCORO_KIND_ASYNC_ITERATOR

    # Python objects are `struct _object`, i.e. PyObject, in the header.
    ctypedef int (*GoCoroVisitFn)(PyObject *obj, void *arg) noexcept
    ctypedef int (*GoCoroStepFn)(PyObject *self, void *state, PyObject *sent, PyObject *thrown,
                                 PyObject **result) except -1
    ctypedef int (*GoCoroTraverseFn)(void *state, GoCoroVisitFn visit, void *arg) noexcept
    ctypedef void (*GoCoroClearFn)(void *state) noexcept
    ctypedef void (*GoCoroFinalizeFn)(void *state) noexcept

    ctypedef struct GoCoroSpec:
        uint32_t abi_version    # GOCORO_ABI_VERSION
        uint32_t struct_size    # sizeof(GoCoroSpec)
        uint32_t kind           # GOCORO_KIND_*
        uint32_t flags          # reserved, 0
        const char *name        # __name__ (required)
        const char *qualname    # __qualname__ (NULL: name)
        const char *filename    # for tracebacks (NULL: "<native>")
        int32_t firstlineno
        size_t state_size       # bytes of inline state
        GoCoroStepFn step       # required
        GoCoroTraverseFn traverse
        GoCoroClearFn clear
        GoCoroFinalizeFn finalize

    ctypedef struct GoCoroCode:
        pass

    ctypedef struct GoCoroWaker:
        pass

    # blocking work (GoCoro_RunBlocking): fn runs WITHOUT the GIL on an executor thread
    ctypedef void *(*GoCoroBlockingFn)(void *arg, const volatile int32_t *cancelled) noexcept nogil
    ctypedef PyObject *(*GoCoroToPythonFn)(void *arg, void *ret) noexcept
    ctypedef void (*GoCoroCleanupFn)(void *arg, void *ret) noexcept nogil

    # The capsule-mode macros, declared like functions.
    int GoCoro_ImportAPI() except -1
    GoCoroCode *GoCoro_Prepare(const GoCoroSpec *spec) except NULL
    object GoCoro_New(GoCoroCode *code, const void *init, size_t init_size, void **state_out)
    void *GoCoro_GetState(object obj) except NULL
    int GoCoro_RaisePanic(const char *msg)   # always GOCORO_ERROR, with the exception set
    int GoCoro_Rethrow(PyObject *exc)        # always GOCORO_ERROR, with the exception set
    int GoCoro_Check(object obj)
    PyObject *GoCoro_CoroutineType()         # borrowed
    PyObject *GoCoro_PanicException()        # borrowed

    GoCoroWaker *GoCoro_WakerNew() except NULL
    object GoCoro_WakerWait(GoCoroWaker *w)
    void GoCoro_Wake(GoCoroWaker *w) nogil
    void GoCoro_WakerRetain(GoCoroWaker *w) nogil
    void GoCoro_WakerRelease(GoCoroWaker *w) nogil
    object GoCoro_RunBlocking(GoCoroBlockingFn fn, void *arg, GoCoroToPythonFn to_python,
                              GoCoroCleanupFn cleanup, double timeout_seconds)


cdef inline int import_gocoro() except -1:
    """Import gocoro and fetch its function table (ImportError on an ABI mismatch)."""
    return GoCoro_ImportAPI()
