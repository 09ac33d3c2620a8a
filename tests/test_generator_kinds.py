"""Differential tests of gocoro's GOCORO_KIND_GENERATOR and GOCORO_KIND_ITERATOR objects.

Every differential test runs one op program (ops: see tests_c/gocoro_testmod.c) and one driver
script against the native object (_gocoro_test.program(ops, log, kind)) and against the same
interpreter written as a CPython generator / class-based iterator (tests/oracle_gen.py), and
requires identical observations after every action: yielded/returned values, exception types,
messages, __cause__/__context__, warnings, gi_running/gi_yieldfrom/gi_suspended, the log of
what the body saw, and what dropping the object does (finalizer, unraisable exceptions).
"""
import collections.abc
import re
import sys
import types
import weakref

import pytest

import _gocoro_test
from oracle_gen import (GEN_ATTRS, HAS_GI_SUSPENDED, KIND_GENERATOR, KIND_ITERATOR, Holder,
                        assert_same, differential_gen, differential_iter, obj_summary, yf_summary,
                        yield_once)

PY = sys.version_info[:2]
G = KIND_GENERATOR


class MyStop(StopIteration):
    pass


def raise_stop(*args):
    raise StopIteration(*args)


def native_gen(ops, log=None):
    return _gocoro_test.program(ops, log, KIND_GENERATOR)


def native_iter(ops, log=None):
    return _gocoro_test.program(ops, log, KIND_ITERATOR)


# ============================================================================================
# generators: iteration

def test_list():
    recs = differential_gen([("yield", 1), ("yield", 2), ("yield", 3), ("return", "r")],
                            [("list",), ("next",), ("list",)])
    assert recs[0]["outcome"] == ("list", [1, 2, 3])
    assert recs[1]["outcome"] == ("return", None)


def test_for_with_break_then_resume():
    recs = differential_gen([("yield", i) for i in range(5)],
                            [("for", 2), ("next",), ("for", 10), ("next",)])
    assert recs[0]["outcome"] == ("for", [0, 1])
    assert recs[2]["outcome"] == ("for", [3, 4])


def test_next_send_return_value():
    recs = differential_gen([("yield", 1), ("yield", 2), ("return", "done")],
                            [("next",), ("send", "a"), ("send", "b"), ("next",), ("send", 1)])
    assert recs[2]["outcome"] == ("return", "done")
    assert recs[3]["outcome"] == ("return", None)
    assert recs[2]["log"] == [("sent", "a"), ("sent", "b")]


@pytest.mark.parametrize("value", [None, 0, "x", (1, 2), (), (None,), [1], ValueError("v"),
                                   StopIteration("s")],
                         ids=["None", "0", "str", "tuple", "empty-tuple", "tuple-None", "list",
                              "exc", "stopiteration"])
def test_return_values(value):
    # tuples and exceptions must be wrapped so that StopIteration.value is the object itself
    recs = differential_gen([("yield", 1), ("return", value)], [("next",), ("next",)])
    assert recs[1]["outcome"] == ("return", obj_summary(value))


def test_fall_off_the_end():
    differential_gen([("log", "x")], [("next",), ("next",)])


def test_empty_program_list():
    recs = differential_gen([], [("list",), ("list",)])
    assert recs[0]["outcome"] == ("list", [])


def test_iter_is_self():
    def f(impl):
        g = impl.program([("yield", 1)], None, G)
        return (iter(g) is g, next(iter(g)))
    assert assert_same(f) == (True, 1)


# ============================================================================================
# send

def test_send_non_none_to_just_started():
    recs = differential_gen([("yield", 1), ("return", 2)],
                            [("send", 1), ("send", "again"), ("send", None), ("send", "x")])
    assert recs[0]["outcome"][1:3] == ("TypeError",
                                       "can't send non-None value to a just-started generator")


def test_exhausted_generator_stays_exhausted():
    recs = differential_gen([("yield", 1), ("return", 9)],
                            [("next",), ("next",), ("next",), ("send", 5), ("list",),
                             ("throw", ValueError, "late"), ("close",), ("next",)])
    assert recs[1]["outcome"] == ("return", 9)
    assert recs[2]["outcome"] == ("return", None)
    assert recs[3]["outcome"] == ("return", None)
    assert recs[5]["outcome"][1:3] == ("ValueError", "late")


def test_exhausted_after_error():
    recs = differential_gen([("yield", 1), ("raise", KeyError, "k")],
                            [("next",), ("next",), ("next",), ("send", 3), ("close",)])
    assert recs[1]["outcome"][1] == "KeyError"
    assert recs[2]["outcome"] == ("return", None)


def test_raise_on_first_step():
    differential_gen([("raise", ValueError, "first")], [("next",), ("next",)])


def test_pyiter_send():
    """PyIter_Send (am_send): next/return/error like a CPython generator, also once exhausted."""
    recs = differential_gen([("yield", 1), ("yield", 2), ("return", "r")],
                            [("iter_send", None), ("iter_send", "a"), ("iter_send", "b"),
                             ("iter_send", None), ("iter_send", "x")])
    assert recs[2]["outcome"] == ("iter", "return", "r")


def test_pyiter_send_errors():
    differential_gen([("yield", 1), ("raise", KeyError, "k")],
                     [("iter_send", 5), ("iter_send", None), ("iter_send", None), ("iter_send", 1)])


