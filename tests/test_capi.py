"""The C API surface seen from extensions: types, Prepare/New validation, state handling,
tracebacks, PanicException, Go panics, runtime_info."""
import asyncio
import collections.abc
import inspect
import traceback

import pytest

import gocoro
import _gocoro_test


# --------------------------------------------------------------------------------------------
# types

def test_coroutine_type_identity():
    c = _gocoro_test.program([])
    assert type(c) is gocoro.Coroutine
    assert _gocoro_test.coroutine_type() is gocoro.Coroutine
    assert gocoro.Coroutine.__name__ == "Coroutine"
    assert gocoro.Coroutine.__module__ == "gocoro"
    c.close()


def test_coroutine_type_cannot_be_instantiated_from_python():
    with pytest.raises(TypeError):
        gocoro.Coroutine()


def test_check():
    c = _gocoro_test.program([])

    async def cpy():
        pass
    cc = cpy()
    assert _gocoro_test.check(c) == 1
    assert _gocoro_test.check(cc) == 0
    assert _gocoro_test.check(None) == 0
    assert _gocoro_test.check(gocoro.Coroutine) == 0
    c.close()
    cc.close()


def test_get_state_rejects_foreign_objects():
    async def cpy():
        pass
    cc = cpy()
    for obj in (None, 1, cc, gocoro.Coroutine):
        with pytest.raises(TypeError):
            _gocoro_test.get_state(obj)
    cc.close()
    c = _gocoro_test.program([])
    assert _gocoro_test.get_state(c) is True
    c.close()


PREDICATES = {
    "asyncio.iscoroutine": asyncio.iscoroutine,
    "inspect.isawaitable": inspect.isawaitable,
    "abc.Coroutine": lambda o: isinstance(o, collections.abc.Coroutine),
    "abc.Awaitable": lambda o: isinstance(o, collections.abc.Awaitable),
    "abc.Iterator": lambda o: isinstance(o, collections.abc.Iterator),
    "abc.Iterable": lambda o: isinstance(o, collections.abc.Iterable),
    "abc.Generator": lambda o: isinstance(o, collections.abc.Generator),
    "abc.AsyncIterator": lambda o: isinstance(o, collections.abc.AsyncIterator),
    "hashable": lambda o: isinstance(o, collections.abc.Hashable),
}


@pytest.mark.parametrize("name", sorted(PREDICATES))
def test_type_predicates_match_cpython(name):
    import oracle
    pred = PREDICATES[name]
    n = _gocoro_test.program([])
    o = oracle.make_program([])
    assert pred(n) == pred(o)
    if name in ("asyncio.iscoroutine", "inspect.isawaitable", "abc.Coroutine", "abc.Awaitable"):
        assert pred(n) is True
    n.close()
    o.close()


def test_abc_subclass_checks():
    assert issubclass(gocoro.Coroutine, collections.abc.Coroutine)
    assert issubclass(gocoro.Coroutine, collections.abc.Awaitable)


def test_cr_code_names_the_spec():
    c = _gocoro_test.named()
    code = c.cr_code
    assert code.co_name == "named"
    assert code.co_filename == "named.c"
    assert code.co_firstlineno == 7
    assert c.__name__ == "named"
    assert c.__qualname__ == "Outer.named"
    c.close()
    f = _gocoro_test.native_fail("x")
    assert (f.cr_code.co_name, f.cr_code.co_filename, f.cr_code.co_firstlineno) == (
        "native_fail", "native_fail.c", 4242)
    assert f.__qualname__ == "native_fail"     # qualname NULL: same as name
    f.close()


def test_cr_frame_attribute_exists():
    c = _gocoro_test.program([("yield", 1)])
    c.cr_frame   # may be None, but must exist (asyncio/trio/inspect read it)
    c.close()


# --------------------------------------------------------------------------------------------
# tracebacks

def _last_frame(exc):
    fs = traceback.extract_tb(exc.__traceback__)
    return fs[-1]


def test_traceback_names_native_step():
    for i in range(3):
        c = _gocoro_test.native_fail(f"failure {i}")
        with pytest.raises(ValueError, match=f"failure {i}") as ei:
            c.send(None)
        fr = _last_frame(ei.value)
        assert (fr.name, fr.filename, fr.lineno) == ("native_fail", "native_fail.c", 4242)


