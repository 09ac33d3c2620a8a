"""Native coroutines under asyncio (default loop, debug mode, eager tasks, uvloop), trio and
anyio (both backends).  Wherever possible the same scenario runs with the CPython oracle too and
the results and logs must be identical."""
import asyncio
import re
import sys

import pytest

import _gocoro_test
import oracle

PY = sys.version_info[:2]


_ADDR = re.compile(r"\b(0x)?[0-9a-f]{9,16}\b")


def scrub(x):
    """Replace object addresses (which differ between the runs) in nested results."""
    if isinstance(x, str):
        return _ADDR.sub("ADDR", x)
    if isinstance(x, tuple):
        return tuple(scrub(i) for i in x)
    if isinstance(x, list):
        return [scrub(i) for i in x]
    return x


def both(scenario, ordered=True):
    """scenario(impl, log) -> result.  Runs it for CPython and native; compares results
    (or exceptions) and logs; returns the CPython result.  ordered=False compares the logs as
    multisets (trio randomises the scheduling order of tasks on purpose)."""
    out = {}
    for impl in (oracle.oracle_impl(), oracle.native_impl()):
        log = []
        try:
            res = ("ok", scenario(impl, log))
        except BaseException as e:  # noqa: BLE001 -- compared
            res = oracle.exc_summary(e)
        snap = oracle.snapshot(log)
        if not ordered:
            snap = sorted(snap, key=repr)
        out[impl.name] = scrub((res, snap))
    assert out["native"] == out["oracle"], f"\nCPython: {out['oracle']!r}\nnative:  {out['native']!r}"
    return out["oracle"]


# --------------------------------------------------------------------------------------------
# asyncio runners

def _run_uvloop(main):
    uvloop = pytest.importorskip("uvloop")
    loop = uvloop.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main())
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def _run_eager(main):
    async def wrapper():
        asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)
        return await main()
    return asyncio.run(wrapper())


RUNNERS = {
    "asyncio": lambda main: asyncio.run(main()),
    "debug": lambda main: asyncio.run(main(), debug=True),
    "uvloop": _run_uvloop,
}
if PY >= (3, 12):
    RUNNERS["eager"] = _run_eager


@pytest.fixture(params=sorted(RUNNERS))
def run(request):
    return RUNNERS[request.param]


def blocking_future(value):
    """A future yielded bare to the task (like Future.__await__ does), resolved soon."""
    loop = asyncio.get_running_loop()
    f = loop.create_future()
    f._asyncio_future_blocking = True
    loop.call_soon(f.set_result, value)
    return f


def test_asyncio_await_and_bare_future(run):
    def scenario(impl, log):
        async def main():
            return await impl.program([("await_new", asyncio.sleep, 0),
                                       ("yield_call", blocking_future, "fv"),
                                       ("await_new", asyncio.sleep, 0, "slept"),
                                       ("return", 5)], log)
        return run(main)
    assert both(scenario)[0] == ("ok", 5)


def test_asyncio_native_as_task_root(run):
    def scenario(impl, log):
        async def main():
            t = asyncio.ensure_future(impl.program([("await_new", asyncio.sleep, 0),
                                                    ("return", "task result")], log))
            r = await t
            return r, t.done(), t.cancelled()
        return run(main)
    both(scenario)


def test_asyncio_run_until_complete_with_native(run):
    def scenario(impl, log):
        async def main():
            return await asyncio.gather(*(impl.program([("await_new", asyncio.sleep, 0),
                                                        ("return", i)], log) for i in range(50)))
        return run(main)
    assert both(scenario)[0] == ("ok", list(range(50)))


def test_asyncio_loop_run_until_complete_native_directly():
    for impl in (oracle.oracle_impl(), oracle.native_impl()):
        loop = asyncio.new_event_loop()
        try:
            assert loop.run_until_complete(
                impl.program([("await_new", asyncio.sleep, 0), ("return", "direct")])) == "direct"
        finally:
            loop.close()


def test_asyncio_exception_propagates(run):
    def scenario(impl, log):
        async def main():
            t = asyncio.create_task(impl.program([("await_new", asyncio.sleep, 0),
                                                  ("raise", KeyError, "in task")], log))
            await t
        return run(main)
    assert both(scenario)[0][1] == "KeyError"


def pending_future():
    f = asyncio.get_running_loop().create_future()
    f._asyncio_future_blocking = True
    return f


