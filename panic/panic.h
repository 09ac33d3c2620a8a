/* panic/panic.h: gocoro.PanicException, the lowest package (it calls no other part of gocoro).
 * Included by the cgo preamble of panic.go, so it needs no Python.h. */
#ifndef GOCORO_PANIC_H
#define GOCORO_PANIC_H
#include <stdlib.h>

struct _object; /* PyObject */

/* gocoro.PanicException once created (borrowed; process-wide), else NULL. */
extern struct _object *gocoro_panic_exc;

/* Create gocoro.PanicException if needed and return it (borrowed), NULL with an exception set.
 * GIL held. */
struct _object *gocoro_panic_create(void);

/* Raise gocoro.PanicException(msg); GIL held. */
void gocoro_panic_set(const char *msg);
#endif
