// Command capi is libgocoro: built with -buildmode=c-shared it is both the shared library C
// extensions link against (-lgocoro) and the CPython extension module `gocoro._gocoro`, which
// the Python package `gocoro` re-exports (PyInit__gocoro lives in module.c).
//
// Go runs only off the per-step paths: module init (the per-interpreter registry), the
// runtime_info diagnostics and panic recovery. Every //export defers panic.Recover so a Go
// panic becomes gocoro.PanicException instead of killing the process. The C side refuses to
// call any of these in a forked child (the Go runtime does not survive fork).
//
// purego is not used: everything here is called from C with the GIL held, and cgo exports
// give a typed, link-time-checked boundary; purego would only add a dlopen/dlsym layer for
// symbols we already link against.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/.. -I${SRCDIR}/../include -Wall -Wno-unused-function
#include <stdlib.h>
#include <string.h>
#include "capi/capi.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"

	_ "github.com/gocoro/gocoro/coro"
	_ "github.com/gocoro/gocoro/executor"
	gopanic "github.com/gocoro/gocoro/panic"
	_ "github.com/gocoro/gocoro/waker"
)

// registry counts module initialisations per interpreter ID.
var registry = struct {
	sync.Mutex
	interps map[int64]int
}{interps: map[int64]int{}}

//export gocoro_go_register_interp
func gocoro_go_register_interp(id C.longlong) (rc C.int) {
	var failed int32
	defer func() {
		if failed != 0 {
			rc = -1
		}
	}()
	defer gopanic.Recover(&failed)
	registry.Lock()
	registry.interps[int64(id)]++
	registry.Unlock()
	return 0
}

//export gocoro_go_runtime_info
func gocoro_go_runtime_info(out *C.gocoro_runtime_info) (rc C.int) {
	var failed int32
	defer func() {
		if failed != 0 {
			rc = -1
		}
	}()
	defer gopanic.Recover(&failed)
	v := runtime.Version()
	if len(v) > 63 {
		v = v[:63]
	}
	cs := C.CString(v)
	defer C.free(unsafe.Pointer(cs))
	C.strncpy(&out.go_version[0], cs, 63)
	out.gomaxprocs = C.int(runtime.GOMAXPROCS(0))
	out.num_cpu = C.int(runtime.NumCPU())
	out.num_goroutine = C.int(runtime.NumGoroutine())
	registry.Lock()
	out.interpreters = C.longlong(len(registry.interps))
	registry.Unlock()
	return 0
}

//export gocoro_go_test_panic
func gocoro_go_test_panic(msg *C.char) (rc C.int) {
	var failed int32
	defer func() {
		if failed != 0 {
			rc = -1
		}
	}()
	defer gopanic.Recover(&failed)
	panic(C.GoString(msg))
}

func main() {}
