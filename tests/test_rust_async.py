"""Rust futures and streams as gocoro awaitables: the `gocoro` crate through the example module
rust_async (rust/examples/rust_async), under asyncio, uvloop, trio and anyio (both backends).

The module is skipped when it was not built (no usable cargo); built but broken fails.
"""
import asyncio
import contextvars
import gc
import importlib
import sys
import threading
import time

import pytest

import gocoro
from support import describe, run_python

PY = sys.version_info[:2]


@pytest.fixture(scope="module")
def r():
    try:
        return importlib.import_module("rust_async")
    except ModuleNotFoundError as e:
        if e.name != "rust_async":
            raise
        pytest.skip("rust_async was not built (see examples/build_examples.sh)")


BACKENDS = ["asyncio", "uvloop", "trio", "anyio-asyncio", "anyio-trio"]


@pytest.fixture(autouse=True)
def no_waker_leaks():
    """Every gocoro waker the crate created is released once its futures are gone."""
    yield
    deadline = time.monotonic() + 10
    while True:
        gc.collect()
        st = gocoro._waker_stats()
        if (st["wakers"], st["hubs"]) == (0, 0) or time.monotonic() > deadline:
            break
        time.sleep(0.005)
    assert (st["wakers"], st["hubs"]) == (0, 0), st


def run(backend, afn, *args):
    """Run afn(sleep, *args) under `backend`; sleep is that backend's sleep function."""
    if backend == "trio":
        trio = pytest.importorskip("trio")
        return trio.run(afn, trio.sleep, *args)
    if backend.startswith("anyio-"):
        anyio = pytest.importorskip("anyio")
        kind = backend.split("-", 1)[1]
        if kind == "trio":
            pytest.importorskip("trio")
        return anyio.run(afn, anyio.sleep, *args, backend=kind)
    if backend == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        res = loop.run_until_complete(afn(asyncio.sleep, *args))
        loop.run_until_complete(loop.shutdown_asyncgens())
        return res
    finally:
        asyncio.set_event_loop(None)
        loop.close()


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def cancelled_type(backend):
    if backend in ("trio", "anyio-trio"):
        import trio
        return trio.Cancelled
    return asyncio.CancelledError


# ---- basics ------------------------------------------------------------------------------------

def test_objects_are_canonical_gocoro_types(r):
    c = r.add(1, 2)
    assert type(c) is gocoro.Coroutine
    assert c.__name__ == "rust_future" and c.__qualname__ == "gocoro.rust_future"
    c.close()
    a = r.arange(1, asyncio.sleep)
    assert type(a) is gocoro.AsyncGenerator
    assert a.__name__ == "rust_stream"


def test_builder_names_and_writable_names(r):
    c = r.named("fetch", "Client.fetch")
    assert (c.__name__, c.__qualname__) == ("fetch", "Client.fetch")
    c.__name__ = "other"
    assert c.__name__ == "other"
    assert "Client.fetch" in repr(c)
    c.close()
    c = r.named("only_name")
    assert (c.__name__, c.__qualname__) == ("only_name", "only_name")
    c.close()


def test_ready_future_without_event_loop(r):
    # A future that never needs a waker runs even when driven by hand.
    c = r.add(40, 2)
    with pytest.raises(StopIteration) as ei:
        c.send(None)
    assert ei.value.value == 42


def test_ready_future(r, backend):
    async def main(sleep):
        return [await r.add(i, 1) for i in range(3)]
    assert run(backend, main) == [1, 2, 3]


def test_async_fn_awaits_the_given_sleep(r, backend):
    async def main(sleep):
        return await r.countdown(5, sleep)
    assert run(backend, main) == 5


def test_stream(r, backend):
    async def main(sleep):
        return [i async for i in r.arange(5, sleep)]
    assert run(backend, main) == [0, 1, 2, 3, 4]


def test_woken_from_std_thread(r, backend):
    async def main(sleep):
        return await r.from_thread("x", 0.01)
    assert run(backend, main) == "x"


def test_tokio_feature(r, backend):
    async def main(sleep):
        t0 = time.monotonic()
        v = await r.tokio_sleep(0.02, "tok")
        return v, time.monotonic() - t0
    v, dt = run(backend, main)
    assert v == "tok" and dt >= 0.015


