/* capi/module.c: the CPython extension module `gocoro._gocoro` (re-exported by the
 * package `gocoro`) and its capsule API table: multi-phase init, one module state
 * (GoCoroState, state/state.h) per interpreter; C only, Go only off the hot path. */
#include "coro/coro.h"
#include "panic/panic.h"
#include "waker/waker.h"
#include "executor/executor.h"
#include "capi/capi.h"
#include "_cgo_export.h"

#include <stdatomic.h>

/* ---------- Capsule API table ---------- */

/* The function table behind `gocoro._C_API`, one per process: capsule users keep the pointer
 * in a process-wide static (GoCoro_APIPtr), which must stay valid whichever interpreter loaded
 * them and whichever interpreters went away since.  Every function finds the current
 * interpreter's state itself.  The two object members can only name one interpreter's
 * objects: they hold the main interpreter's (NULL until gocoro is initialised there, and
 * again after its module is freed); the CoroutineType/PanicException functions at the end of
 * the table serve every interpreter. */
static GoCoroAPI gocoro_api_table = {
    .abi_version = GOCORO_ABI_VERSION,
    .struct_size = sizeof(GoCoroAPI),
    .Prepare = GoCoro_Prepare,
    .New = GoCoro_New,
    .GetState = GoCoro_GetState,
    .RaisePanic = GoCoro_RaisePanic,
    .Rethrow = GoCoro_Rethrow,
    .Check = GoCoro_Check,
    .coroutine_type = NULL,
    .panic_exception = NULL,
    .WakerNew = GoCoro_WakerNew,
    .WakerWait = GoCoro_WakerWait,
    .Wake = GoCoro_Wake,
    .WakerRetain = GoCoro_WakerRetain,
    .WakerRelease = GoCoro_WakerRelease,
    .RunBlocking = GoCoro_RunBlocking,
    .CoroutineType = GoCoro_CoroutineType,
    .PanicException = GoCoro_PanicException,
};

/* The state that serves module m: its own, or the first instance's in its interpreter. */
static GoCoroState *mod_state(PyObject *m)
{
    GoCoroState *st = PyModule_GetState(m);
    if (st != NULL && st->primary_module != NULL)
        st = PyModule_GetState(st->primary_module);
    return st;
}

/* ---------- Module functions ---------- */

static PyObject *mod_runtime_info(PyObject *self, PyObject *unused)
{
    if (gocoro_go_unavailable("gocoro.runtime_info()"))
        return NULL;
    gocoro_runtime_info info;
    memset(&info, 0, sizeof(info));
    if (gocoro_go_runtime_info(&info) < 0)
        return NULL;
    return Py_BuildValue("{s:s,s:i,s:i,s:i,s:L,s:I}", "go_version", info.go_version, "gomaxprocs",
                         info.gomaxprocs, "num_cpu", info.num_cpu, "num_goroutine",
                         info.num_goroutine, "interpreters", info.interpreters, "abi_version",
                         (unsigned)GOCORO_ABI_VERSION);
}

