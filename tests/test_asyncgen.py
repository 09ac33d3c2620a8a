"""Differential tests of gocoro's GOCORO_KIND_ASYNC_GENERATOR objects.

The native object (_gocoro_test.program(ops, log, 3)) is compared with the same op interpreter
written as a CPython `async def` with `yield` (tests/oracle_gen.py: "item" == `yield v`,
"yield" == a bare yield to the event loop, "await" == `await x`).

Most tests drive the __anext__/asend/athrow/aclose awaitables by hand (send/throw/close), so
that the exact protocol is compared; the rest run both under asyncio, uvloop and trio and
compare results and what the generator saw (including aclose at loop shutdown and the
sys.set_asyncgen_hooks finalizer).
"""
import asyncio
import collections.abc
import gc
import sys
import types

import pytest

import _gocoro_test
from oracle import ignored_while, unraisable_target
from oracle_gen import (AGEN_ATTRS, HAS_AG_SUSPENDED, KIND_ASYNC_GENERATOR, Holder, assert_same,
                        differential_agen, exc_summary, obj_summary, yf_summary, yield_once)

PY = sys.version_info[:2]
A = KIND_ASYNC_GENERATOR


def native_agen(ops, log=None):
    return _gocoro_test.program(ops, log, A)


class MyStop(StopIteration):
    pass


# ============================================================================================
# __anext__ / asend driven by hand

def test_anext_items_then_stopasynciteration():
    recs = differential_agen([("item", 1), ("item", 2)],
                             [("anext", "a"), ("send", "a", None), ("anext", "b"), ("drive", "b"),
                              ("anext", "c"), ("send", "c", None), ("anext", "d"), ("next", "d")])
    assert recs[1]["outcome"] == ("return", 1)       # StopIteration(1): the item
    assert recs[3]["outcome"] == ("drove", [], ("stop", 2))
    assert recs[5]["outcome"][0] == "stopasync"
    assert recs[7]["outcome"][0] == "stopasync"


def test_item_values_wrapped_in_stopiteration():
    # tuples / exceptions / None as items must arrive as StopIteration.value unchanged
    ops = [("item", (1, 2)), ("item", ()), ("item", None), ("item", ValueError("v")),
           ("item", StopIteration("s"))]
    script = []
    for i in range(6):
        script += [("anext", i), ("send", i, None)]
    recs = differential_agen(ops, script)
    assert [r["outcome"] for r in recs[1:10:2]] == [
        ("return", (1, 2)), ("return", ()), ("return", None),
        ("return", ("exception", "ValueError", "v")), ("return", ("exception", "StopIteration", "s"))]


def test_asend_values():
    recs = differential_agen([("item", 1), ("item", 2), ("log", "end")],
                             [("anext", "a"), ("send", "a", None), ("asend", "b", "v1"),
                              ("send", "b", None), ("asend", "c", "v2"), ("send", "c", None)])
    assert recs[5]["log"] == [("sent", "v1"), ("sent", "v2"), "end"]


def test_asend_value_vs_send_value():
    """asend(v).send(None) sends v; asend(v).send(w) with w not None sends w."""
    differential_agen([("item", 1), ("item", 2), ("item", 3)],
                      [("anext", "a"), ("send", "a", None), ("asend", "b", "from-asend"),
                       ("send", "b", "from-send"), ("asend", "c", "x"), ("send", "c", None)])


def test_asend_non_none_to_just_started():
    recs = differential_agen([("item", 1)],
                             [("asend", "a", "early"), ("send", "a", None), ("anext", "b"),
                              ("send", "b", None)])
    assert recs[1]["outcome"][1:3] == ("TypeError",
                                       "can't send non-None value to a just-started async generator")


def test_anext_send_non_none_at_start():
    differential_agen([("item", 1)], [("anext", "a"), ("send", "a", "x"), ("send", "a", None)])


def test_yield_to_loop_passes_through():
    recs = differential_agen([("yield", "to-loop"), ("item", 1), ("yield", "again"), ("item", 2)],
                             [("anext", "a"), ("send", "a", None), ("send", "a", "resumed"),
                              ("anext", "b"), ("send", "b", None), ("send", "b", "r2"),
                              ("anext", "c"), ("send", "c", None)])
    assert recs[1]["outcome"] == ("yield", "to-loop")
    assert recs[2]["outcome"] == ("return", 1)


def test_await_inside():
    recs = differential_agen([("await_new", yield_once, "y"), ("item", "after")],
                             [("anext", "a"), ("send", "a", None), ("send", "a", "v"),
                              ("anext", "b"), ("send", "b", None)])
    assert recs[1]["state"][:2] == (True, "<generator>")
    assert recs[2]["log"] == [("result", ("yield_once", "v"))]


def test_await_native_coroutine_inside():
    def build(impl, log):
        inner = _gocoro_test.program([("yield", "inner"), ("return", "ir")], log)
        return impl.program([("await", inner), ("item", "after")], log, A)
    differential_agen(build, [("anext", "a"), ("send", "a", None), ("send", "a", "s"),
                              ("anext", "b"), ("send", "b", None)])


def test_await_non_awaitable_inside():
    differential_agen([("try", None, 2), ("await", 5), ("log", "handler"), ("item", "h")],
                      [("anext", "a"), ("send", "a", None)])


def test_next_and_iter_on_awaitables():
    differential_agen([("yield", "L"), ("item", 1)],
                      [("anext", "a"), ("next", "a"), ("next", "a"), ("next", "a")])


def test_anext_reuse():
    recs = differential_agen([("item", 1), ("item", 2)],
                             [("anext", "a"), ("send", "a", None), ("send", "a", None),
                              ("next", "a"), ("throw", "a", ValueError, "x"), ("close", "a"),
                              ("anext", "b"), ("send", "b", None)])
    assert recs[2]["outcome"][1:3] == ("RuntimeError",
                                       "cannot reuse already awaited __anext__()/asend()")


def test_anext_while_running():
    recs = differential_agen([("yield", "L"), ("item", 1), ("item", 2)],
                             [("anext", "a"), ("send", "a", None), ("anext", "b"),
                              ("send", "b", None), ("send", "a", None),
                              ("anext", "c"), ("send", "c", None)])
    assert recs[3]["outcome"][1:3] == ("RuntimeError",
                                       "anext(): asynchronous generator is already running")


