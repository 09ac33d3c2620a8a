"""Robustness: misbehaving steps, deep await chains, threads, contextvars, tracing."""
import asyncio
import contextvars
import sys
import threading

import pytest

import _gocoro_test
import oracle
from support import describe, run_python

PY = sys.version_info[:2]

MISBEHAVE = r"""
import sys, gocoro, _gocoro_test as t
cases = [
    ("error-without-exception", [("bad_return", -1, "none")]),
    ("next-with-null-result", [("bad_return", 1, "null")]),
    ("return-with-null-result", [("bad_return", 0, "null")]),
    ("await-with-null-result", [("bad_return", 2, "null")]),
    ("unknown-code", [("bad_return", 42, "none")]),
    ("negative-code", [("bad_return", -7, "none")]),
    ("return-with-exception-set", [("bad_return", 0, "exc")]),
    ("next-with-exception-set", [("bad_return", 1, "exc")]),
    ("item-in-a-coroutine", [("item", 1)]),
]
for name, ops in cases:
    c = t.program(ops)
    try:
        r = c.send(None)
        out = ("yield", repr(r))
    except StopIteration as e:
        out = ("return", repr(e.value))
    except BaseException as e:
        out = ("raise", type(e).__name__)
    print(name, *out, flush=True)
    # the object is unusable afterwards, but must not crash
    try:
        c.send(None)
    except BaseException:
        pass
    c.close()
print("END", flush=True)
"""

# what must happen for each misbehaviour: an exception (SystemError preferred), never a crash
EXPECT_ERROR = ["error-without-exception", "next-with-null-result", "return-with-null-result",
                "await-with-null-result", "unknown-code", "negative-code",
                "return-with-exception-set", "next-with-exception-set", "item-in-a-coroutine"]


def test_misbehaving_steps_raise_instead_of_crashing():
    proc = run_python(MISBEHAVE, timeout=60)
    assert proc.returncode == 0 and "END" in proc.stdout, describe(proc)
    results = dict((line.split()[0], line.split()[1:]) for line in proc.stdout.splitlines()
                   if line and line != "END")
    # GOCORO_RETURN with *result == NULL may reasonably mean None
    assert results["return-with-null-result"] in (["return", "None"], ["raise", "SystemError"])
    for name in EXPECT_ERROR:
        if name == "return-with-null-result":
            continue
        assert results[name][0] == "raise", f"{name}: {results[name]}\n{describe(proc)}"
        assert results[name][1] in ("SystemError", "TypeError", "RuntimeError", "KeyError"), \
            f"{name}: {results[name]}"
    assert results["error-without-exception"][1] == "SystemError"
    assert results["next-with-null-result"][1] == "SystemError"


DEEP = r"""
import sys, warnings, _gocoro_test as t, oracle
warnings.simplefilter("ignore", RuntimeWarning)
depth = int(sys.argv[1])
make = t.program if sys.argv[2] == "native" else oracle.make_program
c = make([("yield", "bottom"), ("return", "b")])
for i in range(depth):
    c = make([("await", c), ("return", i)])
try:
    print("first", c.send(None), flush=True)
    try:
        c.send(None)
    except StopIteration as e:
        print("result", e.value, flush=True)
except RecursionError as e:
    print("RecursionError", flush=True)
print("END", flush=True)
"""


def test_deep_await_chain():
    """A chain of 200 native coroutines awaiting each other behaves like the same chain of
    async defs (default recursion limit)."""
    ora = run_python(DEEP, timeout=120, args=("200", "oracle"))
    nat = run_python(DEEP, timeout=120, args=("200", "native"))
    assert ora.returncode == 0, describe(ora)
    assert nat.returncode == 0 and nat.stdout == ora.stdout, describe(nat) + describe(ora)


def test_very_deep_await_chain_raises_recursionerror_instead_of_crashing():
    """100000 nested awaits: CPython's async defs raise RecursionError (default recursion
    limit); the native chain must raise RecursionError too (or complete) -- not overflow the C
    stack and segfault."""
    nat = run_python(DEEP, timeout=120, args=("100000", "native"))
    assert nat.returncode == 0 and "END" in nat.stdout, \
        "native await chain of depth 100000 crashed\n" + describe(nat)
    assert "RecursionError" in nat.stdout or "result" in nat.stdout, describe(nat)


def test_threads_each_running_loops():
    errors = []

    def worker(k):
        try:
            async def main():
                total = 0
                for i in range(300):
                    total += await _gocoro_test.program([("await_new", asyncio.sleep, 0),
                                                         ("call", lambda: None), ("return", i)])
                return total
            assert asyncio.run(main()) == sum(range(300))
            for i in range(3000):
                c = _gocoro_test.counted(i, yields=1)
                c.send(None)
                try:
                    c.send(None)
                except StopIteration as e:
                    assert e.value == i
        except BaseException as e:  # noqa: BLE001
            errors.append(repr(e))
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not any(t.is_alive() for t in ts)
    assert errors == []


VAR = contextvars.ContextVar("VAR", default="unset")


def test_contextvars_follow_the_task():
    def scenario(impl):
        log = []

        async def task(name):
            VAR.set(name)
            await impl.program([("await_new", asyncio.sleep, 0), ("call_log", VAR.get),
                                ("yield_call", _soon_future), ("call_log", VAR.get)], log)

        async def main():
            await asyncio.gather(task("a"), task("b"))
            return VAR.get()
        return asyncio.run(main()), sorted(oracle.snapshot(log), key=repr)
    assert scenario(oracle.native_impl()) == scenario(oracle.oracle_impl())


def _soon_future():
    loop = asyncio.get_running_loop()
    f = loop.create_future()
    f._asyncio_future_blocking = True
    loop.call_soon(f.set_result, None)
    return f


@pytest.mark.parametrize("hook", ["settrace", "setprofile"])
def test_runs_under_trace_and_profile_hooks(hook):
    events = []

    def tracer(frame, event, arg):
        events.append(event)
        return tracer if hook == "settrace" else None

    async def main():
        r = []
        for i in range(20):
            r.append(await _gocoro_test.program([("await_new", asyncio.sleep, 0),
                                                 ("yield_call", _soon_future), ("return", i)]))
        return r
    setter = getattr(sys, hook)
    setter(tracer)
    try:
        res = asyncio.run(main())
    finally:
        setter(None)
    assert res == list(range(20))
    assert events


def test_run_coroutine_threadsafe():
    loop = asyncio.new_event_loop()
    t = threading.Thread(target=loop.run_forever)
    t.start()
    try:
        fut = asyncio.run_coroutine_threadsafe(
            _gocoro_test.program([("await_new", asyncio.sleep, 0), ("return", "threadsafe")]), loop)
        assert fut.result(30) == "threadsafe"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        t.join(30)
        loop.close()


def test_gc_collect_inside_steps_of_cyclic_objects():
    import gc
    for i in range(5):
        log = []
        c = _gocoro_test.program([("call", gc.collect), ("yield", 1), ("call", gc.collect),
                                  ("await", _gocoro_test.program([("call", gc.collect),
                                                                  ("yield", 2), ("return", 3)])),
                                  ("call", gc.collect), ("return", 4)], log)
        log.append(c)       # a cycle through the running object
        assert c.send(None) == 1
        assert c.send(None) == 2
        with pytest.raises(StopIteration) as si:
            c.send(None)
        assert si.value.value == 4
        del c, log, si
        gc.collect()
