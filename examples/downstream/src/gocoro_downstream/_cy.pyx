# cython: language_level=3
"""gocoro_downstream._cy: a Cython native coroutine through gocoro's .pxd (capsule mode).

  ticker(n) -> coroutine: yields None to the event loop n times (a bare `await sleep(0)` under
               asyncio; trio accepts no bare yields, see the README), then returns n.
  spin(n, sleep) -> coroutine: awaits sleep(0) n times, returns n (any event loop).
"""
from cpython.ref cimport PyObject, Py_INCREF, Py_CLEAR

from gocoro cimport (
    GOCORO_ABI_VERSION, GOCORO_KIND_COROUTINE, GOCORO_NEXT, GOCORO_AWAIT, GOCORO_RETURN,
    GoCoroSpec, GoCoroCode, GoCoroVisitFn, GoCoro_Prepare, GoCoro_New, GoCoro_Rethrow,
    import_gocoro,
)

import_gocoro()


ctypedef struct spin_state:
    long left
    long total
    PyObject *sleep  # owned, NULL for ticker (bare yields)

cdef int spin_step(PyObject *self, void *st, PyObject *sent, PyObject *thrown,
                   PyObject **result) except -1:
    cdef spin_state *s = <spin_state *>st
    if thrown != NULL:
        return GoCoro_Rethrow(thrown)
    cdef object value
    if s.left == 0:
        value = s.total
        Py_INCREF(value)
        result[0] = <PyObject *>value
        return GOCORO_RETURN
    s.left -= 1
    if s.sleep == NULL:
        Py_INCREF(None)
        result[0] = <PyObject *>None
        return GOCORO_NEXT
    value = (<object>s.sleep)(0)
    Py_INCREF(value)
    result[0] = <PyObject *>value
    return GOCORO_AWAIT

cdef int spin_traverse(void *st, GoCoroVisitFn visit, void *arg) noexcept:
    cdef spin_state *s = <spin_state *>st
    return visit(s.sleep, arg) if s.sleep != NULL else 0

cdef void spin_clear(void *st) noexcept:
    Py_CLEAR((<spin_state *>st).sleep)

cdef GoCoroSpec spin_spec
spin_spec.abi_version = GOCORO_ABI_VERSION
spin_spec.struct_size = sizeof(GoCoroSpec)
spin_spec.kind = GOCORO_KIND_COROUTINE
spin_spec.name = "spin"
spin_spec.qualname = "gocoro_downstream.spin"
spin_spec.filename = "_cy.pyx"
spin_spec.firstlineno = 24
spin_spec.state_size = sizeof(spin_state)
spin_spec.step = spin_step
spin_spec.traverse = spin_traverse
spin_spec.clear = spin_clear
cdef GoCoroCode *spin_code = GoCoro_Prepare(&spin_spec)


cdef object make(long n, object sleep):
    if n < 0:
        raise ValueError("n must be >= 0")
    cdef spin_state init
    init.left = n
    init.total = n
    init.sleep = NULL
    if sleep is not None:
        Py_INCREF(sleep)
        init.sleep = <PyObject *>sleep
    try:
        return GoCoro_New(spin_code, &init, sizeof(init), NULL)
    except BaseException:
        spin_clear(&init)
        raise


def ticker(long n):
    """ticker(n) -> coroutine: yields None n times (asyncio), returns n"""
    return make(n, None)


def spin(long n, sleep):
    """spin(n, sleep) -> coroutine: awaits sleep(0) n times, returns n"""
    return make(n, sleep)
