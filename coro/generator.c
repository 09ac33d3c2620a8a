/*
 * coro/generator.c: the generator type (GOCORO_KIND_GENERATOR), where GOCORO_AWAIT works like
 * `yield from`.
 */
#include "coro/object.h"

/* ---------- Generator ---------- */

PyObject *gen_iternext(PyObject *self)
{
    return gc_iternext_impl((GoCoroObject *)self);
}

/* iter(gen), which `yield from gen` calls too. */
static PyObject *gen_iter(PyObject *self)
{
    gc_note_delegated((GoCoroObject *)self);
    return Py_NewRef(self);
}

static PyMethodDef gen_methods[] = {
    {"send", (PyCFunction)gc_send_method, METH_O,
     "send(arg) -> send 'arg' into generator,\nreturn next yielded value or raise StopIteration."},
    {"throw", (PyCFunction)(void (*)(void))gc_throw_method, METH_FASTCALL,
     "throw(value)\nthrow(type[,value[,tb]])\n\nRaise exception in generator, return next yielded "
     "value or raise StopIteration."},
    {"close", gc_close_method, METH_NOARGS, "close() -> raise GeneratorExit inside generator."},
    {"__sizeof__", gc_sizeof, METH_NOARGS, NULL},
#if PY_VERSION_HEX >= 0x030D0000 /* as types.GeneratorType */
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS, "See PEP 585"},
#endif
    {NULL, NULL, 0, NULL}};

static PyGetSetDef gen_getset[] = {
    {"__name__", gc_get_name, gc_set_name, "name of the generator", NULL},
    {"__qualname__", gc_get_qualname, gc_set_qualname, "qualified name of the generator", NULL},
    {"gi_running", gc_get_running, NULL, NULL, NULL},
    {"gi_suspended", gc_get_suspended, NULL, NULL, NULL},
    {"gi_yieldfrom", gc_get_await, NULL, "object being iterated by yield from, or None", NULL},
    {"gi_frame", gc_get_frame, NULL, "None once finished, else a frame naming the native code", NULL},
    {"gi_code", gc_get_code, NULL, "an empty code object naming the native function", NULL},
#if PY_VERSION_HEX >= 0x030F0000
    {"gi_state", gc_get_state, NULL, "current state as a string", "GEN"},
#endif
    {NULL, NULL, NULL, NULL, NULL}};

static PyType_Slot gen_slots[] = {
    GC_OBJECT_SLOTS,
    {Py_am_send, gc_am_send},
    {Py_tp_repr, gc_repr},
    {Py_tp_doc, "A native generator implemented by a C step function (gocoro)."},
    {Py_tp_iter, gen_iter},
    {Py_tp_iternext, gen_iternext},
    {Py_tp_methods, gen_methods},
    {Py_tp_getset, gen_getset},
    {Py_tp_finalize, gc_finalize},
    {0, NULL}};

PyType_Spec gc_generator_spec = {GC_OBJECT_SPEC("gocoro.Generator"), .slots = gen_slots};
