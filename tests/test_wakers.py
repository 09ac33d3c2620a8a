"""Wakers (GoCoro_WakerNew/WakerWait/Wake/Retain/Release) and GoCoro_RunBlocking.

Driven through the test extension _gocoro_waker_test (tests_c/waker_testmod.c, capsule mode),
whose waking threads are plain pthreads that never hold the GIL.

Most tests run through anyio on three loops: asyncio, uvloop (anyio's asyncio backend with
uvloop's loop factory) and trio; a few use asyncio / trio directly.  Every loop is bounded with
fail_after and a faulthandler watchdog, so a lost wake-up fails instead of hanging the suite.
Every test ends by checking that no waker, hub, job or job argument is left alive.
"""
import asyncio
import faulthandler
import gc
import os
import random
import subprocess
import sys
import textwrap
import threading
import time

import anyio
import pytest
import trio

import gocoro
import _gocoro_waker_test as wt

try:
    import uvloop
except ImportError:  # pragma: no cover - the venvs have it
    uvloop = None

BACKENDS = {
    "asyncio": ("asyncio", {}),
    "uvloop": ("asyncio", {"loop_factory": uvloop.new_event_loop} if uvloop else None),
    "trio": ("trio", {}),
}

MS = 1_000_000  # ns


def settle(timeout=10.0):
    """Wait until the C threads of the test module and all blocking jobs are gone."""
    deadline = time.monotonic() + timeout
    while True:
        gc.collect()
        st = gocoro._waker_stats()
        if wt.live_threads() == 0 and st["jobs"] == 0 and st["wakers"] == 0:
            return st
        if time.monotonic() > deadline:
            return st
        time.sleep(0.005)


@pytest.fixture(autouse=True)
def no_leaks():
    faulthandler.dump_traceback_later(180, exit=True)  # last resort against a hang
    try:
        yield
        st = settle()
        assert wt.live_threads() == 0
        assert st == {"wakers": 0, "hubs": 0, "asyncio_hubs": 0, "jobs": 0}, st
        assert wt.blocking_stats()["live_args"] == 0
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture(params=list(BACKENDS))
def run(request):
    """run(async_fn, *args, timeout=20): run under anyio on the parametrised loop."""
    backend, opts = BACKENDS[request.param]
    if opts is None:
        pytest.skip("uvloop not installed")

    def runner(fn, *args, timeout=20):
        async def bounded():
            with anyio.fail_after(timeout):
                return await fn(*args)

        return anyio.run(bounded, backend=backend, backend_options=opts)

    runner.name = request.param
    return runner


async def still_pending(awaitable, seconds=0.05):
    """True if `awaitable` does not complete within `seconds` (then it is cancelled)."""
    with anyio.move_on_after(seconds) as scope:
        await awaitable
    return scope.cancelled_caught


# ---------------------------------------------------------------------------------------------
# wakers


def test_wake_from_c_threads(run):
    async def main():
        w = wt.Waker()
        w.wake_in_threads(4, 100)
        assert await wt.native_wait(w) == 1
        w.wake_in_threads(4, 100, 2000)
        await w.wait()  # the awaitable from Python, too
        return True

    assert run(main)


def test_native_coroutine_hands_waker_to_threads(run):
    async def main():
        results = []
        for n in (1, 2, 8):
            results.append(await wt.wake_by_threads(n, 1000))
        return results

    assert run(main) == [1, 1, 1]


def test_wake_before_wait(run):
    async def main():
        w = wt.Waker()
        w.wake()  # not drained yet: the wait completes once the loop drains it
        await wt.native_wait(w)
        w.wake()
        await anyio.sleep(0.01)  # drained with nobody waiting: remembered
        t0 = time.monotonic()
        await wt.native_wait(w)
        assert time.monotonic() - t0 < 0.5
        return True

    assert run(main)


