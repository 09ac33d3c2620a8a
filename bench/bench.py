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
Every timed case reports the minimum over interleaved repeats by default (--stat).
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
IMPL_LABELS = {
    "gocoro": "gocoro",
    "native": "native async def",
    "gen": "types.coroutine gen",
    "climit": "C limit (am_send)",
    "cython": "Cython 3 async def",
    "pyo3": "PyO3 async fn",
}
IMPL_MODULES = {"gocoro": "gocoro_bench", "climit": "climit", "cython": "cy_coro",
                "pyo3": "pyo3_anchor"}

CASES = ["step_await", "step_await_pyloop", "step_iter", "create_complete",
         "create_complete_none", "bytes_suspended", "wake_roundtrip", "wake_pingpong",
         "blocking_work", "blocking_batch"]
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
}

PENDING_REASON = ("gocoro_bench was built without gocoro's waker/executor API (GOCORO_API_HAS "
                  "missing from include/gocoro.h); only the asyncio baseline is measured")


class Impl:
    def __init__(self, key, steps, done, done_none, version="", note=""):
        self.key = key
        self.label = IMPL_LABELS[key]
        self.steps = steps
        self.done = done
        self.done_none = done_none
        self.version = version
        self.note = note
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
                impls[key] = Impl(key, native_steps, native_done, native_done_none)
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
                impls[key] = Impl(key, mod.steps, mod.done, mod.done_none, version, note)
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

async def _wake_round(loop, n_wakes, make_waiter_aw, fire):
    """n_wakes tasks each await make_waiter_aw(); once all are parked, fire() makes ONE foreign
    thread wake all of them.  Returns ns from fire() until the last task has resumed."""
    all_done = loop.create_future()
    remaining = [n_wakes]

    async def waiter(aw):
        await aw
        remaining[0] -= 1
        if remaining[0] == 0:
            all_done.set_result(None)

    tasks = [loop.create_task(waiter(make_waiter_aw())) for _ in range(n_wakes)]
    await asyncio.sleep(0)  # every waiter has run its first step and is parked
    t0 = perf_counter_ns()
    fire()
    await all_done
    elapsed = perf_counter_ns() - t0
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
# Ratios and targets
# --------------------------------------------------------------------------------------------

# (case, numerator, denominator, op, limit, description)
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
]

RATIO_PAIRS = [("gocoro", d) for d in ("native", "gen", "climit", "cython", "pyo3")]


def compute_ratios(cases):
    ratios = {}
    for case, vals in cases.items():
        g = vals.get("gocoro")
        r = {}
        for a, b in RATIO_PAIRS:
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


