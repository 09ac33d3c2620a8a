"""Differential tests of the coroutine protocol: send / throw / close / __await__ / am_send.

Every test runs the same op program and the same driver script against the native coroutine
(_gocoro_test.program) and against the identical interpreter written as a CPython `async def`
(oracle.make_program), and requires identical observations (see oracle.differential).
"""
import inspect
import re
import sys
import warnings
import weakref

import pytest

from oracle import differential, prog, yield_once
from support import Awaitable, FullIter, NextOnlyIter

PY = sys.version_info[:2]


class MyStop(StopIteration):
    pass


def raise_stop(*args):
    raise StopIteration(*args)


# --------------------------------------------------------------------------------------------
# send / return / raise

def test_yield_send_return():
    recs = differential(prog([("yield", 1), ("yield", 2), ("return", "done")]),
                        [("send", None), ("send", "a"), ("send", "b"), ("send", None)])
    assert [r["outcome"][0] for r in recs[:4]] == ["yield", "yield", "return", "raise"]
    assert recs[2]["outcome"] == ("return", "done")
    assert recs[3]["outcome"][1:3] == ("RuntimeError", "cannot reuse already awaited coroutine")
    assert recs[2]["log"] == [("sent", "a"), ("sent", "b")]


def test_return_immediately_then_reuse():
    recs = differential(prog([("return", 5)]), [("send", None), ("send", None), ("send", 1)])
    assert recs[0]["outcome"] == ("return", 5)


def test_fall_off_the_end_returns_none():
    differential(prog([("log", "x")]), [("send", None)])


def test_send_non_none_to_just_started():
    recs = differential(prog([("yield", 1), ("return", 2)]),
                        [("send", 1), ("send", "again"), ("send", None), ("send", "x")])
    assert recs[0]["outcome"][1:3] == ("TypeError",
                                       "can't send non-None value to a just-started coroutine")


def test_raise_from_step():
    recs = differential(prog([("yield", 1), ("raise", ValueError, "boom")]),
                        [("send", None), ("send", None), ("send", None)])
    assert recs[1]["outcome"][1:3] == ("ValueError", "boom")


def test_raise_on_first_step():
    differential(prog([("raise", KeyError, "k")]), [("send", None), ("send", None)])


@pytest.mark.parametrize("ops", [
    [("stopiteration", 7)],
    [("stopiteration",)],
    [("yield", 1), ("stopiteration", "late")],
    [("raise", MyStop, "sub")],
    [("call", raise_stop, "nested")],
], ids=["value", "bare", "after-yield", "subclass", "nested-call"])
def test_stopiteration_inside_becomes_runtimeerror(ops):
    recs = differential(prog(ops), [("send", None), ("send", None), ("send", None)])
    raised = [r["outcome"] for r in recs[:-1] if r["outcome"][0] == "raise"]
    first = raised[0]
    assert first[1:3] == ("RuntimeError", "coroutine raised StopIteration")
    assert first[3][0] in ("StopIteration", "MyStop")   # __cause__


def test_stopasynciteration_inside_is_not_converted():
    recs = differential(prog([("raise", StopAsyncIteration, "sai")]), [("send", None)])
    assert recs[0]["outcome"][1] == "StopAsyncIteration"


def test_stopiteration_thrown_in_becomes_runtimeerror():
    recs = differential(prog([("yield", 1), ("return", 2)]),
                        [("send", None), ("throw", StopIteration, "thrown"), ("send", None)])
    assert recs[1]["outcome"][1:3] == ("RuntimeError", "coroutine raised StopIteration")


def test_panic_op_raises_panic_exception():
    recs = differential(prog([("yield", 1), ("panic", "it broke")]),
                        [("send", None), ("send", None)])
    assert recs[1]["outcome"][1:3] == ("PanicException", "it broke")


def test_unknown_op_error_is_the_same():
    differential(prog([("frobnicate", 1)]), [("send", None)])


# --------------------------------------------------------------------------------------------
# throw

