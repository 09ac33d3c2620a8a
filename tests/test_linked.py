"""Two independently compiled extensions -- _gocoro_test (capsule) and _gocoro_linked (direct
-lgocoro, which records the soname of the module gocoro._gocoro and an rpath to it) -- must
share one library instance: the same types and PanicException, one mapped copy."""
import asyncio

import pytest

import gocoro
import _gocoro_test
from support import describe, run_python

_gocoro_linked = pytest.importorskip("_gocoro_linked")


def test_same_types_in_one_process():
    a = _gocoro_test.program([("return", 1)])
    b = _gocoro_linked.make(2)
    assert type(a) is type(b) is gocoro.Coroutine
    assert _gocoro_linked.coroutine_type() is _gocoro_test.coroutine_type() is gocoro.Coroutine
    assert _gocoro_linked.panic_exception() is _gocoro_test.panic_exception() is gocoro.PanicException
    assert _gocoro_linked.check(a) == 1 and _gocoro_test.check(b) == 1
    a.close()
    b.close()


def test_linked_coroutine_runs():
    async def main():
        r1 = await _gocoro_linked.make("x", yields=0)
        r2 = await _gocoro_test.program([("await", _gocoro_linked.make("y")), ("return", "z")])
        return r1, r2
    assert asyncio.run(main()) == ("x", "z")
    c = _gocoro_linked.make("v", yields=2)
    assert c.send(None) is None
    assert c.send(None) is None
    with pytest.raises(StopIteration) as si:
        c.send(None)
    assert si.value.value == "v"


def test_linked_panic():
    with pytest.raises(gocoro.PanicException, match="linked panic"):
        _gocoro_linked.panic_step("linked panic").send(None)


def test_import_linked_first_in_fresh_process():
    proc = run_python("""
        import sys
        assert "gocoro" not in sys.modules
        import _gocoro_linked
        c = _gocoro_linked.make(5, yields=1)
        T = _gocoro_linked.coroutine_type()
        P = _gocoro_linked.panic_exception()
        assert type(c) is T, (type(c), T)
        import gocoro
        assert T is gocoro.Coroutine, (T, gocoro.Coroutine)
        assert P is gocoro.PanicException
        import _gocoro_test
        assert type(_gocoro_test.program([])) is T
        import asyncio
        async def main():
            return await c, await _gocoro_test.program([("await", _gocoro_linked.make(6)), ("return", 7)])
        assert asyncio.run(main()) == (5, 7)
        try:
            _gocoro_linked.panic_step("p").send(None)
        except gocoro.PanicException as e:
            assert str(e) == "p"
        # the rpath-loaded library and the imported module are one object: one mapped file
        maps = [l.split() for l in open("/proc/self/maps") if "/_gocoro." in l]
        assert maps and len({(l[3], l[4]) for l in maps}) == 1, maps
        print("OK")
    """, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), describe(proc)


def test_import_capsule_module_first_in_fresh_process():
    proc = run_python("""
        import _gocoro_test, _gocoro_linked, gocoro
        assert type(_gocoro_linked.make(1)) is type(_gocoro_test.program([])) is gocoro.Coroutine
        print("OK")
    """, timeout=60, extra_env={"PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), describe(proc)


def test_linked_wakers_and_blocking_work():
    """The waker and executor functions work through the direct (-lgocoro) API too."""
    async def main():
        w = await _gocoro_linked.wake_soon()
        s = await _gocoro_linked.blocking_add(40, 2)
        many = await asyncio.gather(*(_gocoro_linked.blocking_add(i, i) for i in range(50)))
        return w, s, many
    w, s, many = asyncio.run(main())
    assert (w, s) == ("woken", 42)
    assert many == [2 * i for i in range(50)]