def test_anext_while_running_awaitable_state_after_the_error():
    """Sending again into the __anext__() awaitable that failed with "already running":
    CPython <= 3.12 keeps it usable (the same error again), 3.13 closes it ("cannot reuse")."""
    differential_agen([("yield", "L"), ("item", 1), ("item", 2)],
                      [("anext", "a"), ("send", "a", None), ("anext", "b"),
                       ("send", "b", None), ("send", "b", None), ("send", "a", None),
                       ("send", "b", None)])


def test_two_anext_awaitables_created_before_use():
    differential_agen([("item", 1), ("item", 2)],
                      [("anext", "a"), ("anext", "b"), ("send", "b", None), ("send", "a", None)])


def test_awaitable_dropped_midway():
    """Dropping an __anext__() awaitable while the generator waits in it: the generator stays
    'running' (ag_running) in CPython."""
    differential_agen([("yield", "L"), ("item", 1), ("item", 2)],
                      [("anext", "a"), ("send", "a", None), ("drop", "a"), ("anext", "b"),
                       ("send", "b", None)])


def test_awaitable_close_midway():
    differential_agen([("yield", "L"), ("item", 1), ("item", 2)],
                      [("anext", "a"), ("send", "a", None), ("close", "a"), ("send", "a", None),
                       ("anext", "b"), ("send", "b", None), ("aclose", "c"), ("send", "c", None)])


def test_awaitable_close_before_start():
    differential_agen([("item", 1)],
                      [("anext", "a"), ("close", "a"), ("send", "a", None), ("anext", "b"),
                       ("send", "b", None)])


def test_anext_builtin():
    recs = differential_agen([("item", 1)],
                             [("anext_builtin", "a"), ("send", "a", None), ("anext_builtin", "b"),
                              ("send", "b", None), ("anext_builtin", "c", "dflt"),
                              ("send", "c", None)])
    assert recs[5]["outcome"] == ("return", "dflt")


def test_anext_builtin_default_with_loop_yield():
    differential_agen([("yield", "L"), ("item", 1), ("yield", "M")],
                      [("anext_builtin", "a", "d"), ("send", "a", None), ("send", "a", None),
                       ("anext_builtin", "b", "d"), ("send", "b", None), ("send", "b", None)])


def test_awaitable_protocol_shape():
    differential_agen([("item", 1)],
                      [("anext", "a"), ("probe", "a"), ("asend", "b", None), ("probe", "b"),
                       ("athrow", "c", ValueError), ("probe", "c"), ("aclose", "d"),
                       ("probe", "d")], warn="ignore")  # unawaited: see test_unawaited_awaitable_warning


# ============================================================================================
# PEP 479 for async generators

@pytest.mark.parametrize("ops,msg", [
    ([("stopiteration", 1)], "async generator raised StopIteration"),
    ([("item", 0), ("stopiteration",)], "async generator raised StopIteration"),
    ([("raise", MyStop, "sub")], "async generator raised StopIteration"),
    ([("raise", StopAsyncIteration, "sai")], "async generator raised StopAsyncIteration"),
    ([("item", 0), ("raise", StopAsyncIteration)], "async generator raised StopAsyncIteration"),
], ids=["si", "si-after-item", "si-subclass", "sai", "sai-after-item"])
def test_stop_exceptions_become_runtimeerror(ops, msg):
    recs = differential_agen(ops, [("anext", "a"), ("send", "a", None), ("anext", "b"),
                                   ("send", "b", None), ("anext", "c"), ("send", "c", None)])
    raised = [r["outcome"] for r in recs[:-1] if r["outcome"][0] == "raise"]
    assert raised[0][1:3] == ("RuntimeError", msg)


@pytest.mark.parametrize("exc", [StopIteration, StopAsyncIteration])
def test_stop_exceptions_thrown_in(exc):
    differential_agen([("item", 0), ("item", 1)],
                      [("anext", "a"), ("send", "a", None), ("athrow", "b", exc),
                       ("send", "b", None), ("anext", "c"), ("send", "c", None)])


# ============================================================================================
# athrow

ATHROWS = [
    (ValueError,),
    (("inst", ValueError, "inst"),),
    (ValueError, ("inst", ValueError, "two")),
    (ValueError, "strval"),
    (ValueError, None, None),
]
ATHROW_IDS = ["type", "inst", "type+inst", "type+str", "type+None+None"]


@pytest.mark.parametrize("handled", [False, True], ids=["unhandled", "handled"])
@pytest.mark.parametrize("args", ATHROWS, ids=ATHROW_IDS)
def test_athrow_forms(args, handled):
    ops = [("try", None, 3) if handled else ("log", "start"), ("item", "it"), ("item", "after"),
           ("log", "handler"), ("yield", "L"), ("item", "h"), ("item", "h2")]
    recs = differential_agen(ops, [("anext", "a"), ("send", "a", None), ("athrow", "t", *args),
                                   ("send", "t", None), ("send", "t", None),
                                   ("anext", "n"), ("send", "n", None)])
    if PY >= (3, 12) and len(args) > 1:
        assert [w[0] for w in recs[2]["warnings"]] == ["DeprecationWarning"]


def test_athrow_awaitable_send_after_it_produced_an_item():
    """CPython (3.10-3.13): once an athrow() awaitable has finished by producing an item
    (StopIteration(item)) after having waited in the event loop, sending into it again resumes
    the generator once more (it is not marked as awaited)."""
    differential_agen([("try", None, 3), ("item", "it"), ("item", "after"), ("yield", "L"),
                       ("item", "h"), ("item", "h2")],
                      [("anext", "a"), ("send", "a", None), ("athrow", "t", ValueError),
                       ("send", "t", None), ("send", "t", None), ("send", "t", None),
                       ("send", "t", None)])


def test_athrow_while_waiting_in_anext_is_already_running():
    recs = differential_agen([("yield", "L"), ("item", 1)],
                             [("anext", "a"), ("send", "a", None), ("athrow", "t", ValueError),
                              ("send", "t", None), ("send", "t", None), ("send", "a", None)])
    assert recs[3]["outcome"][1:3] == ("RuntimeError",
                                       "athrow(): asynchronous generator is already running")


def test_athrow_into_not_started():
    recs = differential_agen([("log", "ran"), ("item", 1)],
                             [("athrow", "t", ("inst", ValueError, "early")), ("send", "t", None),
                              ("anext", "a"), ("send", "a", None)])
    assert recs[1]["log"] == []


def test_athrow_send_non_none_at_start():
    differential_agen([("try", None, 2), ("item", 1), ("item", "h")],
                      [("anext", "a"), ("send", "a", None), ("athrow", "t", ValueError),
                       ("send", "t", "x"), ("send", "t", None)])