SUSPEND_AT = {
    "yield": lambda log: ("yield", 1),
    "await_gen": lambda log: ("await_new", yield_once, 1),
    "await_iter": lambda log: ("await_new", FullIter, [1], "it-result", log),
}


def throw_prog(where, handled):
    def build(impl, log):
        sus = SUSPEND_AT[where](log)
        if handled:
            ops = [("try", ValueError, 3), sus, ("return", "no-throw"),
                   ("log", "handled"), ("yield", 2), ("return", "after")]
        else:
            ops = [sus, ("return", "no-throw")]
        return impl.program(ops, log)
    return build


THROWS = [
    ("throw", ValueError, "inst"),
    ("throw_type", ValueError),
    ("throw2_inst", ValueError, "inst2"),
    ("throw_args", ValueError, "msg"),
    ("throw_args", ValueError, "msg", None),
    ("throw_args", ValueError, ("tuple", "args")),
    ("throw_args", ValueError, None),
    ("throw3_tb", ValueError, "with-tb"),
    ("throw_inst_none", ValueError, "inst-none-none"),
]


def _ids(a):
    return "-".join(str(x.__name__ if isinstance(x, type) else x) for x in a)


@pytest.mark.parametrize("throw", THROWS, ids=_ids)
@pytest.mark.parametrize("handled", [False, True], ids=["uncaught", "caught"])
@pytest.mark.parametrize("where", sorted(SUSPEND_AT))
def test_throw_forms(throw, handled, where):
    """1-, 2- and 3-argument throw() at a bare yield and at awaits; on 3.12+ the multi-argument
    forms must warn exactly once (DeprecationWarning), also when forwarded to the awaitable."""
    differential(throw_prog(where, handled), [("send", None), throw, ("send", "s"), ("send", None)])


@pytest.mark.parametrize("throw", [t for t in THROWS if t[0] in ("throw_args", "throw3_tb", "throw2_inst",
                                                            "throw_inst_none")],
                         ids=_ids)
@pytest.mark.parametrize("where", sorted(SUSPEND_AT))
def test_throw_deprecated_forms_with_warnings_as_errors(throw, where):
    differential(throw_prog(where, True), [("send", None), throw, ("send", "s"), ("send", None)],
                 warn="error")


BAD_THROW_ARGS = [
    (1,),
    ("str",),
    (ValueError("x"), "value"),
    (ValueError, ValueError("x"), "not a tb"),
    (ValueError, None, 5),
    (int,),
]
BAD_IDS = ["int", "str", "inst+value", "bad-tb", "bad-tb2", "non-exc-class"]


def _fresh(args):  # exception instances must not be shared between runs
    return tuple(type(a)(*a.args) if isinstance(a, BaseException) else a for a in args)


@pytest.mark.parametrize("args", BAD_THROW_ARGS, ids=BAD_IDS)
def test_throw_bad_arguments_forwarded_to_awaited_generator(args):
    """Suspended in an await of a generator-based coroutine: CPython forwards the arguments, the
    inner generator rejects them, and that TypeError is raised at the await (catchable)."""
    ops = [("try", None, 3), ("await_new", yield_once, 1), ("return", "no"), ("log", "handler"),
           ("return", "after")]
    recs = differential(prog(ops), [("send", None), ("call", lambda c: _throw_fresh(c, _fresh(args))),
                                    ("send", None)])
    assert recs[1]["outcome"][0] == "call"


@pytest.mark.parametrize("args", BAD_THROW_ARGS, ids=BAD_IDS)
def test_throw_bad_arguments_at_bare_yield(args):
    """At a bare yield (GOCORO_NEXT) there is no awaitable to forward to: like a CPython
    generator at a bare `yield`, invalid throw() arguments raise TypeError to the caller (same
    message) and the object stays suspended; the step never sees them."""
    import _gocoro_test

    def gen():
        yield 1
    g = gen()
    next(g)
    with pytest.raises(BaseException) as cpy:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            g.throw(*_fresh(args))
    log = []
    c = _gocoro_test.program([("try", None, 3), ("yield", 1), ("return", "no"), ("log", "handler"),
                              ("return", "after")], log)
    assert c.send(None) == 1
    with pytest.raises(BaseException) as nat:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            c.throw(*_fresh(args))
    assert (type(nat.value), str(nat.value)) == (type(cpy.value), str(cpy.value))
    assert log == []
    assert inspect.getcoroutinestate(c) == inspect.CORO_SUSPENDED
    with pytest.raises(StopIteration) as si:
        c.send("v")
    assert si.value.value == "no"
    assert log == [("sent", "v")]


