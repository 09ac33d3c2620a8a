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
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Py_XDECREF(k->name);
    Py_XDECREF(k->qualname);
    Py_XDECREF(k->filename);
    Py_XDECREF(k->code);
    PyObject_GC_Del(self);
    Py_DECREF(tp);
}

/* GC-aware only so that the cycle module -> state -> cached code -> type -> module (the
 * awaitables' codes cached per interpreter) is visible to the collector. */
static int code_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static PyObject *code_repr(PyObject *self)
{
    GoCoroCode *k = (GoCoroCode *)self;
    return PyUnicode_FromFormat("<gocoro.NativeCode %U (%U:%d), kind %u, state %zu bytes>",
                                k->qualname, k->filename, (int)k->spec.firstlineno,
                                (unsigned)k->spec.kind, k->spec.state_size);
}

static PyType_Slot code_slots[] = {
    {Py_tp_dealloc, code_dealloc},
    {Py_tp_traverse, code_traverse},
    {Py_tp_repr, code_repr},
    {Py_tp_doc, "A prepared GoCoroSpec (what GoCoro_Prepare returns)."},
    {0, NULL}};

PyType_Spec gc_code_spec = {
    .name = "gocoro.NativeCode",
    .basicsize = sizeof(GoCoroCode),
    .flags = GC_TYPE_FLAGS | Py_TPFLAGS_HAVE_GC,
    .slots = code_slots,
};

GoCoroState *gocoro_code_state(GoCoroCode *code) { return code->st; }

/* ---------- GoCoro_Prepare ---------- */

/* The first ABI-1 spec layout ends after `finalize`. */
#define GC_SPEC_MIN_SIZE (offsetof(GoCoroSpec, finalize) + sizeof(GoCoroFinalizeFn))

GoCoroCode *GoCoro_Prepare(const GoCoroSpec *spec)
{
    GoCoroState *st = gocoro_state_current();
    if (st == NULL)
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
    GoCoroCode *k = PyObject_GC_New(GoCoroCode, st->code_type);
    if (k == NULL)
        return NULL;
    k->st = st;
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
    PyObject_GC_Track(k);
    return k;
fail:
    Py_DECREF(k);
    return NULL;
}

/* ---------- GoCoro_New ---------- */

GoCoroPyObject *GoCoro_New(GoCoroCode *code, const void *init, size_t init_size, void **state_out)
{
    if (code == NULL || Py_TYPE(code)->tp_dealloc != code_dealloc) {
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
    GoCoroState *st = code->st;
    PyTypeObject *type = st->kind_types[code->spec.kind];
    if (GC_UNLIKELY(type == NULL)) {
        Py_XDECREF(origin);
        PyErr_Format(PyExc_RuntimeError,
                     "GoCoro_New: the gocoro module of the interpreter that prepared '%s' is gone",
                     code->spec.name);
        return NULL;
    }
    GoCoroObject *c = gc_alloc(st, type, n);
    if (c == NULL) {
        Py_XDECREF(origin);
        return NULL;
    }
    c->code = (GoCoroCode *)Py_NewRef((PyObject *)code);
    c->await_obj = NULL;
    c->awaiting = 0;
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
