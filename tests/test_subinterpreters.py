"""gocoro in subinterpreters: own-GIL ones running at once on several threads (3.12+), shared-GIL
ones (3.10+), the main interpreter after they are gone, and create/import/destroy cycles.

The interpreters are driven through the low-level module of each version (_xxsubinterpreters
on 3.10-3.12, _interpreters on 3.13+; concurrent.interpreters on 3.14+ gets a test of its own).
The code run inside them uses the multi-phase test extensions of tests_c/subinterp_testmod.c
(capsule and direct link), which prepare their codes per interpreter."""
import asyncio
import functools
import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

import gocoro

try:
    import _interpreters as _low  # 3.13+
except ImportError:
    try:
        import _xxsubinterpreters as _low  # 3.10-3.12
    except ImportError:
        _low = None

pytestmark = pytest.mark.skipif(_low is None, reason="no subinterpreter module in this CPython")

OWN_GIL = sys.version_info >= (3, 12)
needs_own_gil = pytest.mark.skipif(not OWN_GIL, reason="interpreters with their own GIL need 3.12+")


def own_gil_asyncio(fn):
    """CPython 3.12 aborts at exit ("double free or corruption") once an own-GIL interpreter
    awaited an asyncio Future, with or without gocoro (3.13 does not).  There the test runs in a
    process of its own: it must pass, and that process's abort at exit is CPython's."""
    if sys.version_info[:2] != (3, 12):
        return fn

    @functools.wraps(fn)
    def in_a_process_of_its_own():
        code = ("import sys\nsys.path[:0] = %r\nimport test_subinterpreters as t\n"
                "t.%s.__wrapped__()\nprint('SUBPROCESS-OK', flush=True)\n"
                % ([p for p in sys.path if p], fn.__name__))
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=600)
        assert "SUBPROCESS-OK" in p.stdout, (p.returncode, p.stdout, p.stderr[-4000:])
        assert p.returncode in (0, -signal.SIGABRT), (p.returncode, p.stderr[-4000:])
    return in_a_process_of_its_own


def create(own_gil):
    """A new interpreter: its own GIL (isolated) or the main one's (legacy)."""
    if hasattr(_low, "new_config"):  # 3.13+
        return _low.create("isolated" if own_gil else "legacy")
    if sys.version_info >= (3, 12):
        return _low.create(isolated=own_gil)
    assert not own_gil
    return _low.create()


def run(interp, code):
    """Run code in interp; raise AssertionError with the interpreter's traceback on failure."""
    prelude = "import sys\nsys.path[:0] = %r\n" % [p for p in sys.path if p]
    body = prelude + "try:\n" + textwrap.indent(textwrap.dedent(code), "    ") + (
        "\nexcept BaseException:\n    import traceback; traceback.print_exc(); raise\n")
    if hasattr(_low, "exec"):  # 3.13+: returns an exception snapshot instead of raising
        err = _low.exec(interp, body)
        if err is not None:
            raise AssertionError("subinterpreter failed:\n" + getattr(err, "errdisplay", str(err)))
        return
    try:
        _low.run_string(interp, body)
    except Exception as e:  # RunFailedError
        raise AssertionError("subinterpreter failed: %s" % e) from None


def destroy(interp):
    _low.destroy(interp)


# Everything gocoro offers, through both kinds of extensions, inside one interpreter.
WORKLOAD = """
import asyncio, gocoro
import _gocoro_subinterp_capsule as cap, _gocoro_subinterp_linked as lnk

for ext in (cap, lnk):
    assert ext.coroutine_type() is gocoro.Coroutine
    assert ext.panic_exception() is gocoro.PanicException
    c = ext.counter(3)
    assert type(c) is gocoro.Coroutine and ext.check(c) == 1
    n = 0
    try:
        while True:
            assert c.send(None) is None
            n += 1
    except StopIteration as e:
        assert e.value == 3 and n == 3
    assert list(ext.gen(5)) == [0, 1, 2, 3, 4]
    assert type(ext.gen(1)) is gocoro.Generator
    try:
        ext.raise_panic("boom")
    except gocoro.PanicException as e:
        assert str(e) == "boom"
    else:
        raise AssertionError("no PanicException")

async def main():
    out = []
    for ext in (cap, lnk):
        out.append([x async for x in ext.agen(4)])
        out.append(await ext.counter(2))
        out.append(await ext.wake_later(200))
        out.append(await ext.blocking(100000, 7))
        out.append(await asyncio.gather(ext.wake_later(100), ext.blocking(1000, 8)))
    return out

for _ in range(ROUNDS):
    r = asyncio.run(main())
    assert r == [[0, 1, 2, 3], 2, "woken", 7, ["woken", 8]] * 2, r
stats = gocoro._waker_stats()
assert stats["asyncio_hubs"] == 0, stats
"""


