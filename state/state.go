// Package state holds gocoro's per-interpreter state (state.h) and finds the current
// interpreter's one for entry points that have no object at hand. It is the lowest package:
// its C calls nothing else in gocoro.
package state

/*
#cgo CFLAGS: -I${SRCDIR}/.. -I${SRCDIR}/../include -Wall -Wno-unused-function
#include "state/state.h"
*/
import "C"
