"""Details where gocoro objects must look like CPython's own: the exception handled while a step
runs after a throw, cr_origin, the async generator awaitables' reprs, __class_getitem__, and the
3.12+ throw() signature DeprecationWarning (compared against native async def / generators /
async generators on the running version)."""
import asyncio
import re
import sys
import types
import warnings

import pytest

import _gocoro_test
import gocoro
from oracle import differential, prog
from oracle_gen import KIND_ASYNC_GENERATOR, KIND_GENERATOR, _oracle_make, differential_agen, \
    differential_gen
from support import describe, run_python

PY = sys.version_info[:2]


def handled_name():
    """The type name of the exception being handled right now (sys.exc_info()), or None."""
    t = sys.exc_info()[0]
    return None if t is None else t.__name__


# ---- the thrown exception is the handled one while the step runs -------------------------------

CHAIN_OPS = [("try", KeyError, 2), ("yield", 1), ("call_log", handled_name), ("raise", TypeError, "new")]


def test_thrown_is_handled_during_the_step_coroutine():
    recs = differential(prog(CHAIN_OPS), [("send", None), ("throw", KeyError, "k")])
    assert recs[1]["outcome"][1] == "TypeError"
    assert recs[1]["outcome"][4] is not None and recs[1]["outcome"][4][0] == "KeyError"  # __context__
    assert ("call", "KeyError") in recs[1]["log"]


def test_thrown_is_handled_during_the_step_generator():
    recs = differential_gen(CHAIN_OPS, [("send", None), ("throw", KeyError, "k")])
    assert recs[1]["outcome"][1] == "TypeError"
    assert ("call", "KeyError") in recs[1]["log"]


def test_thrown_is_handled_during_the_step_async_generator():
    ops = [("try", KeyError, 2), ("item", 1), ("call_log", handled_name), ("raise", TypeError, "new")]
    recs = differential_agen(ops, [("anext", "a"), ("send", "a", None), ("athrow", "b", KeyError, "k"),
                                   ("send", "b", None)])
    assert recs[3]["outcome"][1] == "TypeError"


def test_handled_exception_ends_with_the_step():
    """After the step that caught it suspends, the next step no longer sees it; the caller's
    handled exception is untouched."""
    ops = [("try", KeyError, 2), ("yield", 1), ("yield", 2), ("call_log", handled_name)]
    differential(prog(ops), [("send", None), ("throw", KeyError, "k"), ("send", None)])
    c = _gocoro_test.program([("try", KeyError, 2), ("yield", 1), ("call_log", handled_name), ("yield", 2)])
    c.send(None)
    try:
        raise ValueError("outer")
    except ValueError:
        assert c.throw(KeyError("k")) == 2
        assert sys.exc_info()[0] is ValueError


def test_rethrow_of_thrown_has_no_self_context():
    ops = [("try", KeyError, 2), ("yield", 1), ("rethrow",)]
    recs = differential(prog(ops), [("send", None), ("throw", KeyError, "k")])
    assert recs[1]["outcome"][1] == "KeyError"


# ---- cr_origin ----------------------------------------------------------------------------------

def _make(factory):
    return factory()  # the same line creates both kinds of coroutine


async def _native_body():
    return 1


def _origin_pair(depth):
    old = sys.get_coroutine_origin_tracking_depth()
    sys.set_coroutine_origin_tracking_depth(depth)
    try:
        nat, ora = _make(lambda: _gocoro_test.program([("return", 1)])), _make(_native_body)
    finally:
        sys.set_coroutine_origin_tracking_depth(old)
    try:
        return nat.cr_origin, ora.cr_origin
    finally:
        nat.close()
        ora.close()


@pytest.mark.parametrize("depth", [0, 1, 3, 1000])
def test_cr_origin_follows_tracking_depth(depth):
    nat, ora = _origin_pair(depth)
    if depth == 0:
        assert nat is None and ora is None
        return
    # CPython starts at the frame calling the coroutine function (here the lambda for the native
    # one, one frame deeper): compare from _make outwards
    assert ora[0][2] == "_make"
    assert nat[0][2] == "<lambda>" and nat[1:] == ora[:len(nat) - 1]
    assert len(nat) == min(depth, len(nat)) and isinstance(nat, tuple)
    assert all(isinstance(f, str) and isinstance(n, int) and isinstance(fn, str) for f, n, fn in nat)


