/*
 * coro/code.c: prepared specs (the NativeCode type, GoCoro_Prepare) and object creation
 * (GoCoro_New).
 */
#include "coro/freelist.h"

#include <string.h>

#define GC_MAX_STATE ((size_t)1 << 24)

/* ---------- Native Code ---------- */

static void code_dealloc(PyObject *self)
{
    GoCoroCode *k = (GoCoroCode *)self;
    Py_XDECREF(k->name);
    Py_XDECREF(k->qualname);
    Py_XDECREF(k->filename);
    Py_XDECREF(k->code);
    PyObject_Free(self);
}

static PyObject *code_repr(PyObject *self)
{
    GoCoroCode *k = (GoCoroCode *)self;
    return PyUnicode_FromFormat("<gocoro.NativeCode %U (%U:%d), kind %u, state %zu bytes>",
                                k->qualname, k->filename, (int)k->spec.firstlineno,
                                (unsigned)k->spec.kind, k->spec.state_size);
}

PyTypeObject GoCoro_CodeType_Impl = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gocoro.NativeCode",
    .tp_basicsize = sizeof(GoCoroCode),
    .tp_dealloc = code_dealloc,
    .tp_repr = code_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A prepared GoCoroSpec (what GoCoro_Prepare returns).",
};

/* ---------- GoCoro_Prepare ---------- */

/* The first ABI-1 spec layout ends after `finalize`. */
#define GC_SPEC_MIN_SIZE (offsetof(GoCoroSpec, finalize) + sizeof(GoCoroFinalizeFn))

GoCoroCode *GoCoro_Prepare(const GoCoroSpec *spec)
{
    if (gocoro_ensure_ready() < 0)
        return NULL;
    if (spec == NULL) {
        PyErr_SetString(PyExc_ValueError, "GoCoro_Prepare: spec is NULL");
        return NULL;
    }
    if (spec->abi_version != GOCORO_ABI_VERSION) {
        PyErr_Format(PyExc_RuntimeError,
                     "GoCoro_Prepare: gocoro ABI mismatch: the spec was built for ABI %u, this "
                     "libgocoro provides ABI %u (rebuild the extension against this gocoro.h)",
                     (unsigned)spec->abi_version, (unsigned)GOCORO_ABI_VERSION);
        return NULL;
    }
    if (spec->struct_size < GC_SPEC_MIN_SIZE) {
        PyErr_Format(PyExc_ValueError,
                     "GoCoro_Prepare: GoCoroSpec.struct_size is %u, expected %zu "
                     "(set it to sizeof(GoCoroSpec))",
                     (unsigned)spec->struct_size, sizeof(GoCoroSpec));
        return NULL;
    }
    if (spec->struct_size > sizeof(GoCoroSpec)) {
        /* a newer header: accept it only if the members we do not know are all zero */
        const unsigned char *p = (const unsigned char *)spec;
        for (size_t i = sizeof(GoCoroSpec); i < spec->struct_size; i++) {
            if (p[i] != 0) {
                PyErr_Format(PyExc_ValueError,
                             "GoCoro_Prepare: the spec (struct_size %u) uses members this libgocoro "
                             "(GoCoroSpec of %zu bytes) does not know; upgrade libgocoro",
                             (unsigned)spec->struct_size, sizeof(GoCoroSpec));
                return NULL;
            }
        }
    }
    if (spec->name == NULL) {
        PyErr_SetString(PyExc_ValueError, "GoCoro_Prepare: GoCoroSpec.name is NULL");
        return NULL;
    }
    if (spec->step == NULL) {
        PyErr_Format(PyExc_ValueError, "GoCoro_Prepare: GoCoroSpec.step is NULL (spec '%s')", spec->name);
        return NULL;
    }
    if (spec->kind > GOCORO_KIND_ASYNC_ITERATOR) {
        PyErr_Format(PyExc_ValueError,
                     "GoCoro_Prepare: unknown GoCoroSpec.kind %u (spec '%s'); expected one of "
                     "GOCORO_KIND_COROUTINE (0), _GENERATOR (1), _ITERATOR (2), _ASYNC_GENERATOR (3), "
                     "_ASYNC_ITERATOR (4)",
                     (unsigned)spec->kind, spec->name);
        return NULL;
    }
    if (spec->flags != 0) {
        PyErr_Format(PyExc_ValueError, "GoCoro_Prepare: unknown GoCoroSpec.flags 0x%x (spec '%s')",
                     (unsigned)spec->flags, spec->name);
        return NULL;
    }
    if (spec->state_size > GC_MAX_STATE) {
        PyErr_Format(PyExc_ValueError,
                     "GoCoro_Prepare: state_size %zu of spec '%s' is larger than the maximum %zu",
                     spec->state_size, spec->name, GC_MAX_STATE);
        return NULL;
    }
    GoCoroCode *k = PyObject_New(GoCoroCode, &GoCoro_CodeType_Impl);
    if (k == NULL)
        return NULL;
    memset(&k->spec, 0, sizeof(k->spec));
    memcpy(&k->spec, spec, spec->struct_size < sizeof(GoCoroSpec) ? spec->struct_size : sizeof(GoCoroSpec));
    k->spec.struct_size = sizeof(GoCoroSpec);
    k->qualname = k->filename = k->code = NULL;
    k->filename_c = spec->filename ? spec->filename : "<native>";
    k->name = PyUnicode_FromString(spec->name);
    if (k->name == NULL)
        goto fail;
    PyUnicode_InternInPlace(&k->name);
    k->qualname = spec->qualname ? PyUnicode_FromString(spec->qualname) : Py_NewRef(k->name);
    if (k->qualname == NULL)
        goto fail;
    k->filename = PyUnicode_FromString(k->filename_c);
    if (k->filename == NULL)
        goto fail;
    k->code = (PyObject *)PyCode_NewEmpty(k->filename_c, spec->name, (int)spec->firstlineno);
    if (k->code == NULL)
        goto fail;
    /* the spec's strings must outlive the code object: keep our own copies */
    k->spec.name = PyUnicode_AsUTF8(k->name);
    k->spec.qualname = PyUnicode_AsUTF8(k->qualname);
    k->filename_c = PyUnicode_AsUTF8(k->filename);
    k->spec.filename = k->filename_c;
    return k;
fail:
    Py_DECREF(k);
    return NULL;
}

