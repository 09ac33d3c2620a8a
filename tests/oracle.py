"""The CPython oracle for gocoro's differential tests.

`program(ops, log, holder)` below is the same op interpreter as `program()` in
tests_c/gocoro_testmod.c, written as a CPython `async def` (`await _Yield(v)` provides the bare
yield to the driver).  The op set is documented at the top of that C file.

`differential(build, script)` runs one op program + one driver script against both
implementations and compares, after every driver action: the outcome (yielded value, return
value, exception type/message/cause/context), warnings, cr_running / cr_await / coroutine state,
and the log of what the coroutine saw.  Finally it drops the object (recording the warnings,
unraisable exceptions and log entries that produces).
"""
import gc
import os
import re
import sys
import types
import warnings
import weakref

import gocoro

KIND_COROUTINE = 0


def normalize_throw(typ, val=None, tb=None):
    """The exception instance CPython's throw() makes of (typ[, val[, tb]])."""
    if isinstance(typ, BaseException):
        if val is not None:
            raise TypeError("instance exception may not have a separate value")
        exc = typ
    elif isinstance(typ, type) and issubclass(typ, BaseException):
        if isinstance(val, typ):
            exc = val
        elif val is None:
            exc = typ()
        elif isinstance(val, tuple):
            exc = typ(*val)
        else:
            exc = typ(val)
    else:
        raise TypeError("exceptions must be classes or instances deriving from "
                        f"BaseException, not {type(typ).__name__}")
    if tb is not None:
        exc = exc.with_traceback(tb)
    return exc


class _Reraise(BaseException):
    """Carries an exception thrown in at a bare yield to the interpreter unchanged (raising it
    from _Yield.throw directly would turn a StopIteration into a return value)."""

    def __init__(self, exc):
        super().__init__()
        self.exc = exc


class _Yield:
    """`await _Yield(v)` is the oracle's bare yield (GOCORO_NEXT): yields v once, returns what is
    sent back; exceptions thrown in reach the interpreter as they are."""
    __slots__ = ("value", "done")

    def __init__(self, value):
        self.value = value
        self.done = False

    def __await__(self):
        return self

    def __iter__(self):
        return self

    def __next__(self):
        return self.send(None)

    def send(self, v):
        if self.done:
            raise StopIteration(v)
        self.done = True
        return self.value

    def throw(self, *args):
        raise _Reraise(normalize_throw(*args))

    def close(self):
        pass


@types.coroutine
def yield_once(value):
    """A generator-based coroutine (CO_ITERABLE_COROUTINE): awaitable; yields value once and
    returns what was sent back, tagged."""
    got = yield value
    return ("yield_once", got)


_SUSPENDING = frozenset(("yield", "yield_call", "await", "await_new"))


def _log(log, item):
    if log is not None:
        log.append(item)


