/* coro/freelist.h: recycling of gocoro objects and coroutine wrappers.
 *
 * Creation and destruction are on the hot path of `await native()`, and most of their cost is
 * the allocator plus GC bookkeeping.  Objects whose state fits in a small bucket (state size
 * rounded up to 16 bytes, up to GC_FL_MAX_STATE) are recycled, untracked, per bucket.  The
 * lists live in freelist.c (hidden symbols, so access is as direct as a static); allocation
 * and release are static inline here so GoCoro_New and the deallocators inline them.
 * Protected by the GIL like everything else in coro/. */
#ifndef GOCORO_CORO_FREELIST_H
#define GOCORO_CORO_FREELIST_H

#include "coro/object.h"

/* ---------- Object free list ---------- */

#define GC_FL_MAX_STATE 128
#define GC_FL_BUCKETS (GC_FL_MAX_STATE / 16 + 1)
#define GC_FL_DEPTH 64
GOCORO_HIDDEN extern GoCoroObject *gc_fl[GC_FL_BUCKETS][GC_FL_DEPTH];
GOCORO_HIDDEN extern int gc_fl_len[GC_FL_BUCKETS];

static inline GoCoroObject *gc_alloc(PyTypeObject *type, size_t n)
{
    if (n <= GC_FL_MAX_STATE) {
        size_t b = (n + 15) >> 4;
        if (gc_fl_len[b] > 0) {
            GoCoroObject *c = gc_fl[b][--gc_fl_len[b]];
            (void)PyObject_InitVar((PyVarObject *)c, type, (Py_ssize_t)n);
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

static inline void gc_free(GoCoroObject *c)
{
    size_t n = (size_t)Py_SIZE(c);
    if (n <= GC_FL_MAX_STATE && !c->finalized) {
        size_t b = (n + 15) >> 4;
        if (gc_fl_len[b] < GC_FL_DEPTH) {
            gc_fl[b][gc_fl_len[b]++] = c;
            return;
        }
    }
    PyObject_GC_Del(c);
}

/* ---------- Coroutine wrapper free list ---------- */

typedef struct {
    PyObject_HEAD
    GoCoroObject *coro;
} GoCoroWrapper;

#define WR_FL_DEPTH 32
GOCORO_HIDDEN extern GoCoroWrapper *wr_fl[WR_FL_DEPTH];
GOCORO_HIDDEN extern int wr_fl_len;

#endif