def test_athrow_handler_awaits_then_yields():
    differential_agen([("try", None, 3), ("item", 1), ("return", None), ("yield", "L-in-handler"),
                       ("item", "from-handler"), ("item", "more")],
                      [("anext", "a"), ("send", "a", None), ("athrow", "t", KeyError),
                       ("send", "t", None), ("send", "t", "back"),
                       ("anext", "b"), ("send", "b", None)])


def test_athrow_reuse():
    recs = differential_agen([("try", None, 3), ("item", 1), ("return", None), ("item", "h")],
                             [("anext", "a"), ("send", "a", None), ("athrow", "t", KeyError),
                              ("send", "t", None), ("send", "t", None), ("throw", "t", ValueError, "x")])
    assert recs[4]["outcome"][1:3] == ("RuntimeError",
                                       "cannot reuse already awaited aclose()/athrow()")


def test_athrow_after_exhausted():
    differential_agen([("item", 1)],
                      [("anext", "a"), ("send", "a", None), ("anext", "b"), ("send", "b", None),
                       ("athrow", "t", ValueError), ("send", "t", None), ("send", "t", None)])


def test_athrow_after_error():
    differential_agen([("raise", KeyError, "k")],
                      [("anext", "a"), ("send", "a", None), ("athrow", "t", ValueError),
                       ("send", "t", None)])


@pytest.mark.parametrize("args", [(1,), ("str",), (int,),
                                  (("inst", ValueError, "x"), ("inst", ValueError, "y"))],
                         ids=["int", "str", "non-exc-class", "inst+inst"])
def test_athrow_bad_arguments(args):
    differential_agen([("try", None, 2), ("item", 1), ("log", "handler"), ("item", "h")],
                      [("anext", "a"), ("send", "a", None), ("athrow", "t", *args),
                       ("send", "t", None), ("anext", "b"), ("send", "b", None)])


@pytest.mark.parametrize("args", [(), (ValueError, 1, 2, 3)], ids=["none", "four"])
def test_athrow_bad_argument_count(args):
    """Same TypeError as CPython.  (CPython only raises it when the athrow() awaitable is
    first sent to, and then leaves the generator marked as running for good -- a CPython bug
    that is not compared here; native raises it from athrow() itself.)"""
    def f(impl):
        import warnings
        g = impl.program([("item", 1)], None, A)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                g.athrow(*args).send(None)
        except TypeError as e:
            return str(e)
        return "no error"
    assert assert_same(f).startswith("athrow expected at")


def test_athrow_deprecated_signature_warning():
    recs = differential_agen([("try", None, 2), ("item", 1), ("item", "h")],
                             [("anext", "a"), ("send", "a", None),
                              ("athrow", "t", ValueError, ("inst", ValueError, "x")),
                              ("send", "t", None)])
    if PY >= (3, 12):
        assert [w[0] for w in recs[2]["warnings"]] == ["DeprecationWarning"]


def test_athrow_deprecated_signature_as_error():
    differential_agen([("try", None, 2), ("item", 1), ("item", "h")],
                      [("anext", "a"), ("send", "a", None),
                       ("athrow", "t", ValueError, ("inst", ValueError, "x")),
                       ("anext", "b"), ("send", "b", None)], warn="error")


# ============================================================================================
# throw()/close() on the awaitables themselves

THROWS = [("throw", ValueError, "inst"), ("throw_type", ValueError),
          ("throw2_inst", ValueError, "two"), ("throw3_tb", ValueError, "three")]
THROW_IDS = ["inst", "type", "type+inst", "type+inst+tb"]


@pytest.mark.parametrize("handled", [False, True], ids=["unhandled", "handled"])
@pytest.mark.parametrize("throw", THROWS, ids=THROW_IDS)
@pytest.mark.parametrize("which", ["anext", "athrow", "aclose"])
def test_awaitable_throw(which, throw, handled):
    """throw() on an awaitable that is waiting in a loop yield (or not started yet)."""
    ops = ([("try", None, 4)] if handled else [("log", "s")]) + [
        ("item", 1), ("yield", "L"), ("item", 2), ("log", "handler"), ("yield", "L2"),
        ("item", "h"), ("item", "h2")]
    if which == "anext":
        start = [("anext", "x"), ("send", "x", None), ("anext", "w"), ("send", "w", None)]
    elif which == "athrow":
        # the athrow'n KeyError is handled (if handled) and the handler then waits in "L2"
        start = [("anext", "x"), ("send", "x", None), ("athrow", "w", KeyError), ("send", "w", None)]
    else:
        start = [("anext", "x"), ("send", "x", None), ("aclose", "w"), ("send", "w", None)]
    differential_agen(ops, start + [(throw[0], "w") + throw[1:], ("send", "w", None),
                                    ("send", "w", None), ("anext", "n"), ("send", "n", None)])


@pytest.mark.parametrize("which", ["anext", "athrow", "aclose"])
def test_awaitable_throw_before_start(which):
    make = {"anext": ("anext", "w"), "athrow": ("athrow", "w", KeyError), "aclose": ("aclose", "w")}
    differential_agen([("try", None, 2), ("item", 1), ("log", "handler"), ("item", "h")],
                      [("anext", "x"), ("send", "x", None), make[which],
                       ("throw", "w", ValueError, "early"), ("send", "w", None),
                       ("anext", "n"), ("send", "n", None)])


@pytest.mark.parametrize("throw", [("throw3_tb", "w", ValueError, "three"),
                                   ("throw2_inst", "w", ValueError, "two")], ids=["3", "2"])
@pytest.mark.parametrize("which", ["anext", "athrow", "aclose"])
def test_awaitable_throw_deprecated_forms_warn(which, throw):
    """throw(type, value[, tb]) on an asend/athrow/aclose awaitable that waits in the event
    loop: DeprecationWarning on 3.12+ for every awaitable type."""
    make = {"anext": ("anext", "w"), "athrow": ("athrow", "w", KeyError), "aclose": ("aclose", "w")}
    recs = differential_agen([("try", None, 2), ("item", 1), ("try", None, 5), ("yield", "L"),
                              ("return", None), ("yield", "h"), ("item", "h2")],
                             [("anext", "x"), ("send", "x", None), make[which], ("send", "w", None),
                              throw, ("send", "w", None)])
    assert recs[3]["outcome"] == ("yield", "L")
    if PY >= (3, 12):
        assert [w[0] for w in recs[4]["warnings"]] == ["DeprecationWarning"], recs[4]


