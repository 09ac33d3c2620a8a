/* panic/panic.c: gocoro.PanicException, the one canonical exception (per interpreter) for
 * panics in native code. */
#include "state/state.h"
#include "panic/panic.h"

PyObject *gocoro_panic_create(void)
{
    return PyErr_NewExceptionWithDoc(
        "gocoro.PanicException",
        "A panic in native code (Go, Rust, C) surfaced as a Python exception.\n\n"
        "Like pyo3's PanicException it derives from BaseException, so `except Exception`\n"
        "does not swallow it.  One class per interpreter, shared by every extension.",
        PyExc_BaseException, NULL);
}

void gocoro_panic_set(const char *msg)
{
    PyObject *saved = gocoro_fetch_exc();
    GoCoroState *st = gocoro_state_current();
    if (st == NULL || st->panic_exc == NULL) {
        PyErr_Clear();
        PyObject *exc = PyObject_CallFunction(PyExc_RuntimeError, "s", msg ? msg : "panic");
        if (exc != NULL && saved != NULL)
            PyException_SetContext(exc, saved);
        else
            Py_XDECREF(saved);
        if (exc != NULL)
            gocoro_restore_exc(exc);
        return;
    }
    Py_XDECREF(saved);
    PyErr_SetString(st->panic_exc, msg ? msg : "panic");
}
