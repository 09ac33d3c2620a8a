/* internal/gocoro_internal.h: the base every C part of libgocoro includes (not installed).
 *
 * Header only, so it adds no link dependency: Python.h, the public header in library mode, the
 * visibility and branch hints, and the exception helpers portable across 3.10-3.13.  Packages
 * build on it in this order, each calling only the ones before it:
 *   panic/ -> coro/ -> waker/ -> executor/ -> capi/
 * Every package compiles with -I<repo root> and includes its dependencies by package path
 * ("coro/coro.h", "waker/waker.h"), so each dependency is visible where it is used. */
#ifndef GOCORO_INTERNAL_H
#define GOCORO_INTERNAL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <stdint.h>

#define GOCORO_BUILDING_LIBRARY 1
#include "gocoro.h"

/* Internal functions shared between source files: linkable inside libgocoro, not exported, so
 * calls between files are direct (no PLT) and the compiler may assume they are not interposed. */
#define GOCORO_HIDDEN __attribute__((visibility("hidden")))

#define GC_LIKELY(x) __builtin_expect(!!(x), 1)
#define GC_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---------- Exception helpers ---------- */

/* Take the raised exception (new reference, normalised, traceback attached) or NULL. */
static inline PyObject *gocoro_fetch_exc(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    if (t == NULL)
        return NULL;
    PyErr_NormalizeException(&t, &v, &tb);
    if (tb != NULL && v != NULL)
        PyException_SetTraceback(v, tb);
    Py_XDECREF(t);
    Py_XDECREF(tb);
    return v;
#endif
}

/* Raise `exc` again (steals the reference). */
static inline void gocoro_restore_exc(PyObject *exc)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    PyObject *tb = PyException_GetTraceback(exc);
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, tb);
#endif
}

#endif