static PyObject *mod_test_go_panic(PyObject *self, PyObject *arg)
{
    const char *msg = PyUnicode_AsUTF8(arg);
    if (msg == NULL)
        return NULL;
    if (gocoro_go_unavailable("gocoro._test_go_panic()"))
        return NULL;
    if (gocoro_go_test_panic((char *)msg) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *mod_waker_stats(PyObject *self, PyObject *unused)
{
    long wakers, hubs, asyncio_hubs;
    gocoro_waker_stats(mod_state(self), &wakers, &hubs, &asyncio_hubs);
    return Py_BuildValue("{s:l,s:l,s:l,s:l}", "wakers", wakers, "hubs", hubs, "asyncio_hubs",
                         asyncio_hubs, "jobs", gocoro_executor_jobs());
}

static PyObject *mod_test_executor_panic(PyObject *self, PyObject *arg)
{
    long where = PyLong_AsLong(arg);
    if (where == -1 && PyErr_Occurred())
        return NULL;
    gocoro_executor_set_test_panic(mod_state(self), (int)where);
    Py_RETURN_NONE;
}

static void mod_forget_interp(GoCoroState *st);

/* Module states alive in the process (every instance, every interpreter), for leak tests. */
static _Atomic long live_states;

static PyObject *mod_live_states(PyObject *self, PyObject *unused)
{
    return PyLong_FromLong(live_states);
}

/* atexit hook of each interpreter (it runs before the interpreter's modules are torn down):
 * forget the interpreter in the Go registry, ask its running jobs to stop, and drop the
 * caches that tie the module to other modules.  The module itself may live on past its
 * interpreter when another module that caches our types leaks (CPython 3.12/3.13's _asyncio
 * does once its FutureIter free list was used: its iscoroutine type cache then holds
 * gocoro.Coroutine); this keeps what leaks with it small and the registry right. */
static PyObject *mod_interp_exit(PyObject *self, PyObject *unused)
{
    GoCoroState *st = PyModule_GetState(self);
    if (st != NULL && st->primary_module == NULL)
        mod_forget_interp(st);
    Py_RETURN_NONE;
}

static PyMethodDef mod_methods[] = {
    {"_live_states", mod_live_states, METH_NOARGS,
     "_live_states() -> int: gocoro module states alive in the process (leak tests)."},
    {"_interp_exit", mod_interp_exit, METH_NOARGS,
     "_interp_exit(): the interpreter is exiting (registered with atexit by the module)."},
    {"runtime_info", mod_runtime_info, METH_NOARGS,
     "runtime_info() -> dict: Go runtime facts (Go-backed; RuntimeError in a forked child)."},
    {"_test_go_panic", mod_test_go_panic, METH_O,
     "_test_go_panic(msg): panic inside Go; must surface as gocoro.PanicException."},
    {"_waker_stats", mod_waker_stats, METH_NOARGS,
     "_waker_stats() -> dict: live wakers, hubs and blocking jobs (leak tests)."},
    {"_test_executor_panic", mod_test_executor_panic, METH_O,
     "_test_executor_panic(where): make the next GoCoro_RunBlocking panic inside Go "
     "(1: in the goroutine -> the awaiter raises PanicException; 2: in the launch; 0: off)."},
    {NULL, NULL, 0, NULL}};

/* ---------- Module (multi-phase init, one instance per interpreter) ---------- */

static struct PyModuleDef gocoro_module;

/* The objects a module instance exports (the primary instance's, for a second instance). */
static const char *const mod_exports[] = {
    "Coroutine", "CoroutineWrapper", "NativeCode", "Generator", "Iterator", "AsyncGenerator",
    "AsyncIterator", "AsyncGeneratorASend", "AsyncGeneratorAThrow", "PanicException", NULL};

static int mod_add_common(PyObject *m)
{
    PyObject *capsule = PyCapsule_New((void *)&gocoro_api_table, GOCORO_CAPSULE_NAME, NULL);
    if (capsule == NULL || PyModule_AddObject(m, "_C_API", capsule) < 0) {
        Py_XDECREF(capsule);
        return -1;
    }
    if (PyModule_AddIntConstant(m, "ABI_VERSION", GOCORO_ABI_VERSION) < 0 ||
        PyModule_AddStringConstant(m, "__version__", "0.1.0") < 0)
        return -1;
    return 0;
}

static int mod_exec(PyObject *m)
{
    GoCoroState *st = PyModule_GetState(m);
    st->module = m;
    st->interp_id = (int64_t)PyInterpreterState_GetID(PyInterpreterState_Get());
    st->counted = 1;
    live_states++;
    if (mod_add_common(m) < 0)
        return -1;
    GoCoroState *first = gocoro_state_find();
    if (first != NULL) {
        /* a second instance in this interpreter (reload, sys.modules surgery): one set of
         * types per interpreter, so it re-exports the first instance's objects */
        st->primary_module = Py_NewRef(first->module);
        for (const char *const *name = mod_exports; *name != NULL; name++) {
            PyObject *v = PyObject_GetAttrString(first->module, *name);
            if (v == NULL || PyModule_AddObject(m, *name, v) < 0) {
                Py_XDECREF(v);
                return -1;
            }
        }
        return 0;
    }
    if (gocoro_coro_state_init(st, m) < 0 || gocoro_waker_state_init(st, m) < 0)
        return -1;
    PyObject *exports[] = {
        (PyObject *)st->coroutine_type, (PyObject *)st->wrapper_type, (PyObject *)st->code_type,
        (PyObject *)st->generator_type, (PyObject *)st->iterator_type, (PyObject *)st->asyncgen_type,
        (PyObject *)st->asynciter_type, (PyObject *)st->asend_type, (PyObject *)st->athrow_type,
        st->panic_exc};
    for (int i = 0; mod_exports[i] != NULL; i++)
        if (PyModule_AddObjectRef(m, mod_exports[i], exports[i]) < 0)
            return -1;
    if (gocoro_state_register(st) < 0)
        return -1;
    if (PyInterpreterState_Get() == PyInterpreterState_Main()) {
        gocoro_api_table.coroutine_type = (PyObject *)st->coroutine_type;
        gocoro_api_table.panic_exception = st->panic_exc;
    }
    /* the per-interpreter registry lives in Go; a forked child must not call into Go */
    if (!gocoro_forked_child) {
        if (gocoro_go_register_interp((long long)st->interp_id) < 0)
            return -1;
        st->go_registered = 1;
    }
    PyObject *atexit = PyImport_ImportModule("atexit");
    PyObject *hook = atexit ? PyObject_GetAttrString(m, "_interp_exit") : NULL;
    PyObject *r = hook ? PyObject_CallMethod(atexit, "register", "O", hook) : NULL;
    Py_XDECREF(atexit);
    Py_XDECREF(hook);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* The interpreter is done with gocoro: Go registry, its unsettled jobs, cycle-forming caches. */
static void mod_forget_interp(GoCoroState *st)
{
    gocoro_executor_interp_exit(st);
    if (st->go_registered && !gocoro_forked_child) {
        st->go_registered = 0;
        gocoro_go_unregister_interp((long long)st->interp_id);
    }
    gocoro_executor_state_clear(st);
    gocoro_waker_state_clear_caches(st);
}

static int mod_traverse(PyObject *m, visitproc visit, void *arg)
{
    GoCoroState *st = PyModule_GetState(m);
    if (st == NULL)
        return 0;
    Py_VISIT(st->primary_module);
    int rc = gocoro_coro_state_traverse(st, visit, arg);
    if (rc == 0)
        rc = gocoro_waker_state_traverse(st, visit, arg);
    if (rc == 0)
        rc = gocoro_executor_state_traverse(st, visit, arg);
    return rc;
}

static int mod_clear(PyObject *m)
{
    GoCoroState *st = PyModule_GetState(m);
    if (st == NULL)
        return 0;
    if (st->registered) {
        gocoro_state_unregister(st);
        if (gocoro_api_table.coroutine_type == (PyObject *)st->coroutine_type &&
            st->coroutine_type != NULL) {
            gocoro_api_table.coroutine_type = NULL;
            gocoro_api_table.panic_exception = NULL;
        }
    }
    Py_CLEAR(st->primary_module);
    gocoro_executor_state_clear(st);
    gocoro_waker_state_clear(st);
    gocoro_coro_state_clear(st);
    return 0;
}

static void mod_free(void *m)
{
    GoCoroState *st = PyModule_GetState((PyObject *)m);
    if (st == NULL)
        return;
    mod_clear((PyObject *)m);
    mod_forget_interp(st);
    if (st->counted) {
        st->counted = 0;
        live_states--;
    }
}

static PyModuleDef_Slot mod_slots[] = {
    {Py_mod_exec, mod_exec},
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL}};

static struct PyModuleDef gocoro_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "gocoro._gocoro",
    .m_doc = "gocoro: one canonical native coroutine type for every extension (see gocoro.h).",
    .m_size = sizeof(GoCoroState),
    .m_methods = mod_methods,
    .m_slots = mod_slots,
    .m_traverse = mod_traverse,
    .m_clear = mod_clear,
    .m_free = mod_free,
};

PyMODINIT_FUNC PyInit__gocoro(void) { return PyModuleDef_Init(&gocoro_module); }

/* ---------- First use without an import (direct -lgocoro callers) ---------- */

/* Import the module in the current interpreter, or, when it is not importable (a program that
 * links libgocoro from a directory outside sys.path), create it from its definition and
 * install it in sys.modules.  Returns the interpreter's state. */
static GoCoroState *capi_bootstrap(void)
{
    PyObject *m = PyImport_ImportModule(gocoro_module.m_name);
    if (m == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_ImportError))
            return NULL;
        PyObject *exc = gocoro_fetch_exc();
        PyObject *machinery = PyImport_ImportModule("importlib.machinery");
        PyObject *spec = machinery ? PyObject_CallMethod(machinery, "ModuleSpec", "sO",
                                                         gocoro_module.m_name, Py_None)
                                   : NULL;
        Py_XDECREF(machinery);
        m = spec ? PyModule_FromDefAndSpec(&gocoro_module, spec) : NULL;
        Py_XDECREF(spec);
        if (m != NULL && (PyModule_ExecDef(m, &gocoro_module) < 0 ||
                          PyDict_SetItemString(PyImport_GetModuleDict(), gocoro_module.m_name, m) < 0))
            Py_CLEAR(m);
        if (m == NULL) {
            PyObject *exc2 = gocoro_fetch_exc();
            if (exc2 != NULL)
                PyException_SetContext(exc2, exc);
            else
                Py_DECREF(exc);
            gocoro_restore_exc(exc2);
            return NULL;
        }
        Py_DECREF(exc);
    }
    Py_DECREF(m); /* sys.modules keeps it */
    GoCoroState *st = gocoro_state_find();
    if (st == NULL)
        PyErr_Format(PyExc_ImportError,
                     "gocoro: the module '%s' is not initialised in this interpreter (is it "
                     "still being imported?)",
                     gocoro_module.m_name);
    return st;
}

__attribute__((constructor)) static void capi_install_bootstrap(void)
{
    gocoro_state_bootstrap = capi_bootstrap;
}