@pytest.mark.parametrize("be", ["asyncio", "uvloop", "trio"])
def test_10k_concurrent_futures_woken_from_rust_threads(r, be):
    n = 10_000

    async def main(sleep):
        if be == "trio":
            import trio
            results = []

            async def one(i):
                results.append(await r.timer_sleep(0.001 * (i % 20), i))
            async with trio.open_nursery() as nursery:
                for i in range(n):
                    nursery.start_soon(one, i)
            return sorted(results)
        return await asyncio.gather(*[r.timer_sleep(0.001 * (i % 20), i) for i in range(n)])
    assert list(run(be, main)) == list(range(n))


def test_self_wake_yields_to_the_loop(r, backend):
    """A future that wakes itself while pending goes around the event loop each time: it
    neither spins nor starves the other tasks (under trio as well as asyncio)."""
    async def main(sleep):
        ticks = 0
        done = False

        async def ticker():
            nonlocal ticks
            while not done:
                ticks += 1
                await sleep(0)

        if backend in ("trio", "anyio-trio", "anyio-asyncio"):
            import anyio
            async with anyio.create_task_group() as tg:
                tg.start_soon(ticker)
                v = await r.self_wake(50)
                done = True
        else:
            t = asyncio.ensure_future(ticker())
            v = await r.self_wake(50)
            done = True
            await t
        return v, ticks
    v, ticks = run(backend, main)
    assert v == 50 and ticks >= 10


# ---- cancellation, timeouts, close -----------------------------------------------------------

def test_cancel_while_in_into_future_reaches_rust(r, backend):
    seen = []

    async def main(sleep):
        import anyio
        with anyio.move_on_after(0.02):
            await r.guarded(sleep(10), seen.append)
        return "moved on"
    if backend in ("asyncio", "uvloop"):
        async def main(sleep):  # noqa: F811
            t = asyncio.ensure_future(r.guarded(sleep(10), seen.append))
            await asyncio.sleep(0.01)
            t.cancel()
            with pytest.raises(asyncio.CancelledError):
                await t
            return "moved on"
    elif backend == "trio":
        async def main(sleep):  # noqa: F811
            import trio
            with trio.move_on_after(0.02):
                await r.guarded(sleep(10), seen.append)
            return "moved on"
    assert run(backend, main) == "moved on"
    assert len(seen) == 1 and isinstance(seen[0], cancelled_type(backend))


def test_cancel_while_waiting_on_waker_drops_future(r, backend):
    async def main(sleep):
        import anyio
        before = r.drop_count()
        with anyio.move_on_after(0.02):
            await r.pending_forever()
        return r.drop_count() - before
    if backend == "trio":
        async def main(sleep):  # noqa: F811
            import trio
            before = r.drop_count()
            with trio.move_on_after(0.02):
                await r.pending_forever()
            return r.drop_count() - before
    assert run(backend, main) == 1


@pytest.mark.skipif(PY < (3, 11), reason="asyncio.timeout is 3.11+")
@pytest.mark.parametrize("be", ["asyncio", "uvloop"])
def test_asyncio_timeout(r, be):
    seen = []

    async def main(sleep):
        before = r.drop_count()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.02):
                await r.pending_forever()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.02):
                await r.guarded(asyncio.sleep(10), seen.append)
        return r.drop_count() - before
    assert run(be, main) == 1
    assert len(seen) == 1 and isinstance(seen[0], asyncio.CancelledError)


@pytest.mark.parametrize("be", ["asyncio", "uvloop"])
def test_asyncio_wait_for(r, be):
    async def main(sleep):
        before = r.drop_count()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(r.pending_forever(), 0.02)
        assert await asyncio.wait_for(r.timer_sleep(0.001, "ok"), 5) == "ok"
        return r.drop_count() - before
    assert run(be, main) == 1


def test_close_while_in_into_future_gives_generator_exit_to_rust(r):
    seen = []

    class Yielder:
        def __await__(self):
            yield "suspend"
            return 1

    c = r.guarded(Yielder(), seen.append)
    assert c.send(None) == "suspend"
    c.close()
    assert len(seen) == 1 and isinstance(seen[0], GeneratorExit)


def test_close_and_throw_drop_the_future(r):
    before = r.drop_count()
    r.pending_forever().close()  # never started
    c = r.pending_forever()
    with pytest.raises(ValueError):
        c.throw(ValueError("in"))
    assert r.drop_count() - before == 2


