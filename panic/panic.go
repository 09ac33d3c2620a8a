// Package panic owns gocoro.PanicException and turns Go panics into it.
//
// Every //export in the library defers Recover: a Go panic is caught at the C boundary and
// becomes a Python PanicException (the caller always holds the GIL), never a crash. This is
// the lowest package: its C (panic.c) calls no other part of gocoro.
package panic

/*
#cgo CFLAGS: -I${SRCDIR}/.. -I${SRCDIR}/../include
#include "panic/panic.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Set raises gocoro.PanicException(msg) in the calling thread (the GIL must be held).
func Set(msg string) {
	cs := C.CString(msg)
	defer C.free(unsafe.Pointer(cs))
	C.gocoro_panic_set(cs)
}

// Recover must be deferred directly by every exported Go function that is called with the
// GIL held. On a panic it raises PanicException and stores failure into *rc (if rc != nil).
func Recover(rc *int32) {
	if r := recover(); r != nil {
		Set(fmt.Sprintf("Go panic in libgocoro: %v", r))
		if rc != nil {
			*rc = -1
		}
	}
}