/* ---------- GoCoro_New ---------- */

static PyTypeObject *const gc_types[] = {&GoCoro_CoroutineType_Impl, &GoCoro_GeneratorType_Impl,
                                         &GoCoro_IteratorType_Impl, &GoCoro_AsyncGenType_Impl,
                                         &GoCoro_AsyncIterType_Impl};

GoCoroPyObject *GoCoro_New(GoCoroCode *code, const void *init, size_t init_size, void **state_out)
{
    if (code == NULL || Py_TYPE(code) != &GoCoro_CodeType_Impl) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "GoCoro_New: code is not a GoCoroCode from GoCoro_Prepare");
        return NULL;
    }
    size_t n = code->spec.state_size;
    if (init_size != n && !(init == NULL && init_size == 0)) {
        PyErr_Format(PyExc_ValueError,
                     "GoCoro_New: init_size %zu does not match state_size %zu of spec '%s'",
                     init_size, n, code->spec.name);
        return NULL;
    }
    PyObject *origin = NULL; /* cr_origin (sys.set_coroutine_origin_tracking_depth) */
    if (GC_UNLIKELY(PyThreadState_Get()->coroutine_origin_tracking_depth > 0) &&
        code->spec.kind == GOCORO_KIND_COROUTINE) {
        origin = gc_compute_origin(PyThreadState_Get()->coroutine_origin_tracking_depth);
        if (origin == NULL)
            return NULL;
    }
    GoCoroObject *c = gc_alloc(gc_types[code->spec.kind], n);
    if (c == NULL) {
        Py_XDECREF(origin);
        return NULL;
    }
    c->code = (GoCoroCode *)Py_NewRef((PyObject *)code);
    c->await_obj = NULL;
    c->weakreflist = NULL;
    c->name = NULL;
    c->qualname = NULL;
    c->status = GC_CREATED;
    c->cleared = 0;
    c->kind = (uint8_t)code->spec.kind;
    c->ag_hooks_inited = c->ag_running_async = c->ag_closed = c->finalized = 0;
    c->cr_origin = origin; /* (the same field as ag_finalizer, NULL for other kinds) */
    if (n != 0) {
        if (init != NULL)
            memcpy(c->state, init, n);
        else
            memset(c->state, 0, n);
    }
    if (state_out != NULL)
        *state_out = c->state;
    PyObject_GC_Track(c);
    return (PyObject *)c;
}