def test_cr_origin_only_for_coroutines():
    sys.set_coroutine_origin_tracking_depth(5)
    try:
        g = _gocoro_test.program([("yield", 1)], kind=KIND_GENERATOR)
        ag = _gocoro_test.program([("item", 1)], kind=KIND_ASYNC_GENERATOR)
    finally:
        sys.set_coroutine_origin_tracking_depth(0)
    assert not hasattr(g, "cr_origin") and not hasattr(ag, "cr_origin")


def test_never_awaited_warning_names_the_origin_like_cpython():
    """asyncio debug mode turns origin tracking on; the 'never awaited' warning then says where
    the coroutine was created, as for an async def."""
    code = r"""
import gc, sys, warnings, _gocoro_test as t
async def native():
    return 1
def make(f):
    return f()
sys.set_coroutine_origin_tracking_depth(4)
for f in (native, lambda: t.program([("return", 1)])):
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always")
        c = make(f)
        del c
        gc.collect()
    msgs = [str(w.message) for w in ws if w.category is RuntimeWarning]
    assert len(msgs) == 1, msgs
    print(repr("Coroutine created at (most recent call last)" in msgs[0]), "make" in msgs[0], flush=True)
"""
    proc = run_python(code)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.split() == ["True", "True", "True", "True"], describe(proc)


def test_asyncio_debug_mode_sets_cr_origin():
    async def main():
        c = _gocoro_test.program([("return", 1)])
        return c.cr_origin is not None, await c
    assert asyncio.run(main(), debug=True) == (True, 1)


# ---- reprs and __class_getitem__ ----------------------------------------------------------------

def test_async_generator_awaitable_reprs_match_cpython():
    async def cp():
        yield 1
    nat, ora = _gocoro_test.program([("item", 1)], kind=KIND_ASYNC_GENERATOR), cp()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for make in (lambda g: g.asend(None), lambda g: g.__anext__(), lambda g: g.athrow(ValueError),
                     lambda g: g.aclose()):
            rn, ro = repr(make(nat)), repr(make(ora))
            assert re.sub(r"0x[0-9a-f]+", "ADDR", rn) == re.sub(r"0x[0-9a-f]+", "ADDR", ro), (rn, ro)
        assert re.fullmatch(r"<async_generator_asend object at 0x[0-9a-f]+>", repr(nat.asend(None)))


@pytest.mark.parametrize("ours,theirs", [(gocoro.Coroutine, types.CoroutineType),
                                         (gocoro.Generator, types.GeneratorType),
                                         (gocoro.AsyncGenerator, types.AsyncGeneratorType)])
def test_class_getitem_like_cpython_types(ours, theirs):
    assert hasattr(ours, "__class_getitem__") == hasattr(theirs, "__class_getitem__")
    if hasattr(theirs, "__class_getitem__"):
        alias = ours[int, int, int]
        ref = theirs[int, int, int]
        assert type(alias) is type(ref) is types.GenericAlias
        assert alias.__origin__ is ours and alias.__args__ == ref.__args__
    else:
        with pytest.raises(TypeError, match="not subscriptable"):
            ours[int]
        with pytest.raises(TypeError, match="not subscriptable"):
            theirs[int]


# ---- throw()'s (type, exc, tb) DeprecationWarning (3.12+) --------------------------------------

def _three_arg_throw_while_running(make):
    """Start the generator (it suspends in an await), then call asend(None).throw(T, T(x), None)
    on a second awaitable while the first is running; returns (outcome, warnings)."""
    ag = make([("yield", "L"), ("item", 1)])
    first = ag.__anext__()
    assert first.send(None) == "L"
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always")
        try:
            ag.asend(None).throw(ValueError, ValueError("x"), None)
            out = "no error"
        except BaseException as e:  # noqa: BLE001
            out = (type(e).__name__, str(e))
    first.close()
    return out, [(w.category.__name__, str(w.message)) for w in ws]