def test_double_wake_resumes_once(run):
    async def main():
        w = wt.Waker()
        w.wake()
        w.wake()
        await w.wait()
        assert await still_pending(w.wait())  # both wakes were consumed by one wait
        w.wake()
        w.wake()
        await anyio.sleep(0.01)  # drained with nobody waiting: remembered once
        await w.wait()
        assert await still_pending(w.wait())
        w.wake_in_threads(8, 1000)
        await w.wait()
        while wt.live_threads():
            await anyio.sleep(0.001)
        await anyio.sleep(0.01)
        # all 8000 wakes either merged into that one or left at most one remembered wake
        await still_pending(w.wait(), 0.02)
        assert await still_pending(w.wait())
        return True

    assert run(main)


def test_rearm_many_times(run):
    async def main():
        w = wt.Waker()
        for i in range(200):
            if i % 3 == 0:
                w.wake()
            elif i % 3 == 1:
                w.wake_in_threads(1, 1, 100)
            else:
                w.wake_in_threads(2, 3)
            await w.wait()
        return True

    assert run(main)


def test_native_wait_many_times(run):
    async def main():
        w = wt.Waker()
        done = False

        async def waker_task():
            while not done:
                w.wake()
                await anyio.sleep(0.0005)

        async with anyio.create_task_group() as tg:
            tg.start_soon(waker_task)
            n = await wt.native_wait(w, 50)
            done = True
        return n

    assert run(main) == 50


def test_wake_from_python_threads(run):
    async def main():
        w = wt.Waker()
        ths = [threading.Thread(target=lambda: (time.sleep(0.01), w.wake())) for _ in range(4)]
        for t in ths:
            t.start()
        await w.wait()
        for t in ths:
            t.join()
        return True

    assert run(main)


def test_one_waiter_at_a_time(run):
    async def main():
        w = wt.Waker()
        errors = []

        async def second():
            await anyio.sleep(0.01)
            try:
                await w.wait()
            except RuntimeError as e:
                errors.append(str(e))

        async with anyio.create_task_group() as tg:
            tg.start_soon(second)
            w.wake_in_threads(1, 1, 50_000)
            await w.wait()
        return errors

    errors = run(main)
    assert len(errors) == 1 and "pending waiter" in errors[0]


def test_cancelled_wait_then_wake(run):
    """Cancelling the waiting task detaches the waiter; a later wake is remembered, not lost
    and not delivered to the dead wait (trio would raise TrioInternalError on a double
    reschedule)."""

    async def main():
        w = wt.Waker()
        for _ in range(20):
            with anyio.move_on_after(0.005) as scope:
                await wt.native_wait(w)
            assert scope.cancelled_caught
        w.wake_in_threads(4, 10)
        while wt.live_threads():
            await anyio.sleep(0.001)
        await anyio.sleep(0.01)
        t0 = time.monotonic()
        await w.wait()  # the remembered wake
        assert time.monotonic() - t0 < 0.5
        assert await still_pending(w.wait())
        return True

    assert run(main)


def test_cancel_races_with_wake(run):
    async def main():
        w = wt.Waker()
        for i in range(300):
            w.wake_in_threads(1, 1, random.randint(0, 400))
            with anyio.move_on_after(random.uniform(0, 0.0004)):
                await w.wait()
        while wt.live_threads():
            await anyio.sleep(0.001)
        return True

    assert run(main)


def test_wake_after_coroutine_closed(run):
    async def main():
        w = wt.Waker()
        c = wt.native_wait(w)
        yielded = c.send(None)  # registers the waiter (asyncio future / trio trap)
        assert yielded is not None
        c.close()
        w.wake_in_threads(4, 100)  # must not complete the closed wait / reschedule this task
        while wt.live_threads():
            await anyio.sleep(0.001)
        await anyio.sleep(0.01)
        await w.wait()
        return True

    assert run(main)


def test_wake_after_waiter_freed(run):
    async def main():
        w = wt.Waker()
        w.wake_in_threads(4, 1000, 20_000)  # the threads keep their own references
        with anyio.move_on_after(0.002):
            await wt.native_wait(w)
        del w  # coroutine and Python handle gone before the threads wake
        gc.collect()
        while wt.live_threads():
            await anyio.sleep(0.001)
        await anyio.sleep(0.01)
        return True

    assert run(main)