def test_iterator_pyiter_send():
    recs = differential_iter([("yield", 1), ("yield", 2)],
                             [("iter_send", None), ("iter_send", None), ("iter_send", None)])
    assert recs[2]["outcome"] == ("iter", "return", None)
    it = native_iter([("yield", 1)])
    with pytest.raises(AttributeError, match="object has no attribute 'send'"):
        _gocoro_test.iter_send(it, 3)


# ============================================================================================
# PEP 479

@pytest.mark.parametrize("ops", [
    [("stopiteration", 7)],
    [("stopiteration",)],
    [("yield", 1), ("stopiteration", "late")],
    [("raise", MyStop, "sub")],
    [("call", raise_stop, "nested")],
], ids=["value", "bare", "after-yield", "subclass", "nested-call"])
def test_stopiteration_inside_becomes_runtimeerror(ops):
    recs = differential_gen(ops, [("next",), ("next",), ("next",)])
    raised = [r["outcome"] for r in recs[:-1] if r["outcome"][0] == "raise"]
    assert raised[0][1:3] == ("RuntimeError", "generator raised StopIteration")
    assert raised[0][3][0] in ("StopIteration", "MyStop")   # __cause__
    assert raised[0][4] == raised[0][3]                     # __context__


def test_stopiteration_in_list_is_runtimeerror():
    recs = differential_gen([("yield", 1), ("stopiteration", 2)], [("list",)])
    assert recs[0]["outcome"][1:3] == ("RuntimeError", "generator raised StopIteration")


def test_stopasynciteration_inside_generator_is_not_converted():
    recs = differential_gen([("raise", StopAsyncIteration, "x")], [("next",)])
    assert recs[0]["outcome"][1:3] == ("StopAsyncIteration", "x")


@pytest.mark.parametrize("started", [False, True])
def test_stopiteration_thrown_in_becomes_runtimeerror(started):
    script = ([("next",)] if started else []) + [("throw", StopIteration, "t"), ("next",)]
    recs = differential_gen([("yield", 1), ("yield", 2)], script)
    out = recs[1 if started else 0]["outcome"]
    if not started and sys.version_info >= (3, 12):
        # 3.12+ never runs an unstarted frame for throw(): the exception escapes unconverted
        assert out[0] != "raise"  # the StopIteration escaped (the driver saw it as a stop)
    else:
        assert out[1:3] == ("RuntimeError", "generator raised StopIteration")


def test_panic_op():
    recs = differential_gen([("yield", 1), ("panic", "go boom")], [("next",), ("next",), ("next",)])
    assert recs[1]["outcome"][1:3] == ("PanicException", "go boom")


# ============================================================================================
# throw

THROWS = [
    ("throw", ValueError, "inst"),
    ("throw_type", ValueError),
    ("throw2_inst", ValueError, "two"),
    ("throw3_tb", ValueError, "three"),
    ("throw_args", ValueError, "val-as-args"),       # throw(type, value) with a non-exception value
    ("throw_args", ValueError, ("a", "b")),          # value tuple -> args
    ("throw_args", ValueError, None, None),
    ("throw_args", KeyError, None),
]
THROW_IDS = ["inst", "type", "type+inst", "type+inst+tb", "type+str", "type+tuple", "type+None+None",
             "KeyError+None"]


@pytest.mark.parametrize("handled", [False, True], ids=["unhandled", "handled"])
@pytest.mark.parametrize("throw", THROWS, ids=THROW_IDS)
@pytest.mark.parametrize("where", ["yield", "yield-from"])
def test_throw_forms(throw, handled, where):
    susp = ("yield", "y") if where == "yield" else ("await_new", yield_once, "inner")
    ops = ([("try", None, 3)] if handled else [("yield", 0)]) + [susp, ("yield", "after"),
                                                                  ("log", "handler"), ("yield", "h")]
    script = [("next",)] + ([] if handled else [("next",)])   # now suspended at `susp`
    recs = differential_gen(ops, script + [throw, ("next",), ("next",)])
    at = len(script)
    assert recs[at - 1]["state"][1] == (None if where == "yield" else "<generator>")
    if PY >= (3, 12) and throw[0] != "throw" and throw[0] != "throw_type":
        assert any(w[0] == "DeprecationWarning" for w in recs[at]["warnings"]), recs[at]


@pytest.mark.parametrize("throw", [("throw2_inst", ValueError, "two"), ("throw3_tb", ValueError, "3"),
                                   ("throw_args", ValueError, "v")], ids=["2", "3", "2-str"])
def test_throw_deprecated_forms_with_warnings_as_errors(throw):
    recs = differential_gen([("try", None, 2), ("yield", 1), ("yield", 2)],
                            [("next",), throw, ("next",)], warn="error")
    if PY >= (3, 12):
        assert recs[1]["outcome"][1] == "DeprecationWarning"


@pytest.mark.parametrize("args", [
    (1,), ("str",), (ValueError("x"), ValueError("y")), (ValueError, ValueError("x"), "nottb"),
    (ValueError("x"), None, "nottb"), (int,), (ValueError("x"), None, None), (ValueError, 1, 2),
], ids=["int", "str", "inst+value", "bad-tb", "inst-bad-tb", "non-exc-class", "inst+None+None",
        "type+1+2"])
