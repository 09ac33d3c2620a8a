/*
 * coro/forwarded.c: telling a throw(type, value, tb) that an outer generator or coroutine
 * forwards to the object it awaits from one that code calls directly.
 *
 * Since 3.12 the three-argument form of throw() is deprecated, and CPython warns once per call
 * that uses it.  When Python code awaits (or `yield from`s) a native generator or coroutine and
 * the outer object gets throw(type, value, tb), the outer throw() warns and hands the exception
 * to the inner one internally, without a second warning.  A gocoro object in that place is not
 * a native generator to CPython: the outer throw() warns, then calls the gocoro object's throw()
 * method with the same three arguments, so a gocoro object that warned on every call would warn
 * twice.  gc_throw_is_forwarded recognises that call, so that a gocoro object warns exactly
 * where a native generator or coroutine would.
 *
 *  - 3.14+: the outer throw() links the outer frame while it calls the awaited object, so the
 *    current frame is a generator frame stopped at its resume point (RESUME), which Python code
 *    calling throw() directly never is (it is at a CALL).  Exact.
 *  - 3.12/3.13: the outer frame is not linked; the current frame is the caller of the outer
 *    throw(), exactly as for a direct call.  The forwarded call comes from C with its arguments
 *    in a C stack array, while Python code passes them from its frame's data stack (or a tuple),
 *    both on the heap.  So: the object was taken by an `await`/`yield from` at some point
 *    (GoCoroObject.delegated) and the arguments lie on this thread's C stack.  A C extension
 *    that calls throw(type, value, tb) on an object that some await took, through a C array,
 *    gets no warning: the one case this cannot tell apart.
 */
#include "coro/object.h"

#if PY_VERSION_HEX >= 0x030E0000
#include <opcode.h> /* RESUME */
#elif PY_VERSION_HEX >= 0x030C0000
#include <pthread.h>
#endif

#if PY_VERSION_HEX >= 0x030E0000
int gc_throw_is_forwarded(GoCoroObject *c, PyObject *const *args)
{
    (void)c;
    (void)args;
    PyFrameObject *f = PyEval_GetFrame(); /* borrowed */
    if (f == NULL) {
        PyErr_Clear(); /* no Python frame (or none could be made): not forwarded */
        return 0;
    }
    PyObject *gen = PyFrame_GetGenerator(f);
    if (gen == NULL)
        return 0;
    Py_DECREF(gen);
    int forwarded = 0;
    PyCodeObject *code = PyFrame_GetCode(f);
    PyObject *bytecode = PyCode_GetCode(code);
    Py_DECREF(code);
    if (bytecode == NULL) {
        PyErr_Clear();
        return 0;
    }
    int lasti = PyFrame_GetLasti(f);
    if (lasti >= 0 && lasti < PyBytes_GET_SIZE(bytecode))
        forwarded = (unsigned char)PyBytes_AS_STRING(bytecode)[lasti] == RESUME;
    Py_DECREF(bytecode);
    return forwarded;
}
#elif PY_VERSION_HEX >= 0x030C0000
/* This thread's C stack, looked up once per thread. */
static __thread uintptr_t stack_lo, stack_hi;

static int on_this_c_stack(const void *p)
{
    if (stack_hi == 0) {
        pthread_attr_t attr;
        void *addr;
        size_t size;
        if (pthread_getattr_np(pthread_self(), &attr) != 0)
            return 0;
        int ok = pthread_attr_getstack(&attr, &addr, &size) == 0;
        pthread_attr_destroy(&attr);
        if (!ok)
            return 0;
        stack_lo = (uintptr_t)addr;
        stack_hi = (uintptr_t)addr + size;
    }
    return (uintptr_t)p >= stack_lo && (uintptr_t)p < stack_hi;
}

int gc_throw_is_forwarded(GoCoroObject *c, PyObject *const *args)
{
    return c->delegated && on_this_c_stack(args);
}
#endif
