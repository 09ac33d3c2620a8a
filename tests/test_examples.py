"""The example extensions: demo_native (C), rust_native (Rust through FFI, rust/examples/rust_native)
and cy_native (Cython, examples/cy_native.pyx).

All three make their objects through gocoro.h, so in one process they share the canonical types
(gocoro.Coroutine, gocoro.AsyncGenerator, gocoro.PanicException).  Each module's `countdown(n,
sleep)` has the same semantics: await sleep(0) n times, return n; rust_native and cy_native take an
optional on_throw(exc) callback that their step calls with whatever is thrown in (cancellation,
throw(), close()) before re-raising it, which shows that the cancellation reaches the native step.

A module that was not built (no cargo, no Cython) is skipped; one that was built but fails to
import fails the tests.
"""
import asyncio
import gc
import importlib
import linecache
import os
import sys
import warnings
import weakref

import pytest

import gocoro

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# module name -> (source file the step frames name, countdown takes on_throw)
EXAMPLES = {
    "demo_native": ("demo_native.c", False),
    "rust_native": ("lib.rs", True),
    "cy_native": ("cy_native.pyx", True),
}


def load(name):
    """Import an example extension; skip only when it was not built at all."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:
            raise
        pytest.skip(f"{name} was not built (see examples/build_examples.sh)")


@pytest.fixture(params=list(EXAMPLES))
def mod(request):
    return load(request.param)


@pytest.fixture
def rust():
    return load("rust_native")


@pytest.fixture
def cy():
    return load("cy_native")


def built():
    mods = []
    for name in EXAMPLES:
        try:
            mods.append(importlib.import_module(name))
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
    return mods


class CountingSleep:
    """sleep(d) that records its calls and delegates to the framework's sleep."""

    def __init__(self, sleep):
        self.sleep = sleep
        self.calls = 0

    def __call__(self, d):
        assert d == 0
        self.calls += 1
        return self.sleep(d)


def countdown(mod, n, sleep, seen=None):
    if seen is None:
        return mod.countdown(n, sleep)
    if not EXAMPLES[mod.__name__][1]:
        return mod.countdown(n, sleep)
    return mod.countdown(n, sleep, seen.append)


def discard(coro):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        coro.close()


# --------------------------------------------------------------------------------------------
# canonical types

def test_canonical_types_shared(mod):
    c = countdown(mod, 1, asyncio.sleep)
    try:
        assert type(c) is gocoro.Coroutine
        assert asyncio.iscoroutine(c)
        assert c.__name__ == "countdown"
        assert c.__qualname__ == mod.__name__ + ".countdown"
    finally:
        discard(c)


def test_one_type_across_languages():
    mods = built()
    if len(mods) < 2:
        pytest.skip("needs at least two example extensions built")
    coros = [countdown(m, 0, asyncio.sleep) for m in mods]
    try:
        assert {type(c) for c in coros} == {gocoro.Coroutine}
    finally:
        for c in coros:
            discard(c)


def test_mixed_languages_under_asyncio_and_trio():
    mods = built()
    if not mods:
        pytest.skip("no example extension built")

    async def amain():
        return await asyncio.gather(*(countdown(m, i + 2, asyncio.sleep) for i, m in enumerate(mods)))

    assert asyncio.run(amain()) == [i + 2 for i in range(len(mods))]

    trio = pytest.importorskip("trio")
    results = {}

    async def tmain():
        async def one(i, m):
            results[m.__name__] = await countdown(m, i + 3, trio.sleep)

        async with trio.open_nursery() as nursery:
            for i, m in enumerate(mods):
                nursery.start_soon(one, i, m)

    trio.run(tmain)
    assert results == {m.__name__: i + 3 for i, m in enumerate(mods)}


# --------------------------------------------------------------------------------------------
# countdown: results, asyncio, trio, cancellation

def test_countdown_asyncio(mod):
    sleep = CountingSleep(asyncio.sleep)
    assert asyncio.run(countdown(mod, 5, sleep)) == 5
    assert sleep.calls == 5
    assert asyncio.run(countdown(mod, 0, sleep)) == 0
    assert sleep.calls == 5


def test_countdown_asyncio_gather(mod):
    async def main():
        return await asyncio.gather(*(countdown(mod, i, asyncio.sleep) for i in range(6)))

    assert asyncio.run(main()) == list(range(6))


def test_countdown_trio(mod):
    trio = pytest.importorskip("trio")
    sleep = CountingSleep(trio.sleep)

    async def main():
        return await countdown(mod, 4, sleep)

    assert trio.run(main) == 4
    assert sleep.calls == 4


def test_countdown_driven_by_hand(mod):
    class Step:
        def __await__(self):
            got = yield "tick"
            return got

    c = countdown(mod, 2, lambda d: Step())
    assert c.send(None) == "tick"
    assert c.send("a") == "tick"
    with pytest.raises(StopIteration) as ei:
        c.send("b")
    assert ei.value.value == 2


def test_cancel_asyncio_reaches_step(mod):
    seen = []
    sleep = CountingSleep(asyncio.sleep)

    async def main():
        task = asyncio.ensure_future(countdown(mod, 10**9, sleep, seen))
        for _ in range(20):
            await asyncio.sleep(0)
        assert sleep.calls > 5
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
        calls = sleep.calls
        for _ in range(5):
            await asyncio.sleep(0)
        assert sleep.calls == calls  # the step stopped awaiting

    asyncio.run(main())
    if EXAMPLES[mod.__name__][1]:
        assert len(seen) == 1 and isinstance(seen[0], asyncio.CancelledError)


