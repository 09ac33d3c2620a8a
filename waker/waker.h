/* waker/waker.h: what the waker package offers the packages above it (executor/, capi/).
 * Not installed; the public API is the "Wakers and blocking work" section of gocoro.h. */
#ifndef GOCORO_WAKER_H
#define GOCORO_WAKER_H

#include "coro/coro.h"

/* waker/'s part of the per-interpreter state (state.h): its private types (hub owner, trio
 * abort callback) and interned strings, created by the module's exec; traverse / clear as the
 * module's.  GIL held; init returns 0 / -1 with an exception set. */
int gocoro_waker_state_init(GoCoroState *gs, PyObject *module);
int gocoro_waker_state_traverse(GoCoroState *gs, visitproc visit, void *arg);
void gocoro_waker_state_clear(GoCoroState *gs);
/* Drop only the lookups and cached codes (looked up again on next use). */
void gocoro_waker_state_clear_caches(GoCoroState *gs);

/* Live-object counts for the leak tests: wakers and hubs (process-wide), asyncio hubs of gs's
 * interpreter.  GIL held. */
void gocoro_waker_stats(GoCoroState *gs, long *wakers, long *hubs, long *asyncio_hubs);

#endif
