"""CPython oracles for gocoro's generator, iterator and async generator kinds.

tests_c/gocoro_testmod.c's `program(ops, log, kind)` interprets a tuple of ops (documented at
the top of that file) as a native gocoro object of the given kind.  This module holds the same
interpreter written as CPython objects of the corresponding kind:

  kind 1 GENERATOR        gen_program: a `def` with `yield`
                          GOCORO_NEXT ("yield") == `yield v`,
                          GOCORO_AWAIT ("await") == `yield from x`
  kind 2 ITERATOR         IterProgram: a class-based iterator whose __next__ runs the ops up to
                          the next "yield" (the native __next__ calls step directly; it can only
                          yield, return or raise, and once finished it stays exhausted)
  kind 3 ASYNC_GENERATOR  agen_program: an `async def` with `yield`
                          GOCORO_ITEM ("item") == `yield v`,
                          GOCORO_NEXT ("yield") == a bare yield to the event loop
                          (a @types.coroutine), GOCORO_AWAIT ("await") == `await x`

plus drivers that run one op program + one driver script against both implementations and
compare everything observable after every action (differential_gen / differential_iter /
differential_agen).  The native object is observed from inside through ("call_log", probe)
ops: `build(impl, log)` functions get an Impl whose .program() also fills `Impl.me`-style
holders (see `Holder`), so probes can look at the object while it runs.
"""
import gc
import os
import sys
import types
import warnings
import weakref

import gocoro
from oracle import compare_records, unraisable_target

KIND_COROUTINE = 0
KIND_GENERATOR = 1
KIND_ITERATOR = 2
KIND_ASYNC_GENERATOR = 3

PY = sys.version_info[:2]


@types.coroutine
def _yield(value):
    """A bare yield to the driver / event loop (the async generator oracle's GOCORO_NEXT)."""
    return (yield value)


@types.coroutine
def yield_once(value):
    """A generator-based coroutine: awaitable *and* iterable; yields value once and returns
    what was sent back, tagged."""
    got = yield value
    return ("yield_once", got)


def _cpython_gen():
    yield 1


async def _cpython_agen():
    yield 1


_g = _cpython_gen()
_a = _cpython_agen()
HAS_GI_SUSPENDED = hasattr(_g, "gi_suspended")
HAS_AG_SUSPENDED = hasattr(_a, "ag_suspended")
HAS_GI_STATE = hasattr(_g, "gi_state")        # 3.15+
HAS_AG_STATE = hasattr(_a, "ag_state")
GEN_ATTRS = sorted(a for a in dir(_g) if not a.startswith("__") or a in ("__name__", "__qualname__"))
AGEN_ATTRS = sorted(a for a in dir(_a) if not a.startswith("__") or a in ("__name__", "__qualname__"))
del _g, _a


# --------------------------------------------------------------------------------------------
# the interpreter, shared by the three oracles

_SUSPENDING = frozenset(("yield", "yield_call", "await", "await_new", "item"))


def _log(log, item):
    if log is not None:
        log.append(item)


class _Regs:
    """The interpreter's registers (the native ProgState)."""

    __slots__ = ("ops", "log", "pc", "handler", "target", "caught")

    def __init__(self, ops, log):
        if log is not None and not isinstance(log, list):
            raise TypeError("log must be a list or None")
        self.ops = tuple(ops)
        self.log = log
        self.pc = 0
        self.handler = None
        self.target = 0
        self.caught = None

    def fetch(self):
        """The next op (name, args), or None past the end."""
        if self.pc >= len(self.ops):
            return None
        op = self.ops[self.pc]
        self.pc += 1
        if not isinstance(op, tuple) or not op or not isinstance(op[0], str):
            raise TypeError(f"bad op {op!r}")
        return op[0], op[1:]

    def catch(self, e):
        """An exception arrived at a suspension point: True if the handler took it."""
        if self.handler is not None and isinstance(e, self.handler):
            _log(self.log, ("caught", type(e).__name__, str(e)))
            self.caught = e
            self.handler = None
            self.pc = self.target
            return True
        return False