def _throw_fresh(c, args):
    try:
        r = c.throw(*args)
    except StopIteration as e:
        return ("return", e.value)
    except BaseException as e:  # noqa: BLE001
        return ("raise", type(e).__name__, str(e))
    return ("yield", r)


def test_throw_into_not_started_coroutine_runs_no_code():
    ops = [("try", None, 3), ("log", "started"), ("yield", 1), ("log", "handler"), ("return", "h")]
    recs = differential(prog(ops), [("throw", ValueError, "early"), ("send", None)])
    assert recs[0]["outcome"][1:3] == ("ValueError", "early")
    assert recs[0]["log"] == []


def test_throw_not_matching_handler():
    ops = [("try", KeyError, 3), ("yield", 1), ("return", "no"), ("return", "handled")]
    differential(prog(ops), [("send", None), ("throw", ValueError, "nomatch"), ("send", None)])


def test_throw_handler_then_rethrow():
    ops = [("try", ValueError, 3), ("yield", 1), ("return", "no"), ("log", "in handler"),
           ("rethrow",)]
    recs = differential(prog(ops), [("send", None), ("throw", ValueError, "again"), ("send", None)])
    assert recs[1]["outcome"][1:3] == ("ValueError", "again")


def test_throw_after_finished():
    differential(prog([("return", 1)]),
                 [("send", None), ("throw", ValueError, "late"), ("close",), ("send", None)])


def test_throw_catch_all_then_yield_and_throw_again():
    ops = [("try", None, 3), ("yield", 1), ("return", "no"), ("try", None, 6), ("yield", 2),
           ("return", "no2"), ("yield", 3), ("return", "end")]
    differential(prog(ops), [("send", None), ("throw", KeyError, "a"), ("throw", TypeError, "b"),
                             ("send", "x")])


def test_endtry_removes_handler():
    ops = [("try", None, 4), ("endtry",), ("yield", 1), ("return", "no"), ("return", "caught")]
    differential(prog(ops), [("send", None), ("throw", ValueError, "v")])


# --------------------------------------------------------------------------------------------
# close

def test_close_before_start():
    recs = differential(prog([("try", None, 2), ("yield", 1), ("log", "handler")]),
                        [("close",), ("send", None), ("close",)])
    assert recs[0]["outcome"] == ("closed", None)
    assert recs[0]["log"] == []


def test_close_suspended_uncaught():
    recs = differential(prog([("yield", 1), ("return", 2)]),
                        [("send", None), ("close",), ("close",), ("send", None)])
    assert recs[1]["outcome"] == ("closed", None)


def test_close_handler_returns_value():
    """3.13: close() returns the value returned after catching GeneratorExit (gh-104770)."""
    ops = [("try", GeneratorExit, 3), ("yield", 1), ("return", "no"), ("return", 42)]
    recs = differential(prog(ops), [("send", None), ("close",), ("close",)])
    assert recs[1]["outcome"] == ("closed", 42 if PY >= (3, 13) else None)
    assert recs[1]["log"] == [("caught", "GeneratorExit", "")]


def test_close_handler_falls_off_end():
    ops = [("try", GeneratorExit, 3), ("yield", 1), ("return", "no"), ("log", "cleanup")]
    differential(prog(ops), [("send", None), ("close",)])


def test_close_ignored_generatorexit():
    ops = [("try", GeneratorExit, 3), ("yield", 1), ("return", "no"), ("yield", "again"),
           ("return", "end")]
    recs = differential(prog(ops), [("send", None), ("close",), ("send", None), ("close",)])
    assert recs[1]["outcome"][1:3] == ("RuntimeError", "coroutine ignored GeneratorExit")