def test_three_arg_throw_into_running_async_generator_like_cpython():
    nat = _three_arg_throw_while_running(lambda ops: _gocoro_test.program(ops, kind=KIND_ASYNC_GENERATOR))
    ora = _three_arg_throw_while_running(lambda ops: _oracle_make(tuple(ops), None, KIND_ASYNC_GENERATOR))
    assert nat == ora
    if PY >= (3, 13):
        assert nat[0][0] == "RuntimeError" and nat[1] == []


# ---- the awaitable checks of GOCORO_AWAIT (no attribute lookups by name) -------------------------

def _awaitables():
    async def inner():
        await asyncio.sleep(0)  # yields None once
        return "inner"

    def busy():
        c = inner()
        outer = c.__await__()
        outer.send(None)        # c is now suspended in an await: "being awaited already"
        return c

    @types.coroutine
    def gen_coro():
        yield "from gen"
        return "gen"

    def plain_gen():
        yield 1

    return {"fresh": inner, "busy": busy, "types.coroutine": gen_coro, "plain generator": plain_gen}


@pytest.mark.parametrize("which", ["fresh", "busy", "types.coroutine", "plain generator"])
def test_await_checks_match_async_def(which):
    def first_step(make_awaiter):
        aw = _awaitables()[which]()
        c = make_awaiter([aw])
        try:
            return ("yield", c.send(None))
        except StopIteration as e:
            return ("return", e.value)
        except BaseException as e:  # noqa: BLE001
            return ("raise", type(e).__name__, str(e))
        finally:
            c.close()
            if hasattr(aw, "close"):
                aw.close()

    async def each(lst):
        for a in lst:
            await a
        return len(lst)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        nat = first_step(_gocoro_test.await_each)
        ora = first_step(each)
    assert nat == ora


# ---- `async for` fast paths: same observable results as CPython ---------------------------------

async def _cp_count(n):
    for i in range(n):
        yield i


def test_async_for_items_like_cpython():
    async def collect(ag):
        return [x async for x in ag]
    assert asyncio.run(collect(_gocoro_test.count_agen(50))) == asyncio.run(collect(_cp_count(50)))


@pytest.mark.parametrize("item", [7, None, (1, 2), ValueError("v")])
def test_item_stopiteration_like_cpython(item):
    """Driving an asend awaitable by hand: the StopIteration carrying the item has the same
    value/args/context as CPython's, inside and outside an except block."""
    def shape(make):
        out = []
        for handling in (False, True):
            ag = make()
            aw = ag.__anext__()
            try:
                if handling:
                    try:
                        raise KeyError("handled")
                    except KeyError:
                        aw.send(None)
                else:
                    aw.send(None)
            except StopIteration as e:
                ctx = type(e.__context__).__name__ if e.__context__ is not None else None
                out.append((type(e.value).__name__, repr(e.value) if not isinstance(e.value, BaseException)
                            else str(e.value), len(e.args), ctx))
        return out

    async def cp():
        yield item

    nat = shape(lambda: _gocoro_test.program([("item", item)], kind=KIND_ASYNC_GENERATOR))
    assert nat == shape(cp)


def test_unawaited_anext_awaitables_each_warn_after_recycling():
    """The awaitables are recycled: every one dropped unawaited still gets its 3.13 'never
    awaited' warning, and awaited ones never do."""
    ag = _gocoro_test.count_agen(1000)
    for _ in range(3):
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter("always")
            for _ in range(40):
                ag.__anext__()          # dropped at once
            for _ in range(5):
                with pytest.raises(StopIteration):
                    ag.__anext__().send(None)
        never = [w for w in ws if "was never awaited" in str(w.message)]
        assert len(never) == (40 if PY >= (3, 13) else 0), [str(w.message) for w in ws]


def _yields_once(kind, native):
    """An object of `kind` (coroutine or generator) that yields 1 once: gocoro's, or CPython's."""
    if native:
        return _gocoro_test.program([("yield", 1)], kind=kind)
    if kind == KIND_GENERATOR:
        return _oracle_make((("yield", 1),), None, KIND_GENERATOR)
    from oracle import make_program
    return make_program([("yield", 1)])