_RETURN = object()


def _plain_until_suspension(r):
    """Run non-suspending ops up to the next suspension point or the end ((_RETURN, None)).
    Called inside the `except` block of a caught exception: like a native step, which runs with
    the thrown exception as the handled one until it suspends or finishes."""
    while r.pc < len(r.ops):
        op = r.ops[r.pc]
        if isinstance(op, tuple) and op and op[0] in _SUSPENDING:
            return None
        name, a = r.fetch()
        res = _plain(r, name, a)
        if res is not None:
            return res
    return (_RETURN, None)


def _plain(r, name, a):
    """Run one non-suspending op.  Returns (_RETURN, value) for "return", else None."""
    if name == "return":
        return (_RETURN, a[0])
    if name == "raise":
        raise a[0](*a[1:])
    if name == "stopiteration":
        raise StopIteration(*a)
    if name == "panic":
        raise gocoro.PanicException(a[0])
    if name == "try":
        r.handler = BaseException if a[0] is None else a[0]
        r.target = a[1]
    elif name == "endtry":
        r.handler = None
    elif name == "rethrow":
        if r.caught is None:
            raise AssertionError("rethrow without a caught exception")
        raise r.caught
    elif name == "goto":
        r.pc = a[0]
    elif name == "log":
        _log(r.log, a[0])
    elif name == "call":
        a[0](*a[1:])
    elif name == "call_log":
        _log(r.log, ("call", a[0](*a[1:])))
    elif name in ("running", "self"):
        raise AssertionError(f"op {name!r} is coroutine-only; use ('call_log', probe) instead")
    else:
        raise ValueError(f"unknown op {(name,) + tuple(a)!r}")
    return None


def gen_program(ops, log):
    """The generator oracle (kind 1)."""
    r = _Regs(ops, log)
    while True:
        op = r.fetch()
        if op is None:
            return None
        name, a = op
        if name in _SUSPENDING:
            if name == "item":
                raise AssertionError("'item' is for async generators only")
            if name == "yield":
                v, delegate, tag = a[0], False, "sent"
            elif name == "yield_call":
                v, delegate, tag = a[0](*a[1:]), False, "sent"
            elif name == "await":
                v, delegate, tag = a[0], True, "result"
            else:
                v, delegate, tag = a[0](*a[1:]), True, "result"
            try:
                if delegate:
                    value = yield from v
                else:
                    value = yield v
            except BaseException as e:
                if r.catch(e):
                    res = _plain_until_suspension(r)
                    if res is not None:
                        return res[1]
                    continue
                raise
            finally:
                v = None
            _log(r.log, (tag, value))
            continue
        res = _plain(r, name, a)
        if res is not None:
            return res[1]


class IterProgram:
    """The iterator oracle (kind 2): a class-based iterator; exhausted stays exhausted."""

    def __init__(self, ops, log):
        self._r = _Regs(ops, log)
        self._state = "created"

    def __iter__(self):
        return self

    def __next__(self):
        r = self._r
        if self._state == "closed":
            raise StopIteration
        if self._state == "suspended":
            _log(r.log, ("sent", None))
        self._state = "running"
        try:
            while True:
                op = r.fetch()
                if op is None:
                    self._state = "closed"
                    raise StopIteration
                name, a = op
                if name in ("yield", "yield_call"):
                    v = a[0] if name == "yield" else a[0](*a[1:])
                    self._state = "suspended"
                    return v
                if name in _SUSPENDING:
                    raise AssertionError(f"op {name!r} is not for iterators")
                res = _plain(r, name, a)
                if res is not None:
                    # a plain iterator has no return value: the iteration just ends
                    self._state = "closed"
                    raise StopIteration
        except BaseException:
            self._state = "closed"
            raise


