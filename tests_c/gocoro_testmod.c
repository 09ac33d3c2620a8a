/*
 * _gocoro_test: test extension for gocoro, using the capsule API (GOCORO_USE_CAPSULE).
 *
 * The centre piece is program(ops, log=None, kind=0): a native coroutine that interprets a
 * tuple of ops with a program counter kept in its inline state.  tests/oracle.py contains the
 * very same interpreter written as a CPython `async def`, so that every test can run one op
 * program + one driver script against both and compare the results.
 *
 * Ops (each a tuple whose first item is the op name):
 *   ("yield", v)               GOCORO_NEXT v; logs ("sent", x) with what is sent back
 *   ("yield_call", f, *a)      GOCORO_NEXT f(*a) (the call happens before suspending)
 *   ("await", aw)              GOCORO_AWAIT aw; logs ("result", r) with its result
 *   ("await_new", f, *a)       GOCORO_AWAIT f(*a)
 *   ("item", v)                GOCORO_ITEM v (async generators only; for later kinds)
 *   ("return", v)              GOCORO_RETURN v
 *   ("raise", T, *a)           raise T(*a)
 *   ("stopiteration", *a)      raise StopIteration(*a) (PEP 479 -> RuntimeError)
 *   ("panic", msg)             return GoCoro_RaisePanic(msg)
 *   ("try", T_or_None, pc)     install a handler: an exception thrown in at the next suspension
 *                              points (yield/await) that matches T (None: any) is caught: it is
 *                              logged as ("caught", type name, str) and remembered, the handler
 *                              is removed and execution continues at op index pc
 *   ("endtry",)                remove the handler
 *   ("rethrow",)               return GoCoro_Rethrow(<the last caught exception>)
 *   ("goto", pc)               jump
 *   ("log", v)                 append v to the log
 *   ("call", f, *a)            call f(*a), ignore the result (an exception propagates)
 *   ("call_log", f, *a)        call f(*a), log ("call", result)
 *   ("running",)               log ("running", self.cr_running, self.cr_await is None)
 *   ("self", meth)             call back into the own object: meth in send/throw/close/
 *                              iter_send/wrapper_send; logs ("self", meth, "ok", result) or
 *                              ("self", meth, exc type name, str(exc)) and carries on
 *   ("call_self", f)           call f(self) (e.g. to resurrect the object while it finalizes)
 *   ("bad_return", code, how)  misbehave: return `code` with *result = None (how == "none"),
 *                              left NULL ("null"), or with a KeyError set and *result = None
 *                              ("exc") or 42 ("exc_value")
 * Running past the last op returns None.  A thrown exception without a matching handler is
 * re-raised with GoCoro_Rethrow.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define GOCORO_USE_CAPSULE
#include "gocoro.h"

#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* small helpers                                                                               */

static PyObject *type_name_of(PyObject *obj) /* new ref: type(obj).__name__ */
{
    return PyObject_GetAttrString((PyObject *)Py_TYPE(obj), "__name__");
}

/* ("tag", type name, str(exc)) -- new ref */
static PyObject *exc_summary(const char *tag, PyObject *exc)
{
    PyObject *tn = type_name_of(exc);
    if (tn == NULL)
        return NULL;
    PyObject *s = PyObject_Str(exc);
    if (s == NULL) {
        Py_DECREF(tn);
        return NULL;
    }
    return Py_BuildValue("(sNN)", tag, tn, s);
}

/* fetch the current exception as an instance (new ref), clearing the indicator */
static PyObject *fetch_exc_instance(void)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    if (t == NULL)
        return NULL;
    PyErr_NormalizeException(&t, &v, &tb);
    if (tb != NULL && v != NULL)
        PyException_SetTraceback(v, tb);
    Py_XDECREF(t);
    Py_XDECREF(tb);
    return v;
}

/* ------------------------------------------------------------------------------------------ */
/* program(ops): the op interpreter                                                            */

enum { W_NONE = 0, W_YIELD = 1, W_AWAIT = 2 };

typedef struct {
    PyObject *ops;     /* tuple of op tuples */
    PyObject *log;     /* list, or NULL */
    PyObject *handler; /* exception class (or tuple) while a handler is installed */
    PyObject *caught;  /* the last caught exception */
    Py_ssize_t pc;
    Py_ssize_t handler_target;
    int waiting;       /* W_*: what the last step suspended on */
    int started;
} ProgState;

static Py_ssize_t prog_created, prog_cleared, prog_finalized;

static int log_append(ProgState *st, PyObject *item /* stolen, may be NULL (error) */)
{
    if (item == NULL)
        return -1;
    if (st->log == NULL) {
        Py_DECREF(item);
        return 0;
    }
    int r = PyList_Append(st->log, item);
    Py_DECREF(item);
    return r;
}

static int prog_call_self(PyObject *self, ProgState *st, PyObject *meth)
{
    const char *m = PyUnicode_AsUTF8(meth);
    PyObject *res = NULL;
    if (m == NULL)
        return -1;
    if (strcmp(m, "send") == 0) {
        res = PyObject_CallMethod(self, "send", "O", Py_None);
    } else if (strcmp(m, "throw") == 0) {
        PyObject *exc = PyObject_CallFunction(PyExc_ValueError, "s", "self-throw");
        if (exc == NULL)
            return -1;
        res = PyObject_CallMethod(self, "throw", "O", exc);
        Py_DECREF(exc);
    } else if (strcmp(m, "close") == 0) {
        res = PyObject_CallMethod(self, "close", NULL);
    } else if (strcmp(m, "iter_send") == 0) {
        PyObject *r = NULL;
        PySendResult sr = PyIter_Send(self, Py_None, &r);
        if (sr != PYGEN_ERROR)
            res = Py_BuildValue("(sN)", sr == PYGEN_RETURN ? "return" : "next", r);
    } else if (strcmp(m, "wrapper_send") == 0) {
        PyObject *w = PyObject_CallMethod(self, "__await__", NULL);
        if (w != NULL) {
            res = PyObject_CallMethod(w, "send", "O", Py_None);
            Py_DECREF(w);
        }
    } else {
        PyErr_Format(PyExc_ValueError, "unknown self method %R", meth);
        return -1;
    }
    if (res != NULL)
        return log_append(st, Py_BuildValue("(sOsN)", "self", meth, "ok", res));
    PyObject *exc = fetch_exc_instance();
    if (exc == NULL) {
        PyErr_SetString(PyExc_SystemError, "self call failed without an exception");
        return -1;
    }
    PyObject *tn = type_name_of(exc);
    PyObject *s = tn ? PyObject_Str(exc) : NULL;
    Py_DECREF(exc);
    if (s == NULL) {
        Py_XDECREF(tn);
        return -1;
    }
    return log_append(st, Py_BuildValue("(sONN)", "self", meth, tn, s));
}