def test_close_ignored_generatorexit_via_await():
    ops = [("try", GeneratorExit, 3), ("yield", 1), ("return", "no"),
           ("await_new", yield_once, "in-cleanup"), ("return", "end")]
    recs = differential(prog(ops), [("send", None), ("close",), ("send", None)])
    assert recs[1]["outcome"][1:3] == ("RuntimeError", "coroutine ignored GeneratorExit")


def test_close_handler_raises_other_exception():
    ops = [("try", GeneratorExit, 3), ("yield", 1), ("return", "no"),
           ("raise", ValueError, "from cleanup")]
    recs = differential(prog(ops), [("send", None), ("close",), ("send", None)])
    assert recs[1]["outcome"][1:3] == ("ValueError", "from cleanup")


def test_close_handler_rethrows_generatorexit():
    ops = [("try", GeneratorExit, 3), ("yield", 1), ("return", "no"), ("log", "x"), ("rethrow",)]
    recs = differential(prog(ops), [("send", None), ("close",)])
    assert recs[1]["outcome"] == ("closed", None)


def test_close_after_error_and_after_return():
    differential(prog([("yield", 1), ("raise", KeyError, "k")]),
                 [("send", None), ("send", None), ("close",), ("send", None)])
    differential(prog([("return", 3)]), [("send", None), ("close",), ("throw", ValueError, "x")])


def test_throw_generatorexit_directly():
    ops = [("try", GeneratorExit, 3), ("yield", 1), ("return", "no"), ("return", "swallowed")]
    differential(prog(ops), [("send", None), ("throw_type", GeneratorExit), ("send", None)])


# --------------------------------------------------------------------------------------------
# re-entrancy: "coroutine already executing"

def test_step_calls_back_into_itself():
    ops = [("self", "send"), ("self", "throw"), ("self", "close"), ("self", "iter_send"),
           ("self", "wrapper_send"), ("running",), ("return", "ok")]
    recs = differential(prog(ops), [("send", None), ("send", None)])
    log = recs[0]["log"]
    assert log[0] == ("self", "send", "ValueError", "coroutine already executing")
    assert ("running", True, True) in log


class SelfSender:
    """Awaitable whose iterator sends into (or throws into / closes) the outer coroutine."""

    def __init__(self, box, meth):
        self.box = box
        self.meth = meth

    def __await__(self):
        c = self.box[0]()
        if self.meth == "send":
            c.send(None)
        elif self.meth == "throw":
            c.throw(KeyError("inner"))
        else:
            c.close()
        yield "unreachable"


@pytest.mark.parametrize("meth", ["send", "throw", "close"])
@pytest.mark.parametrize("handled", [False, True])
def test_awaitable_sends_into_outer(meth, handled):
    def build(impl, log):
        box = []
        ops = ([("try", ValueError, 3)] if handled else [("log", "start")]) + \
              [("await", SelfSender(box, meth)), ("return", "no"), ("return", "caught")]
        c = impl.program(ops, log)
        box.append(weakref.ref(c))
        return c
    recs = differential(build, [("send", None), ("send", None)])
    if handled:
        assert recs[0]["log"] == [("caught", "ValueError", "coroutine already executing")]
    else:
        assert recs[0]["outcome"][1:3] == ("ValueError", "coroutine already executing")


# --------------------------------------------------------------------------------------------
# await

def test_await_generator_based_coroutine():
    ops = [("running",), ("await_new", yield_once, "y"), ("running",), ("return", "r")]
    recs = differential(prog(ops), [("send", None), ("send", "back"), ("send", None)])
    assert recs[1]["log"][-2] == ("result", ("yield_once", "back"))


def test_await_same_kind_coroutine_nested():
    def build(impl, log):
        inner = impl.program([("log", "inner start"), ("yield", "from-inner"), ("return", "iret")], log)
        return impl.program([("await", inner), ("return", "outer")], log)
    recs = differential(build, [("send", None), ("send", "to-inner"), ("send", None)])
    assert recs[0]["outcome"] == ("yield", "from-inner")
    assert recs[0]["state"][1] == "coroutine"        # cr_await is the inner coroutine
    assert recs[1]["outcome"] == ("return", "outer")


