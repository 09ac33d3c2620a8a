"""Object lifecycle: "never awaited" warnings, finalization (tp_finalize closes a suspended
coroutine), unraisable exceptions, GC cycles, clear/finalize callbacks, reference counts.

Most checks are repeated a few times in a row: objects are recycled internally, and every
recycled object must behave like a fresh one.
"""
import gc
import inspect
import sys
import warnings
import weakref

import pytest

import _gocoro_test
from oracle import differential, ignored_while, prog, unraisable_target

REPEAT = 4


class Marker:
    pass


def _drop_and_collect_warnings(make):
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always")
        c = make()
        del c
        gc.collect()
    return [(w.category, str(w.message)) for w in ws]


@pytest.mark.parametrize("i", range(REPEAT))
def test_never_awaited_warning(impl, i):
    got = _drop_and_collect_warnings(lambda: impl.program([("yield", 1)]))
    assert got == [(RuntimeWarning, "coroutine 'program' was never awaited")]


def test_never_awaited_warning_every_time(impl):
    """CPython warns for every never-awaited coroutine (subject to the warning filters)."""
    for i in range(REPEAT):
        got = _drop_and_collect_warnings(lambda: impl.program([]))
        assert got == [(RuntimeWarning, "coroutine 'program' was never awaited")], f"iteration {i}"


def test_never_awaited_warning_uses_qualname(impl):
    for i in range(REPEAT):
        assert _drop_and_collect_warnings(impl.named) == [
            (RuntimeWarning, "coroutine 'Outer.named' was never awaited")], f"iteration {i}"

    def renamed():
        c = impl.named()
        c.__qualname__ = "Else.where"
        return c
    for i in range(REPEAT):
        assert _drop_and_collect_warnings(renamed) == [
            (RuntimeWarning, "coroutine 'Else.where' was never awaited")], f"iteration {i}"


@pytest.mark.parametrize("how", ["close", "started", "finished", "throw-not-started"])
def test_no_never_awaited_warning_once_used(impl, how):
    def make():
        c = impl.program([("try", None, 3), ("yield", 1), ("return", None), ("return", None)])
        if how == "close":
            c.close()
        elif how == "started":
            c.send(None)
            c.close()
        elif how == "finished":
            c.send(None)
            with pytest.raises(StopIteration):
                c.send(None)
        else:
            with pytest.raises(KeyError):
                c.throw(KeyError("k"))
        return c
    for i in range(REPEAT):
        assert _drop_and_collect_warnings(make) == [], f"iteration {i}"


def test_never_awaited_warning_as_error_goes_to_unraisablehook(impl, unraisable):
    for i in range(REPEAT):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            c = impl.program([])
            cid, crepr = id(c), repr(c)
            del c
            gc.collect()
        assert len(unraisable) == i + 1, f"iteration {i}"
        u = unraisable[-1]
        assert u.exc_type is RuntimeWarning
        assert str(u.exc_value) == "coroutine 'program' was never awaited"
        assert unraisable_target(u, cid, crepr) == ignored_while("finalizing coroutine")


@pytest.mark.parametrize("i", range(REPEAT))
def test_finalizer_closes_suspended_coroutine_differential(i):
    ops = [("try", GeneratorExit, 3), ("yield", 1), ("return", "no"), ("log", "cleanup ran")]
    recs = differential(prog(ops), [("send", None)])
    assert recs[-1]["log"] == [("caught", "GeneratorExit", ""), "cleanup ran"]


def test_finalizer_closes_suspended_coroutine_every_time(impl):
    for i in range(REPEAT):
        log = []
        c = impl.program([("try", GeneratorExit, 3), ("yield", 1), ("return", "no"),
                          ("log", "cleanup ran")], log)
        c.send(None)
        del c
        assert log == [("caught", "GeneratorExit", ""), "cleanup ran"], f"iteration {i}"