def test_traceback_through_async_def():
    async def outer():
        await _gocoro_test.native_fail("deep")

    with pytest.raises(ValueError) as ei:
        asyncio.run(outer())
    names = [(f.name, f.filename) for f in traceback.extract_tb(ei.value.__traceback__)]
    assert names[-1] == ("native_fail", "native_fail.c")
    assert ("outer", __file__) in names
    # formatting the traceback must work (the native frame has no source line)
    text = "".join(traceback.format_exception(type(ei.value), ei.value, ei.value.__traceback__))
    assert 'File "native_fail.c", line 4242, in native_fail' in text


def test_traceback_for_pep479_runtimeerror():
    c = _gocoro_test.program([("stopiteration", 1)])
    with pytest.raises(RuntimeError, match="coroutine raised StopIteration") as ei:
        c.send(None)
    assert isinstance(ei.value.__cause__, StopIteration)
    # like CPython: the native frame is on the StopIteration (the cause), not the RuntimeError
    fr = _last_frame(ei.value.__cause__)
    assert (fr.name, fr.filename) == ("program", "gocoro_testmod.c")
    assert _last_frame(ei.value).name == "test_traceback_for_pep479_runtimeerror"


# --------------------------------------------------------------------------------------------
# state handling

def test_init_is_copied_into_aligned_state():
    for a, b in [(1, 2), (-5, 5), (2**40, 3)]:
        c, same, aligned, copied = _gocoro_test.adder(a, b)
        assert same, "*state_out != GoCoro_GetState(obj)"
        assert aligned, "state not aligned to 16 bytes"
        assert copied, "init bytes not copied into the state"
        with pytest.raises(StopIteration) as si:
            c.send(None)
        assert si.value.value == a + b


def test_zero_size_state():
    for _ in range(3):
        c = _gocoro_test.zero_state()
        with pytest.raises(StopIteration) as si:
            c.send(None)
        assert si.value.value == "empty"


def test_new_with_null_init_is_zero_filled():
    for _ in range(5):
        # dirty recycled memory first
        c = _gocoro_test.counted("x" * 10, yields=3, hold=[1])
        c.send(None)
        c.close()
        del c
        obj, zero = _gocoro_test.new_null_init(_gocoro_test.COUNT_STATE_SIZE)
        assert zero, "GoCoro_New(code, NULL, ...) did not zero-fill the state"
        obj.close()


# --------------------------------------------------------------------------------------------
# bad input

PREPARE_CASES = {
    "null_spec": ("spec",),
    "null_step": ("step",),
    "abi": ("abi",),
    "abi0": ("abi",),
    "size_small": ("size",),
    "size_zero": ("size",),
    "kind": ("kind",),
    "null_name": ("name",),
}


@pytest.mark.parametrize("case", sorted(PREPARE_CASES))
def test_prepare_rejects_bad_spec(case):
    with pytest.raises((ValueError, TypeError, RuntimeError)) as ei:
        _gocoro_test.bad_prepare(case)
    msg = str(ei.value).lower()
    for word in PREPARE_CASES[case]:
        assert word in msg, f"uninformative message for {case}: {ei.value!r}"
    assert type(ei.value) is not SystemError


def test_prepare_messages_give_the_numbers():
    with pytest.raises(Exception) as ei:
        _gocoro_test.bad_prepare("abi")
    assert str(_gocoro_test.ABI_VERSION + 41) in str(ei.value)
    with pytest.raises(Exception) as ei:
        _gocoro_test.bad_prepare("kind")
    assert "99" in str(ei.value)


def test_prepare_ok():
    code = _gocoro_test.bad_prepare("ok")
    assert code is not None


def test_program_with_unknown_kind():
    with pytest.raises((ValueError, TypeError, RuntimeError), match="(?i)kind"):
        _gocoro_test.program([], kind=77)


@pytest.mark.parametrize("case", ["bigger", "smaller", "zero"])
def test_new_rejects_wrong_init_size(case):
    with pytest.raises(ValueError) as ei:
        _gocoro_test.bad_new(case)
    assert "size" in str(ei.value).lower(), repr(ei.value)


def test_new_ok():
    c = _gocoro_test.bad_new("ok")
    with pytest.raises(StopIteration):
        c.send(None)


