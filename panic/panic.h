/* panic/panic.h: gocoro.PanicException, one class per interpreter (it calls only state/).
 * Included by the cgo preamble of panic.go, so it needs no Python.h. */
#ifndef GOCORO_PANIC_H
#define GOCORO_PANIC_H
#include <stdlib.h>

struct _object; /* PyObject */

/* A new gocoro.PanicException class for the interpreter being initialised (new reference), or
 * NULL with an exception set.  GIL held. */
struct _object *gocoro_panic_create(void);

/* Raise the current interpreter's gocoro.PanicException(msg) (RuntimeError if gocoro cannot
 * be initialised there); GIL held. */
void gocoro_panic_set(const char *msg);
#endif
