/* state/state.c: finding the current interpreter's GoCoroState (see state.h). */
#include "state/state.h"

#include <stdatomic.h>

/* The key in the interpreter's dict (PyInterpreterState_GetDict) under which a capsule holds
 * the interpreter's state (borrowed: the module owns it and removes the key first). */
#define STATE_KEY "gocoro.state"
#define STATE_CAPSULE "gocoro.state"

GoCoroState *(*gocoro_state_bootstrap)(void) = NULL;

/* Bumped whenever a state goes away, so that no thread trusts a cached pointer to it.  The
 * cache is also keyed by the interpreter's ID, unique for the life of the process: a
 * destroyed interpreter's address may be reused by a new one, and its state may outlive it
 * (CPython's own module leaks can keep a module alive past its interpreter). */
static atomic_ulong state_epoch = 1;

static _Thread_local struct {
    PyInterpreterState *interp;
    int64_t id;
    unsigned long epoch;
    GoCoroState *st;
} state_cache;

GoCoroState *gocoro_state_find(void)
{
    PyObject *d = PyInterpreterState_GetDict(PyInterpreterState_Get());
    if (d == NULL)
        return NULL;
    PyObject *cap = PyDict_GetItemString(d, STATE_KEY); /* borrowed, never raises */
    if (cap == NULL)
        return NULL;
    GoCoroState *st = PyCapsule_GetPointer(cap, STATE_CAPSULE);
    if (st == NULL)
        PyErr_Clear();
    return st;
}

GoCoroState *gocoro_state_current(void)
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    int64_t id = PyInterpreterState_GetID(interp);
    unsigned long ep = atomic_load_explicit(&state_epoch, memory_order_acquire);
    if (GC_LIKELY(state_cache.interp == interp && state_cache.id == id && state_cache.epoch == ep))
        return state_cache.st;
    GoCoroState *st = gocoro_state_find();
    if (st == NULL) {
        if (gocoro_state_bootstrap == NULL) {
            PyErr_SetString(PyExc_ImportError, "gocoro: the library is not initialised");
            return NULL;
        }
        st = gocoro_state_bootstrap();
        if (st == NULL)
            return NULL;
    }
    state_cache.interp = interp;
    state_cache.id = id;
    state_cache.epoch = ep;
    state_cache.st = st;
    return st;
}

int gocoro_state_register(GoCoroState *st)
{
    PyObject *d = PyInterpreterState_GetDict(PyInterpreterState_Get());
    if (d == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "gocoro: the interpreter has no state dict");
        return -1;
    }
    PyObject *cap = PyCapsule_New(st, STATE_CAPSULE, NULL);
    if (cap == NULL)
        return -1;
    int rc = PyDict_SetItemString(d, STATE_KEY, cap);
    Py_DECREF(cap);
    if (rc < 0)
        return -1;
    st->registered = 1;
    return 0;
}

void gocoro_state_unregister(GoCoroState *st)
{
    if (!st->registered)
        return;
    st->registered = 0;
    atomic_fetch_add_explicit(&state_epoch, 1, memory_order_release);
    PyObject *d = PyInterpreterState_GetDict(PyInterpreterState_Get());
    if (d == NULL)
        return;
    PyObject *saved = gocoro_fetch_exc();
    PyObject *cap = PyDict_GetItemString(d, STATE_KEY);
    if (cap != NULL && PyCapsule_GetPointer(cap, STATE_CAPSULE) == st) {
        if (PyDict_DelItemString(d, STATE_KEY) < 0)
            PyErr_Clear();
    }
    PyErr_Clear();
    if (saved != NULL)
        gocoro_restore_exc(saved);
}