def test_await_chain_throw_and_close_forwarded():
    def build(impl, log):
        inner = impl.program([("try", None, 3), ("yield", "in"), ("return", "no"),
                              ("log", "inner caught"), ("yield", "in2"), ("return", "inner done")], log)
        return impl.program([("try", None, 3), ("await", inner), ("return", "outer no"),
                             ("log", "outer caught"), ("return", "outer done")], log)
    differential(build, [("send", None), ("throw", ValueError, "fwd"), ("close",), ("send", None)])


def test_await_chain_inner_raises_into_outer_handler():
    def build(impl, log):
        inner = impl.program([("yield", "in"), ("raise", KeyError, "inner-err")], log)
        return impl.program([("try", KeyError, 3), ("await", inner), ("return", "no"),
                             ("return", "recovered")], log)
    recs = differential(build, [("send", None), ("send", None)])
    assert recs[1]["outcome"] == ("return", "recovered")


def test_await_three_levels():
    def build(impl, log):
        c3 = impl.program([("yield", 3), ("return", "c3")], log)
        c2 = impl.program([("await", c3), ("yield", 2), ("return", "c2")], log)
        return impl.program([("await", c2), ("yield", 1), ("return", "c1")], log)
    differential(build, [("send", None), ("send", "a"), ("send", "b"), ("send", "c"),
                         ("send", None)])


def test_await_cpython_coroutine_from_native_and_back():
    """native awaits a CPython coroutine that awaits a native coroutine (mixed chain)."""
    import _gocoro_test

    async def middle(log):
        r = await _gocoro_test.program([("yield", "deep"), ("return", "native-inner")], log)
        return ("middle", r)

    def build(impl, log):
        return impl.program([("await_new", middle, log), ("return", "top")], log)
    differential(build, [("send", None), ("send", "x"), ("send", None)])


@pytest.mark.parametrize("bad", [3, None, "str"], ids=["int", "None", "str"])
def test_await_non_awaitable(bad):
    ops = [("try", TypeError, 3), ("await", bad), ("return", "no"), ("return", "caught")]
    recs = differential(prog(ops), [("send", None)])
    assert recs[0]["log"][0][:2] == ("caught", "TypeError")


def test_await_plain_generator_is_typeerror():
    def gen():
        yield 1

    def build(impl, log):
        return impl.program([("try", TypeError, 3), ("await_new", gen), ("return", "no"),
                             ("return", "caught")], log)
    differential(build, [("send", None)])


def test_await_returns_non_iterator():
    def build(impl, log):
        return impl.program([("await", Awaitable(lambda: 5))], log)
    recs = differential(build, [("send", None)])
    assert recs[0]["outcome"][1] == "TypeError"


def test_await_returns_a_coroutine():
    async def co():
        return 1

    def build(impl, log):
        return impl.program([("await", Awaitable(co))], log)
    recs = differential(build, [("send", None)])
    assert recs[0]["outcome"][1] == "TypeError"


def test_await_dunder_await_raises():
    def boom():
        raise KeyError("from __await__")

    def build(impl, log):
        return impl.program([("try", KeyError, 3), ("await", Awaitable(boom)), ("return", "no"),
                             ("return", "caught")], log)
    differential(build, [("send", None)])


def test_await_already_awaited_coroutine():
    def build(impl, log):
        inner = impl.program([("return", "once")])
        return impl.program([("await", inner), ("try", RuntimeError, 4), ("await", inner),
                             ("return", "no"), ("return", "caught")], log)
    recs = differential(build, [("send", None)])
    assert ("caught", "RuntimeError", "cannot reuse already awaited coroutine") in recs[0]["log"]


def test_await_coroutine_being_awaited_already():
    def build(impl, log):
        inner = impl.program([("await_new", yield_once, "inner-suspended"), ("return", "i")])
        inner.send(None)   # now suspended inside an await: cr_await is not None
        return impl.program([("try", RuntimeError, 3), ("await", inner), ("return", "no"),
                             ("return", "caught")], log)
    recs = differential(build, [("send", None)])
    assert recs[0]["log"] == [("caught", "RuntimeError", "coroutine is being awaited already")]