CANCEL_PROGRAMS = {
    "swallow": [("try", asyncio.CancelledError, 3), ("await_new", asyncio.sleep, 10),
                ("return", "not cancelled"), ("log", "swallowed"), ("return", "swallowed")],
    "rethrow": [("try", asyncio.CancelledError, 3), ("await_new", asyncio.sleep, 10),
                ("return", "not cancelled"), ("log", "cleanup"), ("rethrow",)],
    "uncaught": [("await_new", asyncio.sleep, 10), ("return", "not cancelled")],
    "bare-future": [("try", asyncio.CancelledError, 3), ("yield_call", pending_future),
                    ("return", "x"), ("log", "cleanup"), ("rethrow",)],
    "cleanup-awaits": [("try", asyncio.CancelledError, 3), ("await_new", asyncio.sleep, 10),
                       ("return", "not cancelled"), ("await_new", asyncio.sleep, 0, "cleanup slept"),
                       ("rethrow",)],
}


@pytest.mark.parametrize("prog_name", sorted(CANCEL_PROGRAMS))
@pytest.mark.parametrize("msg", [None, "stop it"])
def test_asyncio_task_cancel_reaches_step(run, prog_name, msg):
    def scenario(impl, log):
        async def main():
            t = asyncio.create_task(impl.program(CANCEL_PROGRAMS[prog_name], log))
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            t.cancel() if msg is None else t.cancel(msg)
            try:
                r = await t
                out = ("result", r)
            except asyncio.CancelledError as e:
                out = ("cancelled", str(e) if PY >= (3, 11) else None)
            return out, t.cancelled(), (t.cancelling() if PY >= (3, 11) else None)
        return run(main)
    both(scenario)


def test_asyncio_wait_for_timeout(run):
    def scenario(impl, log):
        async def main():
            try:
                await asyncio.wait_for(impl.program(CANCEL_PROGRAMS["rethrow"], log), 0.01)
            except asyncio.TimeoutError as e:
                return type(e).__name__
        return run(main)
    res, log = both(scenario)
    assert log == [("caught", "CancelledError", ""), "cleanup"]


def test_asyncio_wait_for_completes(run):
    def scenario(impl, log):
        async def main():
            return await asyncio.wait_for(impl.program([("await_new", asyncio.sleep, 0),
                                                        ("return", "in time")], log), 30)
        return run(main)
    assert both(scenario)[0] == ("ok", "in time")


@pytest.mark.skipif(PY < (3, 11), reason="asyncio.timeout / TaskGroup are 3.11+")
def test_asyncio_timeout_and_taskgroup(run):
    def scenario(impl, log):
        async def main():
            try:
                async with asyncio.timeout(0.01):
                    await impl.program(CANCEL_PROGRAMS["swallow"][:3] + [
                        ("log", "cancel seen"), ("rethrow",)], log)
            except TimeoutError:
                log.append("timed out")
            async with asyncio.TaskGroup() as tg:
                ts = [tg.create_task(impl.program([("await_new", asyncio.sleep, 0), ("return", i)],
                                                  log)) for i in range(5)]
            return [t.result() for t in ts]
        return run(main)
    assert both(scenario)[0] == ("ok", [0, 1, 2, 3, 4])


def test_asyncio_shield_and_await_task_from_native(run):
    def scenario(impl, log):
        async def main():
            inner = asyncio.ensure_future(impl.program([("await_new", asyncio.sleep, 0),
                                                        ("return", "inner")], log))
            return await impl.program([("await_new", asyncio.shield, inner),
                                       ("await", inner), ("return", "outer")], log)
        return run(main)
    both(scenario)


def test_asyncio_many_tasks(run):
    def scenario(impl, log):
        async def main():
            async def worker(i):
                total = 0
                for j in range(5):
                    total += await impl.program([("await_new", asyncio.sleep, 0), ("return", j)])
                return total + i
            return sum(await asyncio.gather(*(worker(i) for i in range(100))))
        return run(main)
    assert both(scenario)[0] == ("ok", sum(range(100)) + 100 * 10)


def test_task_repr_with_native_coroutine():
    async def main():
        t = asyncio.create_task(_gocoro_test.program([("await_new", asyncio.sleep, 0),
                                                      ("return", 1)]))
        r1 = repr(t)
        await t
        return r1, repr(t)
    pending, done = asyncio.run(main())
    assert "program" in pending
    assert "program" in done


def test_asyncio_debug_mode_slow_callback_and_repr():
    """Debug mode formats coroutines (cr_code/cr_frame) in its log messages."""
    import logging

    async def main():
        loop = asyncio.get_running_loop()
        loop.slow_callback_duration = 0.0   # every step is "slow": forces formatting
        return await _gocoro_test.program([("await_new", asyncio.sleep, 0), ("return", "dbg")])
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    try:
        assert asyncio.run(main(), debug=True) == "dbg"
    finally:
        logging.getLogger("asyncio").setLevel(logging.NOTSET)