async def agen_program(ops, log):
    """The async generator oracle (kind 3)."""
    r = _Regs(ops, log)
    while True:
        op = r.fetch()
        if op is None:
            return
        name, a = op
        if name in _SUSPENDING:
            if name == "item":
                v, how, tag = a[0], "item", "sent"
            elif name == "yield":
                v, how, tag = _yield(a[0]), "await", "sent"
            elif name == "yield_call":
                v, how, tag = _yield(a[0](*a[1:])), "await", "sent"
            elif name == "await":
                v, how, tag = a[0], "await", "result"
            else:
                v, how, tag = a[0](*a[1:]), "await", "result"
            try:
                if how == "item":
                    value = yield v
                else:
                    value = await v
            except BaseException as e:
                if r.catch(e):
                    res = _plain_until_suspension(r)
                    if res is not None:
                        return
                    continue
                raise
            finally:
                v = None
            _log(r.log, (tag, value))
            continue
        res = _plain(r, name, a)
        if res is not None:
            return  # an async generator has no return value


# --------------------------------------------------------------------------------------------
# implementations

class Impl:
    def __init__(self, name, make):
        self.name = name
        self._make = make

    def program(self, ops, log=None, kind=KIND_GENERATOR):
        return self._make(tuple(ops), log, kind)

    def __repr__(self):
        return f"<impl {self.name}>"


# The native objects are named after the C function `program`: name the async generator oracle
# the same (function and code object), so messages quoting the qualname compare equal.
agen_program.__code__ = agen_program.__code__.replace(co_name="program", **(
    {"co_qualname": "program"} if sys.version_info >= (3, 11) else {}))
agen_program.__name__ = agen_program.__qualname__ = "program"


def _oracle_make(ops, log, kind):
    if kind == KIND_GENERATOR:
        return gen_program(ops, log)
    if kind == KIND_ITERATOR:
        return IterProgram(ops, log)
    if kind == KIND_ASYNC_GENERATOR:
        return agen_program(ops, log)
    raise NotImplementedError(f"kind {kind}")


def _native_make(ops, log, kind):
    import _gocoro_test
    return _gocoro_test.program(ops, log, kind)


def oracle_impl():
    return Impl("oracle", _oracle_make)


def native_impl():
    return Impl("native", _native_make)


def impls():
    return [oracle_impl(), native_impl()]


class Holder:
    """Lets probes reach the object they run in: `h = Holder(); ops = [("call_log", h.bind(f))];
    obj = h.set(impl.program(ops, log, kind))` -- the probe then gets f(obj).  Holds only a
    weak reference."""

    def __init__(self):
        self._ref = None

    def set(self, obj):
        self._ref = weakref.ref(obj)
        return obj

    def get(self):
        return self._ref() if self._ref is not None else None

    def bind(self, f, *args):
        def probe():
            me = self.get()
            try:
                return f(me, *args)
            finally:
                me = None
        probe.__name__ = getattr(f, "__name__", "probe")
        return probe


# --------------------------------------------------------------------------------------------
# summaries

def obj_summary(x):
    """A value seen by a driver or probe, normalised so that both implementations compare."""
    if x is None:
        return None
    if isinstance(x, BaseException):
        return ("exception", type(x).__name__, str(x))
    if isinstance(x, types.GeneratorType) and x.gi_code is _yield.__code__:
        return "<bare yield>"
    if isinstance(x, (types.CoroutineType, gocoro.Coroutine)):
        return "<coroutine>"
    if isinstance(x, (types.GeneratorType, gocoro.Generator)):
        return "<generator>"
    if isinstance(x, (types.AsyncGeneratorType, gocoro.AsyncGenerator)):
        return "<async_generator>"
    return x


def yf_summary(x):
    """gi_yieldfrom / ag_await: None, a tag for generator-ish objects, else the type name."""
    if x is None:
        return None
    if isinstance(x, types.GeneratorType) and x.gi_code is _yield.__code__:
        return None  # the async oracle's bare yield is no await for the native side
    s = obj_summary(x)
    return s if isinstance(s, str) and s.startswith("<") else type(x).__name__