@pytest.mark.parametrize("where", ["yield", "yield-from"])
def test_throw_bad_arguments(args, where):
    susp = ("yield", "y") if where == "yield" else ("await_new", yield_once, "inner")
    differential_gen([("try", None, 2), susp, ("log", "after")],
                     [("next",), ("throw_args",) + args, ("next",)])


def test_throw_arg_count():
    def f(impl):
        g = impl.program([("yield", 1)], None, G)
        next(g)
        out = []
        for args in [(), (ValueError, None, None, None)]:
            try:
                g.throw(*args)
            except TypeError as e:
                out.append(str(e))
        return out
    assert_same(f)


def test_throw_into_not_started_generator_runs_no_code():
    recs = differential_gen([("log", "ran"), ("try", None, 3), ("yield", 1), ("log", "caught")],
                            [("throw", ValueError, "early"), ("next",), ("send", 1)])
    assert recs[0]["outcome"][1:3] == ("ValueError", "early")
    assert recs[0]["log"] == []


def test_throw_not_matching_handler():
    differential_gen([("try", KeyError, 3), ("yield", 1), ("yield", 2), ("log", "h")],
                     [("next",), ("throw", ValueError, "v"), ("next",)])


def test_throw_handler_then_rethrow():
    recs = differential_gen([("try", ValueError, 3), ("yield", 1), ("return", "no"), ("log", "h"),
                             ("rethrow",)],
                            [("next",), ("throw", ValueError, "again"), ("next",)])
    assert recs[1]["outcome"][1:3] == ("ValueError", "again")


def test_throw_catch_then_yield_and_throw_again():
    differential_gen([("try", None, 3), ("yield", 1), ("return", 0), ("yield", "caught-1"),
                      ("try", None, 7), ("yield", 2), ("return", 1), ("yield", "caught-2")],
                     [("next",), ("throw", KeyError, "a"), ("throw", IndexError, "b"),
                      ("throw", OSError, "c"), ("next",)])


def test_throw_generatorexit_directly():
    differential_gen([("try", None, 3), ("yield", 1), ("return", 0), ("yield", "caught")],
                     [("next",), ("throw", GeneratorExit, "ge"), ("next",), ("close",)])


# ============================================================================================
# close

def test_close_before_start():
    recs = differential_gen([("log", "ran"), ("yield", 1)], [("close",), ("next",), ("close",)])
    assert recs[0]["outcome"] == ("closed", None)
    assert recs[1]["outcome"] == ("return", None)


def test_close_suspended_uncaught():
    recs = differential_gen([("yield", 1), ("log", "not reached")], [("next",), ("close",), ("next",)])
    assert recs[1]["outcome"] == ("closed", None)


def test_close_handler_returns_value():
    recs = differential_gen([("try", GeneratorExit, 3), ("yield", 1), ("return", "x"),
                             ("return", 42)],
                            [("next",), ("close",), ("close",), ("next",)])
    assert recs[1]["outcome"] == ("closed", 42 if PY >= (3, 13) else None)


def test_close_handler_falls_off_end():
    differential_gen([("try", None, 3), ("yield", 1), ("return", "x"), ("log", "cleanup")],
                     [("next",), ("close",), ("next",)])


def test_close_ignored_generatorexit():
    recs = differential_gen([("try", None, 3), ("yield", 1), ("return", 0), ("yield", "ignored"),
                             ("yield", "more")],
                            [("next",), ("close",), ("next",), ("close",)])
    assert recs[1]["outcome"][1:3] == ("RuntimeError", "generator ignored GeneratorExit")


def test_close_handler_raises_other_exception():
    recs = differential_gen([("try", None, 3), ("yield", 1), ("return", 0), ("raise", KeyError, "k")],
                            [("next",), ("close",), ("next",)])
    assert recs[1]["outcome"][1] == "KeyError"


def test_close_handler_rethrows_generatorexit():
    recs = differential_gen([("try", None, 3), ("yield", 1), ("return", 0), ("rethrow",)],
                            [("next",), ("close",), ("next",)])
    assert recs[1]["outcome"] == ("closed", None)


def test_close_handler_raises_stopiteration():
    differential_gen([("try", None, 3), ("yield", 1), ("return", 0), ("stopiteration", 5)],
                     [("next",), ("close",), ("next",)])


def test_close_after_error_and_after_return():
    differential_gen([("yield", 1), ("raise", ValueError, "x")],
                     [("next",), ("next",), ("close",), ("close",)])
    differential_gen([("return", 1)], [("next",), ("close",)])


# ============================================================================================
# reentrancy ("generator already executing") and gi_running / gi_yieldfrom from the inside

def _self_call(me, meth):
    try:
        if meth == "next":
            r = next(me)
        elif meth == "send":
            r = me.send(None)
        elif meth == "throw":
            r = me.throw(ValueError("self-throw"))
        elif meth == "close":
            r = me.close()
        elif meth == "list":
            r = list(me)
        else:
            raise AssertionError(meth)
    except Exception as e:  # noqa: BLE001
        return (type(e).__name__, str(e))
    return ("ok", obj_summary(r))


def _inside(me):
    st = (bool(me.gi_running), yf_summary(me.gi_yieldfrom))
    if HAS_GI_SUSPENDED:
        st += (bool(me.gi_suspended),)
    return st