def test_finalizer_closes_suspended_await_chain(impl):
    for i in range(REPEAT):
        log = []
        inner = impl.program([("try", GeneratorExit, 3), ("yield", "in"), ("return", 0),
                              ("log", "inner cleanup")], log)
        c = impl.program([("try", GeneratorExit, 3), ("await", inner), ("return", 0),
                          ("log", "outer cleanup")], log)
        del inner
        assert c.send(None) == "in"
        del c
        gc.collect()
        assert log == [("caught", "GeneratorExit", ""), "inner cleanup",
                       ("caught", "GeneratorExit", ""), "outer cleanup"], f"iteration {i}"


@pytest.mark.parametrize("i", range(REPEAT))
def test_exception_while_finalizing_goes_to_unraisablehook(i):
    ops = [("try", GeneratorExit, 3), ("yield", 1), ("return", "no"),
           ("raise", ValueError, "raised while closing")]
    recs = differential(prog(ops), [("send", None)])
    assert recs[-1]["unraisable"] == [("ValueError", "raised while closing",
                                       ignored_while("closing generator"), None)]


@pytest.mark.parametrize("i", range(REPEAT))
def test_ignored_generatorexit_while_finalizing(i):
    ops = [("try", GeneratorExit, 3), ("yield", 1), ("return", "no"), ("yield", "again")]
    recs = differential(prog(ops), [("send", None)])
    assert recs[-1]["unraisable"] == [("RuntimeError", "coroutine ignored GeneratorExit",
                                       ignored_while("closing generator"), None)]


def test_unraisable_object_is_the_coroutine(unraisable):
    for i in range(REPEAT):
        c = _gocoro_test.program([("try", GeneratorExit, 3), ("yield", 1), ("return", 0),
                                  ("raise", KeyError, "fin")])
        c.send(None)
        cid, crepr = id(c), repr(c)
        del c
        assert len(unraisable) == i + 1, f"iteration {i}: finalizer did not run"
        assert unraisable[-1].exc_type is KeyError
        # (since 3.14 the object is named in the message: "... while closing generator <repr>")
        assert unraisable_target(unraisable[-1], cid, crepr) == ignored_while("closing generator")


# --------------------------------------------------------------------------------------------
# spec callbacks: clear / finalize

def _counters():
    return _gocoro_test.counters()


def test_finalize_called_once_per_object():
    before = _counters()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for _ in range(10):
            c = _gocoro_test.counted("v")           # never awaited
            del c
        for _ in range(10):
            c = _gocoro_test.counted("v", yields=1)  # suspended, then dropped
            assert c.send(None) is None
            del c
        for _ in range(10):
            c = _gocoro_test.counted("v")           # completed
            with pytest.raises(StopIteration):
                c.send(None)
            del c
    gc.collect()
    after = _counters()
    assert after["created"] - before["created"] == 30
    assert after["finalized"] - before["finalized"] == 30
    # clear ran (before finalize) for every object that still held references (a completed
    # `counted` handed its value over as the return value: nothing left to clear)
    assert after["cleared"] - before["cleared"] == 20


def test_program_finalize_and_clear_counters():
    before = _counters()
    n = 25
    for i in range(n):
        c = _gocoro_test.program([("yield", i), ("return", i)], [])
        c.send(None)
        if i % 2:
            with pytest.raises(StopIteration):
                c.send(None)
        del c
    gc.collect()
    after = _counters()
    assert after["program_created"] - before["program_created"] == n
    assert after["program_finalized"] - before["program_finalized"] == n
    assert after["program_cleared"] - before["program_cleared"] == n


def test_state_references_released_when_finished():
    for i in range(REPEAT):
        m = Marker()
        wr = weakref.ref(m)
        c = _gocoro_test.program([("yield", 1), ("log", m), ("return", "done")])
        del m
        c.send(None)
        assert wr() is not None
        with pytest.raises(StopIteration):
            c.send(None)
        assert wr() is None, "the state still holds its references after the coroutine finished"
        del c


