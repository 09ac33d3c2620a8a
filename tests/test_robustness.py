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


# ---- a step that returns a result code while an exception is set ------------------------------

def _drive_once(obj, kind):
    """One resumption of `obj` the way its kind is driven; returns ("raise", exc) or
    ("ok", value)."""
    try:
        if kind == _gocoro_test.KIND_ITERATOR:
            return ("ok", list(obj))
        if kind in (_gocoro_test.KIND_ASYNC_GENERATOR, 4):
            return ("ok", obj.__anext__().send(None))
        return ("ok", obj.send(None))
    except BaseException as e:  # noqa: BLE001 -- inspected by the caller
        return ("raise", e)


MISUSE_CODES = [(1, "GOCORO_NEXT"), (2, "GOCORO_AWAIT"), (3, "GOCORO_ITEM"), (0, "GOCORO_RETURN")]
ALL_KINDS = [0, 1, 2, 3, 4]


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("code,code_name", MISUSE_CODES)
@pytest.mark.parametrize("how", ["exc", "exc_value"])
def test_result_code_with_exception_set_raises_systemerror_at_once(kind, code, code_name, how):
    """Any result code but GOCORO_ERROR with an exception set: SystemError from that very step
    (naming the code, the stray exception as its cause) in every kind, and nothing left set
    to surface later in unrelated code."""
    if kind == _gocoro_test.KIND_ITERATOR and code in (2, 3):
        pytest.skip("iterators only know NEXT/RETURN/ERROR (other codes: their own SystemError)")
    if code == 3 and kind < 3:
        pytest.skip("GOCORO_ITEM outside async generators has its own SystemError")
    obj = _gocoro_test.program([("bad_return", code, how)], kind=kind)
    outcome, exc = _drive_once(obj, kind)
    assert outcome == "raise", exc
    assert type(exc) is SystemError, repr(exc)
    assert code_name in str(exc) and "with an exception set" in str(exc), str(exc)
    assert isinstance(exc.__cause__, KeyError)
    # nothing stray: the next C calls succeed
    lst = []
    lst.append(1)
    assert "{}".format(1) == "1"


@pytest.mark.parametrize("kind", [0, 3])
def test_next_with_exception_set_under_asyncio_raises_instead_of_hanging(kind):
    """Under asyncio.run, a step yielding with an exception set used to leave the task never
    rescheduled (a hang); it must raise SystemError in the awaiting task."""
    code = r"""
import asyncio, sys, _gocoro_test as t
kind = int(sys.argv[1])
async def main():
    obj = t.program([("bad_return", 1, "exc")], kind=kind)
    try:
        if kind == 0:
            await obj
        else:
            async for _ in obj:
                pass
    except SystemError as e:
        print("SystemError", type(e.__cause__).__name__, flush=True)
asyncio.run(main())
print("END", flush=True)
"""
    proc = run_python(code, timeout=60, args=(str(kind),))
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.split() == ["SystemError", "KeyError", "END"], describe(proc)


def test_iterator_return_value_with_exception_set_is_systemerror():
    """Iterator kind: RETURN with a non-None result and an exception set must not end the
    iteration quietly."""
    it = _gocoro_test.program([("yield", 1), ("bad_return", 0, "exc_value")], kind=_gocoro_test.KIND_ITERATOR)
    with pytest.raises(SystemError, match="GOCORO_RETURN with an exception set"):
        list(it)
    assert list(it) == []  # exhausted afterwards


def test_await_with_exception_set_names_await():
    c = _gocoro_test.program([("bad_return", 2, "exc")])
    with pytest.raises(SystemError, match="returned GOCORO_AWAIT with an exception set") as ei:
        c.send(None)
    assert "GOCORO_RETURN" not in str(ei.value)