@pytest.mark.parametrize("meth", ["next", "send", "throw", "close", "list"])
def test_generator_already_executing(meth):
    def build(impl, log):
        h = Holder()
        return h.set(impl.program([("yield", 1), ("call_log", h.bind(_self_call, meth)),
                                   ("call_log", h.bind(_inside)), ("yield", 2)], log, G))
    recs = differential_gen(build, [("next",), ("next",), ("next",)])
    assert recs[1]["log"][1] == ("call", ("ValueError", "generator already executing"))
    assert recs[1]["log"][2][1][0] is True  # gi_running inside


def test_gi_running_inside_yield_from():
    """A probe run by the delegate sees the outer generator running, with gi_yieldfrom set."""
    def build(impl, log):
        h = Holder()

        @types.coroutine
        def inner():
            log.append(("inner-sees", _inside(h.get()), _self_call(h.get(), "send")))
            x = yield "from-inner"
            return x
        return h.set(impl.program([("await_new", inner), ("yield", 2)], log, G))
    recs = differential_gen(build, [("next",), ("send", "v"), ("next",)])
    assert recs[0]["state"][:2] == (False, "<generator>")


def test_gi_attributes_states():
    differential_gen([("yield", 1), ("await_new", yield_once, "y"), ("return", 0)],
                     [("next",), ("next",), ("send", "s"), ("next",)])


# ============================================================================================
# yield from (GOCORO_AWAIT in a generator)

class IterAwait:
    """Both iterable and awaitable (the same iterator either way), with send/throw/close that
    record exactly the arguments they get."""

    def __init__(self, values, result, seen):
        self.values = list(values)
        self.result = result
        self.seen = seen

    def __iter__(self):
        return self

    def __await__(self):
        return self

    def __next__(self):
        self.seen.append(("next",))
        if self.values:
            return self.values.pop(0)
        raise StopIteration(self.result)

    def send(self, v):
        self.seen.append(("send", v))
        if self.values:
            return self.values.pop(0)
        raise StopIteration(self.result)

    def throw(self, *args):
        self.seen.append(("throw",) + tuple(a if isinstance(a, type) else obj_summary(a)
                                           for a in args))
        if isinstance(args[0], BaseException):
            raise args[0]
        if args[0] is KeyError:     # swallow it and yield
            return "swallowed"
        raise args[0](*args[1:2])

    def close(self):
        self.seen.append(("close",))


class NextOnly:
    """Iterable and awaitable, but only __next__ (no send/throw/close)."""

    def __init__(self, values, result=None):
        self.values = list(values)
        self.result = result

    def __iter__(self):
        return self

    def __await__(self):
        return self

    def __next__(self):
        if self.values:
            return self.values.pop(0)
        raise StopIteration(self.result)


@types.coroutine
def echo(n, log):
    """A generator-based coroutine (iterable and awaitable): yields n times, logging what it
    receives, then returns."""
    got = []
    try:
        for i in range(n):
            try:
                x = yield ("echo", i)
            except KeyError as e:
                log.append(("echo-caught", str(e)))
                x = "after-keyerror"
            got.append(x)
    except GeneratorExit:
        log.append(("echo-exit",))
        raise
    finally:
        log.append(("echo-finally",))
    return ("echo-done", tuple(got))


def test_yield_from_types_coroutine():
    recs = differential_gen([("await_new", yield_once, "y"), ("yield", "after")],
                            [("next",), ("send", "v"), ("next",)])
    assert recs[1]["log"] == [("result", ("yield_once", "v"))]


def test_yield_from_send_throw_close_forwarding():
    def build(impl, log):
        return impl.program([("await_new", echo, 4, log), ("yield", "after")], log, G)
    differential_gen(build, [("next",), ("send", "a"), ("throw", KeyError, "k"), ("send", "b"),
                             ("close",), ("next",)])


def test_yield_from_throw_uncaught_by_delegate_reaches_handler():
    def build(impl, log):
        return impl.program([("try", ValueError, 2), ("await_new", echo, 3, log), ("log", "handled"),
                             ("yield", "h")], log, G)
    differential_gen(build, [("next",), ("throw", ValueError, "v"), ("next",)])


def test_yield_from_delegate_finishes_during_throw():
    def build(impl, log):
        return impl.program([("await_new", echo, 1, log), ("yield", "after")], log, G)
    recs = differential_gen(build, [("next",), ("throw", KeyError, "k"), ("next",)])
    assert recs[1]["outcome"] == ("yield", "after")


@pytest.mark.parametrize("throw", [("throw", ValueError, "inst"), ("throw_type", ValueError),
                                   ("throw_type", KeyError), ("throw2_inst", ValueError, "two"),
                                   ("throw_args", ValueError, "strval")],
                         ids=["inst", "type", "type-swallowed", "type+inst", "type+str"])
def test_yield_from_throw_arguments_passed_to_delegate(throw):
    """CPython passes throw()'s arguments to the delegate's throw() as given (type, value, tb)."""
    def build(impl, log):
        return impl.program([("try", None, 2), ("await", IterAwait([1, 2], "r", log)),
                             ("log", "outer-handler")], log, G)
    differential_gen(build, [("next",), throw, ("next",)])


