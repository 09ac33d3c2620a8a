/* waker/waker.h: what the waker package offers the packages above it (executor/, capi/).
 * Not installed; the public API is the "Wakers and blocking work" section of gocoro.h. */
#ifndef GOCORO_WAKER_H
#define GOCORO_WAKER_H

#include "coro/coro.h"

/* Ready the waker's private types (hub owner, trio abort callback).  Called by the module
 * init.  GIL held; 0 / -1 with an exception set. */
int gocoro_waker_ready(void);

/* Live-object counts for the leak tests: wakers, hubs, asyncio hubs.  GIL held. */
void gocoro_waker_stats(long *wakers, long *hubs, long *asyncio_hubs);

#endif