def exc_brief(e):
    if e is None:
        return None
    return (type(e).__name__, str(e))


def exc_summary(e):
    return ("raise", type(e).__name__, str(e), exc_brief(e.__cause__), exc_brief(e.__context__),
            e.__suppress_context__)


def warn_summary(ws):
    return [(w.category.__name__, str(w.message), os.path.basename(w.filename or "")) for w in ws]


def snapshot(log):
    out = []
    for item in log:
        if isinstance(item, BaseException):
            out.append(("exception",) + exc_brief(item))
        else:
            out.append(obj_summary(item))
    return out


def _guard(f, *a):
    try:
        return f(*a)
    except Exception as e:  # noqa: BLE001 -- recorded and compared
        return ("error", type(e).__name__, str(e))


def gen_state(g):
    st = [_guard(lambda: bool(g.gi_running)), _guard(lambda: yf_summary(g.gi_yieldfrom))]
    if HAS_GI_SUSPENDED:
        st.append(_guard(lambda: bool(g.gi_suspended)))
    if HAS_GI_STATE:
        st.append(_guard(lambda: g.gi_state))
    return tuple(st)


def agen_state(g):
    st = [_guard(lambda: bool(g.ag_running)), _guard(lambda: yf_summary(g.ag_await))]
    if HAS_AG_SUSPENDED:
        st.append(_guard(lambda: bool(g.ag_suspended)))
    if HAS_AG_STATE:  # (since 3.15 independent of ag_running: see test_ag_state_while_awaiting)
        st.append(_guard(lambda: g.ag_state))
    return tuple(st)


def _fresh_tb(exc_type, msg):
    try:
        raise exc_type(msg)
    except exc_type as e:
        return e, e.__traceback__


def _throw_call(target, kind, a):
    """The throw() call forms shared by generators and awaitables."""
    if kind == "throw":              # throw(T(*args))
        return target.throw(a[0](*a[1:]))
    if kind == "throw_type":         # throw(T)
        return target.throw(a[0])
    if kind == "throw2_inst":        # throw(T, T(msg))
        return target.throw(a[0], a[0](*a[1:]))
    if kind == "throw3_tb":          # throw(T, T(msg), tb)
        e, tb = _fresh_tb(a[0], a[1])
        return target.throw(a[0], e, tb)
    if kind == "throw_args":         # throw(*args) verbatim
        return target.throw(*a)
    raise AssertionError(kind)


_THROWS = ("throw", "throw_type", "throw2_inst", "throw3_tb", "throw_args")


def _collect_unraisable(obj_id, obj_repr=None):
    seen = []

    def hook(u):
        seen.append((u.exc_type.__name__, str(u.exc_value), unraisable_target(u, obj_id, obj_repr),
                     exc_brief(u.exc_value.__cause__) if u.exc_value is not None else None,
                     exc_brief(u.exc_value.__context__) if u.exc_value is not None else None))
    return seen, hook


def _drop(box_items, obj_id, log, warn, extra=None):
    """Drop the last references (box_items is cleared) and record what that does."""
    unraisable, hook = _collect_unraisable(obj_id, repr(box_items[0]))
    old_hook = sys.unraisablehook
    sys.unraisablehook = hook
    try:
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter(warn)
            wr = weakref.ref(box_items[0])
            box_items.clear()
            for generation in (0, 1, 2):
                if wr() is None:
                    break
                gc.collect(generation)  # kept alive by a reference cycle
    finally:
        sys.unraisablehook = old_hook
    rec = {"action": ("<dealloc>",), "warnings": [w[:2] for w in warn_summary(ws)],
           "unraisable": unraisable, "log": snapshot(log)}
    if extra is not None:
        rec.update(extra())
    return rec