def test_yield_from_close_forwarded_to_custom_iterator():
    def build(impl, log):
        return impl.program([("try", None, 2), ("await", IterAwait([1, 2], "r", log)),
                             ("log", "outer-handler")], log, G)
    differential_gen(build, [("next",), ("close",), ("next",)])


def test_yield_from_next_only_delegate():
    differential_gen([("try", None, 2), ("await_new", NextOnly, [1, 2], "res"), ("log", "handler"),
                      ("yield", "end")],
                     [("next",), ("send", None), ("send", "not-none"), ("next",)])


@pytest.mark.parametrize("action", [("throw", ValueError, "v"), ("close",),
                                    ("throw", GeneratorExit, "ge")], ids=["throw", "close", "throw-ge"])
def test_yield_from_next_only_delegate_throw_close(action):
    differential_gen([("try", None, 2), ("await_new", NextOnly, [1, 2], "res"), ("log", "handler"),
                      ("yield", "end")], [("next",), action, ("next",)])


class ThrowRaisesAttr(NextOnly):
    @property
    def throw(self):
        raise OSError("no throw for you")

    @property
    def close(self):
        raise OSError("no close for you")


@pytest.mark.parametrize("action", [("throw", ValueError, "v"), ("close",),
                                    ("throw", GeneratorExit, "ge")], ids=["throw", "close", "throw-ge"])
def test_yield_from_delegate_throw_close_lookup_fails(action):
    """CPython: a failing `throw` lookup propagates out of throw() (the generator stays
    suspended in the yield from); a failing `close` lookup is unraisable and GeneratorExit is
    thrown in as usual."""
    differential_gen([("try", None, 2), ("await_new", ThrowRaisesAttr, [1, 2], "res"),
                      ("log", "handler"), ("yield", "end")],
                     [("next",), action, ("next",), ("next",)])


def test_yield_from_delegate_close_raises():
    @types.coroutine
    def bad_close(log):
        try:
            yield "bc"
        except GeneratorExit:
            raise KeyError("from close")
    def build(impl, log):
        return impl.program([("try", None, 2), ("await_new", bad_close, log), ("log", "handler"),
                             ("yield", "end")], log, G)
    differential_gen(build, [("next",), ("close",), ("next",)])


def test_yield_from_nested_native_generators():
    def build(impl, log):
        inner = impl.program([("yield", "i1"), ("yield", "i2"), ("return", "inner-result")], log, G)
        return impl.program([("await", inner), ("yield", "outer")], log, G)
    differential_gen(build, [("next",), ("send", None), ("next",), ("next",)])


def test_yield_from_nested_native_generators_throw_close():
    def build(impl, log):
        inner = impl.program([("try", KeyError, 3), ("yield", "i1"), ("return", "x"),
                              ("log", "inner-handler"), ("yield", "i2")], log, G)
        return impl.program([("try", None, 3), ("await", inner), ("return", "y"), ("log", "outer-h"),
                             ("yield", "o")], log, G)
    differential_gen(build, [("next",), ("throw", KeyError, "k"), ("throw", ValueError, "v"),
                             ("close",)])


# -- GOCORO_AWAIT in a generator is `yield from`: any iterable ---------------------------------

def plain_gen(n):
    for i in range(n):
        x = yield ("pg", i)
    return ("pg-done", n)


async def cpython_coro():
    return 1


class AwaitOnly:
    """Awaitable but not iterable."""

    def __await__(self):
        return iter(["aw"])


@pytest.mark.parametrize("make", [
    lambda: [1, 2, 3], lambda: (1, 2), lambda: range(3), lambda: iter([4, 5]), lambda: "ab",
    lambda: plain_gen(2), lambda: {"k": 1},
], ids=["list", "tuple", "range", "list_iterator", "str", "plain-generator", "dict"])
def test_yield_from_iterables(make):
    """`yield from` accepts any iterable (the brief: GOCORO_AWAIT == `yield from`)."""
    recs = differential_gen(lambda impl, log: impl.program([("await_new", make), ("yield", "end")],
                                                           log, G),
                            [("list",)])
    assert recs[0]["outcome"][0] == "list"


@pytest.mark.parametrize("make", [lambda: 5, lambda: None, lambda: AwaitOnly()],
                         ids=["int", "None", "await-only"])
def test_yield_from_non_iterable(make):
    differential_gen(lambda impl, log: impl.program([("try", None, 2), ("await_new", make),
                                                     ("log", "handler")], log, G),
                     [("next",)])


def test_yield_from_coroutine_in_generator_is_typeerror():
    """CPython: "cannot 'yield from' a coroutine object in a non-coroutine generator"."""
    recs = differential_gen(lambda impl, log: impl.program(
        [("try", None, 2), ("await_new", cpython_coro), ("log", "handler")], log, G),
        [("next",)], warn="ignore")
    assert recs[0]["log"][0][:2] == ("caught", "TypeError")


def test_yield_from_native_coroutine_in_generator_is_typeerror():
    """A gocoro.Coroutine is a coroutine too: `yield from` it in a generator must fail like
    CPython's coroutine (compared with a CPython coroutine)."""
    def build(impl, log):
        if impl.name == "oracle":
            mk = cpython_coro
        else:
            mk = lambda: _gocoro_test.program([("return", 1)])  # noqa: E731
        return impl.program([("try", None, 2), ("await_new", mk), ("log", "handler")], log, G)
    differential_gen(build, [("next",)], warn="ignore")


