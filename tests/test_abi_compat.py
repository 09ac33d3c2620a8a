"""The versioning promise, both directions.

* An extension compiled against an older, smaller gocoro.h (the frozen ABI-1 baseline in
  tests_c/gocoro_abi1_baseline.h: the function table before the waker/blocking members) imports
  and runs with the current library: tables and specs only grow within an ABI version.
* An extension compiled against a newer gocoro.h than the installed gocoro (a bigger table, or
  another ABI) refuses to import with an ImportError naming both sides.
"""
import asyncio
import textwrap

import pytest

import gocoro
from support import describe, run_python

abi1 = pytest.importorskip("_gocoro_abi1")


def test_old_extension_sees_a_bigger_table():
    spec_size, api_size, lib_size = abi1.sizes()
    assert spec_size == 88 and api_size == 72  # the baseline layout (LP64)
    assert lib_size > api_size  # the current table grew since ...
    # ... and the baseline's members are still where the old extension reads them: the C
    # tests pin every ABI-1 offset (tests_c/run_c_tests.sh "ABI 1 member offsets unchanged")


def test_old_extension_shares_the_canonical_types():
    assert abi1.coroutine_type() is gocoro.Coroutine
    assert abi1.panic_exception() is gocoro.PanicException
    c = abi1.countdown(1, asyncio.sleep)
    assert type(c) is gocoro.Coroutine and abi1.check(c)
    c.close()
    assert type(abi1.gen(1)) is gocoro.Generator


def test_old_extension_runs():
    async def main():
        return await abi1.countdown(3, asyncio.sleep), await asyncio.gather(
            abi1.countdown(1, asyncio.sleep), abi1.countdown(2, asyncio.sleep))
    assert asyncio.run(main()) == (3, [1, 2])
    assert list(abi1.gen(4)) == [0, 1, 2, 3]
    with pytest.raises(gocoro.PanicException, match="old panic"):
        abi1.panic().send(None)


def test_old_extension_under_trio():
    trio = pytest.importorskip("trio")

    async def main():
        return await abi1.countdown(3, trio.sleep)
    assert trio.run(main) == 3


def test_old_extension_cancelled():
    async def main():
        t = asyncio.ensure_future(abi1.countdown(10**6, asyncio.sleep))
        await asyncio.sleep(0)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        return "ok"
    assert asyncio.run(main()) == "ok"


# ---- an extension built against a newer header than the installed gocoro -------------------

def _fake_older_gocoro(abi, table_size):
    """Python code installing, as `gocoro`, a module whose capsule holds a table of
    `table_size` bytes (an older gocoro), then importing a capsule-mode extension compiled
    with the current header."""
    return textwrap.dedent(f"""
        import ctypes, sys, types
        table = (ctypes.c_uint32 * ({table_size} // 4))()
        table[0], table[1] = {abi}, {table_size}
        new = ctypes.pythonapi.PyCapsule_New
        new.restype = ctypes.py_object
        new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
        fake = types.ModuleType("gocoro")
        fake.__version__ = "0.0.1"
        fake._C_API = new(ctypes.addressof(table), b"gocoro._C_API", None)
        sys.modules["gocoro"] = fake
        try:
            import _gocoro_test
        except ImportError as e:
            print("ImportError:", e)
        else:
            print("imported")
    """)


def test_newer_extension_with_older_gocoro_import_error():
    proc = run_python(_fake_older_gocoro(gocoro.ABI_VERSION, 72))
    assert proc.returncode == 0, describe(proc)
    out = proc.stdout.strip()
    assert out.startswith("ImportError: gocoro ABI mismatch"), out
    current = abi1.sizes()[2]  # the table of this header (the library was built with it too)
    assert f"built for ABI {gocoro.ABI_VERSION} (table {current} bytes)" in out, out
    assert f"the loaded gocoro 0.0.1 provides ABI {gocoro.ABI_VERSION} (table 72 bytes)" in out, out
    assert "upgrade gocoro" in out, out


def test_other_abi_version_import_error():
    proc = run_python(_fake_older_gocoro(gocoro.ABI_VERSION + 1, 200))
    out = proc.stdout.strip()
    assert out.startswith("ImportError: gocoro ABI mismatch"), describe(proc)
    assert f"provides ABI {gocoro.ABI_VERSION + 1} (table 200 bytes)" in out, out
    assert "rebuild the extension" in out, out