async def program(ops, log, holder):
    # registers: [pc, handler, target, caught]
    r = [0, None, 0, None]
    n = len(ops)

    def fetch():
        op = ops[r[0]]
        r[0] += 1
        if not isinstance(op, tuple) or not op or not isinstance(op[0], str):
            raise TypeError(f"bad op {op!r}")
        return op[0], op[1:]

    def catch(e):
        """An exception arrived at a suspension point: True if the handler took it."""
        if r[1] is not None and isinstance(e, r[1]):
            _log(log, ("caught", type(e).__name__, str(e)))
            r[3] = e
            r[1] = None
            r[0] = r[2]
            return True
        return False

    def plain_until_suspension():
        """Run non-suspending ops up to the next suspension point (or the end).  Called inside
        the `except` block of a caught exception: like a native step, which runs with the
        thrown exception as the handled one until it suspends or finishes."""
        while r[0] < n:
            name, a = ops[r[0]][0], ops[r[0]][1:]
            if name in _SUSPENDING:
                return None
            r[0] += 1
            res = plain(name, a)
            if res is not None:
                return res
        return (_RETURN, None)

    def plain(name, a):
        if name == "return":
            return (_RETURN, a[0])
        elif name == "raise":
            raise a[0](*a[1:])
        elif name == "stopiteration":
            raise StopIteration(*a)
        elif name == "panic":
            raise gocoro.PanicException(a[0])
        elif name == "try":
            r[1] = BaseException if a[0] is None else a[0]
            r[2] = a[1]
        elif name == "endtry":
            r[1] = None
        elif name == "rethrow":
            if r[3] is None:
                raise AssertionError("rethrow without a caught exception")
            raise r[3]
        elif name == "goto":
            r[0] = a[0]
        elif name == "log":
            _log(log, a[0])
        elif name == "call":
            a[0](*a[1:])
        elif name == "call_log":
            _log(log, ("call", a[0](*a[1:])))
        elif name == "running":
            me = holder[0]()
            _log(log, ("running", bool(me.cr_running), me.cr_await is None))
        elif name == "self":
            me = holder[0]()
            meth = a[0]
            try:
                if meth == "send":
                    res = me.send(None)
                elif meth == "throw":
                    res = me.throw(ValueError("self-throw"))
                elif meth == "close":
                    res = me.close()
                elif meth == "iter_send":
                    import _gocoro_test
                    res = _gocoro_test.iter_send(me, None)
                elif meth == "wrapper_send":
                    res = me.__await__().send(None)
                else:
                    raise AssertionError(f"unknown self method {meth!r}")
            except (Exception,) as e:
                if isinstance(e, AssertionError):
                    raise
                _log(log, ("self", meth, type(e).__name__, str(e)))
            else:
                _log(log, ("self", meth, "ok", res))
            finally:
                me = None
        elif name == "call_self":
            a[0](holder[0]())
        elif name == "item":
            raise NotImplementedError("the oracle has no async generator kind")
        else:
            raise ValueError(f"unknown op {(name,) + tuple(a)!r}")
        return None

    while r[0] < n:
        name, a = fetch()
        if name in _SUSPENDING:
            if name == "yield":
                aw, tag = _Yield(a[0]), "sent"
            elif name == "yield_call":
                aw, tag = _Yield(a[0](*a[1:])), "sent"
            elif name == "await":
                aw, tag = a[0], "result"
            else:
                aw, tag = a[0](*a[1:]), "result"
            exc = None
            try:
                value = await aw
            except _Reraise as w:
                exc = w.exc
            except BaseException as e:
                if catch(e):
                    res = plain_until_suspension()
                    if res is not None:
                        return res[1]
                    continue
                raise
            finally:
                aw = None
            if exc is not None:
                try:
                    raise exc
                except BaseException as e:
                    if catch(e):
                        res = plain_until_suspension()
                        if res is not None:
                            return res[1]
                        continue
                    raise
                finally:
                    exc = e = None
            _log(log, (tag, value))
        else:
            res = plain(name, a)
            if res is not None:
                return res[1]
    return None


_RETURN = object()


def make_program(ops, log=None, kind=KIND_COROUTINE):
    """Oracle counterpart of _gocoro_test.program(ops, log, kind)."""
    if kind != KIND_COROUTINE:
        raise NotImplementedError("the oracle only implements the coroutine kind")
    if log is not None and not isinstance(log, list):
        raise TypeError("log must be a list or None")
    holder = []
    coro = program(tuple(ops), log, holder)
    holder.append(weakref.ref(coro))
    return coro


class Outer:
    async def named(value=None):  # noqa: N805 -- qualname "Outer.named", like the C spec
        return value


def make_named(value=None):
    return Outer.named(value)


class Impl:
    def __init__(self, name, program, named):
        self.name = name
        self.program = program
        self.named = named

    def __repr__(self):
        return f"<impl {self.name}>"


def oracle_impl():
    return Impl("oracle", make_program, make_named)


def native_impl():
    import _gocoro_test
    return Impl("native", _gocoro_test.program, _gocoro_test.named)


# --------------------------------------------------------------------------------------------
# summaries

def is_coroutine_object(x):
    return isinstance(x, (types.CoroutineType, gocoro.Coroutine))