# ============================================================================================
# finalization

def test_finalize_suspended_sees_generatorexit():
    recs = differential_gen([("try", None, 3), ("yield", 1), ("return", 0), ("log", "cleanup")],
                            [("next",)])
    assert recs[-1]["log"] == [("caught", "GeneratorExit", ""), "cleanup"]
    assert recs[-1]["unraisable"] == []


@pytest.mark.parametrize("kind", [KIND_GENERATOR, 0], ids=["generator", "coroutine"])
def test_finalize_many_in_a_row(kind):
    """Every dropped suspended object is finalized (sees GeneratorExit), not only the first of
    its size: recycled objects (free lists) must not keep the GC's "already finalized" mark."""
    seen = []
    for i in range(8):
        log = []
        g = _gocoro_test.program([("try", None, 3), ("yield", i), ("return", 0), ("log", i)], log,
                                 kind)
        g.send(None)
        del g
        seen.append(log)
    assert seen == [[("caught", "GeneratorExit", ""), i] for i in range(8)]


def test_finalize_many_in_cycles():
    import gc
    seen = []
    for i in range(4):
        log, box = [], []
        g = native_gen([("try", None, 3), ("yield", box), ("return", 0), ("log", i)], log)
        box.append(g)
        next(g)
        del g, box
        gc.collect()
        seen.append(log)
    assert seen == [[("caught", "GeneratorExit", ""), i] for i in range(4)]


def test_finalize_suspended_without_handler():
    recs = differential_gen([("yield", 1), ("log", "never")], [("next",)])
    assert recs[-1]["log"] == [] and recs[-1]["unraisable"] == []


def test_finalize_never_started_runs_nothing():
    recs = differential_gen([("log", "ran"), ("yield", 1)], [])
    assert recs[-1]["log"] == [] and recs[-1]["warnings"] == [] and recs[-1]["unraisable"] == []


def test_finalize_ignoring_generatorexit_is_unraisable():
    recs = differential_gen([("try", None, 3), ("yield", 1), ("return", 0), ("yield", "again")],
                            [("next",)])
    assert [u[:2] for u in recs[-1]["unraisable"]] == [("RuntimeError",
                                                         "generator ignored GeneratorExit")]


def test_finalize_raising_is_unraisable():
    recs = differential_gen([("try", None, 3), ("yield", 1), ("return", 0), ("raise", OSError, "fin")],
                            [("next",)])
    assert [u[:2] for u in recs[-1]["unraisable"]] == [("OSError", "fin")]


def test_finalize_while_delegating_closes_delegate():
    def build(impl, log):
        return impl.program([("try", None, 2), ("await_new", echo, 3, log), ("log", "outer-cleanup")],
                            log, G)
    recs = differential_gen(build, [("next",)])
    assert ("echo-exit",) in recs[-1]["log"]


def test_finalize_in_reference_cycle():
    def f(impl):
        log = []
        box = []
        g = impl.program([("try", None, 3), ("yield", box), ("return", 0), ("log", "cleanup")], log, G)
        box.append(g)     # cycle: g -> ops -> box -> g
        next(g)
        del g, box
        import gc
        gc.collect()
        return log
    assert assert_same(f) == [("caught", "GeneratorExit", ""), "cleanup"]


# ============================================================================================
# attributes, names, repr, ABCs

def test_generator_attributes_present():
    """Every attribute a CPython generator has (e.g. gi_suspended only on 3.11+)."""
    g = native_gen([("yield", 1)])
    missing = [a for a in GEN_ATTRS if not hasattr(g, a)]
    assert missing == []


def _names(impl):
    g = impl.program([("yield", 1)], None, G)
    q = g.__qualname__
    out = [g.__name__ == g.gi_code.co_name, type(g.__name__), type(q)]
    g.__name__ = "renamed"
    g.__qualname__ = "Some.renamed"
    out += [g.__name__, g.__qualname__, repr(g).startswith("<generator object Some.renamed at 0x")]
    for attr, val in [("__name__", 1), ("__qualname__", None)]:
        try:
            setattr(g, attr, val)
        except Exception as e:  # noqa: BLE001
            out.append((type(e).__name__, str(e)))
    for attr in ("__name__", "__qualname__"):
        try:
            delattr(g, attr)
        except Exception as e:  # noqa: BLE001
            out.append((type(e).__name__, str(e)))
    return out


def test_names():
    assert_same(_names)


def test_repr_shape():
    def f(impl):
        g = impl.program([("yield", 1)], None, G)
        return repr(g) == f"<generator object {g.__qualname__} at {id(g):#x}>"
    assert assert_same(f) is True


def test_native_names_come_from_the_spec():
    g = native_gen([("yield", 1)])
    assert (g.__name__, g.__qualname__) == ("program", "program")
    assert g.gi_code.co_name == "program"
    assert isinstance(g.gi_code, types.CodeType)


def test_gi_code_and_frame_types():
    def f(impl):
        g = impl.program([("yield", 1)], None, G)
        out = [isinstance(g.gi_code, types.CodeType)]
        next(g)
        out.append(g.gi_frame is None or isinstance(g.gi_frame, types.FrameType))
        g.close()
        out.append(g.gi_frame)          # None once finished
        return out
    assert assert_same(f) == [True, True, None]