static PyObject *call_op_args(PyObject *op, Py_ssize_t first) /* op[first](*op[first+1:]) */
{
    Py_ssize_t n = PyTuple_GET_SIZE(op);
    if (n <= first) {
        PyErr_Format(PyExc_TypeError, "op %R needs a callable", op);
        return NULL;
    }
    PyObject *args = PyTuple_GetSlice(op, first + 1, n);
    if (args == NULL)
        return NULL;
    PyObject *r = PyObject_Call(PyTuple_GET_ITEM(op, first), args, NULL);
    Py_DECREF(args);
    return r;
}

static int prog_step(GoCoroPyObject *self_, void *state, GoCoroPyObject *sent_,
                     GoCoroPyObject *thrown_, GoCoroPyObject **result_)
{
    PyObject *self = (PyObject *)self_, *sent = (PyObject *)sent_, *thrown = (PyObject *)thrown_;
    PyObject **result = (PyObject **)result_;
    ProgState *st = (ProgState *)state;

    if ((sent == NULL) == (thrown == NULL)) {
        PyErr_Format(PyExc_AssertionError, "step got sent=%p thrown=%p: exactly one must be set",
                     (void *)sent, (void *)thrown);
        return GOCORO_ERROR;
    }
    if (PyErr_Occurred()) {
        /* the error indicator must not be set when a step is called */
        PyObject *exc = fetch_exc_instance();
        PyErr_Format(PyExc_AssertionError, "step called with the error indicator set (%R)", exc);
        Py_XDECREF(exc);
        return GOCORO_ERROR;
    }
    if (st->ops == NULL) {
        PyErr_SetString(PyExc_AssertionError, "step called after the state was cleared");
        return GOCORO_ERROR;
    }
    if (!st->started) {
        st->started = 1;
        if (thrown != NULL) {
            /* CPython never runs any code of a coroutine that is thrown into before it started;
             * record it so that the differential tests notice. */
            if (log_append(st, exc_summary("thrown_at_start", thrown)) < 0)
                return GOCORO_ERROR;
            return GoCoro_Rethrow(thrown);
        }
        if (sent != Py_None) {
            if (log_append(st, Py_BuildValue("(sO)", "sent_at_start", sent)) < 0)
                return GOCORO_ERROR;
        }
    } else if (st->waiting != W_NONE) {
        int was = st->waiting;
        st->waiting = W_NONE;
        if (thrown != NULL) {
            if (st->handler != NULL && PyErr_GivenExceptionMatches(thrown, st->handler)) {
                if (log_append(st, exc_summary("caught", thrown)) < 0)
                    return GOCORO_ERROR;
                Py_INCREF(thrown);
                Py_XSETREF(st->caught, thrown);
                Py_CLEAR(st->handler);
                st->pc = st->handler_target;
            } else {
                return GoCoro_Rethrow(thrown);
            }
        } else {
            if (log_append(st, Py_BuildValue("(sO)", was == W_YIELD ? "sent" : "result", sent)) < 0)
                return GOCORO_ERROR;
        }
    } else {
        PyErr_SetString(PyExc_AssertionError, "program stepped again without having suspended");
        return GOCORO_ERROR;
    }

    for (;;) {
        Py_ssize_t nops = PyTuple_GET_SIZE(st->ops);
        if (st->pc >= nops) {
            *result = Py_NewRef(Py_None);
            return GOCORO_RETURN;
        }
        PyObject *op = PyTuple_GET_ITEM(st->ops, st->pc);
        st->pc++;
        if (!PyTuple_Check(op) || PyTuple_GET_SIZE(op) < 1 || !PyUnicode_Check(PyTuple_GET_ITEM(op, 0))) {
            PyErr_Format(PyExc_TypeError, "bad op %R", op);
            return GOCORO_ERROR;
        }
        const char *name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(op, 0));
        Py_ssize_t nargs = PyTuple_GET_SIZE(op) - 1;
        if (name == NULL)
            return GOCORO_ERROR;
#define ARG(i) PyTuple_GET_ITEM(op, (i) + 1)
#define NEED(k)                                                                  \
    do {                                                                         \
        if (nargs < (k)) {                                                       \
            PyErr_Format(PyExc_TypeError, "op %R needs %d argument(s)", op, (k)); \
            return GOCORO_ERROR;                                                 \
        }                                                                        \
    } while (0)

        if (strcmp(name, "yield") == 0) {
            NEED(1);
            st->waiting = W_YIELD;
            *result = Py_NewRef(ARG(0));
            return GOCORO_NEXT;
        } else if (strcmp(name, "yield_call") == 0) {
            PyObject *v = call_op_args(op, 1);
            if (v == NULL)
                return GOCORO_ERROR;
            st->waiting = W_YIELD;
            *result = v;
            return GOCORO_NEXT;
        } else if (strcmp(name, "await") == 0) {
            NEED(1);
            st->waiting = W_AWAIT;
            *result = Py_NewRef(ARG(0));
            return GOCORO_AWAIT;
        } else if (strcmp(name, "await_new") == 0) {
            PyObject *v = call_op_args(op, 1);
            if (v == NULL)
                return GOCORO_ERROR;
            st->waiting = W_AWAIT;
            *result = v;
            return GOCORO_AWAIT;
        } else if (strcmp(name, "item") == 0) {
            NEED(1);
            st->waiting = W_YIELD;
            *result = Py_NewRef(ARG(0));
            return GOCORO_ITEM;
        } else if (strcmp(name, "return") == 0) {
            NEED(1);
            *result = Py_NewRef(ARG(0));
            return GOCORO_RETURN;
        } else if (strcmp(name, "raise") == 0) {
            PyObject *exc = call_op_args(op, 1);
            if (exc == NULL)
                return GOCORO_ERROR;
            PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
            Py_DECREF(exc);
            return GOCORO_ERROR;
        } else if (strcmp(name, "stopiteration") == 0) {
            PyObject *args = PyTuple_GetSlice(op, 1, nargs + 1);
            if (args == NULL)
                return GOCORO_ERROR;
            PyObject *exc = PyObject_Call(PyExc_StopIteration, args, NULL);
            Py_DECREF(args);
            if (exc == NULL)
                return GOCORO_ERROR;
            PyErr_SetObject(PyExc_StopIteration, exc);
            Py_DECREF(exc);
            return GOCORO_ERROR;
        } else if (strcmp(name, "panic") == 0) {
            NEED(1);
            const char *msg = PyUnicode_AsUTF8(ARG(0));
            if (msg == NULL)
                return GOCORO_ERROR;
            return GoCoro_RaisePanic(msg);
        } else if (strcmp(name, "try") == 0) {
            NEED(2);
            Py_ssize_t target = PyLong_AsSsize_t(ARG(1));
            if (target == -1 && PyErr_Occurred())
                return GOCORO_ERROR;
            PyObject *h = ARG(0) == Py_None ? PyExc_BaseException : ARG(0);
            Py_INCREF(h);
            Py_XSETREF(st->handler, h);
            st->handler_target = target;
        } else if (strcmp(name, "endtry") == 0) {
            Py_CLEAR(st->handler);
        } else if (strcmp(name, "rethrow") == 0) {
            if (st->caught == NULL) {
                PyErr_SetString(PyExc_AssertionError, "rethrow without a caught exception");
                return GOCORO_ERROR;
            }
            /* keep a reference across the call: the caught exception stays remembered */
            PyObject *exc = Py_NewRef(st->caught);
            int r = GoCoro_Rethrow((GoCoroPyObject *)exc);
            Py_DECREF(exc);
            return r;
        } else if (strcmp(name, "goto") == 0) {
            NEED(1);
            Py_ssize_t target = PyLong_AsSsize_t(ARG(0));
            if (target == -1 && PyErr_Occurred())
                return GOCORO_ERROR;
            st->pc = target;
        } else if (strcmp(name, "log") == 0) {
            NEED(1);
            if (log_append(st, Py_NewRef(ARG(0))) < 0)
                return GOCORO_ERROR;
        } else if (strcmp(name, "call") == 0) {
            PyObject *v = call_op_args(op, 1);
            if (v == NULL)
                return GOCORO_ERROR;
            Py_DECREF(v);
        } else if (strcmp(name, "call_log") == 0) {
            PyObject *v = call_op_args(op, 1);
            if (v == NULL)
                return GOCORO_ERROR;
            if (log_append(st, Py_BuildValue("(sN)", "call", v)) < 0)
                return GOCORO_ERROR;
        } else if (strcmp(name, "running") == 0) {
            PyObject *r = PyObject_GetAttrString(self, "cr_running");
            if (r == NULL)
                return GOCORO_ERROR;
            PyObject *a = PyObject_GetAttrString(self, "cr_await");
            if (a == NULL) {
                Py_DECREF(r);
                return GOCORO_ERROR;
            }
            int rt = PyObject_IsTrue(r);
            Py_DECREF(r);
            int an = a == Py_None;
            Py_DECREF(a);
            if (rt < 0)
                return GOCORO_ERROR;
            if (log_append(st, Py_BuildValue("(sOO)", "running", rt ? Py_True : Py_False,
                                             an ? Py_True : Py_False)) < 0)
                return GOCORO_ERROR;
        } else if (strcmp(name, "call_self") == 0) {
            NEED(1);
            PyObject *v = PyObject_CallOneArg(ARG(0), self);
            if (v == NULL)
                return GOCORO_ERROR;
            Py_DECREF(v);
        } else if (strcmp(name, "bad_return") == 0) {
            NEED(2);
            int code = (int)PyLong_AsLong(ARG(0));
            const char *how = PyUnicode_AsUTF8(ARG(1));
            if (how == NULL || PyErr_Occurred())
                return GOCORO_ERROR;
            if (strcmp(how, "none") == 0) {
                *result = Py_NewRef(Py_None);
            } else if (strcmp(how, "exc") == 0 || strcmp(how, "exc_value") == 0) {
                *result = how[3] == '\0' ? Py_NewRef(Py_None) : PyLong_FromLong(42);
                PyErr_SetString(PyExc_KeyError, "left set by a misbehaving step");
            } else {
                *result = NULL;
            }
            return code;
        } else if (strcmp(name, "self") == 0) {
            NEED(1);
            if (prog_call_self(self, st, ARG(0)) < 0)
                return GOCORO_ERROR;
        } else {
            PyErr_Format(PyExc_ValueError, "unknown op %R", op);
            return GOCORO_ERROR;
        }
#undef ARG
#undef NEED
    }
}