def await_summary(x):
    """cr_await, normalised: None for a bare yield (the oracle's `_Yield`),
    "coroutine" for any coroutine object, else the type name."""
    if x is None:
        return None
    if type(x) is _Yield:
        return None
    if is_coroutine_object(x):
        return "coroutine"
    return type(x).__name__


def exc_brief(e):
    if e is None:
        return None
    return (type(e).__name__, str(e))


def exc_summary(e):
    return ("raise", type(e).__name__, str(e), exc_brief(e.__cause__), exc_brief(e.__context__),
            e.__suppress_context__)


def _attr(c, name):
    try:
        v = getattr(c, name)
    except Exception as e:  # noqa: BLE001 -- recorded and compared
        return ("error", type(e).__name__, str(e))
    return await_summary(v) if name == "cr_await" else v


HAS_CR_STATE = hasattr(types.CoroutineType, "cr_state")   # 3.15+


def coro_state(c):
    """(cr_running, cr_await summary, cr_frame is None[, cr_suspended on 3.11+][, cr_state on
    3.15+]).  inspect.getcoroutinestate() is checked by a dedicated test (up to 3.14 it depends on
    cr_frame)."""
    st = (_attr(c, "cr_running"), _attr(c, "cr_await"), _attr(c, "cr_frame") is None)
    if sys.version_info >= (3, 11):
        st += (_attr(c, "cr_suspended"),)
    if HAS_CR_STATE:
        st += (_attr(c, "cr_state"),)
    return st


_ADDR = re.compile(r" at 0x[0-9a-fA-F]+")


def unraisable_target(u, obj_id, obj_repr=None):
    """How an unraisable report names the object it is about, comparable across implementations.
    Up to 3.13 CPython passes the object itself: True when u.object is the object (id obj_id).
    Since 3.14 it passes object=None and names the object in err_msg ("Exception ignored while
    closing generator <repr>"): that message, with obj_repr as "<obj>" and other addresses
    elided.  False otherwise."""
    if obj_id is not None and id(u.object) == obj_id:
        return True
    if u.object is None and u.err_msg is not None:
        msg = u.err_msg.replace(obj_repr, "<obj>") if obj_repr else u.err_msg
        return _ADDR.sub(" at 0x?", msg)
    return False


def ignored_while(doing):
    """unraisable_target() of CPython's report of an exception raised while `doing` the object
    (e.g. "closing generator", "finalizing coroutine")."""
    return True if sys.version_info < (3, 14) else f"Exception ignored while {doing} <obj>"


def warn_summary(ws):
    return [(w.category.__name__, str(w.message), os.path.basename(w.filename or "")) for w in ws]


def snapshot(log):
    out = []
    for item in log:
        if isinstance(item, BaseException):
            out.append(("exception",) + exc_brief(item))
        elif is_coroutine_object(item):
            out.append("<coroutine>")
        else:
            out.append(item)
    return out


def _fresh_tb(exc_type, msg):
    try:
        raise exc_type(msg)
    except exc_type as e:
        return e, e.__traceback__


def _perform(coro, target, action):
    """Run one driver action; returns (outcome, new_target)."""
    kind, *a = action
    if kind == "send":
        return ("yield", target.send(a[0])), target
    if kind == "next":
        return ("yield", next(target)), target
    if kind == "throw":              # throw(T(*args))
        return ("yield", target.throw(a[0](*a[1:]))), target
    if kind == "throw_type":         # throw(T)
        return ("yield", target.throw(a[0])), target
    if kind == "throw2_inst":        # throw(T, T(msg))
        return ("yield", target.throw(a[0], a[0](*a[1:]))), target
    if kind == "throw_inst_none":    # throw(T(msg), None, None)
        return ("yield", target.throw(a[0](*a[1:]), None, None)), target
    if kind == "throw3_tb":          # throw(T, T(msg), tb)
        e, tb = _fresh_tb(a[0], a[1])
        return ("yield", target.throw(a[0], e, tb)), target
    if kind == "throw_args":         # throw(*args) verbatim (immutable args only)
        return ("yield", target.throw(*a)), target
    if kind == "close":
        return ("closed", target.close()), target
    if kind == "wrapper":            # switch to coro.__await__()
        w = coro.__await__()
        # the wrapper's type name is checked by a dedicated test
        return ("wrapper", iter(w) is w, hasattr(w, "__next__")), w
    if kind == "iter_send":          # PyIter_Send (am_send)
        import _gocoro_test
        return ("iter", _gocoro_test.iter_send(target, a[0])), target
    if kind == "call":               # arbitrary probe: f(coro)
        return ("call", a[0](coro)), target
    raise AssertionError(f"unknown action {action!r}")


