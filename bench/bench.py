"""gocoro benchmark runner: ONE process per CPython version measures every implementation
side by side (see bench/README.md).  Normally started by bench/run.sh, which builds the anchors
into bench/build/pyX.Y/ and sets PYTHONPATH; it can be run by hand the same way:

    PYTHONPATH=build/py3.11:build/py3.11/ext:bench/build/py3.11 \\
        .venv/py3.11/bin/python bench/bench.py --quick --out /tmp/py3.11.json

Cases (lower is better):
  step_await         ns per suspension: `async def outer(aw): return await aw`, resumed by a
                     C send() loop (PyIter_Send, like _asyncio.Task) -- the await-delegation path.
  step_await_pyloop  same, but resumed by a Python `while True: send(None)` loop.
  step_iter          ns per suspension, C-level driver: deque(aw.__await__(), maxlen=0).
  create_complete    ns per `await make()` in `async def outer(): for ...: await make()`,
                     make() returning an awaitable that completes at once with 1.
  create_complete_none  the same with make = done_none: completes at once with None (on
                     3.12+ a non-native awaitable returning a value pays for a StopIteration;
                     returning None does not).
  bytes_suspended    bytes per object suspended after one step (tracemalloc, 20k objects).
  wake_roundtrip     ns per wake: N asyncio tasks parked, ONE foreign thread wakes them all
                     (gocoro: GoCoro_Wake without the GIL; baseline: call_soon_threadsafe;
                     loop_thread: the asyncio floor, results set on the loop thread).
  wake_pingpong      ns per sequential loop -> thread -> loop round trip.
  blocking_work      ns per sequential offloaded no-op (gocoro: GoCoro_RunBlocking; baseline:
                     loop.run_in_executor(None, f)); blocking_batch: 100 in flight.
  The last four need gocoro's waker/executor API (gocoro_bench.HAS_WAKER); without it only the
  asyncio baselines are measured and gocoro is reported as pending.
  async_for          ns per item of `async for _ in agen(n): pass` (gocoro/native/Cython async
                     generators yielding None).
  await_chain_100    ns per resume through a chain of 100 coroutines each awaiting the next, the
                     last one awaiting a types.coroutine generator that yields 1000 times;
  await_chain_10     the same with 10 levels (shows what depends on the depth).
  rust_ready         (a) asyncio, ns per `await ready()`: a Rust future that is ready at once,
                     through the gocoro crate / PyO3 experimental-async / pyo3-async-runtimes.
  rust_await         (b) asyncio, ns per await of a Python awaitable (an `async def` returning 1)
                     inside a Rust async fn that awaits 1000 of them.
  rust_wake          (c) asyncio, ns per wake of a Rust future woken by a plain Rust thread.
Every timed case reports the minimum over interleaved repeats by default (--stat).

--instructions (run under `valgrind --tool=callgrind`, see bench/run.sh): no timing; every case
and implementation is run twice, with N and 2N operations, each run between CALLGRIND_ZERO_STATS
and CALLGRIND_DUMP_STATS (bench/cgmarks.c); instructions per operation = the difference of the
two runs / N, so setup, warm-up and the harness cancel out exactly (each size runs 3 times,
the minimum counts: the Go runtime or tokio threads occasionally add work).  Every thread counts
(user space only: the kernel side of system calls and thread switches is invisible).
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import faulthandler
import gc
import json
import os
import platform
import queue
import statistics
import sys
import threading
import time
import tracemalloc
import types

perf_counter_ns = time.perf_counter_ns

# --------------------------------------------------------------------------------------------
# Implementations.  Each provides steps(n) (suspends n times yielding None, returns None),
# done() (completes on the first resume with 1) and done_none() (the same with None).
# --------------------------------------------------------------------------------------------


@types.coroutine
def sleep0():
    """Yield-once awaitable, exactly what asyncio.sleep(0) uses."""
    yield


async def native_steps(n):
    for _ in range(n):
        await sleep0()


async def native_done():
    return 1


async def native_done_none():
    return None


async def native_agen(n):
    for _ in range(n):
        yield None


async def native_chain(depth, leaf):
    if depth:
        return await native_chain(depth - 1, leaf)
    return await leaf


@types.coroutine
def gen_steps(n):
    for _ in range(n):
        yield


@types.coroutine
def gen_done():
    return 1
    yield  # noqa: unreachable -- makes this a generator


@types.coroutine
def gen_done_none():
    return None
    yield  # noqa: unreachable -- makes this a generator


IMPL_ORDER = ["gocoro", "native", "gen", "climit", "cython", "pyo3"]
# The Rust cases compare the gocoro crate with PyO3's experimental-async and pyo3-async-runtimes.
RUST_ORDER = ["gocoro_rs", "pyo3", "pyo3_art"]
IMPL_LABELS = {
    "gocoro": "gocoro",
    "native": "native async def",
    "gen": "types.coroutine gen",
    "climit": "C limit (am_send)",
    "cython": "Cython 3 async def",
    "pyo3": "PyO3 async fn",
    "gocoro_rs": "gocoro Rust crate",
    "pyo3_art": "pyo3-async-runtimes (tokio)",
}
IMPL_MODULES = {"gocoro": "gocoro_bench", "climit": "climit", "cython": "cy_coro",
                "pyo3": "pyo3_anchor", "gocoro_rs": "gocoro_rs_bench", "pyo3_art": "pyo3_anchor"}

CASES = ["step_await", "step_await_pyloop", "step_iter", "create_complete",
         "create_complete_none", "bytes_suspended", "wake_roundtrip", "wake_pingpong",
         "blocking_work", "blocking_batch", "async_for", "await_chain_100", "await_chain_10",
         "rust_ready", "rust_await", "rust_wake"]
RUST_CASES = ["rust_ready", "rust_await", "rust_wake"]
CHAIN_DEPTHS = {"await_chain_100": 100, "await_chain_10": 10}
UNITS = {
    "step_await": "ns/step",
    "step_await_pyloop": "ns/step",
    "step_iter": "ns/step",
    "create_complete": "ns/op",
    "create_complete_none": "ns/op",
    "bytes_suspended": "bytes/object",
    "wake_roundtrip": "ns/wake",
    "wake_pingpong": "ns/round trip",
    "blocking_work": "ns/call",
    "blocking_batch": "ns/call",
    "async_for": "ns/item",
    "await_chain_100": "ns/step",
    "await_chain_10": "ns/step",
    "rust_ready": "ns/op",
    "rust_await": "ns/await",
    "rust_wake": "ns/wake",
}
CASE_TITLES = {
    "step_await": "per step, await delegation (C send loop)",
    "step_await_pyloop": "per step, await delegation (Python send loop)",
    "step_iter": "per step, C iteration (deque(obj.__await__()))",
    "create_complete": "create + await + complete (returns 1)",
    "create_complete_none": "create + await + complete (returns None)",
    "bytes_suspended": "bytes per suspended object",
    "wake_roundtrip": "foreign-thread wake (asyncio, 1 thread wakes N tasks)",
    "wake_pingpong": "foreign-thread wake, one at a time (asyncio round trip)",
    "blocking_work": "blocking no-op offload, sequential (asyncio)",
    "blocking_batch": "blocking no-op offload, 100 in flight (asyncio)",
    "async_for": "async for over an async generator, per item",
    "await_chain_100": "resume through a chain of 100 awaiting coroutines, per step",
    "await_chain_10": "resume through a chain of 10 awaiting coroutines, per step",
    "rust_ready": "(a) Rust: create + await + complete of a ready future (asyncio)",
    "rust_await": "(b) Rust: async fn awaiting a Python awaitable, per await (asyncio)",
    "rust_wake": "(c) Rust: future woken from a Rust thread, per wake (asyncio)",
}

PENDING_REASON = ("gocoro_bench was built without gocoro's waker/executor API (GOCORO_API_HAS "
                  "missing from include/gocoro.h); only the asyncio baseline is measured")


class Impl:
    def __init__(self, key, steps, done, done_none, version="", note="", agen=None, chain=None):
        self.key = key
        self.label = IMPL_LABELS[key]
        self.steps = steps
        self.done = done
        self.done_none = done_none
        self.version = version
        self.note = note
        self.agen = agen    # async generator factory (async_for), or None
        self.chain = chain  # chain(depth, leaf) (await_chain_*), or None
        # C-level iteration: the object __await__() returns (or the generator itself).
        probe = steps(1)
        it = await_iter(probe)
        self.iter_driver = "deque"
        if getattr(type(it), "__iter__", None) is None:
            self.iter_driver = "consume"  # no __iter__ (PyO3's Coroutine): same C loop, no iter()
        collections.deque(it, maxlen=0) if self.iter_driver == "deque" else consume_py(it)
        self.check()

    def check(self):
        """Behaviour the cases rely on; a failure makes the implementation 'missing'."""
        def expect(what, got, want):
            if got != want:
                raise AssertionError("%s: got %r, expected %r" % (what, got, want))

        sent = []
        c = outer_await(self.steps(3))
        try:
            while True:
                sent.append(c.send(None))
        except StopIteration as e:
            expect("await steps(3) return value", e.value, None)
        expect("await steps(3) yields", sent, [None, None, None])
        it = await_iter(self.steps(2))
        got = []
        try:
            while True:
                got.append(type(it).__next__(it))
        except StopIteration:
            pass
        expect("iterating steps(2).__await__()", got, [None, None])

        async def outer_done():
            return await self.done()
        c = outer_done()
        try:
            c.send(None)
            raise AssertionError("await done() suspended")
        except StopIteration as e:
            expect("await done()", e.value, 1)
        try:
            self.done_none().send(None)
            raise AssertionError("done_none() suspended")
        except StopIteration as e:
            expect("done_none()", e.value, None)
        o = self.steps(5)
        o.send(None)
        o.close()  # closing a suspended object must work (bytes case relies on it)
        if self.agen is not None:
            async def collect():
                return [x async for x in self.agen(3)]
            try:
                collect().send(None)
                raise AssertionError("async for over agen(3) suspended")
            except StopIteration as e:
                expect("async for over agen(3)", e.value, [None, None, None])
        if self.chain is not None:
            sent = []
            c = self.chain(3, gen_steps(2))
            try:
                while True:
                    sent.append(c.send(None))
            except StopIteration as e:
                expect("chain(3, gen_steps(2)) return value", e.value, None)
            expect("chain(3, gen_steps(2)) yields", sent, [None, None])
            try:
                self.chain(2, gen_done()).send(None)
                raise AssertionError("chain(2, gen_done()) suspended")
            except StopIteration as e:
                expect("chain(2, gen_done())", e.value, 1)


class RustImpl:
    """ready() -> awaitable completing with 1; await_n(make, n) / wake_n(n) -> awaitable
    returning n.  All need a running asyncio loop."""

    def __init__(self, key, ready, await_n, wake_n, version=""):
        self.key = key
        self.label = IMPL_LABELS[key]
        self.ready = ready
        self.await_n = await_n
        self.wake_n = wake_n
        self.version = version
        self.note = ""

    def check(self, loop):
        async def probe():
            got = [await self.ready(), await self.await_n(native_done, 3), await self.wake_n(3)]
            if got != [1, 3, 3]:
                raise AssertionError("ready/await_n/wake_n: got %r, expected [1, 3, 3]" % got)
        loop.run_until_complete(asyncio.wait_for(probe(), 60))


def await_iter(obj):
    aw = getattr(type(obj), "__await__", None)
    if aw is None:  # a types.coroutine generator is its own iterator
        return obj
    return aw(obj)


def consume_py(it):
    nxt = type(it).__next__
    try:
        while True:
            nxt(it)
    except StopIteration:
        pass


def load_impls(status, skip):
    """Import every implementation; returns (available, missing{key: reason})."""
    impls, missing = {}, {}
    for key in IMPL_ORDER:
        if key in skip:
            missing[key] = skip[key]
            continue
        if key in status and not status[key][0]:
            missing[key] = status[key][1]
            continue
        try:
            if key == "native":
                impls[key] = Impl(key, native_steps, native_done, native_done_none,
                                  agen=native_agen, chain=native_chain)
            elif key == "gen":
                impls[key] = Impl(key, gen_steps, gen_done, gen_done_none)
            else:
                mod = __import__(IMPL_MODULES[key])
                version = ""
                note = ""
                if key == "cython":
                    import Cython
                    mod.init(sleep0)
                    version = "Cython " + Cython.__version__
                elif key == "pyo3":
                    version = "pyo3 " + getattr(mod, "PYO3_VERSION", "?")
                elif key == "gocoro":
                    import gocoro
                    version = "gocoro " + str(getattr(gocoro, "__version__", "?"))
                    if getattr(gocoro, "__mock__", None):
                        note = "MOCK gocoro module (testing only)"
                impls[key] = Impl(key, mod.steps, mod.done, mod.done_none, version, note,
                                  agen=getattr(mod, "agen", None),
                                  chain=getattr(mod, "chain", None))
        except Exception as exc:  # noqa: BLE001 -- any import/probe failure = missing impl
            missing[key] = "import/probe failed: %s: %s" % (type(exc).__name__, exc)
    return impls, missing


def load_rust_impls(status, skip, loop):
    """The Rust-case implementations; returns (available, missing{key: reason})."""
    impls, missing = {}, {}
    for key in RUST_ORDER:
        bkey = {"pyo3_art": "pyo3"}.get(key, key)  # built as one crate
        if key in skip:
            missing[key] = skip[key]
            continue
        if bkey in status and not status[bkey][0]:
            missing[key] = status[bkey][1]
            continue
        try:
            mod = __import__(IMPL_MODULES[key])
            if key == "pyo3":
                impl = RustImpl(key, mod.done, mod.await_n, mod.wake_n,
                                "pyo3 " + getattr(mod, "PYO3_VERSION", "?"))
            elif key == "pyo3_art":
                impl = RustImpl(key, mod.rt_ready, mod.rt_await_n, mod.rt_wake_n,
                                "pyo3-async-runtimes " +
                                getattr(mod, "PYO3_ASYNC_RUNTIMES_VERSION", "?"))
            else:
                impl = RustImpl(key, mod.ready, mod.await_n, mod.wake_n,
                                "gocoro crate " + getattr(mod, "GOCORO_CRATE_VERSION", "?"))
            impl.check(loop)
            impls[key] = impl
        except Exception as exc:  # noqa: BLE001 -- any import/probe failure = missing impl
            missing[key] = "import/probe failed: %s: %s" % (type(exc).__name__, exc)
    return impls, missing


# --------------------------------------------------------------------------------------------
# Drivers and timed bodies.  Each body takes `loops` and returns (elapsed_ns, units_done).
# --------------------------------------------------------------------------------------------

try:
    import climit as _climit
    drive_send_c = _climit.drive_send
    consume_c = _climit.consume
except ImportError:  # climit failed to build: fall back to Python drivers (noted in results)
    _climit = None

    def drive_send_c(c):
        send = c.send
        try:
            while True:
                send(None)
        except StopIteration:
            pass

    consume_c = consume_py


async def outer_await(aw):
    return await aw


def drive_send_py(c):
    send = c.send
    try:
        while True:
            send(None)
    except StopIteration:
        pass


async def outer_create(make, n):
    for _ in range(n):
        await make()


def body_step_await(impl, nsteps):
    steps = impl.steps
    drive = drive_send_c
    outer = outer_await

    def run(loops):
        t0 = perf_counter_ns()
        for _ in range(loops):
            drive(outer(steps(nsteps)))
        return perf_counter_ns() - t0, loops * nsteps
    return run


def body_step_await_pyloop(impl, nsteps):
    steps = impl.steps
    outer = outer_await

    def run(loops):
        t0 = perf_counter_ns()
        for _ in range(loops):
            send = outer(steps(nsteps)).send
            try:
                while True:
                    send(None)
            except StopIteration:
                pass
        return perf_counter_ns() - t0, loops * nsteps
    return run


def body_step_iter(impl, nsteps):
    steps = impl.steps
    deque = collections.deque
    if impl.key == "gen":
        def run(loops):
            t0 = perf_counter_ns()
            for _ in range(loops):
                deque(steps(nsteps), maxlen=0)
            return perf_counter_ns() - t0, loops * nsteps
    elif impl.iter_driver == "deque":
        def run(loops):
            t0 = perf_counter_ns()
            for _ in range(loops):
                deque(steps(nsteps).__await__(), maxlen=0)
            return perf_counter_ns() - t0, loops * nsteps
    else:
        consume = consume_c

        def run(loops):
            t0 = perf_counter_ns()
            for _ in range(loops):
                consume(steps(nsteps).__await__())
            return perf_counter_ns() - t0, loops * nsteps
    return run


def body_create_complete(impl, per_outer, returns_none=False):
    make = impl.done_none if returns_none else impl.done
    drive = drive_send_c

    def run(loops):
        n_outer = max(1, loops // per_outer)
        t0 = perf_counter_ns()
        for _ in range(n_outer):
            drive(outer_create(make, per_outer))
        return perf_counter_ns() - t0, n_outer * per_outer
    return run


async def consume_agen(ag):
    async for _ in ag:
        pass


def body_async_for(impl, nitems):
    agen = impl.agen
    drive = drive_send_c

    def run(loops):
        t0 = perf_counter_ns()
        for _ in range(loops):
            drive(consume_agen(agen(nitems)))
        return perf_counter_ns() - t0, loops * nitems
    return run


def body_await_chain(impl, depth, nsteps):
    """Resume (C send loop) a chain of `depth` coroutines + 1 awaiting each other; the last one
    awaits gen_steps(nsteps) (the same leaf generator for every implementation)."""
    chain = impl.chain
    drive = drive_send_c

    def run(loops):
        t0 = perf_counter_ns()
        for _ in range(loops):
            drive(chain(depth - 1, gen_steps(nsteps)))
        return perf_counter_ns() - t0, loops * nsteps
    return run


# The Rust cases run on one asyncio event loop (pyo3-async-runtimes and PyO3's wakes need it).
async def _await_ready_n(make, n):
    for _ in range(n):
        await make()


def body_rust(case, impl, loop):
    if case == "rust_ready":
        make = impl.ready

        def start(n):
            return _await_ready_n(make, n)
    elif case == "rust_await":
        await_n = impl.await_n

        async def start(n):  # called inside the loop: pyo3-async-runtimes needs a running loop
            return await await_n(native_done, n)
    else:
        wake_n = impl.wake_n

        async def start(n):
            return await wake_n(n)
    ruc = loop.run_until_complete

    def run(loops):
        t0 = perf_counter_ns()
        ruc(start(loops))
        return perf_counter_ns() - t0, loops
    return run


def calibrate(run, target_ns, min_loops=1):
    """Smallest loop count (x2 steps) whose run lasts >= target_ns/4, then scaled to target."""
    loops = min_loops
    while True:
        elapsed, _ = run(loops)
        if elapsed >= target_ns / 4 or loops >= 1 << 30:
            break
        loops *= 2
    return max(min_loops, int(loops * target_ns / max(elapsed, 1)))


def time_case(name, bodies, repeats, target_ns, progress):
    """bodies: {impl: run}.  Interleaves impls in every repeat (rotating the order) so drift and
    turbo/thermal effects hit all implementations alike.  Returns {impl: stats}."""
    loops = {}
    for key, run in bodies.items():
        progress("%s: calibrating %s" % (name, key))
        loops[key] = calibrate(run, target_ns)
        run(loops[key])  # warm-up
    samples = {key: [] for key in bodies}
    keys = list(bodies)
    for r in range(repeats):
        order = keys[r % len(keys):] + keys[:r % len(keys)]
        for key in order:
            progress("%s: %s repeat %d/%d" % (name, key, r + 1, repeats))
            gc.collect()
            elapsed, units = bodies[key](loops[key])
            samples[key].append(elapsed / units)
    out = {}
    for key, vals in samples.items():
        out[key] = {
            "median": statistics.median(vals),
            "min": min(vals),
            "max": max(vals),
            "stdev": statistics.stdev(vals) if len(vals) > 1 else 0.0,
            "repeats": len(vals),
            "loops": loops[key],
        }
    return out


# --------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------

def bytes_per_suspended(make, count, progress, label):
    """Bytes per object suspended after one step, measured with tracemalloc (CPython's object,
    mem and raw allocator domains; memory allocated behind CPython's back -- plain malloc, the
    Go heap -- is invisible to it, see bench/README.md)."""
    progress("bytes_suspended: %s" % label)
    gc.collect()
    objs = [None] * count  # allocated before measuring
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(count):
        o = make()
        o.send(None)  # one step: now suspended
        objs[i] = o
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    for o in objs:  # finish them quietly (no "never awaited" warnings)
        o.close()
    del objs
    gc.collect()
    return (after - before) / count


# --------------------------------------------------------------------------------------------
# Event-loop integration: foreign-thread wakes and blocking work (asyncio)
# --------------------------------------------------------------------------------------------

async def _wake_round(loop, n_wakes, make_waiter_aw, fire, window=None):
    """n_wakes tasks each await make_waiter_aw(); once all are parked, fire() makes ONE foreign
    thread wake all of them.  Returns ns from fire() until the last task has resumed.
    window: (begin, end) callables bracketing the same span (the instruction count pass)."""
    all_done = loop.create_future()
    remaining = [n_wakes]

    async def waiter(aw):
        await aw
        remaining[0] -= 1
        if remaining[0] == 0:
            all_done.set_result(None)

    tasks = [loop.create_task(waiter(make_waiter_aw())) for _ in range(n_wakes)]
    await asyncio.sleep(0)  # every waiter has run its first step and is parked
    if window:
        window[0]()
    t0 = perf_counter_ns()
    fire()
    await all_done
    elapsed = perf_counter_ns() - t0
    if window:
        window[1]()
    for t in tasks:
        await t
    return elapsed / n_wakes


def wake_cases(n_wakes, n_pingpong, repeats, gocoro_mod, progress):
    """wake_roundtrip (ns per wake, N parked tasks, ONE foreign thread wakes them all):
      call_soon_threadsafe: waiters await loop futures; a Python thread (waiting on an Event
        until fire()) calls loop.call_soon_threadsafe(fut.set_result, None) for each.
      gocoro: waiters await gocoro_bench.wake_waiter() (GoCoro_WakerNew + GoCoro_WakerWait); a
        pthread (no GIL) calls GoCoro_Wake for each.
      loop_thread (floor, informational): the loop thread itself sets every future's result.
    wake_pingpong (ns per sequential loop -> thread -> loop round trip):
      call_soon_threadsafe: put a future on a SimpleQueue, a Python thread takes it and calls
        call_soon_threadsafe(fut.set_result, None); gocoro: await gocoro_bench.wake_pingpong().
    Implementations alternate in every repeat."""
    rt = {"call_soon_threadsafe": [], "gocoro": [], "loop_thread": []}
    pp = {"call_soon_threadsafe": [], "gocoro": []}

    async def main():
        loop = asyncio.get_running_loop()
        for r in range(repeats):
            progress("wake_roundtrip: call_soon_threadsafe repeat %d/%d" % (r + 1, repeats))
            futs = []

            def make_fut():
                f = loop.create_future()
                futs.append(f)
                return f

            go = threading.Event()

            def waker():
                go.wait()
                cst = loop.call_soon_threadsafe
                for f in futs:
                    cst(f.set_result, None)

            th = threading.Thread(target=waker)
            th.start()
            rt["call_soon_threadsafe"].append(await _wake_round(loop, n_wakes, make_fut, go.set))
            th.join()

            progress("wake_roundtrip: loop_thread repeat %d/%d" % (r + 1, repeats))
            futs2 = []

            def make_fut2():
                f = loop.create_future()
                futs2.append(f)
                return f

            def set_all():
                for f in futs2:
                    f.set_result(None)

            rt["loop_thread"].append(await _wake_round(loop, n_wakes, make_fut2, set_all))

            if gocoro_mod is not None:
                progress("wake_roundtrip: gocoro repeat %d/%d" % (r + 1, repeats))
                rt["gocoro"].append(await _wake_round(
                    loop, n_wakes, gocoro_mod.wake_waiter, gocoro_mod.wake_fire))

            progress("wake_pingpong: call_soon_threadsafe repeat %d/%d" % (r + 1, repeats))
            q = queue.SimpleQueue()

            def ponger():
                cst = loop.call_soon_threadsafe
                while True:
                    f = q.get()
                    if f is None:
                        return
                    cst(f.set_result, None)

            th = threading.Thread(target=ponger)
            th.start()
            t0 = perf_counter_ns()
            for _ in range(n_pingpong):
                f = loop.create_future()
                q.put(f)
                await f
            pp["call_soon_threadsafe"].append((perf_counter_ns() - t0) / n_pingpong)
            q.put(None)
            th.join()
            if gocoro_mod is not None:
                progress("wake_pingpong: gocoro repeat %d/%d" % (r + 1, repeats))
                ping = gocoro_mod.wake_pingpong
                t0 = perf_counter_ns()
                for _ in range(n_pingpong):
                    await ping()
                pp["gocoro"].append((perf_counter_ns() - t0) / n_pingpong)

    asyncio.run(asyncio.wait_for(main(), LOOP_TIMEOUT))
    return ({k: v for k, v in rt.items() if v}, {k: v for k, v in pp.items() if v})


# s per event-loop case (whole asyncio.run): a lost wake-up becomes a TimeoutError that is
# recorded as gocoro's failure, instead of a hang
LOOP_TIMEOUT = 240.0


def _noop():
    return None


def blocking_cases(n_calls, batch, repeats, gocoro_mod, progress):
    """blocking_work: ns per sequential `await offload(noop)` round trip;
    blocking_batch: ns per call with `batch` calls in flight (asyncio.gather).
    offload = loop.run_in_executor(None, noop) (default ThreadPoolExecutor) vs
    gocoro_bench.blocking_noop() (GoCoro_RunBlocking of a C no-op on a goroutine)."""
    seq = {"run_in_executor": [], "gocoro": []}
    bat = {"run_in_executor": [], "gocoro": []}

    async def main():
        loop = asyncio.get_running_loop()
        impls = {"run_in_executor": lambda: loop.run_in_executor(None, _noop)}
        if gocoro_mod is not None:
            impls["gocoro"] = gocoro_mod.blocking_noop
        for offload in impls.values():  # warm up (thread pool / goroutines)
            await asyncio.gather(*[offload() for _ in range(batch)])
        for r in range(repeats):
            for name, offload in impls.items():
                progress("blocking_work: %s repeat %d/%d" % (name, r + 1, repeats))
                t0 = perf_counter_ns()
                for _ in range(n_calls):
                    await offload()
                seq[name].append((perf_counter_ns() - t0) / n_calls)
                rounds = max(1, n_calls // batch)
                t0 = perf_counter_ns()
                for _ in range(rounds):
                    await asyncio.gather(*[offload() for _ in range(batch)])
                bat[name].append((perf_counter_ns() - t0) / (rounds * batch))

    asyncio.run(asyncio.wait_for(main(), LOOP_TIMEOUT))
    return ({k: v for k, v in seq.items() if v}, {k: v for k, v in bat.items() if v})


def _stats(vals):
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "stdev": statistics.stdev(vals) if len(vals) > 1 else 0.0, "repeats": len(vals)}


# --------------------------------------------------------------------------------------------
# Instruction counts (--instructions, under valgrind --tool=callgrind)
# --------------------------------------------------------------------------------------------

class Meter:
    """Brackets a run with CALLGRIND_ZERO_STATS / CALLGRIND_DUMP_STATS_AT and reads the dumped
    part (`<outdir>/cg.<pid>.<part>`) back: the instructions every thread of the process executed
    in between (user space only).  Callgrind must run with --callgrind-out-file=<outdir>/cg.%p
    and --separate-threads=no (bench/run.sh does): the client requests act on the calling
    thread's counters, which are the whole process's only when threads are not separated."""

    def __init__(self, outdir):
        import cgmarks
        if not cgmarks.on_valgrind():
            raise SystemExit("--instructions: not running under valgrind (use bench/run.sh "
                             "--instructions)")
        self.cg = cgmarks
        self.outdir = outdir
        self.pid = os.getpid()
        self.part = 0
        self.tag = None

    def begin(self, tag=""):
        gc.collect()
        self.tag = tag
        self.cg.zero()

    def end(self):
        self.cg.dump(self.tag or "window")
        self.part += 1
        path = os.path.join(self.outdir, "cg.%d.%d" % (self.pid, self.part))
        ir = None
        with open(path) as f:
            for line in f:
                if line.startswith("summary:"):
                    ir = int(line.split()[1])
        os.remove(path)
        if ir is None:
            raise RuntimeError("no summary line in callgrind part %s" % path)
        return ir

    def measure(self, fn, tag=""):
        self.begin(tag)
        fn()
        return self.end()


IR_REPEATS = 3  # measured pairs per case and implementation; the minimum of each size counts


def ir_run_pair(meter, run, base, tag):
    """run(loops) -> (elapsed, units).  Warm-up with `base` loops, then IR_REPEATS measured runs
    with base and with 2*base loops each; the minimum count of each size is kept (other
    processes' threads never add to a callgrind count, but the process's own background threads
    -- the Go runtime's, tokio's -- occasionally do).  Returns (instructions per unit, detail)."""
    run(base)
    res = {}

    def one(loops):
        res["units"] = run(loops)[1]
    c1, c2 = [], []
    for r in range(IR_REPEATS):
        c1.append(meter.measure(lambda: one(base), "%s:N:%d" % (tag, r)))
        u1 = res["units"]
        c2.append(meter.measure(lambda: one(2 * base), "%s:2N:%d" % (tag, r)))
        u2 = res["units"]
    return (min(c2) - min(c1)) / (u2 - u1), {"units": [u1, u2], "instructions": [c1, c2]}


def ir_loop_cases(meter, gocoro_mod, n, progress):
    """Instruction counts of the event-loop cases: windows around the same spans the timed cases
    measure, with n and 2n operations; helper threads stay alive until the window is dumped
    (callgrind writes the counts of live threads only)."""
    out = {c: {} for c in ("wake_roundtrip", "wake_pingpong", "blocking_work", "blocking_batch")}

    async def main():
        loop = asyncio.get_running_loop()
        jobs = queue.SimpleQueue()

        def worker():  # one persistent foreign Python thread for call_soon_threadsafe
            while True:
                job = jobs.get()
                if job is None:
                    return
                job()
        th = threading.Thread(target=worker)
        th.start()

        async def pair(case, key, round_fn, count):
            vals = ([], [])
            await round_fn(count, None)  # warm-up
            for r in range(IR_REPEATS):
                for k in (1, 2):
                    box = {}
                    window = (lambda: meter.begin("%s:%s:%d:%d" % (case, key, k, r)),
                              lambda: box.setdefault("ir", meter.end()))
                    await round_fn(k * count, window)
                    vals[k - 1].append(box["ir"])
            out[case][key] = {"per_op": (min(vals[1]) - min(vals[0])) / count,
                              "detail": {"units": [count, 2 * count], "instructions": vals}}

        # wake_roundtrip
        async def rt_cst(count, window):
            futs = []

            def make():
                f = loop.create_future()
                futs.append(f)
                return f

            def fire():
                cst = loop.call_soon_threadsafe
                jobs.put(lambda: [cst(f.set_result, None) for f in futs])
            await _wake_round(loop, count, make, fire, window)

        async def rt_floor(count, window):
            futs = []

            def make():
                f = loop.create_future()
                futs.append(f)
                return f

            def fire():
                for f in futs:
                    f.set_result(None)
            await _wake_round(loop, count, make, fire, window)

        progress("instructions: wake_roundtrip")
        await pair("wake_roundtrip", "call_soon_threadsafe", rt_cst, n)
        await pair("wake_roundtrip", "loop_thread", rt_floor, n)
        if gocoro_mod is not None:
            async def rt_gocoro(count, window):
                await _wake_round(loop, count, gocoro_mod.wake_waiter, gocoro_mod.wake_fire,
                                  window)
            await pair("wake_roundtrip", "gocoro", rt_gocoro, n)

        # wake_pingpong
        async def pp_cst(count, window):
            cst = loop.call_soon_threadsafe
            if window:
                window[0]()
            for _ in range(count):
                f = loop.create_future()
                jobs.put(lambda f=f: cst(f.set_result, None))
                await f
            if window:
                window[1]()
        progress("instructions: wake_pingpong")
        await pair("wake_pingpong", "call_soon_threadsafe", pp_cst, n)
        if gocoro_mod is not None:
            async def pp_gocoro(count, window):
                ping = gocoro_mod.wake_pingpong
                if window:
                    window[0]()
                for _ in range(count):
                    await ping()
                if window:
                    window[1]()
            await pair("wake_pingpong", "gocoro", pp_gocoro, n)

        # blocking offload
        offloads = {"run_in_executor": lambda: loop.run_in_executor(None, _noop)}
        if gocoro_mod is not None:
            offloads["gocoro"] = gocoro_mod.blocking_noop
        for key, offload in offloads.items():
            progress("instructions: blocking %s" % key)
            await asyncio.gather(*[offload() for _ in range(100)])

            async def seq(count, window, offload=offload):
                if window:
                    window[0]()
                for _ in range(count):
                    await offload()
                if window:
                    window[1]()

            async def bat(count, window, offload=offload):
                if window:
                    window[0]()
                for _ in range(max(1, count // 100)):
                    await asyncio.gather(*[offload() for _ in range(100)])
                if window:
                    window[1]()
            await pair("blocking_work", key, seq, n)
            await pair("blocking_batch", key, bat, n)
        jobs.put(None)
        th.join()

    asyncio.run(asyncio.wait_for(main(), 4 * LOOP_TIMEOUT))
    return out


# --------------------------------------------------------------------------------------------
# Ratios and targets
# --------------------------------------------------------------------------------------------

# (case, numerator, denominator, op, limit, description); limit: a number, or
# {"3.X": number, "default": number} for a per-version limit.
TARGETS = [
    ("step_await", "gocoro", "native", "<=", 1.0, "per step (await) <= 1.0x native async def"),
    ("step_await", "gocoro", "climit", "<=", 1.15, "per step (await) <= 1.15x the C limit"),
    ("step_await", "pyo3", "gocoro", ">=", 3.0, "per step (await) >= 3x faster than PyO3"),
    ("step_iter", "gocoro", "native", "<=", 1.0, "per step (C iteration) <= 1.0x native"),
    ("step_iter", "gocoro", "climit", "<=", 1.15, "per step (C iteration) <= 1.15x the C limit"),
    ("step_iter", "pyo3", "gocoro", ">=", 3.0, "per step (C iteration) >= 3x faster than PyO3"),
    ("create_complete", "gocoro", "native", "<=", 0.7, "create+await+complete <= 0.7x native"),
    ("bytes_suspended", "gocoro", "native", "<=", 0.5, "bytes per suspended object <= 0.5x native"),
    ("wake_roundtrip", "call_soon_threadsafe", "gocoro", ">=", 5.0,
     "foreign-thread wakes >= 5x the call_soon_threadsafe-per-wake path"),
    ("blocking_work", "run_in_executor", "gocoro", ">=", 1.0,
     "blocking offload no slower than run_in_executor (sequential)"),
    ("blocking_batch", "run_in_executor", "gocoro", ">=", 1.0,
     "blocking offload no slower than run_in_executor (100 in flight)"),
    ("async_for", "gocoro", "native", "<=", {"3.10": 0.6, "3.11": 0.6, "default": 0.8},
     "async for per item <= 0.6x native (3.10/3.11), <= 0.8x (3.12+)"),
    ("rust_ready", "pyo3_art", "gocoro_rs", ">=", 10.0,
     "(a) Rust ready future >= 10x faster than pyo3-async-runtimes"),
    ("rust_await", "pyo3", "gocoro_rs", ">=", 3.0,
     "(b) Rust await of a Python awaitable >= 3x faster than PyO3 experimental-async"),
    ("rust_wake", "pyo3", "gocoro_rs", ">=", 1.0,
     "(c) Rust-thread wake no slower than PyO3 experimental-async"),
]

RATIO_PAIRS = [("gocoro", d) for d in ("native", "gen", "climit", "cython", "pyo3")]
# the Rust cases: anchor / gocoro crate ("x faster")
RUST_PAIRS = [("pyo3", "gocoro_rs"), ("pyo3_art", "gocoro_rs")]


def limit_for(limit, version):
    if isinstance(limit, dict):
        return limit.get(version, limit["default"])
    return limit


def compute_ratios(cases):
    ratios = {}
    for case, vals in cases.items():
        g = vals.get("gocoro")
        r = {}
        for a, b in (RUST_PAIRS if case in RUST_CASES else RATIO_PAIRS):
            va, vb = vals.get(a), vals.get(b)
            if isinstance(va, (int, float)) and isinstance(vb, (int, float)) and vb:
                r["%s/%s" % (a, b)] = round(va / vb, 3)
        if case in ("wake_roundtrip", "wake_pingpong") and isinstance(g, (int, float)) and g:
            b = vals.get("call_soon_threadsafe")
            if isinstance(b, (int, float)):
                r["call_soon_threadsafe/gocoro"] = round(b / g, 3)
            f = vals.get("loop_thread")
            if isinstance(b, (int, float)) and isinstance(f, (int, float)):
                # wake cost above the asyncio task-resumption floor both paths share
                r["net_above_floor"] = round((b - f) / (g - f), 3) if g > f else None
        if case in ("blocking_work", "blocking_batch") and isinstance(g, (int, float)) and g:
            b = vals.get("run_in_executor")
            if isinstance(b, (int, float)):
                r["run_in_executor/gocoro"] = round(b / g, 3)
        if r:
            ratios[case] = r
    return ratios


def evaluate_targets(cases, missing, stats, version):
    out = []
    for case, num, den, op, limit, desc in TARGETS:
        if case not in cases:
            continue
        limit = limit_for(limit, version)
        vals = cases.get(case, {})
        a, b = vals.get(num), vals.get(den)
        entry = {"target": desc, "case": case, "ratio": "%s/%s" % (num, den), "op": op,
                 "limit": limit, "value": None}
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or not b:
            absent = [k for k in (num, den) if not isinstance(vals.get(k), (int, float))]
            why = []
            for k in absent:
                pend = stats.get(case, {}).get(k, {}).get("pending")
                if pend:
                    why.append("%s: %s" % (k, pend))
                else:
                    why.append("%s: %s" % (k, missing.get(k, "not measured")))
            entry["status"] = "pending"
            entry["reason"] = "; ".join(why)
        else:
            v = a / b
            entry["value"] = round(v, 3)
            ok = v <= limit if op == "<=" else v >= limit
            entry["status"] = "met" if ok else "missed"
        out.append(entry)
    return out


# --------------------------------------------------------------------------------------------

def read_status(path):
    status = {}
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t", 2)
                if len(parts) == 3:
                    status[parts[0]] = (parts[1] == "ok", parts[2])
    return status


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fmt(v, unit):
    if v is None:
        return "-"
    if unit.startswith("bytes"):
        return "%.0f" % v
    return "%.1f" % v if v < 100 else "%.0f" % v


def timed_cases(P, impls):
    """(case, make_body(impl) or None to skip that impl) for the cases timed side by side."""
    def only_with(attr, mk):
        return lambda i: mk(i) if getattr(i, attr) is not None else None
    return [
        ("step_await", lambda i: body_step_await(i, P["nsteps"])),
        ("step_await_pyloop", lambda i: body_step_await_pyloop(i, P["nsteps"])),
        ("step_iter", lambda i: body_step_iter(i, P["nsteps"])),
        ("create_complete", lambda i: body_create_complete(i, P["per_outer"])),
        ("create_complete_none", lambda i: body_create_complete(i, P["per_outer"], True)),
        ("async_for", only_with("agen", lambda i: body_async_for(i, P["nitems"]))),
        ("await_chain_100", only_with("chain", lambda i: body_await_chain(i, 100, P["nsteps"]))),
        ("await_chain_10", only_with("chain", lambda i: body_await_chain(i, 10, P["nsteps"]))),
    ]


# --instructions: base loop count per case (the runs use base and 2*base); the units per loop
# are the body's (steps, items, awaits...).
IR_BASE = {"step_await": 3, "step_await_pyloop": 3, "step_iter": 3, "create_complete": 3000,
           "create_complete_none": 3000, "async_for": 3, "await_chain_100": 1,
           "await_chain_10": 3, "rust_ready": 1000, "rust_await": 300, "rust_wake": 300}
IR_LOOP_N = 300  # wakes / round trips / offloads per event-loop case run (2x in the second)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short run (< 60 s)")
    ap.add_argument("--out", required=True, help="per-version JSON result file")
    ap.add_argument("--status", help="build status TSV written by bench/run.sh")
    ap.add_argument("--progress", help="file that always holds the current step (crash triage)")
    ap.add_argument("--skip", action="append", default=[], metavar="IMPL=REASON",
                    help="treat IMPL as missing with REASON")
    ap.add_argument("--only", help="comma-separated case names to run (debugging)")
    ap.add_argument("--git", default="", help="git revision, recorded in the results")
    ap.add_argument("--stat", choices=("min", "median"),
                    default=os.environ.get("GOCORO_BENCH_STAT", "min"),
                    help="statistic of the repeats reported in 'cases' (default: min, or "
                         "$GOCORO_BENCH_STAT); both are kept in 'stats'")
    ap.add_argument("--instructions", metavar="CALLGRIND_OUT_DIR",
                    help="instruction-count pass (must run under callgrind with "
                         "--callgrind-out-file=CALLGRIND_OUT_DIR/cg.%%p --separate-threads=no)")
    args = ap.parse_args()

    faulthandler.enable()  # a crash inside an extension leaves a Python traceback on stderr
    quick = args.quick
    P = {
        "nsteps": 1000,             # suspensions per object in the step cases
        "per_outer": 1000,          # awaits per outer coroutine in create_complete
        "nitems": 1000,             # items per async generator in async_for
        "repeats": 21 if quick else 61,  # short interleaved samples: robust median on a
        "target_ms": 6 if quick else 30,  # noisy (shared, 2-core) machine
        "bytes_count": 20000,
        "wake_n": 2000 if quick else 3000,      # tasks woken per sample
        "wake_repeats": 5 if quick else 25,
        "pingpong_n": 500 if quick else 2000,
        "exec_n": 500 if quick else 1500,
        "exec_batch": 100,
        "exec_repeats": 5 if quick else 15,
        "rust_repeats": 11 if quick else 31,
        "statistic": args.stat,
    }
    if args.instructions:
        P = {"nsteps": P["nsteps"], "per_outer": P["per_outer"], "nitems": P["nitems"],
             "ir_base": IR_BASE, "ir_loop_n": IR_LOOP_N}
    only = set(args.only.split(",")) if args.only else None
    t_start = time.time()
    version = "%d.%d" % sys.version_info[:2]

    def progress(msg):
        if args.progress:
            with open(args.progress, "w") as f:
                f.write(msg + "\n")
        if os.environ.get("GOCORO_BENCH_VERBOSE"):
            print("[bench] " + msg, file=sys.stderr, flush=True)

    skip = {}
    for s in args.skip:
        k, _, reason = s.partition("=")
        skip[k] = reason or "skipped"
    status = read_status(args.status)
    progress("loading implementations")
    impls, missing = load_impls(status, skip)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    rust_impls, rust_missing = {}, {}
    if not only or any(c in only for c in RUST_CASES):
        progress("loading Rust implementations")
        rust_impls, rust_missing = load_rust_impls(status, skip, loop)
    notes = []
    if _climit is None:
        notes.append("climit failed to build: C drivers replaced by Python loops")
    for impl in impls.values():
        if impl.note:
            notes.append("%s: %s" % (impl.key, impl.note))
        if impl.iter_driver == "consume":
            notes.append("%s: __await__() result has no __iter__, step_iter uses climit.consume "
                         "(the same tp_iternext loop as deque(maxlen=0))" % impl.key)
    all_missing = dict(missing)
    all_missing.update(rust_missing)

    gmod = None
    loop_pending = None
    if "gocoro" in impls:
        gmod = sys.modules["gocoro_bench"]
        if not getattr(gmod, "HAS_WAKER", False):
            gmod = None
            loop_pending = PENDING_REASON
    else:
        loop_pending = "gocoro missing: %s" % missing.get("gocoro")

    stats = {}
    cases = {}
    meter = Meter(args.instructions) if args.instructions else None
    for name, mk in timed_cases(P, impls):
        if only and name not in only:
            continue
        progress("%s: setting up" % name)
        bodies = {k: b for k, b in ((k, mk(impl)) for k, impl in impls.items()) if b is not None}
        if meter:
            cases[name], stats[name] = {}, {}
            for k, run in bodies.items():
                progress("instructions: %s: %s" % (name, k))
                per_op, detail = ir_run_pair(meter, run, IR_BASE[name], "%s:%s" % (name, k))
                stats[name][k] = {"per_op": per_op, "detail": detail}
                cases[name][k] = round(per_op, 1)
            continue
        st = time_case(name, bodies, P["repeats"], P["target_ms"] * 1_000_000, progress)
        stats[name] = st
        cases[name] = {k: round(v[P["statistic"]], 2) for k, v in st.items()}

    if (not only or "bytes_suspended" in only) and not meter:
        st = {}
        cases["bytes_suspended"] = {}
        sleep0_bytes = bytes_per_suspended(sleep0, P["bytes_count"], progress, "sleep0 generator")
        for k, impl in impls.items():
            b = bytes_per_suspended(lambda: impl.steps(2), P["bytes_count"], progress, k)
            entry = {"total": b}
            value = b
            if k in ("native", "cython"):
                # These suspend by awaiting a sleep0() generator; report the coroutine alone.
                value = b - sleep0_bytes
                entry["minus_sleep0_generator"] = sleep0_bytes
            entry["value"] = value
            st[k] = entry
            cases["bytes_suspended"][k] = round(value, 1)
        st["_sleep0_generator"] = {"total": sleep0_bytes}
        stats["bytes_suspended"] = st

    # Event-loop integration (needs gocoro's waker/executor API: gocoro_bench.HAS_WAKER).
    loop_cases = ("wake_roundtrip", "wake_pingpong", "blocking_work", "blocking_batch")
    if meter and (not only or any(c in only for c in loop_cases)):
        res = ir_loop_cases(meter, gmod, IR_LOOP_N, progress)
        asyncio.set_event_loop(loop)  # asyncio.run() above unset it
        for c, per in res.items():
            stats[c] = per
            cases[c] = {k: round(v["per_op"], 1) for k, v in per.items()}
            if "gocoro" not in per:
                stats[c]["gocoro"] = {"pending": loop_pending}
                cases[c]["gocoro"] = None
    for case in ("wake_roundtrip", "blocking_work"):
        if meter or (only and case not in only):
            continue
        reason = loop_pending

        def run_case(mod):
            if case == "wake_roundtrip":
                rt, pp = wake_cases(P["wake_n"], P["pingpong_n"], P["wake_repeats"], mod,
                                    progress)
                return {"wake_roundtrip": rt, "wake_pingpong": pp}
            seq, bat = blocking_cases(P["exec_n"], P["exec_batch"], P["exec_repeats"], mod,
                                      progress)
            return {"blocking_work": seq, "blocking_batch": bat}

        try:
            res = run_case(gmod)
        except Exception as exc:  # noqa: BLE001 -- gocoro failed: keep the baselines
            if gmod is None:
                raise
            import traceback
            traceback.print_exc()
            reason = "gocoro FAILED: %s: %s" % (type(exc).__name__, exc)
            notes.append("%s: %s (baselines re-measured without gocoro)" % (case, reason))
            res = run_case(None)
        asyncio.set_event_loop(loop)  # asyncio.run() above unset it
        for c, samples in res.items():
            stats[c] = {k: _stats(v) for k, v in samples.items()}
            cases[c] = {k: round(stats[c][k][P["statistic"]], 1) for k in samples}
            if "gocoro" not in samples:
                stats[c]["gocoro"] = {"pending": reason}
                cases[c]["gocoro"] = None

    # Rust cases (one asyncio loop, the implementations interleaved like the other cases).
    for name in RUST_CASES:
        if only and name not in only:
            continue
        progress("%s: setting up" % name)
        bodies = {k: body_rust(name, impl, loop) for k, impl in rust_impls.items()}
        cases[name], stats[name] = {}, {}
        if meter:
            for k, run in bodies.items():
                progress("instructions: %s: %s" % (name, k))
                per_op, detail = ir_run_pair(meter, run, IR_BASE[name], "%s:%s" % (name, k))
                stats[name][k] = {"per_op": per_op, "detail": detail}
                cases[name][k] = round(per_op, 1)
        elif bodies:
            st = time_case(name, bodies, P["rust_repeats"], P["target_ms"] * 1_000_000, progress)
            stats[name] = st
            cases[name] = {k: round(v[P["statistic"]], 2) for k, v in st.items()}
    loop.close()

    ratios = compute_ratios(cases)
    targets = evaluate_targets(cases, all_missing, stats, version)
    units = {c: UNITS[c] for c in cases}
    if meter:
        units = {c: "instructions/" + UNITS[c].split("/", 1)[1] for c in cases}
    result = {
        "python": platform.python_version(),
        "python_short": version,
        "python_impl": platform.python_implementation(),
        "executable": sys.executable,
        "quick": quick,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git": args.git,
        "machine": {"cpu": cpu_model(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "params": P,
        "units": units,
        "impls": {k: {"label": IMPL_LABELS[k], "available": k in impls or k in rust_impls,
                      "version": (impls.get(k) or rust_impls.get(k)).version
                      if (k in impls or k in rust_impls) else None,
                      "reason": all_missing.get(k)} for k in IMPL_ORDER + RUST_ORDER},
        "cases": cases,
        "ratios": ratios,
        "targets": targets,
        "pending": {c: stats[c]["gocoro"]["pending"]
                    for c in ("wake_roundtrip", "wake_pingpong", "blocking_work",
                              "blocking_batch")
                    if c in stats and "pending" in stats[c].get("gocoro", {})},
        "stats": stats,
        "notes": notes,
        "duration_s": round(time.time() - t_start, 1),
    }
    if meter:
        result["method"] = (
            "callgrind instructions per operation: each case and implementation ran with N and "
            "2N operations in one process, each run between CALLGRIND_ZERO_STATS and "
            "CALLGRIND_DUMP_STATS, %d times each; value = (min count(2N) - min count(N)) / N.  "
            "Every thread of the "
            "process counts (helper threads, tokio workers, the Go runtime); user-space "
            "instructions only: system calls, context switches and sleeping are not counted" %
            IR_REPEATS)
        result["valgrind"] = os.environ.get("GOCORO_VALGRIND_VERSION", "")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".tmp", "w") as f:
        json.dump(result, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(args.out + ".tmp", args.out)
    progress("done")
    print_summary(result, impls, rust_impls, all_missing, meter is not None)


def print_summary(result, impls, rust_impls, missing, instructions):
    cases, targets = result["cases"], result["targets"]
    what = "instructions (callgrind)" if instructions else (
        "quick" if result["quick"] else "full")
    print("CPython %s  (%s, %.0f s)" % (result["python"], what, result["duration_s"]))
    w = 12
    units = result["units"]
    for cols, names in (([k for k in IMPL_ORDER if k in impls],
                         ("step_await", "step_await_pyloop", "step_iter", "create_complete",
                          "create_complete_none", "bytes_suspended", "async_for",
                          "await_chain_100", "await_chain_10")),
                        ([k for k in RUST_ORDER if k in rust_impls], RUST_CASES)):
        names = [c for c in names if c in cases]
        if not names:
            continue
        print("%-22s" % "case" + "".join("%*s" % (w, k) for k in cols))
        for case in names:
            print("%-22s" % case + "".join("%*s" % (w, fmt(cases[case].get(k), units[case]))
                                            for k in cols))
    for case, base in (("wake_roundtrip", "call_soon_threadsafe"),
                       ("wake_pingpong", "call_soon_threadsafe"),
                       ("blocking_work", "run_in_executor"),
                       ("blocking_batch", "run_in_executor")):
        if case in cases:
            g = cases[case].get("gocoro")
            print("%-22s %s %.0f %s; gocoro %s" % (case, base, cases[case][base], units[case],
                                                  "%.0f" % g if g is not None else "pending"))
    for k, why in missing.items():
        print("missing %s: %s" % (k, why))
    for t in targets:
        print("[%-7s] %s: %s" % (t["status"], t["target"],
                                 t["value"] if t["value"] is not None else t.get("reason", "")))


if __name__ == "__main__":
    main()