def test_gc_of_suspended_future_drops_it(r, backend):
    async def main(sleep):
        before = r.drop_count()
        c = r.pending_forever()
        it = c.__await__()
        it.send(None)  # suspended on its waker
        del c, it
        gc.collect()
        mid = r.drop_count() - before
        # through a reference cycle that does not run through the future
        c = r.pending_forever()
        it = c.__await__()
        it.send(None)
        holder = [c]
        holder.append(holder)
        del c, it, holder
        gc.collect()
        return mid, r.drop_count() - before
    assert run(backend, main) == (1, 2)


def test_abandoned_task_drops_its_future(r):
    before = r.drop_count()
    loop = asyncio.new_event_loop()
    try:
        t = loop.create_task(r.pending_forever())
        loop.run_until_complete(asyncio.sleep(0.01))
        assert not t.done()
    finally:
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
    del t
    gc.collect()
    assert r.drop_count() - before == 1


# ---- panics ------------------------------------------------------------------------------------

def test_panic_becomes_gocoro_panic_exception(r, backend):
    async def main(sleep):
        out = []
        for s in (None, sleep):
            try:
                await r.rust_panic("boom from Rust", s)
            except BaseException as e:  # PanicException derives from BaseException like PyO3's
                out.append((type(e), str(e)))
        return out
    assert run(backend, main) == [(gocoro.PanicException, "boom from Rust")] * 2


# ---- contextvars, into_future misuse, PyO3 attach ----------------------------------------------

def test_future_runs_in_the_awaiting_task_context(r, backend):
    var = contextvars.ContextVar("var", default="unset")

    async def main(sleep):
        var.set("set in task")
        first = await r.call(var.get)
        ctx = contextvars.copy_context()
        ctx.run(var.set, "other context")
        return first, await r.call(var.get), ctx[var]
    assert run(backend, main) == ("set in task", "set in task", "other context")


def test_into_future_outside_gocoro_future(r):
    aw = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="outside a future driven by gocoro"):
        r.poll_outside(aw)
    aw.close()


def test_join_of_two_python_awaitables_is_a_clear_error(r, backend):
    async def main(sleep):
        b = sleep(0)
        with pytest.raises(RuntimeError, match="two Python awaitables at the same time"):
            await r.join_two(sleep(0), b)
        if hasattr(b, "close"):
            b.close()
        return "ok"
    assert run(backend, main) == "ok"


def test_pyo3_is_attached_during_the_step(r):
    """A Py<T> dropped inside the future is released at once (PyO3 attached around the step),
    not deferred to PyO3's reference pool."""
    class Obj:
        pass

    async def main(sleep):
        return await r.drop_is_immediate(Obj)
    assert run("asyncio", main) is True


# ---- local (!Send) futures ---------------------------------------------------------------------

def test_local_future(r, backend):
    async def main(sleep):
        return await r.local_counter(3, sleep)
    assert run(backend, main) == 3


def test_local_future_refuses_another_thread(r):
    c = r.local_counter(1, asyncio.sleep)
    out = []

    def other():
        try:
            asyncio.run(c)
        except BaseException as e:
            out.append(e)
    th = threading.Thread(target=other)
    th.start()
    th.join()
    assert len(out) == 1 and isinstance(out[0], RuntimeError)
    assert "thread that created it" in str(out[0])


# ---- streams -----------------------------------------------------------------------------------

def test_stream_aclose_drops_the_stream(r, backend):
    async def main(sleep):
        before = r.drop_count()
        agen = r.stream_forever(sleep)
        assert [await agen.__anext__() for _ in range(3)] == [0, 1, 2]
        await agen.aclose()
        return r.drop_count() - before
    assert run(backend, main) == 1


def test_stream_cancelled_while_iterating(r):
    async def main(sleep):
        before = r.drop_count()
        got = []

        async def consume():
            async for i in r.stream_forever(sleep):
                got.append(i)
        t = asyncio.ensure_future(consume())
        await asyncio.sleep(0.01)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        gc.collect()
        return len(got) > 0, r.drop_count() - before
    assert run("asyncio", main) == (True, 1)


# ---- memory ------------------------------------------------------------------------------------

