/* coro/coro.h: what the native object types offer the packages above them (waker/, executor/,
 * capi/); the object layout itself is private to coro/ (coro/object.h). */
#ifndef GOCORO_CORO_H
#define GOCORO_CORO_H

#include "state/state.h"

/* ---------- Per-interpreter part (state.h "coro/") ---------- */

/* Create the types, PanicException, ABC registrations and lookups of one interpreter, owned by
 * `module` (its exec).  0 / -1 with an exception set.  GIL held. */
int gocoro_coro_state_init(GoCoroState *st, PyObject *module);
/* Visit / drop what coro/ holds in st (the module's traverse / clear); clear also empties the
 * free lists and stops them taking objects. */
int gocoro_coro_state_traverse(GoCoroState *st, visitproc visit, void *arg);
void gocoro_coro_state_clear(GoCoroState *st);

/* The state a prepared code belongs to (the interpreter that prepared it). */
GoCoroState *gocoro_code_state(GoCoroCode *code);

/* ---------- Fork ---------- */

/* Set by the pthread_atfork child handler: the Go runtime is unusable in this process. */
extern volatile int gocoro_forked_child;

/* RuntimeError for Go-backed calls in a forked child; returns 0 if Go is usable. */
int gocoro_go_unavailable(const char *what);

#endif