static int prog_traverse(void *state, GoCoroVisitFn visit, void *arg)
{
    ProgState *st = (ProgState *)state;
    int r;
#define V(o)                                              \
    if ((o) != NULL && (r = visit((GoCoroPyObject *)(o), arg)) != 0) \
        return r;
    V(st->ops);
    V(st->log);
    V(st->handler);
    V(st->caught);
#undef V
    return 0;
}

static void prog_clear(void *state)
{
    ProgState *st = (ProgState *)state;
    if (st->ops != NULL || st->log != NULL || st->handler != NULL || st->caught != NULL)
        prog_cleared++;
    Py_CLEAR(st->ops);
    Py_CLEAR(st->log);
    Py_CLEAR(st->handler);
    Py_CLEAR(st->caught);
}

static void prog_finalize(void *state)
{
    ProgState *st = (ProgState *)state;
    /* clear must have run before finalize */
    if (st->ops != NULL || st->log != NULL || st->handler != NULL || st->caught != NULL)
        prog_finalized += 1000000000; /* poison: the tests compare the counters exactly */
    prog_finalized++;
}

#define N_KINDS 4
static GoCoroCode *prog_codes[N_KINDS];

static GoCoroSpec prog_spec_for(uint32_t kind)
{
    GoCoroSpec s;
    memset(&s, 0, sizeof s);
    s.abi_version = GOCORO_ABI_VERSION;
    s.struct_size = sizeof(GoCoroSpec);
    s.kind = kind;
    s.name = "program";
    s.qualname = "program";
    s.filename = "gocoro_testmod.c";
    s.firstlineno = 1;
    s.state_size = sizeof(ProgState);
    s.step = prog_step;
    s.traverse = prog_traverse;
    s.clear = prog_clear;
    s.finalize = prog_finalize;
    return s;
}