def test_generator_abcs():
    def f(impl):
        g = impl.program([("yield", 1)], None, G)
        abc = collections.abc
        return [isinstance(g, t) for t in (abc.Generator, abc.Iterator, abc.Iterable, abc.Coroutine,
                                           abc.Awaitable, abc.AsyncIterator, abc.AsyncGenerator)]
    assert assert_same(f) == [True, True, True, False, False, False, False]


def test_generator_not_awaitable():
    def f(impl):
        g = impl.program([("yield", 1)], None, G)

        async def use():
            return await g
        c = use()
        try:
            c.send(None)
        except TypeError as e:
            # the type name differs: "object generator can't be used in 'await' expression",
            # since 3.14 "'generator' object can't be awaited"
            return re.sub(r"object \S+ can't|'[^']+' object can't", "<T> can't", str(e))
        finally:
            c.close()
        return "no error"
    expected = "<T> can't be awaited" if PY >= (3, 14) else "<T> can't be used in 'await' expression"
    assert assert_same(f) == expected


def test_inspect_getgeneratorstate():
    """inspect.getgeneratorstate() must see CREATED / SUSPENDED / CLOSED like for CPython."""
    import inspect

    def f(impl):
        g = impl.program([("yield", 1)], None, G)
        out = [inspect.getgeneratorstate(g)]
        next(g)
        out.append(inspect.getgeneratorstate(g))
        g.close()
        out.append(inspect.getgeneratorstate(g))
        return out
    assert assert_same(f) == ["GEN_CREATED", "GEN_SUSPENDED", "GEN_CLOSED"]


def test_generator_step_returning_item_is_systemerror():
    g = native_gen([("item", 1)])
    with pytest.raises(SystemError, match="GOCORO_ITEM"):
        next(g)
    assert next(g, "exhausted") == "exhausted"


def test_weakref_and_sizeof():
    def f(impl):
        g = impl.program([("yield", 1)], None, G)
        r = weakref.ref(g)
        ok = r() is g and sys.getsizeof(g) > 0
        del g
        return (ok, r())
    assert assert_same(f) == (True, None)


# ============================================================================================
# iterators (GOCORO_KIND_ITERATOR)

def test_iter_list_for_next():
    recs = differential_iter([("yield", 1), ("yield", 2), ("yield", 3)],
                             [("next",), ("list",), ("next",), ("list",)])
    assert recs[0]["outcome"] == ("yield", 1)
    assert recs[1]["outcome"] == ("list", [2, 3])
    assert recs[2]["outcome"] == ("return", None)


def test_iter_for_break_resume():
    recs = differential_iter([("yield", i) for i in range(5)], [("for", 2), ("for", 10), ("next",)])
    assert recs[1]["outcome"] == ("for", [2, 3, 4])


def test_iter_log_and_sent_none():
    recs = differential_iter([("log", "a"), ("yield", 1), ("log", "b"), ("yield", 2)],
                             [("next",), ("next",), ("next",)])
    assert recs[2]["log"] == ["a", ("sent", None), "b", ("sent", None)]


def test_iter_empty():
    differential_iter([], [("next",), ("list",)])


def test_iter_exception_propagates_then_exhausted():
    recs = differential_iter([("yield", 1), ("raise", ValueError, "bad"), ("yield", 2)],
                             [("next",), ("next",), ("next",), ("list",)])
    assert recs[1]["outcome"][1:3] == ("ValueError", "bad")
    assert recs[2]["outcome"] == ("return", None)


def test_iter_exception_in_list():
    recs = differential_iter([("yield", 1), ("raise", KeyError, "k")], [("list",), ("list",)])
    assert recs[0]["outcome"][1] == "KeyError"
    assert recs[1]["outcome"] == ("list", [])


def test_iter_stopiteration_ends_iteration():
    """A step raising StopIteration just ends a plain iterator (no PEP 479 for __next__)."""
    recs = differential_iter([("yield", 1), ("stopiteration", "v"), ("yield", 2)],
                             [("list",), ("next",)])
    assert recs[0]["outcome"] == ("list", [1])


def test_iter_return_ends_iteration():
    recs = differential_iter([("yield", 1), ("return", "ignored"), ("yield", 2)],
                             [("next",), ("list",), ("next",)])
    assert recs[1]["outcome"] == ("list", [])


def test_iter_return_value_is_stopiteration_value():
    """gocoro.h: GOCORO_RETURN "finished; *result is the return value (StopIteration.value)".
    A plain iterator cannot carry a return value through for loops, but next() can."""
    it = native_iter([("return", "rv")])
    with pytest.raises(StopIteration) as ei:
        next(it)
    assert ei.value.value == "rv"


def test_iter_panic():
    differential_iter([("panic", "p")], [("next",), ("next",)])


def test_iter_finalize_runs_nothing():
    recs = differential_iter([("yield", 1), ("log", "after")], [("next",)])
    assert recs[-1]["log"] == [] and recs[-1]["unraisable"] == []