def test_waker_outlives_loop(run):
    async def main():
        w = wt.Waker()
        w.wake_in_threads(2, 10, 30_000)  # still waking after the loop has closed
        return w

    w = run(main)
    w.wake()
    with pytest.raises(RuntimeError):
        w.wait()
    while wt.live_threads():
        time.sleep(0.001)
    w.wake()
    del w


def test_loop_closed_with_pending_waiter():
    """The hub drops the waiters of a loop that closes with tasks still waiting."""
    loop = asyncio.new_event_loop()

    async def make():
        return wt.Waker()

    w = loop.run_until_complete(make())
    task = loop.create_task(wt.native_wait(w))
    loop.run_until_complete(asyncio.sleep(0.01))
    assert not task.done()
    loop.close()
    w.wake()
    task._log_destroy_pending = False
    del task
    w.wake_in_threads(2, 10)
    del w


def test_no_running_loop():
    with pytest.raises(RuntimeError, match="no running event loop"):
        wt.Waker()
    with pytest.raises(RuntimeError, match="no running event loop"):
        wt.sleep_ns(1)
    assert wt.blocking_stats()["live_args"] == 0


def test_no_fd_leak():
    def fds():
        return len(os.listdir("/proc/self/fd"))

    async def main():
        w = wt.Waker()
        w.wake_in_threads(1, 1)
        await w.wait()
        assert await wt.sleep_ns(1000, 3) == 3

    for backend, opts in BACKENDS.values():
        if opts is not None:
            anyio.run(main, backend=backend, backend_options=opts)
    settle()
    before = fds()
    for _ in range(10):
        for backend, opts in BACKENDS.values():
            if opts is not None:
                anyio.run(main, backend=backend, backend_options=opts)
    settle()
    assert fds() == before


def test_direct_asyncio_and_trio():
    async def aio():
        w = wt.Waker()
        w.wake_in_threads(3, 10)
        return await asyncio.wait_for(wt.native_wait(w), 10)

    assert asyncio.run(aio()) == 1
    if uvloop is not None:
        assert uvloop.run(aio()) == 1

    async def tr():
        w = wt.Waker()
        w.wake_in_threads(3, 10)
        with trio.fail_after(10):
            return await wt.native_wait(w)

    assert trio.run(tr) == 1


def test_asyncio_task_cancel_reaches_step():
    async def main():
        w = wt.Waker()
        task = asyncio.ensure_future(wt.native_wait(w))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        w.wake()
        await asyncio.sleep(0.01)
        await asyncio.wait_for(w.wait(), 5)  # the wake was remembered
        return True

    assert asyncio.run(main())


# ---------------------------------------------------------------------------------------------
# GoCoro_RunBlocking


def test_run_blocking_result(run):
    wt.reset_blocking_stats()

    async def main():
        assert await wt.sleep_ns(1 * MS, 42) == 42
        assert await wt.sleep_ns(0, -7) == -7
        t0 = time.monotonic()
        async with anyio.create_task_group() as tg:
            for i in range(40):
                tg.start_soon(wt.sleep_ns, 50 * MS, i)
        return time.monotonic() - t0

    elapsed = run(main)
    assert elapsed < 1.5  # 40 x 50 ms ran concurrently, off the GIL
    st = wt.blocking_stats()
    assert st["to_python"] == 42 and st["cleanup"] == 0


def test_run_blocking_to_python_raises(run):
    async def main():
        with pytest.raises(ValueError, match="to_python failed"):
            await wt.sleep_ns_fail(1 * MS)
        return True

    assert run(main)


def test_run_blocking_cancel(run):
    wt.reset_blocking_stats()

    async def main():
        t0 = time.monotonic()
        with anyio.move_on_after(0.05) as scope:
            await wt.cancellable(10.0)
        assert scope.cancelled_caught
        assert time.monotonic() - t0 < 1.0  # the awaiter did not wait for fn
        return True

    assert run(main)
    st = settle()
    assert st["jobs"] == 0
    s = wt.blocking_stats()
    assert s["cleanup"] == 1 and s["to_python"] == 0 and s["cancel_seen"] == 1