# --------------------------------------------------------------------------------------------
# trio

def test_trio_run():
    trio = pytest.importorskip("trio")

    def scenario(impl, log):
        async def main():
            return await impl.program([("await_new", trio.sleep, 0), ("log", "after sleep"),
                                       ("await_new", trio.lowlevel.checkpoint),
                                       ("return", 7)], log)
        return trio.run(main)
    assert both(scenario)[0] == ("ok", 7)


def test_trio_nursery_start_soon_native():
    trio = pytest.importorskip("trio")

    def scenario(impl, log):
        async def main():
            async with trio.open_nursery() as n:
                for i in range(10):
                    n.start_soon(impl.program, [("await_new", trio.sleep, 0), ("log", i)], log)
            return sorted(x for x in log if isinstance(x, int))
        return trio.run(main)
    assert both(scenario, ordered=False)[0] == ("ok", list(range(10)))


@pytest.mark.parametrize("how", ["rethrow", "uncaught"])
def test_trio_cancel_scope(how):
    trio = pytest.importorskip("trio")
    ops = ([("try", trio.Cancelled, 3)] if how == "rethrow" else [("log", "start")]) + \
          [("await_new", trio.sleep, 10), ("return", "not cancelled"), ("log", "cleanup"),
           ("rethrow",)]

    def scenario(impl, log):
        async def main():
            with trio.CancelScope() as cs:
                cs.cancel()
                await impl.program(ops, log)
            with trio.move_on_after(0.01) as cs2:
                await impl.program(ops, log)
            return cs.cancelled_caught, cs2.cancelled_caught
        return trio.run(main)
    assert both(scenario)[0] == ("ok", (True, True))


def test_trio_cancel_native_task_root():
    trio = pytest.importorskip("trio")

    def scenario(impl, log):
        async def main():
            async with trio.open_nursery() as n:
                n.start_soon(impl.program, [("try", trio.Cancelled, 3), ("await_new", trio.sleep, 10),
                                            ("return", 0), ("log", "cancelled"), ("rethrow",)], log)
                await trio.sleep(0)
                n.cancel_scope.cancel()
            return "done"
        return trio.run(main)
    res, log = both(scenario)
    assert res == ("ok", "done")
    assert log[0][:2] == ("caught", "Cancelled") and log[1:] == ["cancelled"]


# --------------------------------------------------------------------------------------------
# anyio

@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    pytest.importorskip("anyio")
    if request.param == "trio":
        pytest.importorskip("trio")
    return request.param


def test_anyio_basic(anyio_backend):
    import anyio

    def scenario(impl, log):
        async def main():
            r = await impl.program([("await_new", anyio.sleep, 0), ("return", "anyio")], log)
            async with anyio.create_task_group() as tg:
                for i in range(5):
                    tg.start_soon(impl.program, [("await_new", anyio.sleep, 0), ("log", i)], log)
            return r
        return anyio.run(main, backend=anyio_backend)
    assert both(scenario, ordered=False)[0] == ("ok", "anyio")


def test_anyio_cancel_scope(anyio_backend):
    import anyio

    def scenario(impl, log):
        cancelled = anyio.get_cancelled_exc_class  # resolved inside the run

        async def main():
            exc_class = cancelled()
            ops = [("try", exc_class, 3), ("await_new", anyio.sleep, 10), ("return", "no"),
                   ("log", "cancel seen"), ("rethrow",)]
            with anyio.CancelScope() as cs:
                cs.cancel()
                await impl.program(ops, log)
            with anyio.move_on_after(0.01) as cs2:
                await impl.program(ops, log)
            return cs.cancelled_caught, cs2.cancelled_caught
        return anyio.run(main, backend=anyio_backend)
    assert both(scenario)[0] == ("ok", (True, True))


def test_anyio_cancel_task_group_with_native_task_roots(anyio_backend):
    import anyio

    def scenario(impl, log):
        async def main():
            exc_class = anyio.get_cancelled_exc_class()
            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    for i in range(3):
                        tg.start_soon(impl.program, [("try", exc_class, 3),
                                                     ("await_new", anyio.sleep, 10), ("return", 0),
                                                     ("log", "cancelled"), ("rethrow",)], log)
                    await anyio.sleep(0.01)
                    tg.cancel_scope.cancel()
            return "done"
        return anyio.run(main, backend=anyio_backend)
    res, log = both(scenario, ordered=False)
    assert res == ("ok", "done")
    assert log.count("cancelled") == 3