def test_iter_abcs_and_protocol():
    def f(impl):
        it = impl.program([("yield", 1)], None, KIND_ITERATOR)
        abc = collections.abc
        return ([isinstance(it, t) for t in (abc.Iterator, abc.Iterable, abc.Generator,
                                             abc.Awaitable, abc.AsyncIterator)],
                iter(it) is it, [hasattr(it, m) for m in ("send", "throw", "close", "__next__")])
    assert assert_same(f) == ([True, True, False, False, False], True,
                              [False, False, False, True])


def test_iter_reentrancy_like_generator():
    """Calling next() on the iterator from inside its own step: the same error a CPython
    generator gives ("generator already executing")."""
    def reenter(me):
        try:
            return ("ok", next(me))
        except Exception as e:  # noqa: BLE001
            return (type(e).__name__, str(e))

    h = Holder()

    def gen():
        yield reenter(h.get())
    expected = next(h.set(gen()))
    h2 = Holder()
    log = []
    it = h2.set(native_iter([("call_log", h2.bind(reenter)), ("yield", 1)], log))
    assert next(it) == 1
    assert log == [("call", expected)]
    assert expected == ("ValueError", "generator already executing")


def test_iter_repr_names():
    it = native_iter([("yield", 1)])
    assert re.fullmatch(r"<iterator object program at 0x[0-9a-f]+>", repr(it)), repr(it)
    assert (it.__name__, it.__qualname__) == ("program", "program")
    it.__qualname__ = "X.y"
    assert repr(it).startswith("<iterator object X.y at 0x")


@pytest.mark.parametrize("op", [("await", yield_once(1)), ("item", 1)], ids=["await", "item"])
def test_iter_step_returning_await_or_item_is_systemerror(op):
    it = native_iter([op])
    with pytest.raises(SystemError):
        next(it)
    assert list(it) == []


def test_iter_in_builtin_consumers():
    def f(impl):
        mk = lambda: impl.program([("yield", i) for i in (3, 1, 2)], None, KIND_ITERATOR)  # noqa
        return (sorted(mk()), sum(mk()), tuple(mk()), dict.fromkeys(mk()), max(mk()),
                list(zip(mk(), "abc")), list(map(str, mk())), next(mk(), "d"),
                [x for x in mk() if x > 1])
    assert_same(f)


def test_generator_in_builtin_consumers():
    def f(impl):
        mk = lambda: impl.program([("yield", i) for i in (3, 1, 2)], None, G)  # noqa
        return (sorted(mk()), sum(mk()), tuple(mk()), max(mk()), list(zip(mk(), "ab")),
                next(mk(), "d"), [x for x in mk() if x > 1], list(enumerate(mk())))
    assert_same(f)


# ============================================================================================
# the native generator as seen by CPython code: `yield from` it, contextlib.contextmanager

def _outer(inner, log):
    """A CPython generator delegating to the object under test."""
    try:
        r = yield from inner
        log.append(("outer-got", obj_summary(r)))
    except BaseException as e:
        log.append(("outer-caught", type(e).__name__, str(e)))
        raise
    yield "outer-after"


@pytest.mark.parametrize("script", [
    [("next",), ("send", "a"), ("send", "b"), ("next",), ("next",)],
    [("next",), ("throw", KeyError, "k"), ("send", "c"), ("next",)],
    [("next",), ("throw", ValueError, "v"), ("next",)],
    [("next",), ("throw_type", KeyError), ("throw2_inst", KeyError, "k2"), ("next",)],
    [("next",), ("throw3_tb", KeyError, "tb"), ("next",)],
    [("next",), ("close",), ("next",)],
    [("next",), ("send", 1), ("close",)],
    [("next",), ("throw", GeneratorExit, "ge"), ("next",)],
    [("send", 5)],
], ids=["send", "throw-handled", "throw-unhandled", "throw-type", "throw-tb", "close",
        "close-late", "throw-ge", "send-non-none"])
def test_cpython_yield_from_native_generator(script):
    def build(impl, log):
        inner = impl.program([("try", KeyError, 4), ("yield", 1), ("yield", 2), ("return", "inner-r"),
                              ("log", "inner-handler"), ("yield", "h"), ("return", "after-h")],
                             log, G)
        return _outer(inner, log)
    # warn="ignore": CPython forwards throw(typ, val, tb) to a delegate that is not an exact
    # generator by calling its throw() with those arguments, so on 3.12+ any such delegate
    # (CPython's own coroutine wrapper too) warns a second time -- not comparable.
    differential_gen(build, script, warn="ignore")


def test_contextmanager_with_native_generator():
    import contextlib

    def f(impl):
        log = []

        def make(catch):
            return impl.program([("try", catch, 3), ("yield", "resource"), ("return", None),
                                 ("log", "handled")], log, G)
        out = []
        with contextlib.contextmanager(make)(ValueError) as r:
            out.append(r)
        for exc in (ValueError("in body"), KeyError("k"), StopIteration("si"), GeneratorExit()):
            try:
                with contextlib.contextmanager(make)(ValueError) as r:
                    raise exc
            except BaseException as e:  # noqa: BLE001
                out.append(("escaped", type(e).__name__, str(e), e is exc))
            else:
                out.append("suppressed")
        # a generator that yields twice: "generator didn't stop"
        try:
            with contextlib.contextmanager(
                    lambda: impl.program([("yield", 1), ("yield", 2)], log, G))():
                pass
        except RuntimeError as e:
            out.append(("RuntimeError", str(e)))
        return out, log
    assert_same(f)