def workload(rounds=3):
    return WORKLOAD.replace("ROUNDS", str(rounds))


def _main_still_works():
    import _gocoro_subinterp_capsule as cap
    import _gocoro_subinterp_linked as lnk

    async def main():
        return [await cap.wake_later(100), await lnk.wake_later(100),
                await cap.blocking(1000, 1), await lnk.blocking(1000, 2)]

    assert asyncio.run(main()) == ["woken", "woken", 1, 2]
    assert cap.coroutine_type() is lnk.coroutine_type() is gocoro.Coroutine
    assert cap.panic_exception() is gocoro.PanicException
    assert list(cap.gen(3)) == [0, 1, 2]


def _run_in_threads(kinds, code, at_once=True):
    """One thread per interpreter kind (True: own GIL); each thread creates its interpreter,
    runs code in it and destroys it (3.10/3.11 hang destroying, from another thread, an
    interpreter whose threading module was imported on a thread that has finished).
    at_once=False runs the threads one after the other."""
    errors = []

    def target(own):
        try:
            i = create(own)
            try:
                run(i, code)
            finally:
                destroy(i)
        except BaseException as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=target, args=(k,)) for k in kinds]
    for t in threads:
        t.start()
        if not at_once:
            t.join(120)
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a subinterpreter hung"
    assert not errors, errors


@needs_own_gil
@own_gil_asyncio
def test_own_gil_interpreters_run_everything_at_once():
    _run_in_threads([True] * 3, workload())
    _main_still_works()


def test_shared_gil_interpreters_run_everything_at_once():
    # 3.10/3.11's _asyncio caches the running loop process-wide: asyncio itself cannot run in
    # two interpreters at once there, so those versions take turns
    _run_in_threads([False] * 2, workload(), at_once=OWN_GIL)
    _main_still_works()


@needs_own_gil
@own_gil_asyncio
def test_own_and_shared_gil_interpreters_together():
    _run_in_threads([True, False, True], workload(2))
    _main_still_works()


@own_gil_asyncio
def test_main_interpreter_keeps_wakers_after_a_subinterpreter_that_used_them():
    """A process-wide cache of the first interpreter's asyncio lookup used to break every
    later interpreter's wakers ("no running event loop") once that interpreter was gone."""
    for own in ([False, True] if OWN_GIL else [False]):
        i = create(own)
        try:
            run(i, workload(1))
        finally:
            destroy(i)
        gc.collect()
        _main_still_works()
        # and a fresh interpreter after that one is gone
        j = create(own)
        try:
            run(j, workload(1))
        finally:
            destroy(j)
    _main_still_works()


def test_each_interpreter_has_its_own_types():
    i = create(OWN_GIL)
    try:
        run(i, """
            import gocoro, _gocoro_subinterp_linked as lnk
            import collections.abc as abc
            ids = (id(gocoro.Coroutine), id(gocoro.PanicException))
            assert isinstance(lnk.counter(0), abc.Coroutine)
            assert isinstance(lnk.gen(0), abc.Generator)
            assert isinstance(lnk.agen(0), abc.AsyncGenerator)
            c = lnk.counter(0); c.close()
            assert gocoro.runtime_info()["interpreters"] >= 2
            # a second instance of the extension module in this interpreter re-exports the
            # first one's types
            saved = {k: v for k, v in sys.modules.items() if k == "gocoro" or k.startswith("gocoro.")}
            for k in saved:
                del sys.modules[k]
            import gocoro as again
            assert again is not gocoro
            assert again.Coroutine is gocoro.Coroutine
            assert again.PanicException is gocoro.PanicException
            assert type(lnk.counter(0)) is again.Coroutine
            assert again._live_states() >= 2
            sys.modules.update(saved)
            open(%r, "w").write("%%d %%d" %% ids)
        """ % os.devnull)
    finally:
        destroy(i)
    assert gocoro.runtime_info()["interpreters"] == 1  # forgotten at the interpreter's exit


