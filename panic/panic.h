#ifndef GOCORO_PANIC_H
#define GOCORO_PANIC_H
#include <stdlib.h>
/* Raise gocoro.PanicException(msg); GIL held. Defined in panic.c. */
void gocoro_panic_set(const char *msg);
#endif