def _record(action, thunk, warn, state, log):
    unraisable, hook = _collect_unraisable(None)
    old_hook = sys.unraisablehook
    sys.unraisablehook = hook
    try:
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter(warn)
            try:
                outcome = thunk()
            except StopIteration as e:
                outcome = ("return", obj_summary(e.value))
            except StopAsyncIteration as e:
                outcome = ("stopasync",) + exc_summary(e)[1:]
            except BaseException as e:  # noqa: BLE001 -- recorded and compared
                outcome = exc_summary(e)
            finally:
                e = None
    finally:
        sys.unraisablehook = old_hook
    rec = {"action": action, "outcome": outcome, "warnings": warn_summary(ws), "state": state(),
           "log": snapshot(log)}
    if unraisable:
        rec["unraisable"] = [u[:2] + u[3:] for u in unraisable]
    return rec


# --------------------------------------------------------------------------------------------
# generator driver

def _gen_action(g, action):
    kind, *a = action
    if kind == "next":
        return ("yield", obj_summary(next(g)))
    if kind == "send":
        return ("yield", obj_summary(g.send(a[0])))
    if kind in _THROWS:
        return ("yield", obj_summary(_throw_call(g, kind, a)))
    if kind == "close":
        return ("closed", obj_summary(g.close()))
    if kind == "list":
        return ("list", [obj_summary(x) for x in list(g)])
    if kind == "for":               # for x in g, at most a[0] items
        out = []
        for x in g:
            out.append(obj_summary(x))
            if len(out) >= a[0]:
                break
        return ("for", out)
    if kind == "iter_send":         # PyIter_Send (am_send, or tp_iternext / send())
        import _gocoro_test
        r = _gocoro_test.iter_send(g, a[0])
        return ("iter", r[0], obj_summary(r[1]))
    if kind == "call":              # arbitrary probe f(g)
        return ("call", a[0](g))
    raise AssertionError(f"unknown action {action!r}")


def drive_gen(box, log, script, warn="always", state=gen_state):
    g = box.pop()
    records = []
    for action in script:
        records.append(_record(action, lambda: _gen_action(g, action), warn, lambda: state(g), log))
    gid = id(g)
    items = [g]
    del g
    records.append(_drop(items, gid, log, warn))
    return records


def _compare(res, what):
    return compare_records(res["oracle"], res["native"], what)


def _run_both(build, kind, script, warn, driver):
    results = {}
    for impl in impls():
        log = []
        results[impl.name] = driver([build(impl, log)], log, script, warn)
    return results


def gprog(ops, kind=KIND_GENERATOR):
    """build() for a fixed op list."""
    def build(impl, log):
        return impl.program(ops, log, kind)
    return build


def differential_gen(build, script, warn="always"):
    """Generator kind: assert that the native object behaves like a CPython generator."""
    if not callable(build):
        build = gprog(build)
    return _compare(_run_both(build, KIND_GENERATOR, script, warn, drive_gen), "generator")


# --------------------------------------------------------------------------------------------
# iterator driver

def iter_state(it):
    return ()


def differential_iter(build, script, warn="always"):
    """Iterator kind: assert that the native object behaves like a well-behaved CPython iterator."""
    if not callable(build):
        build = gprog(build, KIND_ITERATOR)

    def driver(box, log, script, warn):
        return drive_gen(box, log, script, warn, state=iter_state)
    return _compare(_run_both(build, KIND_ITERATOR, script, warn, driver), "iterator")


# --------------------------------------------------------------------------------------------
# async generator driver
#
# Actions on the generator:
#   ("anext", slot)            slots[slot] = g.__anext__()
#   ("anext_builtin", slot[, default])   slots[slot] = anext(g[, default])
#   ("asend", slot, v)         slots[slot] = g.asend(v)
#   ("athrow", slot, *args)    slots[slot] = g.athrow(*args)  (args: T -> T, ("inst", T, msg) -> T(msg))
#   ("aclose", slot)           slots[slot] = g.aclose()
#   ("call", f)                f(g)
# Actions on an awaitable in a slot:
#   ("send", slot, v) ("next", slot) ("throw*", slot, ...) ("close", slot)
#   ("drive", slot)            send(None) until it finishes: ("drove", [yielded...], end)
#   ("drop", slot)             forget it
#   ("probe", slot)            protocol shape of the awaitable

