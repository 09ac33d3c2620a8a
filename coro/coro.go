// Package coro holds gocoro's native awaitable types: coroutine (+ its __await__ wrapper),
// generator, iterator, async generator (+ asend/athrow awaitables) and async iterator, one C
// file per kind over a shared step engine (step.c) and object protocol (object.c).
//
// Every path CPython calls per step (type slots, send/throw/close, creation) is C, because a
// C->Go call costs more than a whole native coroutine step; Go never runs on these paths. The C
// here calls only panic/ (PanicException) below it.
package coro

/*
#cgo CFLAGS: -I${SRCDIR}/.. -I${SRCDIR}/../include -Wall -Wno-unused-function
#include "coro/coro.h"
*/
import "C"

import _ "github.com/gocoro/gocoro/panic" // panic.c: gocoro_panic_create

// Ready creates the types (idempotent). The GIL must be held.
func Ready() bool { return C.gocoro_ensure_ready() == 0 }