static PyObject *t_program(PyObject *mod, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"ops", "log", "kind", NULL};
    PyObject *ops, *log = Py_None;
    unsigned int kind = GOCORO_KIND_COROUTINE;
    GoCoroCode *code;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OI:program", kwlist, &ops, &log, &kind))
        return NULL;
    if (log != Py_None && !PyList_Check(log)) {
        PyErr_SetString(PyExc_TypeError, "log must be a list or None");
        return NULL;
    }
    PyObject *tops = PySequence_Tuple(ops);
    if (tops == NULL)
        return NULL;
    if (kind < N_KINDS && prog_codes[kind] != NULL) {
        code = prog_codes[kind];
    } else {
        GoCoroSpec s = prog_spec_for(kind);
        code = GoCoro_Prepare(&s);
        if (code == NULL) {
            Py_DECREF(tops);
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_SystemError, "GoCoro_Prepare returned NULL without an exception");
            return NULL;
        }
        if (kind < N_KINDS) {
            prog_codes[kind] = code; /* keep forever */
        }
    }
    ProgState init;
    memset(&init, 0, sizeof init);
    init.ops = tops; /* the reference moves into the state below */
    init.log = log == Py_None ? NULL : log;
    void *state_out = NULL;
    PyObject *obj = (PyObject *)GoCoro_New(code, &init, sizeof init, &state_out);
    if (kind >= N_KINDS || prog_codes[kind] != code)
        Py_DECREF((PyObject *)code); /* objects hold their own reference to the code */
    if (obj == NULL) {
        Py_DECREF(tops);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_SystemError, "GoCoro_New returned NULL without an exception");
        return NULL;
    }
    /* the state is a byte copy of `init`: it owns `tops` now, and a reference to the log */
    void *gs = GoCoro_GetState((GoCoroPyObject *)obj);
    if (state_out == NULL || state_out != gs) {
        /* report, but keep the object consistent: the state (wherever it is) owns tops */
        Py_XINCREF(((ProgState *)gs)->log);
        Py_DECREF(obj);
        PyErr_SetString(PyExc_AssertionError, "GoCoro_New: *state_out != GoCoro_GetState(obj)");
        return NULL;
    }
    Py_XINCREF(((ProgState *)state_out)->log);
    prog_created++;
    return obj;
}

/* ------------------------------------------------------------------------------------------ */
/* counted(value, yields=0, hold=None): finalize counter                                       */

typedef struct {
    PyObject *value;
    PyObject *hold;
    long yields;
} CountState;

static Py_ssize_t cnt_created, cnt_cleared, cnt_finalized;

static int cnt_step(GoCoroPyObject *self, void *state, GoCoroPyObject *sent, GoCoroPyObject *thrown,
                    GoCoroPyObject **result)
{
    CountState *st = (CountState *)state;
    if (thrown != NULL)
        return GoCoro_Rethrow(thrown);
    if (st->yields > 0) {
        st->yields--;
        *result = (GoCoroPyObject *)Py_NewRef(Py_None);
        return GOCORO_NEXT;
    }
    if (st->value == NULL) {
        PyErr_SetString(PyExc_AssertionError, "counted: stepped after clear");
        return GOCORO_ERROR;
    }
    *result = (GoCoroPyObject *)st->value; /* hand over our reference */
    st->value = NULL;
    return GOCORO_RETURN;
}

static int cnt_traverse(void *state, GoCoroVisitFn visit, void *arg)
{
    CountState *st = (CountState *)state;
    int r;
    if (st->value && (r = visit((GoCoroPyObject *)st->value, arg)) != 0)
        return r;
    if (st->hold && (r = visit((GoCoroPyObject *)st->hold, arg)) != 0)
        return r;
    return 0;
}

static void cnt_clear(void *state)
{
    CountState *st = (CountState *)state;
    if (st->value != NULL || st->hold != NULL)
        cnt_cleared++;
    Py_CLEAR(st->value);
    Py_CLEAR(st->hold);
}

static void cnt_finalize(void *state)
{
    CountState *st = (CountState *)state;
    if (st->value != NULL || st->hold != NULL)
        cnt_finalized += 1000000000; /* clear did not run before finalize */
    cnt_finalized++;
}

static GoCoroCode *cnt_code, *big_code;

typedef struct {
    CountState c; /* first member: the counted callbacks work on it */
    char pad[2000];
} BigState;