def test_run_blocking_cancel_many(run):
    """Cancel while fn runs, and right when it returns: exactly one of to_python / cleanup."""
    wt.reset_blocking_stats()
    n = 200

    async def main():
        got = 0
        for i in range(n):
            with anyio.move_on_after(random.uniform(0, 0.002)):
                await wt.sleep_ns(random.randint(0, 2 * MS), 1)
                got += 1
        return got

    got = run(main)
    settle()
    s = wt.blocking_stats()
    assert s["to_python"] == got
    assert s["to_python"] + s["cleanup"] == n == s["finished"]


def test_run_blocking_deadline(run):
    wt.reset_blocking_stats()

    async def main():
        t0 = time.monotonic()
        with pytest.raises(TimeoutError, match="deadline"):
            await wt.cancellable(10.0, 0.05)
        assert time.monotonic() - t0 < 1.0
        # a deadline that does not pass
        assert await wt.sleep_ns(1 * MS, 5, 5.0) == 5
        return True

    assert run(main)
    settle()
    s = wt.blocking_stats()
    assert s["cleanup"] == 1 and s["cancel_seen"] == 1 and s["to_python"] == 1


def test_run_blocking_deadline_sets_cancelled_while_the_loop_is_blocked(run):
    """The deadline itself sets *cancelled (from the executor's timer), not the event loop
    noticing it later: with the loop thread blocked well past the deadline, fn (which polls
    *cancelled) must already have seen the cancellation and returned."""
    wt.reset_blocking_stats()

    async def main():
        aw = wt.cancellable(30.0, 0.05)  # fn starts now and polls *cancelled for up to 30 s
        t0 = time.monotonic()
        while wt.blocking_stats()["cancel_seen"] == 0 and time.monotonic() - t0 < 10.0:
            time.sleep(0.01)             # blocks the loop thread: no loop iteration runs
        seen = wt.blocking_stats()["cancel_seen"]
        with pytest.raises(TimeoutError, match="deadline"):
            await aw
        return seen

    assert run(main) == 1
    settle()
    s = wt.blocking_stats()
    assert s["cleanup"] == 1 and s["cancel_seen"] == 1 and s["to_python"] == 0


def test_loop_idles_after_a_wake(run):
    """After a wake has been delivered the loop must go idle again: a hub that stopped draining
    its eventfd would leave it readable and spin the loop at full CPU during a sleep."""
    async def main():
        w = wt.Waker()
        for _ in range(3):
            w.wake_in_threads(1, 1)
            await wt.native_wait(w)
        w.wake()                          # one more wake nobody waits for (remembered)
        await anyio.sleep(0.05)
        cpu0, t0 = time.process_time(), time.monotonic()
        await anyio.sleep(0.5)
        return time.process_time() - cpu0, time.monotonic() - t0

    cpu, wall = run(main)
    assert cpu < 0.25 * wall, f"{cpu:.3f} s of CPU during {wall:.3f} s of idle sleep"


def test_run_blocking_deadline_builtin_timeout_error():
    async def main():
        try:
            await wt.sleep_ns(200 * MS, 0, 0.01)
        except BaseException as e:  # noqa: B902
            return type(e)

    assert asyncio.run(main()) is TimeoutError


def test_run_blocking_asyncio_task_cancel():
    wt.reset_blocking_stats()

    async def main():
        task = asyncio.ensure_future(wt.cancellable(10.0))
        await asyncio.sleep(0.02)
        t0 = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - t0

    assert asyncio.run(main()) < 0.5
    settle()
    assert wt.blocking_stats()["cleanup"] == 1


def test_run_blocking_never_awaited():
    wt.reset_blocking_stats()

    async def main():
        aw = wt.sleep_ns(1 * MS, 1)
        with pytest.warns(RuntimeWarning, match="never awaited"):
            del aw
            gc.collect()

    asyncio.run(main())
    settle()
    assert wt.blocking_stats()["cleanup"] == 1


def test_run_blocking_loop_closes_while_running():
    wt.reset_blocking_stats()

    async def main():
        asyncio.ensure_future(wt.sleep_ns(50 * MS, 1))
        await asyncio.sleep(0.005)

    asyncio.run(main())  # cancels the pending task, closes the loop
    settle()
    s = wt.blocking_stats()
    assert s["cleanup"] == 1 and s["to_python"] == 0