def evaluate_targets(cases, missing, stats):
    out = []
    for case, num, den, op, limit, desc in TARGETS:
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
    args = ap.parse_args()

    faulthandler.enable()  # a crash inside an extension leaves a Python traceback on stderr
    quick = args.quick
    P = {
        "nsteps": 1000,             # suspensions per object in the step cases
        "per_outer": 1000,          # awaits per outer coroutine in create_complete
        "repeats": 21 if quick else 61,  # short interleaved samples: robust median on a
        "target_ms": 6 if quick else 30,  # noisy (shared, 2-core) machine
        "bytes_count": 20000,
        "wake_n": 2000 if quick else 3000,      # tasks woken per sample
        "wake_repeats": 5 if quick else 25,
        "pingpong_n": 500 if quick else 2000,
        "exec_n": 500 if quick else 1500,
        "exec_batch": 100,
        "exec_repeats": 5 if quick else 15,
        "statistic": args.stat,
    }
    only = set(args.only.split(",")) if args.only else None
    t_start = time.time()

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
    progress("loading implementations")
    impls, missing = load_impls(read_status(args.status), skip)
    notes = []
    if _climit is None:
        notes.append("climit failed to build: C drivers replaced by Python loops")
    for impl in impls.values():
        if impl.note:
            notes.append("%s: %s" % (impl.key, impl.note))
        if impl.iter_driver == "consume":
            notes.append("%s: __await__() result has no __iter__, step_iter uses climit.consume "
                         "(the same tp_iternext loop as deque(maxlen=0))" % impl.key)

    stats = {}
    cases = {}
    target_ns = P["target_ms"] * 1_000_000
    timed = [
        ("step_await", lambda i: body_step_await(i, P["nsteps"])),
        ("step_await_pyloop", lambda i: body_step_await_pyloop(i, P["nsteps"])),
        ("step_iter", lambda i: body_step_iter(i, P["nsteps"])),
        ("create_complete", lambda i: body_create_complete(i, P["per_outer"])),
        ("create_complete_none", lambda i: body_create_complete(i, P["per_outer"], True)),
    ]
    for name, mk in timed:
        if only and name not in only:
            continue
        progress("%s: setting up" % name)
        bodies = {k: mk(impl) for k, impl in impls.items()}
        st = time_case(name, bodies, P["repeats"], target_ns, progress)
        stats[name] = st
        cases[name] = {k: round(v[P["statistic"]], 2) for k, v in st.items()}

    if not only or "bytes_suspended" in only:
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
    gmod = None
    loop_pending = None
    if "gocoro" in impls:
        gmod = sys.modules["gocoro_bench"]
        if not getattr(gmod, "HAS_WAKER", False):
            gmod = None
            loop_pending = PENDING_REASON
    else:
        loop_pending = "gocoro missing: %s" % missing.get("gocoro")
    for case in ("wake_roundtrip", "blocking_work"):
        if only and case not in only:
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
        for c, samples in res.items():
            stats[c] = {k: _stats(v) for k, v in samples.items()}
            cases[c] = {k: round(stats[c][k][P["statistic"]], 1) for k in samples}
            if "gocoro" not in samples:
                stats[c]["gocoro"] = {"pending": reason}
                cases[c]["gocoro"] = None

    ratios = compute_ratios(cases)
    targets = evaluate_targets(cases, missing, stats)
    result = {
        "python": platform.python_version(),
        "python_short": "%d.%d" % sys.version_info[:2],
        "python_impl": platform.python_implementation(),
        "executable": sys.executable,
        "quick": quick,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git": args.git,
        "machine": {"cpu": cpu_model(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "params": P,
        "units": {c: UNITS[c] for c in cases},
        "impls": {k: {"label": IMPL_LABELS[k], "available": k in impls,
                      "version": impls[k].version if k in impls else None,
                      "reason": missing.get(k)} for k in IMPL_ORDER},
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
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".tmp", "w") as f:
        json.dump(result, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(args.out + ".tmp", args.out)
    progress("done")

    # Console summary
    print("CPython %s  (%s, %.0f s)" % (result["python"], "quick" if quick else "full",
                                          result["duration_s"]))
    cols = [k for k in IMPL_ORDER if k in impls]
    w = 12
    print("%-22s" % "case" + "".join("%*s" % (w, k) for k in cols))
    for case in ("step_await", "step_await_pyloop", "step_iter", "create_complete",
                 "create_complete_none", "bytes_suspended"):
        if case in cases:
            print("%-22s" % case + "".join("%*s" % (w, fmt(cases[case].get(k), UNITS[case]))
                                            for k in cols))
    for case, base in (("wake_roundtrip", "call_soon_threadsafe"),
                       ("wake_pingpong", "call_soon_threadsafe"),
                       ("blocking_work", "run_in_executor"),
                       ("blocking_batch", "run_in_executor")):
        if case in cases:
            g = cases[case].get("gocoro")
            print("%-22s %s %.0f %s; gocoro %s" % (case, base, cases[case][base], UNITS[case],
                                                  "%.0f" % g if g is not None else "pending"))
    for k, why in missing.items():
        print("missing %s: %s" % (k, why))
    for t in targets:
        print("[%-7s] %s: %s" % (t["status"], t["target"],
                                 t["value"] if t["value"] is not None else t.get("reason", "")))


if __name__ == "__main__":
    main()
