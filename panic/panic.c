/* panic/panic.c: gocoro.PanicException, the one canonical exception for panics in native code. */
#include "internal/gocoro_internal.h"
#include "panic/panic.h"

PyObject *gocoro_panic_exc = NULL;

PyObject *gocoro_panic_create(void)
{
    if (gocoro_panic_exc == NULL) {
        gocoro_panic_exc = PyErr_NewExceptionWithDoc(
            "gocoro.PanicException",
            "A panic in native code (Go, Rust, C) surfaced as a Python exception.\n\n"
            "Like pyo3's PanicException it derives from BaseException, so `except Exception`\n"
            "does not swallow it.  One class per interpreter, shared by every extension.",
            PyExc_BaseException, NULL);
    }
    return gocoro_panic_exc;
}

void gocoro_panic_set(const char *msg)
{
    if (gocoro_panic_create() == NULL)
        return;
    PyErr_SetString(gocoro_panic_exc, msg ? msg : "panic");
}
