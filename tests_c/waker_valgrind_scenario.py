"""Short waker / RunBlocking scenario for tests_c/run_waker_valgrind.sh (runs under valgrind).

Covers: wakes from C threads (release of the last reference off the GIL), wake before wait,
cancelled waits, a waker that outlives its loop, RunBlocking result / to_python error /
cancellation / deadline / Go panic, on asyncio and trio.  Exits non-zero on a failed check.
"""
import asyncio
import gc
import sys
import time

import gocoro
import _gocoro_waker_test as wt

MS = 1_000_000


async def scenario(sleep, move_on_after):
    w = wt.Waker()
    w.wake_in_threads(3, 50)
    assert await wt.native_wait(w) == 1
    w.wake()
    await sleep(0.01)
    await w.wait()                          # remembered wake
    async with move_on_after(0.01):
        await wt.native_wait(w)             # cancelled wait
    w.wake_in_threads(2, 5, 20_000)         # threads outlive the coroutine
    assert await wt.wake_by_threads(4, 20) == 1
    assert await wt.sleep_ns(1 * MS, 7) == 7
    try:
        await wt.sleep_ns_fail(1 * MS)
    except ValueError:
        pass
    else:
        raise AssertionError("to_python error not raised")
    async with move_on_after(0.02):
        await wt.cancellable(5.0)           # cancelled: cleanup runs on the goroutine
    try:
        await wt.cancellable(5.0, 0.02)
    except TimeoutError:
        pass
    else:
        raise AssertionError("no TimeoutError")
    gocoro._test_executor_panic(1)
    try:
        await wt.sleep_ns(1 * MS, 1)
    except gocoro.PanicException:
        pass
    else:
        raise AssertionError("no PanicException")
    return w                                # outlives the loop


class _AsyncioMoveOn:
    def __init__(self, t):
        self.t = t

    async def __aenter__(self):
        self.task = asyncio.current_task()
        self.handle = asyncio.get_running_loop().call_later(self.t, self.task.cancel)

    async def __aexit__(self, typ, exc, tb):
        self.handle.cancel()
        if typ is asyncio.CancelledError:
            self.task.uncancel() if hasattr(self.task, "uncancel") else None
            return True
        return False


def main():
    w1 = asyncio.run(scenario(asyncio.sleep, _AsyncioMoveOn))
    import trio

    class _TrioMoveOn:
        def __init__(self, t):
            self.cm = trio.move_on_after(t)

        async def __aenter__(self):
            self.cm.__enter__()

        async def __aexit__(self, *exc):
            return self.cm.__exit__(*exc)

    w2 = trio.run(scenario, trio.sleep, _TrioMoveOn)
    w1.wake()
    w2.wake()
    del w1, w2
    deadline = time.monotonic() + 60
    while True:
        gc.collect()
        st = gocoro._waker_stats()
        if wt.live_threads() == 0 and st["jobs"] == 0 and st["wakers"] == 0:
            break
        if time.monotonic() > deadline:
            print("leftovers:", st, wt.live_threads(), file=sys.stderr)
            sys.exit(3)
        time.sleep(0.01)
    st = gocoro._waker_stats()
    assert st == {"wakers": 0, "hubs": 0, "asyncio_hubs": 0, "jobs": 0}, st
    assert wt.blocking_stats()["live_args"] == 0, wt.blocking_stats()
    print("waker valgrind scenario ok", wt.blocking_stats())


if __name__ == "__main__":
    main()