@pytest.mark.parametrize("which", ["anext", "athrow", "aclose"])
def test_awaitable_throw_before_start_then_loop_yield(which):
    """throw() into a fresh awaitable whose generator then waits in the event loop: is the
    generator 'running' (ag_running) while it waits, and can another awaitable get in?"""
    make = {"anext": ("anext", "w"), "athrow": ("athrow", "w", KeyError), "aclose": ("aclose", "w")}
    differential_agen([("try", None, 3), ("item", 1), ("item", 2), ("yield", "h"), ("item", "h2")],
                      [("anext", "x"), ("send", "x", None), make[which],
                       ("throw", "w", ValueError, "early"), ("anext", "y"), ("send", "y", None),
                       ("send", "w", None)])


@pytest.mark.parametrize("which", ["anext", "asend", "athrow", "aclose"])
def test_unawaited_awaitable_warning(which):
    """Dropping an asend/athrow/aclose awaitable that was never awaited (3.13: RuntimeWarning
    "coroutine method 'asend' of 'QUALNAME' was never awaited")."""
    def f(impl):
        import warnings
        g = impl.program([("item", 1)], None, A)
        g.__qualname__ = "Q.agen"
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter("always")
            if which == "anext":
                g.__anext__()
            elif which == "asend":
                g.asend(None)
            elif which == "athrow":
                g.athrow(ValueError)
            else:
                g.aclose()
            gc.collect()
        return [(w.category.__name__, str(w.message)) for w in ws]
    assert_same(f)


@pytest.mark.parametrize("which", ["anext", "asend", "athrow", "aclose"])
def test_unawaited_awaitable_warning_as_error(which):
    """The same warning raised as an error goes to sys.unraisablehook, about the async generator
    (3.13: object=the generator; 3.14+: object=None, "... while finalizing async generator")."""
    def f(impl):
        import warnings
        g = impl.program([("item", 1)], None, A)
        seen = []
        old_hook = sys.unraisablehook
        sys.unraisablehook = lambda u: seen.append(
            (u.exc_type.__name__, str(u.exc_value), unraisable_target(u, id(g), repr(g))))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                getattr(g, {"anext": "__anext__", "asend": "asend", "athrow": "athrow",
                            "aclose": "aclose"}[which])(*{"asend": (None,), "athrow": (ValueError,)}.get(which, ()))
                gc.collect()
        finally:
            sys.unraisablehook = old_hook
        return seen
    res = assert_same(f)
    if PY >= (3, 13):
        assert [u[2] for u in res] == [ignored_while("finalizing async generator")]


@pytest.mark.parametrize("which", ["anext", "athrow", "aclose"])
def test_awaitable_throw_while_another_runs(which):
    make = {"anext": ("anext", "w"), "athrow": ("athrow", "w", KeyError), "aclose": ("aclose", "w")}
    differential_agen([("try", None, 3), ("yield", "L"), ("item", 1), ("log", "handler"),
                       ("item", "h")],
                      [("anext", "x"), ("send", "x", None), make[which],
                       ("throw", "w", ValueError, "concurrent"), ("send", "x", None),
                       ("anext", "n"), ("send", "n", None)])


# ============================================================================================
# aclose

def test_aclose_before_start():
    recs = differential_agen([("log", "ran"), ("item", 1)],
                             [("aclose", "c"), ("send", "c", None), ("anext", "a"),
                              ("send", "a", None), ("aclose", "d"), ("send", "d", None)])
    assert recs[1]["outcome"] == ("return", None)


def test_aclose_suspended_uncaught():
    recs = differential_agen([("item", 1), ("log", "never")],
                             [("anext", "a"), ("send", "a", None), ("aclose", "c"),
                              ("send", "c", None), ("anext", "b"), ("send", "b", None)])
    assert recs[3]["outcome"] == ("return", None)
    assert recs[5]["outcome"][0] == "stopasync"


def test_aclose_handler_falls_off_end():
    differential_agen([("try", None, 3), ("item", 1), ("return", None), ("log", "cleanup")],
                      [("anext", "a"), ("send", "a", None), ("aclose", "c"), ("send", "c", None)])


def test_aclose_handler_awaits():
    recs = differential_agen([("try", None, 3), ("item", 1), ("return", None), ("yield", "cleanup-L"),
                              ("await_new", yield_once, "Y"), ("log", "done")],
                             [("anext", "a"), ("send", "a", None), ("aclose", "c"),
                              ("send", "c", None), ("send", "c", "s1"), ("send", "c", "s2"),
                              ("send", "c", None)])
    assert recs[3]["outcome"] == ("yield", "cleanup-L")
    assert recs[5]["outcome"] == ("return", None)


def test_aclose_ignored_generatorexit():
    recs = differential_agen([("try", None, 3), ("item", 1), ("return", None), ("item", "ignored"),
                              ("item", "more")],
                             [("anext", "a"), ("send", "a", None), ("aclose", "c"),
                              ("send", "c", None), ("anext", "b"), ("send", "b", None),
                              ("aclose", "d"), ("send", "d", None)])
    assert recs[3]["outcome"][1:3] == ("RuntimeError", "async generator ignored GeneratorExit")


def test_aclose_ignored_generatorexit_after_await():
    differential_agen([("try", None, 3), ("item", 1), ("return", None), ("yield", "L"),
                       ("item", "ignored")],
                      [("anext", "a"), ("send", "a", None), ("aclose", "c"), ("send", "c", None),
                       ("send", "c", None), ("anext", "b"), ("send", "b", None)])


def test_aclose_handler_raises():
    recs = differential_agen([("try", None, 3), ("item", 1), ("return", None), ("raise", KeyError, "k")],
                             [("anext", "a"), ("send", "a", None), ("aclose", "c"),
                              ("send", "c", None), ("aclose", "d"), ("send", "d", None)])
    assert recs[3]["outcome"][1] == "KeyError"


@pytest.mark.parametrize("exc", [StopAsyncIteration, StopIteration])
def test_aclose_handler_raises_stop(exc):
    differential_agen([("try", None, 3), ("item", 1), ("return", None), ("raise", exc)],
                      [("anext", "a"), ("send", "a", None), ("aclose", "c"), ("send", "c", None)])


def test_aclose_handler_rethrows():
    differential_agen([("try", None, 3), ("item", 1), ("return", None), ("rethrow",)],
                      [("anext", "a"), ("send", "a", None), ("aclose", "c"), ("send", "c", None)])


def test_aclose_reuse_and_twice():
    recs = differential_agen([("item", 1)],
                             [("anext", "a"), ("send", "a", None), ("aclose", "c"),
                              ("send", "c", None), ("send", "c", None), ("aclose", "d"),
                              ("send", "d", None), ("throw", "d", ValueError, "x")])
    assert recs[4]["outcome"][1:3] == ("RuntimeError",
                                       "cannot reuse already awaited aclose()/athrow()")