def test_run_blocking_go_panic(run):
    wt.reset_blocking_stats()

    async def main():
        gocoro._test_executor_panic(1)
        with pytest.raises(gocoro.PanicException, match="executor test panic"):
            await wt.sleep_ns(1 * MS, 1)
        gocoro._test_executor_panic(2)
        with pytest.raises(gocoro.PanicException, match="executor test panic"):
            wt.sleep_ns(1 * MS, 1)  # the launch itself panicked: no awaitable
        assert await wt.sleep_ns(1 * MS, 9) == 9  # the executor still works
        return True

    try:
        assert run(main)
    finally:
        gocoro._test_executor_panic(0)
    settle()
    s = wt.blocking_stats()
    assert s["cleanup"] == 1 and s["to_python"] == 1 and s["started"] == 1


def _run_child(code, timeout=60):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(gocoro.__file__)), os.path.dirname(wt.__file__)] + sys.path)
    env["PYTHONFAULTHANDLER"] = "1"
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, timeout=timeout,
                          capture_output=True, text=True)


def test_forked_child():
    """In a forked child RunBlocking raises RuntimeError at once; the C-only wakers still work."""
    code = r"""
        import asyncio, os, sys, time
        import gocoro, _gocoro_waker_test as wt

        async def parent_side():
            return await wt.sleep_ns(1000, 1)

        assert asyncio.run(parent_side()) == 1   # the Go runtime is up and has threads
        pid = os.fork()
        if pid == 0:
            rc = 1
            try:
                async def child():
                    t0 = time.monotonic()
                    try:
                        wt.sleep_ns(1000, 1)
                    except RuntimeError as e:
                        assert "fork" in str(e), e
                    else:
                        raise AssertionError("no RuntimeError")
                    assert time.monotonic() - t0 < 1
                    w = wt.Waker()
                    w.wake_in_threads(2, 10)
                    await asyncio.wait_for(w.wait(), 10)
                    return True
                assert asyncio.run(child())
                assert wt.blocking_stats()["live_args"] == 0
                rc = 0
            except BaseException:
                import traceback; traceback.print_exc()
            finally:
                os._exit(rc)
        _, status = os.waitpid(pid, 0)
        print("child status", status)
        sys.exit(0 if status == 0 else 1)
    """
    r = _run_child(code)
    assert r.returncode == 0, r.stdout + r.stderr


# ---------------------------------------------------------------------------------------------
# stress


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_stress_threads_wake_while_tasks_cancelled(backend):
    """8 C threads perform 1M wakes in total on wakers that tasks keep replacing, awaiting and
    getting cancelled; last references are often dropped by the C threads (off the GIL)."""
    lib, opts = BACKENDS[backend]
    if opts is None:
        pytest.skip("uvloop not installed")
    nslots, total, nthreads = 64, 1_000_000, 8
    board = wt.Board(nslots)
    counts = {"resumed": 0, "cancelled": 0}

    async def worker(slot, rng):
        while not board.done():
            w = wt.Waker()
            board.put(slot, w)
            with anyio.move_on_after(rng.uniform(0, 0.002)) as scope:
                if rng.random() < 0.5:
                    await wt.native_wait(w)
                else:
                    await w.wait()
            if scope.cancelled_caught:
                counts["cancelled"] += 1
            else:
                counts["resumed"] += 1

    async def main():
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for i in range(nslots):
                    tg.start_soon(worker, i, random.Random(i))
                await anyio.sleep(0.01)
                board.hammer(nthreads, total, 8, 40)  # paced: ~1-2 s of wakes
                while not board.done():
                    await anyio.sleep(0.005)

    t0 = time.monotonic()
    anyio.run(main, backend=lib, backend_options=opts)
    wakes = board.join()
    board.clear()
    del board
    elapsed = time.monotonic() - t0
    print(f"{backend}: {wakes} wakes in {elapsed:.2f} s, {counts}")
    assert wakes > 0.9 * total
    assert counts["resumed"] > 100 and counts["cancelled"] > 10
    assert elapsed < 30