def drive(box, log, script, warn="always"):
    """Run `script` against the object in the one-item list `box` (popped, so that the last
    reference is dropped here); returns the list of records (see module doc)."""
    coro = box.pop()
    records = []
    target = coro
    for action in script:
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter(warn)
            try:
                outcome, target = _perform(coro, target, action)
            except StopIteration as e:
                outcome = ("return", e.value)
            except BaseException as e:  # noqa: BLE001 -- recorded and compared
                outcome = exc_summary(e)
            finally:
                e = None
        records.append({"action": action, "outcome": outcome, "warnings": warn_summary(ws),
                        "state": coro_state(coro), "log": snapshot(log)})
    # drop the object: finalizer, warnings, unraisable exceptions
    unraisable = []
    cid = id(coro)
    crepr = repr(coro)

    def hook(u):
        unraisable.append((u.exc_type.__name__, str(u.exc_value), unraisable_target(u, cid, crepr),
                           exc_brief(u.exc_value.__cause__) if u.exc_value is not None else None))

    old_hook = sys.unraisablehook
    sys.unraisablehook = hook
    try:
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter(warn)
            try:
                wr = weakref.ref(coro)
            except TypeError:
                wr = None
            del target, coro
            if wr is None or wr() is not None:
                gc.collect()   # only when needed: a full collection is slow on a big heap
    finally:
        sys.unraisablehook = old_hook
    records.append({"action": ("<dealloc>",), "warnings": [w[:2] for w in warn_summary(ws)],
                    "unraisable": unraisable, "log": snapshot(log)})
    return records


def run_both(build, script, warn="always"):
    """build(impl, log) -> object.  Returns {"oracle": records, "native": records}."""
    results = {}
    for impl in (oracle_impl(), native_impl()):
        log = []
        results[impl.name] = drive([build(impl, log)], log, script, warn)
    return results


def differential(build, script, warn="always"):
    """Assert that the native object behaves like CPython's; returns the oracle's records."""
    res = run_both(build, script, warn)
    ora, nat = res["oracle"], res["native"]
    if os.environ.get("GOCORO_DIFF_NO_DEALLOC"):
        # triage aid: ignore the final <dealloc> record (finalizer/warning differences)
        ora, nat = ora[:-1], nat[:-1]
    return compare_records(ora, nat)


def compare_records(ora, nat, what=""):
    """Assert that two lists of per-action records are equal, reporting the first difference
    with both full histories; returns the oracle's records.  `what` names the object kind."""
    label = f"native {what} differs" if what else "native differs"
    for i, (o, n) in enumerate(zip(ora, nat)):
        if o != n:
            lines = [f"{label} from CPython at record {i} (action {o['action']!r}):"]
            for key in o:
                mark = "  " if o.get(key) == n.get(key) else "!!"
                lines.append(f" {mark} {key}: cpython={o.get(key)!r}")
                if mark == "!!":
                    lines.append(f" {mark} {key}: native ={n.get(key)!r}")
            lines.append("full CPython records:")
            lines += [f"    {r!r}" for r in ora]
            lines.append("full native records:")
            lines += [f"    {r!r}" for r in nat]
            raise AssertionError("\n".join(lines))
    assert len(ora) == len(nat)
    return ora


def prog(ops):
    """build() for a fixed op list."""
    def build(impl, log):
        return impl.program(ops, log)
    return build