static int ensure_big_code(void)
{
    if (big_code == NULL) {
        GoCoroSpec s;
        memset(&s, 0, sizeof s);
        s.abi_version = GOCORO_ABI_VERSION;
        s.struct_size = sizeof s;
        s.kind = GOCORO_KIND_COROUTINE;
        s.name = "counted_big";
        s.state_size = sizeof(BigState);
        s.step = cnt_step;
        s.traverse = cnt_traverse;
        s.clear = cnt_clear;
        s.finalize = cnt_finalize;
        big_code = GoCoro_Prepare(&s);
        if (big_code == NULL)
            return -1;
    }
    return 0;
}

static int ensure_cnt_code(void)
{
    if (cnt_code == NULL) {
        GoCoroSpec s;
        memset(&s, 0, sizeof s);
        s.abi_version = GOCORO_ABI_VERSION;
        s.struct_size = sizeof s;
        s.kind = GOCORO_KIND_COROUTINE;
        s.name = "counted";
        s.state_size = sizeof(CountState);
        s.step = cnt_step;
        s.traverse = cnt_traverse;
        s.clear = cnt_clear;
        s.finalize = cnt_finalize;
        cnt_code = GoCoro_Prepare(&s);
        if (cnt_code == NULL)
            return -1;
    }
    return 0;
}

static PyObject *t_counted(PyObject *mod, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"value", "yields", "hold", "big", NULL};
    PyObject *value = Py_None, *hold = NULL;
    long yields = 0;
    int big = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OlOp:counted", kwlist, &value, &yields, &hold, &big))
        return NULL;
    if (big ? ensure_big_code() < 0 : ensure_cnt_code() < 0)
        return NULL;
    void *sp = NULL;
    /* init == NULL: zero-filled; init_size is still the state size */
    PyObject *obj = big ? (PyObject *)GoCoro_New(big_code, NULL, sizeof(BigState), &sp)
                        : (PyObject *)GoCoro_New(cnt_code, NULL, sizeof(CountState), &sp);
    if (obj == NULL)
        return NULL;
    if (sp == NULL)
        sp = GoCoro_GetState((GoCoroPyObject *)obj);
    CountState *st = (CountState *)sp;
    st->value = Py_NewRef(value);
    st->hold = hold == Py_None ? NULL : Py_XNewRef(hold);
    st->yields = yields;
    cnt_created++;
    return obj;
}

/* New(code, NULL, 0, ...) vs New(code, NULL, state_size, ...): which ones are accepted */
static PyObject *t_new_null_init(PyObject *mod, PyObject *arg)
{
    Py_ssize_t size = PyLong_AsSsize_t(arg);
    if (size == -1 && PyErr_Occurred())
        return NULL;
    if (ensure_cnt_code() < 0)
        return NULL;
    void *sp = NULL;
    PyObject *obj = (PyObject *)GoCoro_New(cnt_code, NULL, (size_t)size, &sp);
    if (obj == NULL)
        return NULL;
    CountState *st = (CountState *)sp;
    int zero = st->value == NULL && st->hold == NULL && st->yields == 0;
    cnt_created++;
    return Py_BuildValue("(NO)", obj, zero ? Py_True : Py_False);
}

static PyObject *t_counters(PyObject *mod, PyObject *unused)
{
    return Py_BuildValue("{snsnsnsnsnsn}", "created", cnt_created, "cleared", cnt_cleared,
                         "finalized", cnt_finalized, "program_created", prog_created,
                         "program_cleared", prog_cleared, "program_finalized", prog_finalized);
}

/* ------------------------------------------------------------------------------------------ */
/* named / native_fail / panic_step / adder / zero_state                                       */

typedef struct {
    PyObject *value;
} ValueState;

static int value_step(GoCoroPyObject *self, void *state, GoCoroPyObject *sent, GoCoroPyObject *thrown,
                      GoCoroPyObject **result)
{
    ValueState *st = (ValueState *)state;
    if (thrown != NULL)
        return GoCoro_Rethrow(thrown);
    *result = (GoCoroPyObject *)Py_NewRef(st->value ? st->value : Py_None);
    return GOCORO_RETURN;
}

static int value_traverse(void *state, GoCoroVisitFn visit, void *arg)
{
    ValueState *st = (ValueState *)state;
    return st->value ? visit((GoCoroPyObject *)st->value, arg) : 0;
}

static void value_clear(void *state)
{
    Py_CLEAR(((ValueState *)state)->value);
}

static int fail_step(GoCoroPyObject *self, void *state, GoCoroPyObject *sent, GoCoroPyObject *thrown,
                     GoCoroPyObject **result)
{
    ValueState *st = (ValueState *)state;
    if (thrown != NULL)
        return GoCoro_Rethrow(thrown);
    PyErr_SetObject(PyExc_ValueError, st->value ? st->value : Py_None);
    return GOCORO_ERROR;
}

static int panic_step(GoCoroPyObject *self, void *state, GoCoroPyObject *sent, GoCoroPyObject *thrown,
                      GoCoroPyObject **result)
{
    ValueState *st = (ValueState *)state;
    const char *msg = st->value ? PyUnicode_AsUTF8(st->value) : "panic";
    if (msg == NULL)
        return GOCORO_ERROR;
    return GoCoro_RaisePanic(msg);
}

static GoCoroCode *named_code, *fail_code, *panic_code;

static PyObject *make_value_coro(GoCoroCode **codep, const char *name, const char *qualname,
                                 const char *filename, int32_t line, GoCoroStepFn step, PyObject *value)
{
    if (*codep == NULL) {
        GoCoroSpec s;
        memset(&s, 0, sizeof s);
        s.abi_version = GOCORO_ABI_VERSION;
        s.struct_size = sizeof s;
        s.kind = GOCORO_KIND_COROUTINE;
        s.name = name;
        s.qualname = qualname;
        s.filename = filename;
        s.firstlineno = line;
        s.state_size = sizeof(ValueState);
        s.step = step;
        s.traverse = value_traverse;
        s.clear = value_clear;
        *codep = GoCoro_Prepare(&s);
        if (*codep == NULL)
            return NULL;
    }
    ValueState init = {value};
    PyObject *obj = (PyObject *)GoCoro_New(*codep, &init, sizeof init, NULL);
    if (obj != NULL)
        Py_INCREF(value);
    return obj;
}