def _athrow_args(a):
    out = []
    for x in a:
        if isinstance(x, tuple) and x and x[0] == "inst":
            out.append(x[1](*x[2:]))
        else:
            out.append(x)
    return out


def _end_summary(f):
    try:
        return ("value", obj_summary(f()))
    except StopIteration as e:
        return ("stop", obj_summary(e.value))
    except StopAsyncIteration as e:
        return ("stopasync",) + exc_summary(e)[1:]
    except BaseException as e:  # noqa: BLE001
        return exc_summary(e)


def _aw_probe(aw):
    return (iter(aw) is aw, aw.__await__() is aw, hasattr(aw, "send"), hasattr(aw, "throw"),
            hasattr(aw, "close"), hasattr(aw, "__next__"),
            isinstance(aw, __import__("collections.abc").abc.Awaitable),
            isinstance(aw, __import__("collections.abc").abc.Coroutine))


def _agen_action(g, slots, action):
    kind, *a = action
    if kind == "anext":
        slots[a[0]] = g.__anext__()
        return ("new",)
    if kind == "anext_builtin":
        slots[a[0]] = anext(g, *a[1:])
        return ("new",)
    if kind == "asend":
        slots[a[0]] = g.asend(a[1])
        return ("new",)
    if kind == "athrow":
        slots[a[0]] = g.athrow(*_athrow_args(a[1:]))
        return ("new",)
    if kind == "aclose":
        slots[a[0]] = g.aclose()
        return ("new",)
    if kind == "call":
        return ("call", a[0](g))
    aw = slots[a[0]]
    if kind == "send":
        return ("yield", obj_summary(aw.send(a[1])))
    if kind == "next":
        return ("yield", obj_summary(next(aw)))
    if kind in _THROWS:
        return ("yield", obj_summary(_throw_call(aw, kind, a[1:])))
    if kind == "close":
        return ("closed", obj_summary(aw.close()))
    if kind == "drive":
        ys = []
        for _ in range(100):
            try:
                ys.append(obj_summary(aw.send(None)))
            except StopIteration as e:
                return ("drove", ys, ("stop", obj_summary(e.value)))
        return ("drove", ys, "did not finish")
    if kind == "drop":
        del slots[a[0]]
        return ("dropped",)
    if kind == "probe":
        return ("probe", _aw_probe(aw))
    raise AssertionError(f"unknown action {action!r}")


def drive_agen(box, log, script, warn="always"):
    g = box.pop()
    slots = {}
    records = []
    for action in script:
        records.append(_record(action, lambda: _agen_action(g, slots, action), warn,
                               lambda: agen_state(g), log))
    gid = id(g)
    items = [g] + list(slots.values())   # awaitables are dropped (and may warn) with it
    del g
    slots.clear()
    records.append(_drop(items, gid, log, warn))
    return records


def differential_agen(build, script, warn="always"):
    """Async generator kind: assert that the native object behaves like a CPython async gen."""
    if not callable(build):
        build = gprog(build, KIND_ASYNC_GENERATOR)
    return _compare(_run_both(build, KIND_ASYNC_GENERATOR, script, warn, drive_agen),
                    "async generator")


def run_both_values(f):
    """f(impl) -> value, for both implementations: {"oracle": v, "native": v}."""
    return {impl.name: f(impl) for impl in impls()}


def assert_same(f):
    """f(impl) -> comparable value; assert both implementations agree; returns the oracle's."""
    res = run_both_values(f)
    assert res["native"] == res["oracle"], (
        f"native differs from CPython:\n  cpython={res['oracle']!r}\n  native ={res['native']!r}")
    return res["oracle"]