def test_aclose_while_running():
    recs = differential_agen([("yield", "L"), ("item", 1)],
                             [("anext", "a"), ("send", "a", None), ("aclose", "c"),
                              ("send", "c", None), ("send", "a", None), ("aclose", "d"),
                              ("send", "d", None)])
    assert recs[3]["outcome"][1:3] == ("RuntimeError",
                                       "aclose(): asynchronous generator is already running")


def test_aclose_after_exhausted():
    differential_agen([("item", 1)],
                      [("anext", "a"), ("send", "a", None), ("anext", "b"), ("send", "b", None),
                       ("aclose", "c"), ("send", "c", None), ("anext", "d"), ("send", "d", None)])


def test_aclose_send_non_none():
    differential_agen([("try", None, 3), ("item", 1), ("return", None), ("yield", "L")],
                      [("anext", "a"), ("send", "a", None), ("aclose", "c"), ("send", "c", 5),
                       ("send", "c", None), ("send", "c", 7)])


def test_aclose_while_awaiting_closes_the_awaited():
    def build(impl, log):
        @types.coroutine
        def inner():
            try:
                yield "inner-L"
            except GeneratorExit:
                log.append("inner-exit")
                raise
        return impl.program([("try", None, 4), ("item", 1), ("await_new", inner), ("return", None),
                             ("log", "outer-cleanup"), ("rethrow",)], log, A)
    # aclose while the generator is suspended at an item; then anext into the await, and
    # aclose through a fresh awaitable after that awaitable was dropped
    differential_agen(build, [("anext", "a"), ("send", "a", None), ("anext", "b"),
                              ("send", "b", None), ("drop", "b"), ("aclose", "c"),
                              ("send", "c", None)])


# ============================================================================================
# ag_running / ag_await / reentrancy from the inside

def _ag_inside(me):
    st = (bool(me.ag_running), yf_summary(me.ag_await))
    if HAS_AG_SUSPENDED:
        st += (bool(me.ag_suspended),)
    return st


def _ag_self(me, meth):
    try:
        if meth == "anext":
            aw = me.__anext__()
        elif meth == "asend":
            aw = me.asend(None)
        elif meth == "athrow":
            aw = me.athrow(ValueError("self"))
        elif meth == "aclose":
            aw = me.aclose()
        else:
            raise AssertionError(meth)
        r = aw.send(None)
    except Exception as e:  # noqa: BLE001
        return (type(e).__name__, str(e))
    return ("ok", obj_summary(r))


@pytest.mark.parametrize("meth", ["anext", "asend", "athrow", "aclose"])
def test_reentrancy_from_inside(meth):
    def build(impl, log):
        h = Holder()
        return h.set(impl.program([("item", 1), ("call_log", h.bind(_ag_inside)),
                                   ("call_log", h.bind(_ag_self, meth)),
                                   ("call_log", h.bind(_ag_inside)), ("item", 2)], log, A))
    differential_agen(build, [("anext", "a"), ("send", "a", None), ("anext", "b"),
                              ("send", "b", None), ("anext", "c"), ("send", "c", None)])


def test_ag_running_states():
    differential_agen([("item", 1), ("yield", "L"), ("await_new", yield_once, "Y"), ("item", 2)],
                      [("anext", "a"), ("send", "a", None), ("anext", "b"), ("send", "b", None),
                       ("send", "b", None), ("send", "b", None), ("anext", "c"), ("send", "c", None)])


# ============================================================================================
# finalization without hooks

def test_finalize_suspended_sees_generatorexit():
    recs = differential_agen([("try", None, 3), ("item", 1), ("return", None), ("log", "cleanup"),
                              ("rethrow",)],
                             [("anext", "a"), ("send", "a", None)])
    assert recs[-1]["log"] == [("caught", "GeneratorExit", ""), "cleanup"]
    assert recs[-1]["unraisable"] == []


def test_finalize_handler_returns():
    """CPython up to 3.14: an async generator finalized without a finalizer hook whose body
    handles GeneratorExit and then returns reports StopAsyncIteration as unraisable
    (gen_close() only ignores StopIteration/GeneratorExit); 3.15 reports nothing."""
    recs = differential_agen([("try", None, 3), ("item", 1), ("return", None), ("log", "cleanup")],
                             [("anext", "a"), ("send", "a", None)])
    assert recs[-1]["log"] == [("caught", "GeneratorExit", ""), "cleanup"]
    assert [u[:2] for u in recs[-1]["unraisable"]] == (
        [] if PY >= (3, 15) else [("StopAsyncIteration", "")])


def test_finalize_ignored_generatorexit_is_unraisable():
    recs = differential_agen([("try", None, 3), ("item", 1), ("return", None), ("item", "again")],
                             [("anext", "a"), ("send", "a", None)])
    assert [u[:2] for u in recs[-1]["unraisable"]] == [
        ("RuntimeError", "async generator ignored GeneratorExit")]


def test_finalize_awaiting_in_cleanup_is_unraisable():
    differential_agen([("try", None, 3), ("item", 1), ("return", None), ("yield", "L")],
                      [("anext", "a"), ("send", "a", None)])


def test_finalize_never_started():
    recs = differential_agen([("log", "ran"), ("item", 1)], [])
    assert recs[-1]["log"] == [] and recs[-1]["unraisable"] == [] and recs[-1]["warnings"] == []


def test_finalize_created_awaitable_never_sent():
    differential_agen([("log", "ran"), ("item", 1)], [("anext", "a")])


# the handler returns on GeneratorExit: like CPython up to 3.14, finalisation reports
# StopAsyncIteration as unraisable (test_finalize_handler_returns compares that with CPython)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_finalize_many_in_a_row():
    seen = []
    for i in range(6):
        log = []
        g = native_agen([("try", None, 3), ("item", i), ("return", None), ("log", i)], log)
        aw = g.__anext__()
        with pytest.raises(StopIteration):
            aw.send(None)
        del aw, g
        seen.append(log)
    assert seen == [[("caught", "GeneratorExit", ""), i] for i in range(6)]


# ============================================================================================
# attributes, names, repr, ABCs

def test_agen_attributes_present():
    g = native_agen([("item", 1)])
    assert [a for a in AGEN_ATTRS if not hasattr(g, a)] == []