static PyObject *t_named(PyObject *mod, PyObject *args)
{
    PyObject *value = Py_None;
    if (!PyArg_ParseTuple(args, "|O:named", &value))
        return NULL;
    return make_value_coro(&named_code, "named", "Outer.named", "named.c", 7, value_step, value);
}

static PyObject *t_native_fail(PyObject *mod, PyObject *msg)
{
    return make_value_coro(&fail_code, "native_fail", NULL, "native_fail.c", 4242, fail_step, msg);
}

static PyObject *t_panic_step(PyObject *mod, PyObject *msg)
{
    if (!PyUnicode_Check(msg)) {
        PyErr_SetString(PyExc_TypeError, "msg must be str");
        return NULL;
    }
    return make_value_coro(&panic_code, "panic_step", NULL, "panic_step.c", 1, panic_step, msg);
}

typedef struct {
    int64_t a, b;
} AddState;

static int add_step(GoCoroPyObject *self, void *state, GoCoroPyObject *sent, GoCoroPyObject *thrown,
                    GoCoroPyObject **result)
{
    AddState *st = (AddState *)state;
    if (thrown != NULL)
        return GoCoro_Rethrow(thrown);
    *result = (GoCoroPyObject *)PyLong_FromLongLong((long long)(st->a + st->b));
    return *result ? GOCORO_RETURN : GOCORO_ERROR;
}

static GoCoroCode *add_code;

/* adder(a, b) -> (coroutine, state_ok, aligned) */
static PyObject *t_adder(PyObject *mod, PyObject *args)
{
    long long a, b;
    if (!PyArg_ParseTuple(args, "LL:adder", &a, &b))
        return NULL;
    if (add_code == NULL) {
        GoCoroSpec s;
        memset(&s, 0, sizeof s);
        s.abi_version = GOCORO_ABI_VERSION;
        s.struct_size = sizeof s;
        s.name = "adder";
        s.state_size = sizeof(AddState);
        s.step = add_step;
        add_code = GoCoro_Prepare(&s);
        if (add_code == NULL)
            return NULL;
    }
    AddState init = {a, b};
    void *sp = NULL;
    PyObject *obj = (PyObject *)GoCoro_New(add_code, &init, sizeof init, &sp);
    if (obj == NULL)
        return NULL;
    void *gs = GoCoro_GetState((GoCoroPyObject *)obj);
    int same = sp != NULL && sp == gs;
    int aligned = ((uintptr_t)gs % 16) == 0;
    int copied = gs != NULL && memcmp(gs, &init, sizeof init) == 0;
    return Py_BuildValue("(NOOO)", obj, same ? Py_True : Py_False, aligned ? Py_True : Py_False,
                         copied ? Py_True : Py_False);
}

static int zero_step(GoCoroPyObject *self, void *state, GoCoroPyObject *sent, GoCoroPyObject *thrown,
                     GoCoroPyObject **result)
{
    if (thrown != NULL)
        return GoCoro_Rethrow(thrown);
    *result = (GoCoroPyObject *)PyUnicode_FromString("empty");
    return *result ? GOCORO_RETURN : GOCORO_ERROR;
}

static GoCoroCode *zero_code;

static PyObject *t_zero_state(PyObject *mod, PyObject *unused)
{
    if (zero_code == NULL) {
        GoCoroSpec s;
        memset(&s, 0, sizeof s);
        s.abi_version = GOCORO_ABI_VERSION;
        s.struct_size = sizeof s;
        s.name = "zero_state";
        s.state_size = 0;
        s.step = zero_step;
        zero_code = GoCoro_Prepare(&s);
        if (zero_code == NULL)
            return NULL;
    }
    return (PyObject *)GoCoro_New(zero_code, NULL, 0, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* bad input                                                                                   */

static GoCoroSpec valid_spec(void)
{
    GoCoroSpec s;
    memset(&s, 0, sizeof s);
    s.abi_version = GOCORO_ABI_VERSION;
    s.struct_size = sizeof s;
    s.kind = GOCORO_KIND_COROUTINE;
    s.name = "valid";
    s.state_size = sizeof(ValueState);
    s.step = value_step;
    s.traverse = value_traverse;
    s.clear = value_clear;
    return s;
}

/* Prepare a broken spec: returns the code object if Prepare (wrongly) succeeds. */
static PyObject *t_bad_prepare(PyObject *mod, PyObject *arg)
{
    const char *c = PyUnicode_AsUTF8(arg);
    if (c == NULL)
        return NULL;
    GoCoroSpec s = valid_spec();
    const GoCoroSpec *sp = &s;
    if (strcmp(c, "ok") == 0) {
    } else if (strcmp(c, "null_spec") == 0) {
        sp = NULL;
    } else if (strcmp(c, "null_step") == 0) {
        s.step = NULL;
    } else if (strcmp(c, "abi") == 0) {
        s.abi_version = GOCORO_ABI_VERSION + 41;
    } else if (strcmp(c, "abi0") == 0) {
        s.abi_version = 0;
    } else if (strcmp(c, "size_small") == 0) {
        s.struct_size = (uint32_t)offsetof(GoCoroSpec, step);
    } else if (strcmp(c, "size_zero") == 0) {
        s.struct_size = 0;
    } else if (strcmp(c, "kind") == 0) {
        s.kind = 99;
    } else if (strcmp(c, "null_name") == 0) {
        s.name = NULL;
    } else if (strcmp(c, "huge_state") == 0) {
        s.state_size = SIZE_MAX / 2;
    } else {
        PyErr_Format(PyExc_ValueError, "unknown case %R", arg);
        return NULL;
    }
    GoCoroCode *code = GoCoro_Prepare(sp);
    if (code == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_SystemError, "GoCoro_Prepare returned NULL without an exception");
        return NULL;
    }
    if (PyErr_Occurred()) {
        Py_DECREF((PyObject *)code);
        return NULL; /* SystemError-worthy, but let the test see the exception */
    }
    return (PyObject *)code;
}

/* huge_state: Prepare, then New; must fail cleanly in one of them. */
static PyObject *t_huge_new(PyObject *mod, PyObject *unused)
{
    PyObject *case_ = PyUnicode_FromString("huge_state");
    if (case_ == NULL)
        return NULL;
    PyObject *code = t_bad_prepare(mod, case_);
    Py_DECREF(case_);
    if (code == NULL)
        return NULL; /* Prepare refused it: fine */
    PyObject *obj = (PyObject *)GoCoro_New((GoCoroCode *)code, NULL, SIZE_MAX / 2, NULL);
    Py_DECREF(code);
    if (obj == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_SystemError, "GoCoro_New returned NULL without an exception");
        return NULL;
    }
    return obj;
}

