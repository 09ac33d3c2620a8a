// Package executor runs GoCoro_RunBlocking jobs: a blocking C function per job, on a goroutine,
// off the GIL (see the "Wakers and blocking work" section of include/gocoro.h).
//
// The C side (executor.c) owns the job and its awaitable; Go only provides the threads, the
// deadline timer and panic recovery. One C->Go call per job (gocoro_go_run_job, GIL held,
// panics become gocoro.PanicException for the caller); the goroutine then calls back into C
// without the GIL: gocoro_job_run calls fn and wakes the awaiting task through its waker, the
// timer calls gocoro_job_timeout, and a recovered panic calls gocoro_job_panicked (the awaiter
// raises PanicException).
//
// The package sits above waker/ (each job wakes its awaiter through a waker) and coro/ (the
// job's awaitable is a native coroutine); nothing below calls into it.
package executor

/*
#cgo CFLAGS: -I${SRCDIR}/.. -I${SRCDIR}/../include -Wall -Wno-unused-function
#include "executor/executor.h"
*/
import "C"

import (
	"fmt"
	"os"
	"strconv"
	"time"
	"unsafe"

	gopanic "github.com/gocoro/gocoro/panic"
	_ "github.com/gocoro/gocoro/waker" // executor.c wakes the awaiting task through a waker
)

// sem bounds how many blocking functions run at once (each occupies an OS thread while it
// blocks in C). GOCORO_MAX_BLOCKING overrides the default.
var sem = make(chan struct{}, maxBlocking())

func maxBlocking() int {
	if v, err := strconv.Atoi(os.Getenv("GOCORO_MAX_BLOCKING")); err == nil && v > 0 {
		return v
	}
	return 512
}

//export gocoro_go_run_job
func gocoro_go_run_job(job *C.gocoro_job, timeoutNs C.longlong, flags C.int) (rc C.int) {
	var failed int32
	defer func() {
		if failed != 0 {
			rc = -1
		}
	}()
	defer gopanic.Recover(&failed)
	if flags&C.GOCORO_JOB_TEST_PANIC_LAUNCH != 0 {
		panic("executor test panic (launch)")
	}
	go runJob(job, time.Duration(timeoutNs), flags)
	return 0
}

// runJob owns one job reference (taken by the launcher) and drops it when done.
func runJob(job *C.gocoro_job, timeout time.Duration, flags C.int) {
	var timer *time.Timer
	if timeout > 0 {
		C.gocoro_job_ref(job) // the timer's reference
		timer = time.AfterFunc(timeout, func() {
			C.gocoro_job_timeout(job)
			C.gocoro_job_unref(job)
		})
	}
	defer func() {
		if r := recover(); r != nil {
			cs := C.CString(fmt.Sprintf("Go panic in libgocoro executor: %v", r))
			C.gocoro_job_panicked(job, cs)
			C.free(unsafe.Pointer(cs))
		}
		if timer != nil && timer.Stop() {
			C.gocoro_job_unref(job) // the timer never fired: drop its reference
		}
		C.gocoro_job_unref(job)
	}()
	sem <- struct{}{}
	defer func() { <-sem }()
	if flags&C.GOCORO_JOB_TEST_PANIC_GOROUTINE != 0 {
		panic("executor test panic (goroutine)")
	}
	C.gocoro_job_run(job)
}