def test_cancel_trio_reaches_step(mod):
    trio = pytest.importorskip("trio")
    seen = []
    sleep = CountingSleep(trio.sleep)

    async def main():
        with trio.move_on_after(0.02) as scope:
            await countdown(mod, 10**9, sleep, seen)
        return scope.cancelled_caught

    assert trio.run(main) is True
    assert sleep.calls > 0
    if EXAMPLES[mod.__name__][1]:
        assert len(seen) == 1 and isinstance(seen[0], trio.Cancelled)


def test_throw_and_close_reach_step(mod):
    if not EXAMPLES[mod.__name__][1]:
        pytest.skip("demo_native.countdown has no on_throw hook")
    seen = []
    c = countdown(mod, 3, asyncio.sleep, seen)
    c.send(None)
    err = ValueError("thrown in")
    with pytest.raises(ValueError, match="thrown in"):
        c.throw(err)
    assert seen == [err]

    seen.clear()
    c = countdown(mod, 3, asyncio.sleep, seen)
    c.send(None)
    c.close()
    assert len(seen) == 1 and isinstance(seen[0], GeneratorExit)


def test_errors(mod):
    with pytest.raises(ValueError):
        mod.countdown(-1, asyncio.sleep)

    def bad_sleep(d):
        raise KeyError("from sleep")

    with pytest.raises(KeyError) as ei:
        asyncio.run(countdown(mod, 2, bad_sleep))
    # the library adds a traceback frame naming the native function and its source file
    frames = [(t.tb_frame.f_code.co_name, t.tb_frame.f_code.co_filename)
              for t in _walk(ei.value.__traceback__)]
    src = EXAMPLES[mod.__name__][0]
    assert any(name == "countdown" and fn.endswith(src) for name, fn in frames), frames


def _walk(tb):
    while tb is not None:
        yield tb
        tb = tb.tb_next


def test_references_released(mod):
    sleep = CountingSleep(asyncio.sleep)
    seen = []
    before = sys.getrefcount(sleep)
    for _ in range(10):
        asyncio.run(countdown(mod, 3, sleep, seen))
        discard(countdown(mod, 3, sleep, seen))  # closed before it started
    assert sys.getrefcount(sleep) == before


def test_gc_collects_cycle_through_state(mod):
    class Holder:
        def __call__(self, d):
            return asyncio.sleep(d)

    holder = Holder()
    c = countdown(mod, 2, holder)
    holder.coro = c  # coroutine -> state -> holder -> coroutine
    ref = weakref.ref(c)
    del c, holder
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "never awaited"
        gc.collect()
    assert ref() is None


# --------------------------------------------------------------------------------------------
# rust_native: async generator, panics

def test_rust_arange_asyncio(rust):
    sleep = CountingSleep(asyncio.sleep)
    agen = rust.arange(5, sleep)
    assert type(agen) is gocoro.AsyncGenerator

    async def main():
        return [i async for i in agen]

    assert asyncio.run(main()) == [0, 1, 2, 3, 4]
    assert sleep.calls == 5

    async def empty():
        return [i async for i in rust.arange(0, asyncio.sleep)]

    assert asyncio.run(empty()) == []


def test_rust_arange_trio(rust):
    trio = pytest.importorskip("trio")

    async def main():
        return [i async for i in rust.arange(4, trio.sleep)]

    assert trio.run(main) == [0, 1, 2, 3]


def test_rust_arange_aclose_and_cancel(rust):
    async def main():
        agen = rust.arange(10, asyncio.sleep)
        assert await agen.__anext__() == 0
        assert await agen.__anext__() == 1
        await agen.aclose()
        with pytest.raises(StopAsyncIteration):
            await agen.__anext__()

        got = []

        async def consume():
            async for i in rust.arange(10**9, asyncio.sleep):
                got.append(i)

        task = asyncio.ensure_future(consume())
        for _ in range(10):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert got == list(range(len(got))) and got

    asyncio.run(main())


def test_rust_panic_becomes_panic_exception(rust):
    c = rust.rust_panic("boom from Rust")
    assert type(c) is gocoro.Coroutine
    with pytest.raises(gocoro.PanicException, match="boom from Rust"):
        c.send(None)
    with pytest.raises(gocoro.PanicException, match="under asyncio"):
        asyncio.run(rust.rust_panic("under asyncio"))
    discard(rust.rust_panic("never started"))  # the String in the state is dropped by finalize


# --------------------------------------------------------------------------------------------
# cy_native: bare yields

def test_cython_ticker(cy):
    t = cy.ticker(3)
    assert type(t) is gocoro.Coroutine
    assert [t.send(None) for _ in range(3)] == [None, None, None]
    with pytest.raises(StopIteration) as ei:
        t.send(None)
    assert ei.value.value == 3
    assert asyncio.run(cy.ticker(4)) == 4
    with pytest.raises(ValueError):
        cy.ticker(-1)


def test_cython_ticker_cancel(cy):
    async def main():
        task = asyncio.ensure_future(cy.ticker(10**9))
        for _ in range(5):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_cython_spec_lines_point_at_steps(cy):
    # cy_native.pyx hard-codes the specs' firstlineno: keep them on the step functions
    path = os.path.join(ROOT, "examples", "cy_native.pyx")
    for fn, step in ((cy.ticker, "ticker_step"), (cy.countdown, "countdown_step")):
        c = fn(0) if fn is cy.ticker else fn(0, asyncio.sleep)
        try:
            code = c.cr_code
            assert code.co_filename == "examples/cy_native.pyx"
            assert f"cdef int {step}(" in linecache.getline(path, code.co_firstlineno)
        finally:
            discard(c)