/* New with a wrong init_size: returns the object if New (wrongly) succeeds. */
static PyObject *t_bad_new(PyObject *mod, PyObject *arg)
{
    const char *c = PyUnicode_AsUTF8(arg);
    if (c == NULL)
        return NULL;
    static GoCoroCode *code;
    if (code == NULL) {
        GoCoroSpec s = valid_spec();
        code = GoCoro_Prepare(&s);
        if (code == NULL)
            return NULL;
    }
    ValueState init[2] = {{Py_None}, {Py_None}};
    size_t size;
    if (strcmp(c, "bigger") == 0)
        size = sizeof(ValueState) + 1;
    else if (strcmp(c, "smaller") == 0)
        size = sizeof(ValueState) - 1;
    else if (strcmp(c, "zero") == 0)
        size = 0;
    else if (strcmp(c, "ok") == 0)
        size = sizeof(ValueState);
    else {
        PyErr_Format(PyExc_ValueError, "unknown case %R", arg);
        return NULL;
    }
    PyObject *obj = (PyObject *)GoCoro_New(code, init, size, NULL);
    if (obj == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_SystemError, "GoCoro_New returned NULL without an exception");
        return NULL;
    }
    /* it took the bytes: the state now holds a borrowed-turned-owned Py_None */
    Py_INCREF(Py_None);
    return obj;
}

/* ------------------------------------------------------------------------------------------ */
/* misc C-level probes                                                                         */

static PyObject *t_panic_exception(PyObject *mod, PyObject *unused)
{
    PyObject *e = (PyObject *)GoCoro_PanicException();
    if (e == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_SystemError, "GoCoro_PanicException() is NULL");
        return NULL;
    }
    return Py_NewRef(e);
}

static PyObject *t_coroutine_type(PyObject *mod, PyObject *unused)
{
    PyObject *t = (PyObject *)GoCoro_CoroutineType();
    if (t == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_SystemError, "GoCoro_CoroutineType() is NULL");
        return NULL;
    }
    return Py_NewRef(t);
}

static PyObject *t_check(PyObject *mod, PyObject *obj)
{
    int r = GoCoro_Check((GoCoroPyObject *)obj);
    if (PyErr_Occurred())
        return NULL; /* "never fails" */
    return PyLong_FromLong(r);
}

/* GetState(obj): True, or the exception GetState raised */
static PyObject *t_get_state(PyObject *mod, PyObject *obj)
{
    void *s = GoCoro_GetState((GoCoroPyObject *)obj);
    if (s == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_SystemError, "GoCoro_GetState returned NULL without an exception");
        return NULL;
    }
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_TRUE;
}

/* PyIter_Send(obj, value) -> ("next"|"return", result); raises on PYGEN_ERROR */
static PyObject *t_iter_send(PyObject *mod, PyObject *args)
{
    PyObject *obj, *value, *res = NULL;
    if (!PyArg_ParseTuple(args, "OO:iter_send", &obj, &value))
        return NULL;
    PySendResult r = PyIter_Send(obj, value, &res);
    if (r == PYGEN_ERROR)
        return NULL;
    return Py_BuildValue("(sN)", r == PYGEN_RETURN ? "return" : "next", res);
}

/* ------------------------------------------------------------------------------------------ */
/* count_agen(n): an async generator yielding 0..n-1 (the `async for` cost probe);             */
/* await_each(seq): a coroutine awaiting every item of a list in turn, returning their count.  */

typedef struct {
    long long i, n;
} CountAgenState;

static int count_agen_step(GoCoroPyObject *self, void *state, GoCoroPyObject *sent,
                           GoCoroPyObject *thrown, GoCoroPyObject **result)
{
    CountAgenState *st = (CountAgenState *)state;
    if (thrown != NULL)
        return GoCoro_Rethrow(thrown);
    if (st->i >= st->n)
        return GOCORO_RETURN;
    *result = (GoCoroPyObject *)PyLong_FromLongLong(st->i++);
    return *result != NULL ? GOCORO_ITEM : GOCORO_ERROR;
}

static GoCoroCode *count_agen_code;

static PyObject *t_count_agen(PyObject *mod, PyObject *arg)
{
    CountAgenState init = {0, PyLong_AsLongLong(arg)};
    if (init.n == -1 && PyErr_Occurred())
        return NULL;
    if (count_agen_code == NULL) {
        GoCoroSpec s;
        memset(&s, 0, sizeof s);
        s.abi_version = GOCORO_ABI_VERSION;
        s.struct_size = sizeof s;
        s.kind = GOCORO_KIND_ASYNC_GENERATOR;
        s.name = "count_agen";
        s.state_size = sizeof(CountAgenState);
        s.step = count_agen_step;
        count_agen_code = GoCoro_Prepare(&s);
        if (count_agen_code == NULL)
            return NULL;
    }
    return (PyObject *)GoCoro_New(count_agen_code, &init, sizeof init, NULL);
}

