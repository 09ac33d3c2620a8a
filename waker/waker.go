// Package waker holds gocoro's wakers: refcounted handles any thread can wake without the
// GIL, the per-event-loop hubs that deliver the wakes (asyncio, trio), and the awaitable that
// waits for one. All of it is C (waker.c); the package sits above coro/ (its wait awaitable is
// a native coroutine) and below executor/, which wakes awaiting tasks through it.
package waker

/*
#cgo CFLAGS: -I${SRCDIR}/.. -I${SRCDIR}/../include -Wall -Wno-unused-function
#include "waker/waker.h"
*/
import "C"

import _ "github.com/gocoro/gocoro/coro" // GoCoro_Prepare, GoCoro_New, gocoro_ensure_ready
