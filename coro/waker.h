/* Internal declarations of the waker / blocking-work half (coro/waker.c, executor/executor.c).
 * Not installed; the public API is the "Wakers and blocking work" section of gocoro.h. */
#ifndef GOCORO_WAKER_H
#define GOCORO_WAKER_H

#include "gocoro_internal.h"

/* Fill the waker/executor members of the API table (idempotent).  Called from
 * gocoro_ensure_ready() and from the module init hook below. */
void gocoro_waker_fill_api(GoCoroAPI *t);

/* Add the private test/diagnostic functions (_waker_stats, _test_executor_panic) to the module
 * `gocoro` and fill the API table.  GIL held; 0 / -1 with an exception set. */
int gocoro_waker_module_init(PyObject *m);

/* Live-object counters for the leak tests (atomic; any thread). */
void gocoro_stats_jobs_add(long delta);
long gocoro_stats_jobs(void);

/* executor/: set the test hook that makes the next RunBlocking job panic inside Go
 * (1: in the goroutine, 2: in the launching //export).  GIL held. */
void gocoro_executor_set_test_panic(int where);

#endif
