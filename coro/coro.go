// Package coro holds gocoro's native awaitable types. They are written in C (coro.c): every
// path CPython calls per step — type slots, send/throw/close, creation — stays in C, because a
// C->Go call costs more than a whole native coroutine step. Go never runs on these paths.
package coro

/*
#cgo CFLAGS: -I${SRCDIR}/../include
#include "gocoro_internal.h"
*/
import "C"

// Ready creates the types (idempotent). The GIL must be held.
func Ready() bool { return C.gocoro_ensure_ready() == 0 }