JOB_LEFT_BEHIND = r"""
import sys, time
sys.path[:0] = PATHS
import gocoro, _gocoro_subinterp_linked as lnk
from test_subinterpreters import create, run, destroy
i = create(OWN)
try:
    run(i, "\n".join([
        "import asyncio, _gocoro_subinterp_linked as lnk",
        "async def main():",
        "    t = asyncio.ensure_future(lnk.cancellable(30000))",
        "    await asyncio.sleep(0.05)  # the job is running",
        "    return t",
        "loop = asyncio.new_event_loop()",
        "task = loop.run_until_complete(main())",
        "# the loop, the task and its job are left behind for the interpreter's end",
    ]))
finally:
    destroy(i)
deadline = time.monotonic() + 20
while lnk.blocking_stats() < (1, 1) and time.monotonic() < deadline:
    time.sleep(0.02)
assert lnk.blocking_stats() == (1, 1), lnk.blocking_stats()
assert gocoro.runtime_info()["interpreters"] == 1
print("OK")
"""


def test_jobs_of_a_destroyed_interpreter_are_cancelled_and_cleaned_up():
    """A blocking job still running when its interpreter goes away: its function sees the
    cancelled flag and its cleanup runs (on the executor thread), even where CPython keeps the
    task that awaited it alive past the interpreter.  In a process of its own: such a leaked
    task keeps its waker counted in the process-wide leak counters."""
    # 3.12 aborts at exit ("double free") after an own-GIL interpreter left a pending asyncio
    # task behind, with or without gocoro: a shared-GIL one there
    own = OWN_GIL and sys.version_info >= (3, 13)
    code = (JOB_LEFT_BEHIND.replace("PATHS", repr([p for p in sys.path if p]))
            .replace("OWN", repr(own)))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "OK", (p.stdout, p.stderr)


@needs_own_gil
def test_single_phase_extensions_are_refused_by_own_gil_interpreters():
    i = create(True)
    try:
        run(i, """
            for name in ("_gocoro_test", "_gocoro_linked", "_gocoro_waker_test"):
                try:
                    __import__(name)
                except ImportError as e:
                    assert "subinterpreter" in str(e), e
                else:
                    raise AssertionError(name + " imported in an own-GIL interpreter")
        """)
    finally:
        destroy(i)


@pytest.mark.skipif(sys.version_info < (3, 14), reason="concurrent.interpreters is 3.14+")
def test_concurrent_interpreters():
    from concurrent import interpreters
    interp = interpreters.create()
    try:
        interp.exec("import sys; sys.path[:0] = %r" % [p for p in sys.path if p])
        interp.exec(workload(1))
    finally:
        interp.close()
    _main_still_works()


def _rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


CYCLE = """
import gocoro, _gocoro_subinterp_linked as lnk, _gocoro_subinterp_capsule as cap
c = lnk.counter(2)
c.send(None); c.send(None)
try:
    c.send(None)
except StopIteration:
    pass
assert list(cap.gen(3)) == [0, 1, 2]
"""


def _cycles(n, own, code):
    for _ in range(n):
        i = create(own)
        try:
            run(i, code)
        finally:
            destroy(i)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
def test_create_import_destroy_cycles_leak_nothing():
    """1000 interpreters, each importing gocoro and both extensions and stepping objects: every
    module state is freed with its interpreter, the registry forgets each one, and the resident
    set grows no faster than with interpreters that do nothing (CPython itself keeps memory of
    every destroyed interpreter: ~170 kB for a shared-GIL one, ~1.7 MB with its own GIL, on
    3.13)."""
    own = OWN_GIL
    cycles = int(os.environ.get("GOCORO_SUBINTERP_CYCLES", "1000"))
    states = gocoro._live_states()
    _cycles(20, own, "pass")
    gc.collect()
    before = _rss_kb()
    _cycles(100, own, "pass")
    gc.collect()
    baseline = (_rss_kb() - before) / 100.0  # kB per interpreter that only starts and stops

    _cycles(20, own, CYCLE)
    gc.collect()
    before = _rss_kb()
    _cycles(cycles, own, CYCLE)
    gc.collect()
    per_interp = (_rss_kb() - before) / float(cycles)

    assert gocoro._live_states() == states  # every module state was freed
    assert gocoro.runtime_info()["interpreters"] == 1
    assert per_interp < 1.5 * baseline + 256, (per_interp, baseline)
    _main_still_works()