def test_abcs_and_aiter():
    def f(impl):
        g = impl.program([("item", 1)], None, A)
        abc = collections.abc
        return ([isinstance(g, t) for t in (abc.AsyncGenerator, abc.AsyncIterator,
                                            abc.AsyncIterable, abc.Generator, abc.Iterator,
                                            abc.Coroutine, abc.Awaitable)],
                g.__aiter__() is g, aiter(g) is g, hasattr(g, "__anext__"),
                hasattr(g, "send"), hasattr(g, "__next__"))
    assert assert_same(f) == ([True, True, True, False, False, False, False], True, True, True,
                              False, False)


def test_repr_shape():
    def f(impl):
        g = impl.program([("item", 1)], None, A)
        return repr(g) == f"<async_generator object {g.__qualname__} at {id(g):#x}>"
    assert assert_same(f) is True


def test_names():
    def f(impl):
        g = impl.program([("item", 1)], None, A)
        out = [g.__name__ == g.ag_code.co_name, isinstance(g.ag_code, types.CodeType)]
        g.__name__ = "n2"
        g.__qualname__ = "Q.n2"
        out += [g.__name__, g.__qualname__, repr(g).startswith("<async_generator object Q.n2 at 0x")]
        for attr, val in [("__name__", 3), ("__qualname__", None)]:
            try:
                setattr(g, attr, val)
            except TypeError as e:
                out.append(str(e))
        return out
    assert_same(f)


def test_inspect_predicates():
    import inspect

    def f(impl):
        import warnings
        g = impl.program([("item", 1)], None, A)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # 3.13: unawaited asend/aclose
            out = [inspect.isawaitable(g), inspect.isawaitable(g.__anext__()),
                   inspect.isawaitable(g.aclose())]
            gc.collect()
        if hasattr(inspect, "getasyncgenstate"):
            out.append(inspect.getasyncgenstate(g))
        return out
    assert_same(f)


@pytest.mark.skipif(PY < (3, 12), reason="inspect.getasyncgenstate() is new in 3.12")
def test_ag_state_while_awaiting():
    """While an __anext__() awaitable is suspended at an await inside the body, 3.12-3.14 report
    AGEN_RUNNING (inspect reads ag_running); 3.15 reads ag_state: AGEN_SUSPENDED."""
    import inspect

    def f(impl):
        g = impl.program([("yield", "L"), ("item", 1), ("log", "after")], None, A)
        out = [inspect.getasyncgenstate(g)]
        aw = g.__anext__()
        out.append(aw.send(None))
        out.append((inspect.getasyncgenstate(g), bool(g.ag_running)))
        try:
            aw.send(None)
        except StopIteration as e:
            out.append(("item", e.value))
        out.append(inspect.getasyncgenstate(g))
        g.aclose().close()
        return out
    middle = "AGEN_SUSPENDED" if PY >= (3, 15) else "AGEN_RUNNING"
    assert assert_same(f) == ["AGEN_CREATED", "L", (middle, True), ("item", 1), "AGEN_SUSPENDED"]


# ============================================================================================
# sys.set_asyncgen_hooks

class Hooks:
    def __init__(self, events, close_in_finalizer=True, firstiter_raises=False):
        self.events = events
        self.close_in_finalizer = close_in_finalizer
        self.firstiter_raises = firstiter_raises

    def firstiter(self, ag):
        self.events.append(("firstiter", obj_summary(ag)))
        if self.firstiter_raises:
            raise KeyError("firstiter failed")

    def finalizer(self, ag):
        self.events.append(("finalizer", obj_summary(ag)))
        if self.close_in_finalizer:
            aw = ag.aclose()
            try:
                while True:
                    self.events.append(("finalizer-aclose-yield", obj_summary(aw.send(None))))
            except StopIteration:
                self.events.append("finalizer-aclose-done")
            except BaseException as e:  # noqa: BLE001
                self.events.append(("finalizer-aclose-error",) + exc_summary(e)[1:3])


def _with_hooks(hooks, f):
    old = sys.get_asyncgen_hooks()
    sys.set_asyncgen_hooks(firstiter=hooks.firstiter, finalizer=hooks.finalizer)
    try:
        return f()
    finally:
        sys.set_asyncgen_hooks(firstiter=old.firstiter, finalizer=old.finalizer)


def _step(events, aw, tag):
    try:
        r = aw.send(None)
        events.append((tag, "yield", obj_summary(r)))
    except StopIteration as e:
        events.append((tag, "stop", obj_summary(e.value)))
    except BaseException as e:  # noqa: BLE001
        events.append((tag,) + exc_summary(e)[:3])


CLEANUP_OPS = [("try", None, 4), ("item", 1), ("item", 2), ("return", None), ("log", "cleanup"),
               ("yield", "cleanup-await"), ("log", "cleanup-done")]


def test_hooks_firstiter_once_finalizer_on_drop():
    def f(impl):
        events = []
        log = []

        def body():
            g = impl.program(CLEANUP_OPS, log, A)
            events.append("created")
            a = g.__anext__()
            events.append("anext-1")
            _step(events, a, "a")
            b = g.__anext__()
            events.append("anext-2")
            _step(events, b, "b")
            del a, b
            events.append("dropping")
            del g
            events.append("dropped")
        _with_hooks(Hooks(events), body)
        return events, log
    events, log = assert_same(f)
    assert events.count(("firstiter", "<async_generator>")) == 1
    assert ("finalizer", "<async_generator>") in events
    assert log[0] == ("sent", None) and ("caught", "GeneratorExit", "") in log


@pytest.mark.parametrize("first", ["asend", "athrow", "aclose", "anext_builtin", "aiter"])
def test_hooks_firstiter_called_by_each_entry_point(first):
    def f(impl):
        events = []

        def body():
            g = impl.program([("try", None, 2), ("item", 1), ("item", "h")], [], A)
            if first == "asend":
                aw = g.asend(None)
            elif first == "athrow":
                aw = g.athrow(KeyError)
            elif first == "aclose":
                aw = g.aclose()
            elif first == "anext_builtin":
                aw = anext(g)
            else:
                aw = aiter(g)
                events.append(("aiter-only", aw is g))
                return
            events.append("awaitable-made")
            _step(events, aw, "aw")
            del aw
            _step(events, g.__anext__(), "next")
            del g
        _with_hooks(Hooks(events), body)
        return events
    assert_same(f)