def test_rss_flat_over_1m_create_await_cycles(r):
    code = """
        import asyncio, gc, rust_async as r

        def rss():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * 4096

        async def main():
            for i in range(100_000):       # warm-up: free lists, caches
                await r.add(i, 1)
            for i in range(2_000):
                await r.countdown(1, asyncio.sleep)
            gc.collect()
            start = rss()
            for i in range(1_000_000):
                await r.add(i, 1)
            for i in range(20_000):         # the waker and into_future paths too
                await r.countdown(1, asyncio.sleep)
                await r.self_wake(1)
            gc.collect()
            print(rss() - start)
        asyncio.run(main())
    """
    p = run_python(code, timeout=300)
    assert p.returncode == 0, describe(p)
    grown = int(p.stdout.split()[-1])
    assert grown < 4 * 1024 * 1024, f"RSS grew by {grown} bytes"


# ---- the Python package is needed at run time --------------------------------------------------

def test_missing_gocoro_package_gives_a_clear_import_error(r):
    code = """
        import sys
        sys.modules["gocoro"] = None  # as if the package were not installed
        import rust_async
        try:
            rust_async.add(1, 2)
        except ImportError as e:
            print("ImportError:", e)
    """
    p = run_python(code)
    assert p.returncode == 0, describe(p)
    assert "needs the Python package `gocoro`" in p.stdout and "pip install gocoro" in p.stdout


def test_stream_moves_to_another_event_loop(r):
    """A stream suspended at a yield can be resumed under another loop: its waker is rebound
    to the running loop."""
    trio = pytest.importorskip("trio")
    agen = r.ticks(6, 0.001)

    async def take(n):
        return [await agen.__anext__() for _ in range(n)]
    loop = asyncio.new_event_loop()  # no asyncio.run: that would aclose() the generator
    try:
        first = loop.run_until_complete(take(2))
    finally:
        loop.close()
    second = trio.run(take, 2)
    loop = asyncio.new_event_loop()
    try:
        third = loop.run_until_complete(take(2))
        loop.run_until_complete(agen.aclose())
    finally:
        loop.close()
    assert (first, second, third) == ([0, 1], [2, 3], [4, 5])


def test_rust_wake_does_not_interrupt_a_delegated_python_await(r, backend):
    """select! of a Python awaitable and a Rust channel: the thread's wake arrives while the
    task is inside the Python awaitable; it is remembered, and seen only after that finished."""
    async def main(sleep):
        t0 = time.monotonic()
        # the channel is filled after 10 ms, but the select only sees it after the 500 ms
        # Python sleep (then both are ready, and select polls the channel first); the wide gap
        # keeps the order certain on a loaded machine
        first = await r.race(sleep(0.5), 0.01)
        slow = time.monotonic() - t0
        # a channel that stays empty: the Python side wins
        second = await r.race(sleep(0.01), 30.0)
        return first, slow, second
    first, slow, second = run(backend, main)
    assert first == ("rust", None) and slow >= 0.49
    assert second == ("python", None)


@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
def test_local_future_freed_on_another_thread_is_leaked_not_dropped(r):
    before = r.drop_count()
    box = [r.local_pending(), r.local_pending()]

    def elsewhere():
        box.pop().close()  # finished on a foreign thread
        box.clear()        # freed on a foreign thread
        gc.collect()
    th = threading.Thread(target=elsewhere)
    th.start()
    th.join()
    assert r.drop_count() == before  # never dropped on a thread it does not belong to
    c = r.local_pending()
    del c
    gc.collect()
    assert r.drop_count() == before + 1  # freed on its own thread: dropped


# ---- CPython is the oracle: a Rust future that swallows what is thrown in ----------------------

async def py_swallow(aw):
    try:
        return await aw
    except BaseException:
        return "swallowed"


class Yielder:
    def __await__(self):
        yield "suspend"
        return 1


def outcome(f):
    try:
        return ("ok", f())
    except BaseException as e:
        return ("raised", type(e), str(e))


@pytest.mark.parametrize("how", ["close", "throw"])
def test_swallowing_rust_future_matches_cpython(r, how):
    def drive(make):
        c = make(Yielder())
        assert c.send(None) == "suspend"
        if how == "close":
            return outcome(c.close)
        return outcome(lambda: c.throw(ValueError("in")))
    assert drive(r.swallow) == drive(py_swallow)


def test_swallowed_cancellation_matches_cpython(r):
    async def main(sleep, make):
        t = asyncio.ensure_future(make(asyncio.sleep(10)))
        await asyncio.sleep(0.01)
        t.cancel()
        await asyncio.wait([t])
        return t.cancelled(), None if t.cancelled() else t.result()
    assert run("asyncio", main, r.swallow) == run("asyncio", main, py_swallow)
