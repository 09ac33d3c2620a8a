/*
 * coro/fork.c: fork detection.  A child created by fork() (without exec) after libgocoro was
 * loaded cannot run the Go runtime: C paths keep working, Go-backed calls raise at once.
 */
#include "coro/coro.h"

#include <pthread.h>

volatile int gocoro_forked_child = 0;

static void gc_atfork_child(void) { gocoro_forked_child = 1; }

__attribute__((constructor)) static void gc_register_atfork(void)
{
    pthread_atfork(NULL, NULL, gc_atfork_child);
}

int gocoro_go_unavailable(const char *what)
{
    if (!gocoro_forked_child)
        return 0;
    PyErr_Format(PyExc_RuntimeError,
                 "gocoro: %s needs the Go runtime, which cannot run in a child process created by "
                 "fork() (without exec) after libgocoro was loaded; call it in the parent, or use "
                 "the 'spawn' / 'forkserver' multiprocessing start method",
                 what);
    return 1;
}