typedef struct {
    PyObject *seq; /* list */
    Py_ssize_t i;
} AwaitEachState;

static int await_each_step(GoCoroPyObject *self, void *state, GoCoroPyObject *sent,
                           GoCoroPyObject *thrown, GoCoroPyObject **result)
{
    AwaitEachState *st = (AwaitEachState *)state;
    if (thrown != NULL)
        return GoCoro_Rethrow(thrown);
    if (st->i >= PyList_GET_SIZE(st->seq)) {
        *result = (GoCoroPyObject *)PyLong_FromSsize_t(st->i);
        return *result != NULL ? GOCORO_RETURN : GOCORO_ERROR;
    }
    *result = (GoCoroPyObject *)Py_NewRef(PyList_GET_ITEM(st->seq, st->i));
    st->i++;
    return GOCORO_AWAIT;
}

static int await_each_traverse(void *state, GoCoroVisitFn visit, void *arg)
{
    AwaitEachState *st = (AwaitEachState *)state;
    return st->seq != NULL ? visit((GoCoroPyObject *)st->seq, arg) : 0;
}

static void await_each_clear(void *state) { Py_CLEAR(((AwaitEachState *)state)->seq); }

static GoCoroCode *await_each_code;

static PyObject *t_await_each(PyObject *mod, PyObject *arg)
{
    if (!PyList_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "await_each() needs a list");
        return NULL;
    }
    if (await_each_code == NULL) {
        GoCoroSpec s;
        memset(&s, 0, sizeof s);
        s.abi_version = GOCORO_ABI_VERSION;
        s.struct_size = sizeof s;
        s.name = "await_each";
        s.state_size = sizeof(AwaitEachState);
        s.step = await_each_step;
        s.traverse = await_each_traverse;
        s.clear = await_each_clear;
        await_each_code = GoCoro_Prepare(&s);
        if (await_each_code == NULL)
            return NULL;
    }
    AwaitEachState init = {Py_NewRef(arg), 0};
    PyObject *obj = (PyObject *)GoCoro_New(await_each_code, &init, sizeof init, NULL);
    if (obj == NULL)
        Py_DECREF(arg);
    return obj;
}

static PyObject *t_has_am_send(PyObject *mod, PyObject *obj)
{
    PyAsyncMethods *am = Py_TYPE(obj)->tp_as_async;
    return PyBool_FromLong(am != NULL && am->am_send != NULL);
}

static PyObject *t_api_info(PyObject *mod, PyObject *unused)
{
    return Py_BuildValue("{sIsIsn}", "abi_version", (unsigned)GoCoro_APIPtr->abi_version, "struct_size",
                         (unsigned)GoCoro_APIPtr->struct_size, "header_struct_size",
                         (Py_ssize_t)sizeof(GoCoroAPI));
}

static PyMethodDef methods[] = {
    {"program", (PyCFunction)(void (*)(void))t_program, METH_VARARGS | METH_KEYWORDS,
     "program(ops, log=None, kind=0): op-interpreting native object"},
    {"counted", (PyCFunction)(void (*)(void))t_counted, METH_VARARGS | METH_KEYWORDS,
     "counted(value=None, yields=0, hold=None, big=False): coroutine with a finalize counter "
     "(big: a 2 KB state)"},
    {"new_null_init", t_new_null_init, METH_O, "GoCoro_New(code, NULL, size) -> (obj, zero_filled)"},
    {"counters", t_counters, METH_NOARGS, NULL},
    {"named", t_named, METH_VARARGS, "named(value=None): spec name 'named', qualname 'Outer.named'"},
    {"native_fail", t_native_fail, METH_O, "coroutine whose step raises ValueError(msg)"},
    {"panic_step", t_panic_step, METH_O, "coroutine whose step returns GoCoro_RaisePanic(msg)"},
    {"adder", t_adder, METH_VARARGS, NULL},
    {"zero_state", t_zero_state, METH_NOARGS, NULL},
    {"bad_prepare", t_bad_prepare, METH_O, NULL},
    {"huge_new", t_huge_new, METH_NOARGS, NULL},
    {"bad_new", t_bad_new, METH_O, NULL},
    {"panic_exception", t_panic_exception, METH_NOARGS, NULL},
    {"coroutine_type", t_coroutine_type, METH_NOARGS, NULL},
    {"check", t_check, METH_O, NULL},
    {"get_state", t_get_state, METH_O, NULL},
    {"iter_send", t_iter_send, METH_VARARGS, NULL},
    {"has_am_send", t_has_am_send, METH_O, NULL},
    {"count_agen", t_count_agen, METH_O, "count_agen(n): async generator yielding 0..n-1"},
    {"await_each", t_await_each, METH_O, "await_each(list): coroutine awaiting each item, returns len"},
    {"api_info", t_api_info, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "_gocoro_test", "gocoro test extension (capsule mode)", -1, methods,
};

PyMODINIT_FUNC PyInit__gocoro_test(void)
{
    if (GoCoro_ImportAPI() < 0)
        return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (m == NULL)
        return NULL;
    if (PyModule_AddIntConstant(m, "KIND_COROUTINE", GOCORO_KIND_COROUTINE) < 0 ||
        PyModule_AddIntConstant(m, "KIND_GENERATOR", GOCORO_KIND_GENERATOR) < 0 ||
        PyModule_AddIntConstant(m, "KIND_ITERATOR", GOCORO_KIND_ITERATOR) < 0 ||
        PyModule_AddIntConstant(m, "KIND_ASYNC_GENERATOR", GOCORO_KIND_ASYNC_GENERATOR) < 0 ||
        PyModule_AddIntConstant(m, "ABI_VERSION", GOCORO_ABI_VERSION) < 0 ||
        PyModule_AddIntConstant(m, "COUNT_STATE_SIZE", (long)sizeof(CountState)) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