def test_huge_state_fails_cleanly():
    with pytest.raises(Exception) as ei:
        _gocoro_test.huge_new()
    assert type(ei.value) is not SystemError
    assert isinstance(ei.value, (MemoryError, ValueError, OverflowError)), repr(ei.value)


def test_api_table():
    info = _gocoro_test.api_info()
    assert info["abi_version"] == _gocoro_test.ABI_VERSION == 1
    assert info["struct_size"] >= info["header_struct_size"]


# --------------------------------------------------------------------------------------------
# PanicException and Go panics

def test_panic_exception_class():
    P = gocoro.PanicException
    assert issubclass(P, BaseException)
    assert not issubclass(P, Exception)
    assert _gocoro_test.panic_exception() is P
    assert P.__name__ == "PanicException"
    assert P.__module__ == "gocoro"


def test_step_raise_panic():
    for i in range(3):
        c = _gocoro_test.panic_step(f"step panic {i}")
        with pytest.raises(gocoro.PanicException) as ei:
            c.send(None)
        assert str(ei.value) == f"step panic {i}"


def test_panic_is_not_caught_by_except_exception():
    c = _gocoro_test.panic_step("not an Exception")
    caught = None
    try:
        try:
            c.send(None)
        except Exception:  # noqa: BLE001
            caught = "Exception"
    except BaseException as e:  # noqa: BLE001
        caught = type(e)
    assert caught is gocoro.PanicException


def test_go_panic_becomes_panic_exception():
    for i in range(3):
        with pytest.raises(gocoro.PanicException) as ei:
            gocoro._test_go_panic(f"go went wrong {i}")
        assert f"go went wrong {i}" in str(ei.value)
    # the library keeps working after Go panics
    c = _gocoro_test.program([("return", "alive")])
    with pytest.raises(StopIteration) as si:
        c.send(None)
    assert si.value.value == "alive"
    assert isinstance(gocoro.runtime_info(), dict)


def test_panic_in_coroutine_under_asyncio():
    async def main():
        try:
            await _gocoro_test.panic_step("in task")
        except gocoro.PanicException as e:
            return str(e)
    assert asyncio.run(main()) == "in task"


def test_runtime_info():
    info = gocoro.runtime_info()
    assert isinstance(info, dict)
    assert info


def test_coroutine_type_subclassing_and_instantiation_fail_cleanly():
    try:
        class Sub(gocoro.Coroutine):
            pass
    except TypeError:
        return
    with pytest.raises(TypeError):
        Sub()


def test_copy_and_pickle_refused():
    import copy
    import pickle
    c = _gocoro_test.program([("yield", 1)])
    with pytest.raises(TypeError):
        copy.copy(c)
    with pytest.raises((TypeError, pickle.PicklingError)):
        pickle.dumps(c)
    c.close()


def test_cr_frame_lineno_is_an_int():
    """Frame consumers (asyncio Task.print_stack, traceback.extract_stack, linecache) need an
    int f_lineno while the coroutine exists."""
    c = _gocoro_test.named()
    assert c.cr_frame.f_lineno == 7
    c2 = _gocoro_test.program([("yield", 1)])
    c2.send(None)
    assert isinstance(c2.cr_frame.f_lineno, int), c2.cr_frame.f_lineno
    assert traceback.extract_stack(c2.cr_frame)[-1].name == "program"
    c.close()
    c2.close()


def test_task_stack_introspection():
    """asyncio's Task.get_stack()/print_stack() walk cr_frame / cr_await."""
    import io

    async def main():
        t = asyncio.create_task(_gocoro_test.program([("await_new", asyncio.sleep, 0.01),
                                                      ("return", 1)]))
        await asyncio.sleep(0)
        stack = t.get_stack()
        buf = io.StringIO()
        t.print_stack(file=buf)
        await t
        return stack, buf.getvalue(), t.get_stack()
    stack, text, done_stack = asyncio.run(main())
    assert isinstance(stack, list)
    assert "program" in text or "Stack for" in text
    assert done_stack == []


def test_module_attributes():
    assert gocoro.ABI_VERSION == _gocoro_test.ABI_VERSION == 1
    assert isinstance(gocoro.__version__, str)
    assert isinstance(gocoro._C_API, type(gocoro._C_API))   # the capsule exists
    assert type(gocoro._C_API).__name__ == "PyCapsule"