def _outer_taking(inner, how):
    """A Python object that takes `inner` with `await`, `yield from`, or `await` inside an async
    generator, resumed up to inner's first yield.  Returns (outer, what to throw into)."""
    if how == "await":
        async def outer_fn():
            return await inner
    elif how == "yield from":
        def outer_fn():
            return (yield from inner)
    else:  # async generator awaiting inner
        async def outer_fn():
            yield await inner
    outer = outer_fn()
    first = outer.asend(None) if how == "async generator" else outer
    assert first.send(None) == 1
    return outer, first


def _outcome_and_deprecations(call):
    """Run call(); returns (outcome, how many DeprecationWarnings it issued)."""
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always")
        try:
            call()
            out = "no error"
        except BaseException as e:  # noqa: BLE001
            out = (type(e).__name__, str(e))
    return out, sum(issubclass(w.category, DeprecationWarning) for w in ws)


def _delegated_three_arg_throw(inner, how):
    """Python code takes `inner` (suspended in its first yield) in the way `how` names; the outer
    object gets throw(ValueError, ValueError('x'), None)."""
    _, first = _outer_taking(inner, how)
    return _outcome_and_deprecations(lambda: first.throw(ValueError, ValueError("x"), None))


@pytest.mark.parametrize("how", ["await", "yield from", "async generator"])
def test_delegated_three_arg_throw_warns_once(how):
    kind = KIND_GENERATOR if how == "yield from" else 0
    nat_out = _delegated_three_arg_throw(_yields_once(kind, native=True), how)
    ora_out = _delegated_three_arg_throw(_yields_once(kind, native=False), how)
    assert nat_out[0] == ora_out[0]
    if PY >= (3, 12):
        assert ora_out[1] == 1
    assert nat_out == ora_out


def _direct_three_arg_throw(inner, how, kind):
    """`inner` is first taken by an await / yield from (a suspended outer object keeps awaiting
    it), then code calls its throw(type, value, tb) itself, in the way `how` names."""
    outer, _ = _outer_taking(inner, "yield from" if kind == KIND_GENERATOR else "await")
    args = (ValueError, ValueError("x"), None)

    def in_generator():
        try:
            inner.throw(*args)
        finally:
            yield

    def call():
        if how == "call":
            inner.throw(ValueError, ValueError("x"), None)
        elif how == "bound method":
            meth = inner.throw
            meth(ValueError, ValueError("x"), None)
        elif how == "getattr(*args)":
            getattr(inner, "throw")(*args)
        elif how == "inside a generator":
            next(in_generator())

    out = _outcome_and_deprecations(call)
    outer.close()
    return out


@pytest.mark.parametrize("how", ["call", "bound method", "getattr(*args)", "inside a generator"])
@pytest.mark.parametrize("kind", [0, KIND_GENERATOR], ids=["coroutine", "generator"])
def test_direct_three_arg_throw_on_an_awaited_object_warns(how, kind):
    """An object some await took still warns when code calls its throw(type, value, tb) itself
    (only the outer object's forwarding is silent), like CPython's."""
    nat_out = _direct_three_arg_throw(_yields_once(kind, native=True), how, kind)
    ora_out = _direct_three_arg_throw(_yields_once(kind, native=False), how, kind)
    assert nat_out == ora_out
    assert nat_out[1] == (1 if PY >= (3, 12) else 0)


def test_forwarded_three_arg_throw_through_await_wrapper_warns_twice():
    """`yield from coro.__await__()`: CPython forwards to the coroutine_wrapper's throw(), which
    warns again (it is not a native coroutine); so does gocoro's CoroutineWrapper."""

    def run(inner):
        def outer_fn():
            return (yield from inner.__await__())
        outer = outer_fn()
        assert outer.send(None) == 1
        out, count = _outcome_and_deprecations(lambda: outer.throw(ValueError, ValueError("x"), None))
        assert out == ("ValueError", "x")
        return count

    nat = run(_yields_once(0, native=True))
    assert nat == run(_yields_once(0, native=False))
    assert nat == (2 if PY >= (3, 12) else 0)