def test_await_next_only_iterator():
    def build(impl, log):
        return impl.program([("await_new", NextOnlyIter, ["a", "b"], "it-result"),
                             ("return", "done")], log)
    differential(build, [("send", None), ("send", None), ("send", None), ("send", None)])


def test_await_next_only_iterator_send_non_none():
    def build(impl, log):
        return impl.program([("try", AttributeError, 3),
                             ("await_new", NextOnlyIter, ["a", "b"], "r"), ("return", "no"),
                             ("return", "caught")], log)
    differential(build, [("send", None), ("send", "non-none"), ("send", None)])


@pytest.mark.parametrize("action", [("throw", KeyError, "k"), ("close",)])
def test_await_next_only_iterator_throw_close(action):
    """an await-iterator without throw()/close(): the exception is raised at the await."""
    def build(impl, log):
        return impl.program([("try", None, 3), ("await_new", NextOnlyIter, ["a"], "r"),
                             ("return", "no"), ("return", "caught")], log)
    differential(build, [("send", None), action, ("send", None)])


@pytest.mark.parametrize("action", [("throw", KeyError, "k"), ("close",),
                                    ("throw_type", GeneratorExit),
                                    ("throw", StopIteration, "as-return")])
def test_await_full_iterator_forwarding(action):
    """throw()/close() are forwarded to the await-iterator; a StopIteration raised by its
    throw() counts as the iterator returning (CPython's _gen_throw)."""
    def build(impl, log):
        return impl.program([("try", None, 3), ("await_new", FullIter, ["a", "b"], "r", log),
                             ("return", "no"), ("return", "caught")], log)
    differential(build, [("send", None), ("send", "v"), action, ("send", None)])


# --------------------------------------------------------------------------------------------
# __await__ wrapper and am_send

def test_await_wrapper_protocol():
    ops = [("try", KeyError, 4), ("yield", 1), ("yield", 2), ("return", "no"),
           ("log", "caught"), ("yield", 3), ("return", "end")]
    recs = differential(prog(ops), [("wrapper",), ("next",), ("send", "s"), ("throw", KeyError, "k"),
                                    ("next",), ("next",)])
    assert recs[0]["outcome"] == ("wrapper", True, True)


def test_await_wrapper_type_name(impl):
    c = impl.program([])
    w = c.__await__()
    assert type(w).__name__ == "coroutine_wrapper"   # CPython's name
    c.close()


def test_await_wrapper_close_and_reuse():
    differential(prog([("yield", 1), ("yield", 2)]),
                 [("wrapper",), ("next",), ("close",), ("next",), ("send", None)])


def test_await_wrapper_send_non_none_at_start():
    differential(prog([("yield", 1)]), [("wrapper",), ("send", 5), ("next",)])


def test_await_wrapper_three_arg_throw():
    differential(prog([("try", None, 3), ("yield", 1), ("return", 0), ("return", "c")]),
                 [("wrapper",), ("next",), ("throw_args", ValueError, "m", None)])


def test_list_and_for_over_await_wrapper(impl):
    c = impl.program([("yield", 1), ("yield", 2), ("yield", 3), ("return", "lost")])
    assert list(c.__await__()) == [1, 2, 3]
    c = impl.program([("yield", "a"), ("yield", "b")])
    out = []
    for x in c.__await__():
        out.append(x)
    assert out == ["a", "b"]
    with pytest.raises(RuntimeError, match="cannot reuse already awaited coroutine"):
        list(c.__await__())


def test_am_send_path():
    ops = [("yield", 1), ("try", None, 4), ("yield", 2), ("return", "ret"), ("return", "caught")]
    recs = differential(prog(ops), [("iter_send", None), ("iter_send", "x"), ("iter_send", "y"),
                                    ("iter_send", None)])
    assert recs[0]["outcome"] == ("iter", ("next", 1))
    assert recs[2]["outcome"] == ("iter", ("return", "ret"))
    assert recs[3]["outcome"][1:3] == ("RuntimeError", "cannot reuse already awaited coroutine")


