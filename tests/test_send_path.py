"""Which protocol the interpreter's `await` uses to resume a third-party awaitable, per CPython.

CPython 3.10/3.11: the SEND (3.11) / YIELD_FROM (3.10) bytecode calls PyIter_Send, i.e. the
type's am_send slot, and a return value travels without an exception.  In 3.12, 3.13 and 3.14
the SEND bytecode inlines frames of its own generators and coroutines and, for every other
receiver, calls tp_iternext (sent value None) or the `send` method (any other value); a return
value then has to be reported through a StopIteration.  3.15 resumes such receivers through
am_send again.  PyIter_Send itself uses am_send on every version.

`_send_probe.Probe` (tests_c/send_probe.c) counts which of its entry points was used; the
gocoro part checks, with sys.monitoring, that awaiting a gocoro coroutine that returns a value
raises a StopIteration in the awaiting frame on 3.12-3.14 (the cost measured by the
create_complete benchmark), while returning None or awaiting a native coroutine does not.
"""
import sys

import pytest

import _gocoro_test
import _send_probe

PY = sys.version_info[:2]
AWAIT_USES_AM_SEND = PY < (3, 12) or PY >= (3, 15)

pytestmark = pytest.mark.skipif(
    sys.gettrace() is not None and PY < (3, 12),
    reason="a trace function switches 3.10/3.11's SEND to the iterator protocol")


async def _await(aw):
    return await aw


def _drive(coro, sends=()):
    """Resume `coro` with None, then with each of `sends`, until it returns; its value."""
    values = iter(sends)
    arg = None
    while True:
        try:
            coro.send(arg)
        except StopIteration as e:
            return e.value
        arg = next(values, None)


@pytest.mark.parametrize("value", [7, None, (1, 2)])
@pytest.mark.parametrize("yields", [0, 2])
def test_await_resumes_through_am_send_except_on_3_12_to_3_14(value, yields):
    p = _send_probe.Probe(value, yields=yields)
    assert _drive(_await(p)) == value
    resumes = yields + 1
    if AWAIT_USES_AM_SEND:
        assert (p.am_send_calls, p.iternext_calls, p.send_calls) == (resumes, 0, 0)
    else:
        assert (p.am_send_calls, p.iternext_calls, p.send_calls) == (0, resumes, 0)


def test_await_with_a_sent_value_calls_the_send_method_on_3_12_to_3_14():
    p = _send_probe.Probe("done", yields=1)
    assert _drive(_await(p), sends=["x"]) == "done"
    if AWAIT_USES_AM_SEND:
        assert (p.am_send_calls, p.iternext_calls, p.send_calls) == (2, 0, 0)
    else:
        # first resume: tp_iternext (None); second: a `send` attribute lookup and call
        assert (p.am_send_calls, p.iternext_calls, p.send_calls) == (0, 1, 1)


def test_pyiter_send_uses_am_send_on_every_version():
    p = _send_probe.Probe(3, yields=1)
    assert _send_probe.iter_send(p, None) == ("next", None)
    assert _send_probe.iter_send(p, None) == ("return", 3)
    assert (p.am_send_calls, p.iternext_calls, p.send_calls) == (2, 0, 0)


@pytest.mark.skipif(PY < (3, 12), reason="sys.monitoring is new in 3.12")
def test_awaiting_a_gocoro_coroutine_raises_stopiteration_on_3_12_to_3_14():
    mon = sys.monitoring
    tool = next(i for i in range(6) if mon.get_tool(i) is None)
    seen = []

    def on_raise(code, offset, exc):
        if code is _await.__code__:
            seen.append((type(exc).__name__, getattr(exc, "value", None)))

    async def native(v):
        return v

    mon.use_tool_id(tool, "gocoro-send-path")
    try:
        mon.register_callback(tool, mon.events.RAISE, on_raise)
        mon.set_events(tool, mon.events.RAISE)
        results = []
        for make in (lambda: _gocoro_test.program([("return", 5)]),
                     lambda: _gocoro_test.program([("yield", 1), ("return", 6)]),
                     lambda: _gocoro_test.program([("return", None)]),
                     lambda: native(8)):
            seen.clear()
            results.append((_drive(_await(make())), list(seen)))
    finally:
        mon.set_events(tool, 0)
        mon.register_callback(tool, mon.events.RAISE, None)
        mon.free_tool_id(tool)
    if AWAIT_USES_AM_SEND:
        assert results == [(5, []), (6, []), (None, []), (8, [])]
        return
    assert results == [
        (5, [("StopIteration", 5)]),     # the return value travels in an exception
        (6, [("StopIteration", 6)]),     # only the completing resume raises
        (None, []),                      # None: tp_iternext returns NULL, no exception
        (8, []),                         # native coroutine: SEND inlines its frame
    ]


def test_trio_resumes_with_a_value_asyncio_with_none():
    """What reaches an awaited iterator after the event loop resumes the task: asyncio sends
    None (tp_iternext on 3.12-3.14), trio sends an outcome object (the `send` method there)."""
    import asyncio
    trio = pytest.importorskip("trio")
    seen = []

    class Recorder:
        def __init__(self, inner):
            self.inner = inner

        def __iter__(self):
            return self

        def __next__(self):
            seen.append(None)
            return self.inner.send(None)

        def send(self, value):
            seen.append(value)
            return self.inner.send(value)

        def throw(self, *args):
            return self.inner.throw(*args)

    class Awaitable:
        def __init__(self, coro):
            self.coro = coro

        def __await__(self):
            return Recorder(self.coro.__await__())

    async def main(sleep):
        await Awaitable(sleep(0))

    asyncio.run(main(asyncio.sleep))
    assert seen == [None, None]
    seen.clear()
    trio.run(main, trio.sleep)
    assert seen[0] is None and len(seen) == 2 and seen[1] is not None
