# cython: language_level=3
"""cy_native: a Cython extension whose async functions are gocoro native coroutines.

  ticker(n) -> gocoro.Coroutine: yields None to the driver n times (a bare asyncio yield,
      like `await asyncio.sleep(0)`), then returns n.
  countdown(n, sleep, on_throw=None) -> gocoro.Coroutine: awaits sleep(0) n times and returns n,
      like demo_native.countdown; an exception thrown in (task cancellation, throw(), close()) is
      passed to on_throw(exc) first, if given, then re-raised.

gocoro.h comes from the gocoro package's Cython declarations (`from gocoro cimport ...`,
gocoro/__init__.pxd, found through sys.path or cython -I), in capsule mode: no link step,
import_gocoro() at import fetches the function table `gocoro._C_API`.  Build with
include_dirs=[gocoro.get_include()].
The steps are `cdef` functions with `except -1`: GOCORO_ERROR is -1 with an exception set,
which is exactly what Cython returns when a Python exception escapes such a function.
"""
from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF, Py_CLEAR

from gocoro cimport (
    GOCORO_ABI_VERSION, GOCORO_KIND_COROUTINE, GOCORO_NEXT, GOCORO_AWAIT, GOCORO_RETURN,
    GoCoroSpec, GoCoroCode, GoCoroStepFn, GoCoroTraverseFn, GoCoroClearFn, GoCoroVisitFn,
    GoCoro_Prepare, GoCoro_New, GoCoro_Rethrow, import_gocoro,
)


import_gocoro()  # import gocoro, fetch the capsule, check abi_version and struct_size


cdef GoCoroCode *prepare(GoCoroSpec *spec, const char *name, const char *qualname, int line,
                         size_t state_size, GoCoroStepFn step, GoCoroTraverseFn traverse,
                         GoCoroClearFn clear) except NULL:
    # `spec` is a module-level (static, zero-filled) struct: it must outlive the code object.
    spec.abi_version = GOCORO_ABI_VERSION
    spec.struct_size = sizeof(GoCoroSpec)
    spec.kind = GOCORO_KIND_COROUTINE
    spec.name = name
    spec.qualname = qualname
    spec.filename = "examples/cy_native.pyx"
    spec.firstlineno = line
    spec.state_size = state_size
    spec.step = step
    spec.traverse = traverse
    spec.clear = clear
    return GoCoro_Prepare(spec)  # a new reference, kept for the life of the process


# ---- ticker(n) --------------------------------------------------------------------------

ctypedef struct ticker_state:
    long left
    long total

cdef int ticker_step(PyObject *self, void *st, PyObject *sent, PyObject *thrown,
                     PyObject **result) except -1:
    cdef ticker_state *s = <ticker_state *>st
    if thrown != NULL:
        return GoCoro_Rethrow(thrown)
    cdef object value
    if s.left == 0:
        value = s.total
        Py_INCREF(value)
        result[0] = <PyObject *>value  # new reference
        return GOCORO_RETURN
    s.left -= 1
    Py_INCREF(None)
    result[0] = <PyObject *>None
    return GOCORO_NEXT  # yield None to the driver

cdef GoCoroSpec ticker_spec
cdef GoCoroCode *ticker_code = prepare(&ticker_spec, "ticker", "cy_native.ticker", 53,
                                       sizeof(ticker_state), ticker_step, NULL, NULL)

def ticker(long n):
    """ticker(n) -> coroutine: yields None n times, returns n"""
    if n < 0:
        raise ValueError("n must be >= 0")
    cdef ticker_state init
    init.left = n
    init.total = n
    return GoCoro_New(ticker_code, &init, sizeof(init), NULL)


# ---- countdown(n, sleep, on_throw=None) ---------------------------------------------------

ctypedef struct countdown_state:
    long remaining
    long total
    PyObject *sleep     # owned
    PyObject *on_throw  # owned or NULL

cdef int countdown_step(PyObject *self, void *st, PyObject *sent, PyObject *thrown,
                        PyObject **result) except -1:
    cdef countdown_state *s = <countdown_state *>st
    if thrown != NULL:
        # Cancellation (asyncio.CancelledError, trio.Cancelled), throw() or close() lands here.
        if s.on_throw != NULL:
            (<object>s.on_throw)(<object>thrown)
        return GoCoro_Rethrow(thrown)
    cdef object value
    cdef int result_code
    if s.remaining == 0:
        value = s.total
        result_code = GOCORO_RETURN
    else:
        s.remaining -= 1
        value = (<object>s.sleep)(0)  # an awaitable
        result_code = GOCORO_AWAIT
    Py_INCREF(value)
    result[0] = <PyObject *>value
    return result_code

cdef int countdown_traverse(void *st, GoCoroVisitFn visit, void *arg) noexcept:
    cdef countdown_state *s = <countdown_state *>st
    cdef int r = 0
    if s.sleep != NULL:
        r = visit(s.sleep, arg)
    if r == 0 and s.on_throw != NULL:
        r = visit(s.on_throw, arg)
    return r

cdef void countdown_clear(void *st) noexcept:
    cdef countdown_state *s = <countdown_state *>st
    Py_CLEAR(s.sleep)
    Py_CLEAR(s.on_throw)

cdef GoCoroSpec countdown_spec
cdef GoCoroCode *countdown_code = prepare(&countdown_spec, "countdown", "cy_native.countdown", 91,
                                          sizeof(countdown_state), countdown_step,
                                          countdown_traverse, countdown_clear)

def countdown(long n, sleep, on_throw=None):
    """countdown(n, sleep, on_throw=None) -> coroutine: awaits sleep(0) n times, returns n"""
    if n < 0:
        raise ValueError("n must be >= 0")
    cdef countdown_state init
    init.remaining = n
    init.total = n
    init.sleep = <PyObject *>sleep
    Py_INCREF(sleep)
    init.on_throw = NULL
    if on_throw is not None:
        init.on_throw = <PyObject *>on_throw
        Py_INCREF(on_throw)
    try:
        return GoCoro_New(countdown_code, &init, sizeof(init), NULL)
    except BaseException:
        countdown_clear(&init)  # the object was not made: the references are still ours
        raise
