/* coro/coro.h: what the native object types offer the packages above them (waker/, executor/,
 * capi/); the object layout itself is private to coro/ (coro/object.h). */
#ifndef GOCORO_CORO_H
#define GOCORO_CORO_H

#include "internal/gocoro_internal.h"

/* ---------- Type objects (process-wide, readied by gocoro_ensure_ready) ---------- */

extern PyTypeObject GoCoro_CoroutineType_Impl;
extern PyTypeObject GoCoro_WrapperType_Impl;
extern PyTypeObject GoCoro_CodeType_Impl;
extern PyTypeObject GoCoro_GeneratorType_Impl;
extern PyTypeObject GoCoro_IteratorType_Impl;
extern PyTypeObject GoCoro_AsyncGenType_Impl;
extern PyTypeObject GoCoro_AsyncIterType_Impl;
extern PyTypeObject GoCoro_AGASendType_Impl;
extern PyTypeObject GoCoro_AGAThrowType_Impl;

/* ---------- Readiness ---------- */

/* Create the types, PanicException and ABC registrations once per process.  0 / -1. */
int gocoro_ensure_ready(void);

/* ---------- Fork ---------- */

/* Set by the pthread_atfork child handler: the Go runtime is unusable in this process. */
extern volatile int gocoro_forked_child;

/* RuntimeError for Go-backed calls in a forked child; returns 0 if Go is usable. */
int gocoro_go_unavailable(const char *what);

#endif