def test_am_send_errors():
    differential(prog([("yield", 1), ("raise", ValueError, "v")]),
                 [("iter_send", 7), ("iter_send", None), ("iter_send", None)])


def test_has_am_send():
    import _gocoro_test
    c = _gocoro_test.program([])
    assert _gocoro_test.has_am_send(c)
    c.close()


# --------------------------------------------------------------------------------------------
# attributes

def _names(c):
    return (c.__name__, c.__qualname__)


def _set_names(c):
    c.__name__ = "new_name"
    c.__qualname__ = "Some.new_qualname"
    return _names(c)


def _set_name_int(c):
    c.__name__ = 1


def _set_qualname_int(c):
    c.__qualname__ = b"bytes"


def _del_name(c):
    del c.__name__


def _del_qualname(c):
    del c.__qualname__


def _repr_shape(c):
    return re.sub(r"0x[0-9a-fA-F]+", "0xADDR", repr(c))


def _repr_has_id(c):
    return hex(id(c)) in repr(c)


@pytest.mark.parametrize("probe", [_names, _set_names, _set_name_int, _set_qualname_int,
                                   _del_name, _del_qualname, _repr_shape, _repr_has_id])
@pytest.mark.parametrize("which", ["program", "named"])
def test_names_and_repr(probe, which):
    def build(impl, log):
        return impl.program([("yield", 1)], log) if which == "program" else impl.named(5)
    differential(build, [("call", probe), ("call", _repr_shape), ("call", _names)])


def test_repr_exact_format(impl):
    c = impl.named()
    assert repr(c) == "<coroutine object Outer.named at %s>" % hex(id(c))
    c.__qualname__ = "Q.x"
    assert repr(c) == "<coroutine object Q.x at %s>" % hex(id(c))
    c.close()


def test_cr_attributes_present(impl):
    c = impl.program([("yield", 1)])
    for attr in ("cr_running", "cr_await", "cr_frame", "cr_code", "__name__", "__qualname__",
                 "send", "throw", "close", "__await__"):
        assert hasattr(c, attr), attr
    assert c.cr_running is False
    assert c.cr_await is None
    c.close()


def _cr_running(c):
    return c.cr_running


def test_cr_running_and_await_states():
    ops = [("running",), ("await_new", yield_once, "y"), ("running",), ("yield", 2),
           ("running",), ("return", 3)]
    differential(prog(ops), [("call", _cr_running), ("send", None), ("send", None),
                             ("send", None), ("send", None)])


# --------------------------------------------------------------------------------------------
# more await edge cases

def test_await_itself():
    def build(impl, log):
        box = []
        c = impl.program([("try", None, 3), ("await_new", lambda: box[0]()), ("return", "no"),
                          ("return", "caught")], log)
        box.append(weakref.ref(c))
        return c
    differential(build, [("send", None), ("send", None)])


class CloseRaises(FullIter):
    def close(self):
        self.seen.append(("it.close",))
        raise KeyError("from close")


class ThrowConverts(FullIter):
    def throw(self, *args):
        from oracle import normalize_throw
        exc = normalize_throw(*args)
        self.seen.append(("it.throw", type(exc).__name__))
        raise LookupError("converted")


@pytest.mark.parametrize("it", [CloseRaises, ThrowConverts])
@pytest.mark.parametrize("action", [("close",), ("throw", ValueError, "v"),
                                    ("throw_type", GeneratorExit)])
@pytest.mark.parametrize("handled", [False, True])
def test_await_iterator_close_throw_misbehaving(it, action, handled):
    def build(impl, log):
        ops = ([("try", None, 3)] if handled else [("log", "start")]) + \
              [("await_new", it, ["a", "b"], "r", log), ("return", "no"), ("return", "caught")]
        return impl.program(ops, log)
    differential(build, [("send", None), action, ("send", None)])


