/* executor/executor.h: the executor's C side as seen by executor.go (cgo preamble,
 * declarations only) and by capi/.  The job struct stays opaque to Go. */
#ifndef GOCORO_EXECUTOR_H
#define GOCORO_EXECUTOR_H
#include <stdlib.h>

typedef struct gocoro_job gocoro_job;

/* Test hooks passed from the launcher to Go (GoCoro_RunBlocking reads the armed hook). */
#define GOCORO_JOB_TEST_PANIC_GOROUTINE 1
#define GOCORO_JOB_TEST_PANIC_LAUNCH 2

/* Called by the goroutine, without the GIL. */
void gocoro_job_run(gocoro_job *job);                 /* fn, then publish or clean up */
void gocoro_job_timeout(gocoro_job *job);             /* the deadline passed */
void gocoro_job_panicked(gocoro_job *job, const char *msg);
void gocoro_job_ref(gocoro_job *job);
void gocoro_job_unref(gocoro_job *job);

/* Set the test hook that makes the next RunBlocking job panic inside Go
 * (1: in the goroutine, 2: in the launching //export, 0: off).  GIL held. */
void gocoro_executor_set_test_panic(int where);

/* Live jobs, for the leak tests (atomic; any thread). */
long gocoro_executor_jobs(void);
#endif
