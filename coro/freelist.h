/* coro/freelist.h: recycling of gocoro objects and coroutine wrappers, per interpreter.
 *
 * Creation and destruction are on the hot path of `await native()`, and most of their cost is
 * the allocator plus GC bookkeeping.  Objects whose state fits in a small bucket (state size
 * rounded up to 16 bytes, up to GC_FL_MAX_STATE) are recycled, untracked, per bucket.  The
 * lists live in the interpreter's GoCoroState (reached through the object's code), because
 * memory must go back to the allocator of the interpreter that allocated it; a recycled object
 * holds no reference to its heap type (taken again when it is reused).  Allocation and release
 * are static inline so GoCoro_New and the deallocators inline them.  Protected by the
 * interpreter's GIL like everything else in coro/. */
#ifndef GOCORO_CORO_FREELIST_H
#define GOCORO_CORO_FREELIST_H

#include "coro/object.h"

/* ---------- Object free list ---------- */

static inline GoCoroObject *gc_alloc(GoCoroState *st, PyTypeObject *type, size_t n)
{
    if (n <= GC_FL_MAX_STATE) {
        size_t b = (n + 15) >> 4;
        if (st->obj_fl_len[b] > 0) {
            GoCoroObject *c = (GoCoroObject *)st->obj_fl[b][--st->obj_fl_len[b]];
            (void)PyObject_InitVar((PyVarObject *)c, type, (Py_ssize_t)n); /* takes a type ref */
            return c;
        }
        /* allocate the whole bucket so the object can be recycled for any size in it */
        GoCoroObject *c = PyObject_GC_NewVar(GoCoroObject, type, (Py_ssize_t)(b << 4));
        if (c != NULL)
            Py_SET_SIZE(c, (Py_ssize_t)n);
        return c;
    }
    return PyObject_GC_NewVar(GoCoroObject, type, (Py_ssize_t)n);
}

/* Recycle or free c, then drop its type reference.  Nothing may touch st afterwards: the type
 * may have been the last thing keeping the module (and st) alive. */
static inline void gc_free(GoCoroState *st, GoCoroObject *c)
{
    PyTypeObject *tp = Py_TYPE(c);
    size_t n = (size_t)Py_SIZE(c);
    if (n <= GC_FL_MAX_STATE && !c->finalized && !st->closing) {
        size_t b = (n + 15) >> 4;
        if (st->obj_fl_len[b] < GC_FL_DEPTH) {
            st->obj_fl[b][st->obj_fl_len[b]++] = (PyObject *)c;
            Py_DECREF(tp);
            return;
        }
    }
    PyObject_GC_Del(c);
    Py_DECREF(tp);
}

/* ---------- Coroutine wrapper free list ---------- */

typedef struct {
    PyObject_HEAD
    GoCoroObject *coro;
} GoCoroWrapper;

#endif