def _arg_errors(c):
    out = []
    for call in (lambda: c.send(), lambda: c.send(1, 2), lambda: c.throw(), lambda: c.close(1),
                 lambda: c.__await__(1), lambda: c.throw(ValueError, 1, None, 4)):
        try:
            call()
            out.append("no error")
        except BaseException as e:  # noqa: BLE001
            out.append(type(e).__name__)
    return out


def test_method_argument_errors():
    differential(prog([("yield", 1)]), [("call", _arg_errors), ("send", None), ("call", _arg_errors)])


class StrSub(str):
    pass


def _set_name_strsub(c):
    c.__name__ = StrSub("sub")
    c.__qualname__ = StrSub("Q.sub")
    return (c.__name__, type(c.__name__).__name__, c.__qualname__)


def _set_nonascii(c):
    c.__qualname__ = "Ünï.cødé"
    return _repr_shape(c)


@pytest.mark.parametrize("probe", [_set_name_strsub, _set_nonascii])
def test_names_more(probe):
    differential(prog([("yield", 1)]), [("call", probe), ("call", _names)])


def test_reentry_from_another_thread():
    """A step releases the GIL (a blocking call); another thread sends into the same object
    meanwhile: 'coroutine already executing'."""
    import threading

    def build(impl, log):
        started, release = threading.Event(), threading.Event()
        box = []
        errors = []

        def other_thread():
            started.wait(10)
            try:
                box[0]().send(None)
            except BaseException as e:  # noqa: BLE001
                errors.append((type(e).__name__, str(e)))
            release.set()

        def blocking():
            t = threading.Thread(target=other_thread)
            t.start()
            started.set()
            release.wait(10)
            t.join(10)
            return errors[:]

        c = impl.program([("call_log", blocking), ("return", "done")], log)
        box.append(weakref.ref(c))
        return c
    recs = differential(build, [("send", None)])
    assert recs[0]["log"] == [("call", [("ValueError", "coroutine already executing")])]


@pytest.mark.parametrize("inner_after_catch", [
    [("return", "inner returned")],
    [("yield", "inner again"), ("return", "inner end")],
    [("raise", KeyError, "inner raised")],
    [("rethrow",)],
], ids=["returns", "yields", "raises", "rethrows"])
@pytest.mark.parametrize("action", [("throw", ValueError, "t"), ("close",)])
def test_forwarded_into_inner_native(inner_after_catch, action):
    """throw()/close() reach the awaited inner coroutine first; whatever it does (return a value,
    yield again -> 'ignored GeneratorExit' on close, raise) is what the outer one sees."""
    def build(impl, log):
        inner = impl.program([("try", None, 3), ("yield", "in"), ("return", "no")] +
                             inner_after_catch, log)
        return impl.program([("try", None, 3), ("await", inner), ("return", "outer no"),
                             ("log", "outer handler"), ("return", "outer end")], log)
    differential(build, [("send", None), action, ("send", None), ("close",)])


def test_two_wrappers_on_one_coroutine():
    def both_wrappers(c):
        w1, w2 = c.__await__(), c.__await__()
        out = [next(w1), w2.send("via w2")]
        try:
            next(w1)
        except StopIteration as e:
            out.append(("stop", e.value))
        return out
    differential(prog([("yield", 1), ("yield", 2), ("return", 3)]), [("call", both_wrappers)])


def test_wrapper_outlives_its_coroutine(impl):
    for i in range(4):
        w = impl.program([("yield", i), ("return", "end")]).__await__()
        import gc
        gc.collect()
        assert next(w) == i
        with pytest.raises(StopIteration) as si:
            w.send(None)
        assert si.value.value == "end"
        del w


def _frame_info(c):
    import collections.abc
    f = c.cr_frame
    if f is None:
        return None
    return (f.f_code is c.cr_code, isinstance(inspect.getcoroutinelocals(c), collections.abc.Mapping),
            type(f.f_lineno).__name__, type(f.f_lasti).__name__)


def test_cr_frame_consistency():
    differential(prog([("yield", 1), ("return", 2)]),
                 [("call", _frame_info), ("send", None), ("call", _frame_info), ("send", None),
                  ("call", _frame_info)])