def test_hooks_finalizer_not_called_when_exhausted_or_closed():
    def f(impl):
        events = []

        def body():
            g = impl.program([("item", 1)], [], A)
            for tag in ("a", "b"):
                _step(events, g.__anext__(), tag)
            del g
            events.append("dropped-exhausted")
            g = impl.program([("item", 1), ("item", 2)], [], A)
            _step(events, g.__anext__(), "c")
            _step(events, g.aclose(), "close")
            del g
            events.append("dropped-closed")
            g = impl.program([("item", 1), ("item", 2)], [], A)
            del g
            events.append("dropped-never-iterated")
        _with_hooks(Hooks(events), body)
        return events
    events = assert_same(f)
    assert not any(e[0] == "finalizer" for e in events if isinstance(e, tuple))


def test_hooks_finalizer_not_called_once_aclose_started():
    """aclose() started and left suspended (its cleanup awaits), then everything dropped under
    a finalizer hook: CPython does not call the finalizer (the generator counts as closed) but
    closes it directly; the native generator must do the same."""
    def f(impl):
        events = []
        log = []

        def body():
            g = impl.program(CLEANUP_OPS, log, A)
            _step(events, g.__anext__(), "a")
            c = g.aclose()
            _step(events, c, "aclose")   # GeneratorExit caught: suspended in the cleanup's await
            events.append(("ag_running", g.ag_running))
            del c
            events.append("dropping")
            del g
            gc.collect()
            events.append("dropped")
        _with_hooks(Hooks(events), body)
        return events, log
    events, log = assert_same(f)
    assert any(e[:2] == ("aclose", "yield") for e in events if isinstance(e, tuple)), events
    assert not any(e[0] == "finalizer" for e in events if isinstance(e, tuple)), events
    assert ("caught", "GeneratorExit", "") in log


def test_hooks_finalizer_recorded_at_first_iteration():
    """The finalizer in effect at the first iteration is used, even if the hooks change."""
    def f(impl):
        events = []
        log = []
        h1, h2 = Hooks(events, close_in_finalizer=False), Hooks([])
        old = sys.get_asyncgen_hooks()
        try:
            sys.set_asyncgen_hooks(firstiter=h1.firstiter, finalizer=h1.finalizer)
            g = impl.program(CLEANUP_OPS, log, A)
            _step(events, g.__anext__(), "a")
            sys.set_asyncgen_hooks(firstiter=h2.firstiter, finalizer=h2.finalizer)
            _step(events, g.__anext__(), "b")
            del g
            events.append(("h2-events", h2.events))
        finally:
            sys.set_asyncgen_hooks(firstiter=old.firstiter, finalizer=old.finalizer)
        gc.collect()
        return events, log
    events, log = assert_same(f)
    assert ("finalizer", "<async_generator>") in events
    assert ("caught", "GeneratorExit", "") not in log   # the finalizer did not close it


def test_hooks_finalizer_that_keeps_it_alive():
    """A finalizer that stores the generator resurrects it; closing it later works."""
    def f(impl):
        events = []
        log = []
        kept = []
        h = Hooks(events, close_in_finalizer=False)
        orig = h.finalizer

        def finalizer(ag):
            orig(ag)
            kept.append(ag)
        h.finalizer = finalizer

        def body():
            g = impl.program(CLEANUP_OPS, log, A)
            _step(events, g.__anext__(), "a")
            del g
        _with_hooks(h, body)
        events.append(("kept", len(kept)))
        g = kept.pop()
        c = g.aclose()
        _step(events, c, "close-1")
        _step(events, c, "close-2")
        del c, g
        gc.collect()
        return events, log
    assert_same(f)


def test_hooks_firstiter_raises():
    def f(impl):
        events = []

        def body():
            g = impl.program([("item", 1), ("item", 2)], [], A)
            for tag in ("a", "b"):
                try:
                    aw = g.__anext__()
                except KeyError as e:
                    events.append((tag, "anext() raised", str(e)))
                    continue
                _step(events, aw, tag)
            del g
        _with_hooks(Hooks(events, firstiter_raises=True), body)
        return events
    assert_same(f)


def test_hooks_finalizer_raises_is_unraisable():
    def f(impl):
        events = []
        seen = []

        def finalizer(ag):
            raise OSError("finalizer failed")

        def body():
            g = impl.program(CLEANUP_OPS, [], A)
            _step(events, g.__anext__(), "a")
            del g
        h = Hooks(events)
        h.finalizer = finalizer
        old_hook = sys.unraisablehook
        sys.unraisablehook = lambda u: seen.append((u.exc_type.__name__, str(u.exc_value)))
        try:
            _with_hooks(h, body)
            gc.collect()
        finally:
            sys.unraisablehook = old_hook
        return events, seen
    assert_same(f)


# ============================================================================================
# under event loops: asyncio, uvloop, trio

LOOPS = ["asyncio", "uvloop", "trio"]


def _loop_mod(name):
    if name == "trio":
        return pytest.importorskip("trio")
    if name == "uvloop":
        return pytest.importorskip("uvloop")
    return asyncio


def sleep_fn(name):
    return _loop_mod("trio").sleep if name == "trio" else asyncio.sleep


def run_in(name, afn):
    """Run afn() to completion like asyncio.run / trio.run (asyncgen hooks, shutdown)."""
    mod = _loop_mod(name)
    if name == "trio":
        return mod.run(afn)
    loop = mod.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        res = loop.run_until_complete(afn())
        loop.run_until_complete(loop.shutdown_asyncgens())
        return res
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def _prog(impl, ops, log):
    return impl.program(ops, log, A)


def _under_loops(f):
    """f(impl, loopname) -> comparable; compared between CPython and native for every loop."""
    out = {}
    for name in LOOPS:
        out[name] = assert_same(lambda impl: f(impl, name))
    return out


def test_async_for_under_loops():
    def f(impl, name):
        sleep = sleep_fn(name)
        log = []

        async def main():
            got = []
            async for x in _prog(impl, [("item", 1), ("await_new", sleep, 0), ("item", 2),
                                        ("await_new", sleep, 0.001), ("item", (3, 4))], log):
                got.append(x)
            return got
        return run_in(name, main), log
    res = _under_loops(f)
    assert res["asyncio"][0] == [1, 2, (3, 4)]


def test_exception_propagates_under_loops():
    def f(impl, name):
        sleep = sleep_fn(name)
        log = []

        async def main():
            got = []
            try:
                async for x in _prog(impl, [("item", 1), ("await_new", sleep, 0),
                                            ("raise", KeyError, "boom")], log):
                    got.append(x)
            except KeyError as e:
                got.append(("KeyError", str(e)))
            return got
        return run_in(name, main), log
    _under_loops(f)