def test_state_references_released_when_closed():
    m = Marker()
    wr = weakref.ref(m)
    c = _gocoro_test.program([("yield", 1), ("log", m)])
    del m
    c.send(None)
    c.close()
    assert wr() is None
    m2 = Marker()
    wr2 = weakref.ref(m2)
    c2 = _gocoro_test.counted(m2, yields=1)
    del m2
    c2.send(None)
    c2.close()
    assert wr2() is None


@pytest.mark.parametrize("suspended", [False, True])
def test_reference_cycle_through_state_is_collected(suspended):
    for i in range(REPEAT):
        gc.collect()
        before = _counters()
        m = Marker()
        wm = weakref.ref(m)
        c = _gocoro_test.counted("v", yields=1, hold=m)
        m.c = c
        if suspended:
            c.send(None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # never awaited
            del c, m
        assert wm() is not None, "cycle collected by refcounting?"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            gc.collect()
        assert wm() is None, f"iteration {i}: the cycle through the state was not collected"
        after = _counters()
        assert after["finalized"] - before["finalized"] == 1, f"iteration {i}"
        gc.collect()
        assert _counters()["finalized"] - before["finalized"] == 1


def test_cycle_through_program_log_closes_suspended_coroutine():
    for i in range(REPEAT):
        gc.collect()
        before = _counters()
        ext = []
        log = []
        c = _gocoro_test.program([("try", GeneratorExit, 3), ("yield", 1), ("return", 0),
                                  ("call", ext.append, "closed by gc")], log)
        log.append(c)          # cycle: coroutine -> state -> log -> coroutine
        c.send(None)
        wc = weakref.ref(c)
        del c, log
        assert wc() is not None
        gc.collect()
        assert wc() is None, f"iteration {i}: cycle not collected"
        assert ext == ["closed by gc"], f"iteration {i}: the finalizer did not close the coroutine"
        assert _counters()["program_finalized"] - before["program_finalized"] == 1


def test_oracle_cycle_behaves_the_same():
    """Sanity check of the expectation above with CPython's own coroutine."""
    import oracle
    ext = []
    log = []
    c = oracle.make_program([("try", GeneratorExit, 3), ("yield", 1), ("return", 0),
                             ("call", ext.append, "closed by gc")], log)
    log.append(c)
    c.send(None)
    del c, log
    gc.collect()
    assert ext == ["closed by gc"]


def test_traverse_reports_state_objects():
    log = []
    ops = (("yield", 1),)
    c = _gocoro_test.program(ops, log)
    refs = gc.get_referents(c)
    assert any(r is log for r in refs)
    assert any(r == ops for r in refs if isinstance(r, tuple))
    assert gc.is_tracked(c)
    m = Marker()
    c2 = _gocoro_test.counted("val", hold=m)
    refs2 = gc.get_referents(c2)
    assert any(r is m for r in refs2)
    c.close()
    c2.close()


def test_weakref_to_coroutine(impl):
    for i in range(REPEAT):
        called = []
        c = impl.program([("yield", 1)])
        c.send(None)
        wr = weakref.ref(c, called.append)
        assert wr() is c
        del c
        gc.collect()
        assert wr() is None
        assert len(called) == 1


# --------------------------------------------------------------------------------------------
# reference counts

def test_refcounts_of_values_passed_through():
    yielded, sent, returned, thrown_into = Marker(), Marker(), Marker(), Marker()
    base = [sys.getrefcount(o) for o in (yielded, sent, returned, thrown_into)]
    for _ in range(500):
        c = _gocoro_test.program([("yield", yielded), ("try", KeyError, 4), ("yield", 2),
                                  ("return", None), ("return", returned)])
        assert c.send(None) is yielded
        assert c.send(sent) == 2
        with pytest.raises(StopIteration) as si:
            c.throw(KeyError(thrown_into))
        assert si.value.value is returned
        del si, c
    assert [sys.getrefcount(o) for o in (yielded, sent, returned, thrown_into)] == base


def test_refcounts_through_await_chain():
    v = Marker()
    base = sys.getrefcount(v)

    async def top():
        total = []
        for _ in range(300):
            total.append(await _gocoro_test.program([("await", _gocoro_test.counted(v)),
                                                     ("return", v)]))
        return total
    c = top()
    with pytest.raises(StopIteration) as si:
        c.send(None)
    assert len(si.value.value) == 300
    del si, c
    assert sys.getrefcount(v) == base


def test_refcount_of_exception_raised_by_step():
    exc_type_refs = sys.getrefcount(KeyError)
    for _ in range(300):
        c = _gocoro_test.program([("raise", KeyError, "x")])
        with pytest.raises(KeyError):
            c.send(None)
        del c
    assert sys.getrefcount(KeyError) == exc_type_refs


def test_getcoroutinestate(impl):
    """inspect.getcoroutinestate() relies on cr_running, cr_suspended (3.11+) and cr_frame."""
    states = []
    c = impl.program([("call", lambda: states.append(inspect.getcoroutinestate(holder[0]))),
                      ("yield", 1)])
    holder = [c]
    assert inspect.getcoroutinestate(c) == inspect.CORO_CREATED
    c.send(None)
    assert states == [inspect.CORO_RUNNING]
    assert inspect.getcoroutinestate(c) == inspect.CORO_SUSPENDED
    c.close()
    assert inspect.getcoroutinestate(c) == inspect.CORO_CLOSED
    holder.clear()


# --------------------------------------------------------------------------------------------
# resurrection and large states

def test_resurrected_while_finalizing():
    """The GeneratorExit handler stores the object away (resurrection): it must come back
    closed and usable as a closed coroutine, and be finalized (spec finalize) exactly once."""
    for i in range(REPEAT):
        gc.collect()
        before = _counters()["program_finalized"]
        keep = []
        log = []
        c = _gocoro_test.program([("try", GeneratorExit, 3), ("yield", 1), ("return", 0),
                                  ("call_self", keep.append), ("log", "resurrected")], log)
        c.send(None)
        del c
        assert log == [("caught", "GeneratorExit", ""), "resurrected"], f"iteration {i}"
        assert len(keep) == 1
        r = keep.pop()
        assert type(r) is _gocoro_test.coroutine_type()
        assert r.cr_running is False
        with pytest.raises(RuntimeError, match="cannot reuse already awaited coroutine"):
            r.send(None)
        assert r.close() is None
        assert _counters()["program_finalized"] == before, "finalized while still alive"
        del r
        gc.collect()
        assert _counters()["program_finalized"] - before == 1, f"iteration {i}"


@pytest.mark.parametrize("big", [False, True], ids=["small-state", "2KB-state"])
def test_finalizer_runs_for_every_object(big):
    """Mixed create/drop patterns (objects may be recycled internally): every suspended object
    that is dropped gets GeneratorExit, and every object is finalized exactly once."""
    gc.collect()
    before = _counters()
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for i in range(200):
            k = i % 4
            c = _gocoro_test.counted(i, yields=1, big=big)
            if k == 0:
                pass                                  # never awaited
            elif k == 1:
                c.send(None)                          # suspended, dropped -> closed
            elif k == 2:
                c.send(None)
                with pytest.raises(StopIteration):
                    c.send(None)                      # finished
            else:
                p = _gocoro_test.program([("try", GeneratorExit, 3), ("await", c), ("return", 0),
                                          ("call", seen.append, i)])
                p.send(None)
                del p                                 # closes p, which closes c
            del c
    gc.collect()
    after = _counters()
    assert after["created"] - before["created"] == 200
    assert after["finalized"] - before["finalized"] == 200
    assert seen == list(range(3, 200, 4))


def test_big_state_roundtrip():
    v = Marker()
    base = sys.getrefcount(v)
    for _ in range(50):
        c = _gocoro_test.counted(v, yields=2, big=True)
        assert c.send(None) is None
        assert c.send(None) is None
        with pytest.raises(StopIteration) as si:
            c.send(None)
        assert si.value.value is v
        del si, c
    assert sys.getrefcount(v) == base