def test_break_then_aclose_with_awaiting_cleanup_under_loops():
    def f(impl, name):
        sleep = sleep_fn(name)
        log = []

        async def main():
            g = _prog(impl, [("try", None, 4), ("item", 1), ("item", 2), ("return", None),
                             ("await_new", sleep, 0), ("log", "cleanup-done")], log)
            async for x in g:
                log.append(("got", x))
                break
            await g.aclose()
            log.append("aclosed")
            return await anext(g, "exhausted")
        return run_in(name, main), log
    res = _under_loops(f)
    assert res["trio"][1] == [("got", 1), ("caught", "GeneratorExit", ""), ("result", None),
                              "cleanup-done", "aclosed"]


def test_asend_athrow_under_loops():
    def f(impl, name):
        sleep = sleep_fn(name)
        log = []

        async def main():
            g = _prog(impl, [("try", KeyError, 4), ("item", 1), ("await_new", sleep, 0),
                             ("item", 2), ("log", "handler"), ("await_new", sleep, 0),
                             ("item", "from-handler"), ("item", "last")], log)
            out = [await g.asend(None), await g.asend("v")]
            out.append(await g.athrow(KeyError("k")))
            try:
                await g.athrow(ValueError("v"))
            except ValueError as e:
                out.append(("ValueError", str(e)))
            out.append(await anext(g, "end"))
            return out
        return run_in(name, main), log
    _under_loops(f)


def test_shutdown_acloses_suspended_generator():
    """asyncio.run()-style shutdown_asyncgens / trio's end-of-run finalization call aclose()
    on a generator left suspended: the native program sees GeneratorExit and may await."""
    def f(impl, name):
        sleep = sleep_fn(name)
        log = []
        keep = []

        async def main():
            g = _prog(impl, [("try", None, 3), ("item", 1), ("item", 2), ("log", "cleanup"),
                             ("await_new", sleep, 0), ("log", "cleanup-done")], log)
            keep.append(g)          # stays referenced: only the loop shutdown can close it
            log.append(("got", await anext(g)))
            return "main-done"
        res = run_in(name, main)
        return res, log
    res = _under_loops(f)
    for name in LOOPS:
        assert res[name][1][:3] == [("got", 1), ("caught", "GeneratorExit", ""), "cleanup"], name


def test_dropped_generator_finalized_by_loop():
    """Dropping a suspended generator inside the loop: the loop's finalizer hook schedules
    aclose(); the native program sees GeneratorExit."""
    def f(impl, name):
        sleep = sleep_fn(name)
        log = []

        async def main():
            g = _prog(impl, [("try", None, 3), ("item", 1), ("item", 2), ("log", "cleanup"),
                             ("await_new", sleep, 0), ("log", "cleanup-done")], log)
            log.append(("got", await anext(g)))
            del g
            gc.collect()
            for _ in range(5):
                await sleep(0)
            log.append("main-end")
            return "main-done"
        return run_in(name, main), log
    res = _under_loops(f)
    for name in LOOPS:
        assert ("caught", "GeneratorExit", "") in res[name][1], name


def test_ignored_generatorexit_at_shutdown():
    def f(impl, name):
        log = []
        keep = []
        errors = []

        async def main():
            if name != "trio":
                asyncio.get_running_loop().set_exception_handler(
                    lambda loop, ctx: errors.append(exc_summary(ctx["exception"])[:3]
                                                    if "exception" in ctx else ctx["message"]))
            g = _prog(impl, [("try", None, 2), ("item", 1), ("item", "ignored")], log)
            keep.append(g)
            log.append(("got", await anext(g)))
        try:
            run_in(name, main)
        except BaseException as e:  # noqa: BLE001 -- trio may raise it
            errors.append(("raised",) + exc_summary(e)[:3])
        return log, errors
    _under_loops(f)


def test_anyio_async_for():
    anyio = pytest.importorskip("anyio")

    def f(impl):
        log = []

        async def main():
            got = []
            async for x in _prog(impl, [("item", 1), ("await_new", anyio.sleep, 0), ("item", 2)],
                                 log):
                got.append(x)
            return got
        return anyio.run(main), log
    assert assert_same(f)[0] == [1, 2]


def test_generator_running_task_cancelled():
    """asyncio task cancellation while the generator awaits: CancelledError is thrown into the
    native program through the __anext__ awaitable."""
    def f(impl):
        log = []

        async def consumer(g):
            async for x in g:
                log.append(("got", x))

        async def main():
            g = _prog(impl, [("item", 1), ("try", None, 4), ("await_new", asyncio.sleep, 10),
                             ("return", None), ("log", "cancelled-cleanup"), ("rethrow",)], log)
            t = asyncio.ensure_future(consumer(g))
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            t.cancel()
            try:
                await t
            except asyncio.CancelledError:
                log.append("task-cancelled")
            return g.ag_running
        return run_in("asyncio", main), log
    assert_same(f)


# ============================================================================================
# the native async generator as seen by CPython code

def test_asynccontextmanager_with_native_agen():
    import contextlib

    def f(impl, name):
        sleep = sleep_fn(name)
        log = []

        def make(catch):
            return impl.program([("try", catch, 4), ("await_new", sleep, 0), ("item", "resource"),
                                 ("return", None), ("log", "handled"), ("await_new", sleep, 0)],
                                log, A)

        async def main():
            out = []
            async with contextlib.asynccontextmanager(make)(ValueError) as r:
                out.append(r)
            for exc in (ValueError("in body"), KeyError("k"), StopAsyncIteration("sai")):
                try:
                    async with contextlib.asynccontextmanager(make)(ValueError):
                        raise exc
                except BaseException as e:  # noqa: BLE001
                    out.append(("escaped", type(e).__name__, str(e), e is exc))
                else:
                    out.append("suppressed")
            try:
                async with contextlib.asynccontextmanager(
                        lambda: impl.program([("item", 1), ("item", 2)], log, A))():
                    pass
            except RuntimeError as e:
                out.append(("RuntimeError", str(e)))
            return out
        return run_in(name, main), log
    _under_loops(f)


def test_async_comprehension_and_cpython_agen_delegating():
    """[x async for x in native] and a CPython async generator re-yielding its items."""
    def f(impl):
        log = []

        async def wrapper(inner):
            async for x in inner:
                got = yield ("w", x)
                log.append(("wrapper-got", got))

        async def main():
            g = impl.program([("item", 1), ("await_new", asyncio.sleep, 0), ("item", 2)], log, A)
            a = [x async for x in g]
            w = wrapper(impl.program([("item", 3), ("item", 4)], log, A))
            b = [await w.asend(None), await w.asend("s")]
            await w.aclose()
            return a, b
        return run_in("asyncio", main), log
    assert_same(f)
