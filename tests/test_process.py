"""Process-level behaviour, each in a subprocess with a timeout (a hang fails, never blocks):
fork, Ctrl-C (SIGINT), and memory/reference leaks over a million create/await cycles."""
import os
import signal
import subprocess
import sys
import time

import pytest

from support import child_env, describe, run_python

FORK_SCRIPT = r"""
import asyncio, os, signal, sys, time, traceback, warnings
warnings.simplefilter("ignore", DeprecationWarning)   # 3.12+: fork() of a multi-threaded process
import gocoro, _gocoro_test as t

async def work(n):
    total = 0
    for i in range(n):
        total += await t.program([("await_new", asyncio.sleep, 0), ("return", i)])
    rs = await asyncio.gather(*(t.program([("await_new", asyncio.sleep, 0), ("return", 1)])
                                for _ in range(50)))
    return total + sum(rs)

def check_work(n):
    assert asyncio.run(work(n)) == sum(range(n)) + 50

check_work(100)
info = gocoro.runtime_info()
assert isinstance(info, dict), info
try:
    gocoro._test_go_panic("before fork")
except gocoro.PanicException:
    pass

pid = os.fork()
if pid == 0:
    rc = 0
    try:
        signal.alarm(30)                     # never hang: SIGALRM kills the child
        check_work(300)                      # creating and running coroutines still works
        c = t.program([("yield", 1), ("return", 2)])
        assert c.send(None) == 1
        try:
            gocoro.runtime_info()
        except RuntimeError as e:            # Go-backed: refused at once in a forked child
            assert "fork" in str(e).lower(), str(e)
        else:
            print("child: runtime_info() did not raise", flush=True); rc = 3
        try:
            gocoro._test_go_panic("in child")
        except RuntimeError as e:
            assert "fork" in str(e).lower(), str(e)
        except gocoro.PanicException:
            print("child: _test_go_panic ran Go code after fork", flush=True); rc = 4
        else:
            rc = 5
        # a new spec may or may not need Go; either way: no hang, no crash
        try:
            t.bad_prepare("ok")
        except RuntimeError as e:
            assert "fork" in str(e).lower(), str(e)
        check_work(50)
        print("child ok", flush=True)
    except BaseException:
        traceback.print_exc()
        rc = 1
    sys.stdout.flush(); sys.stderr.flush()
    os._exit(rc)

deadline = time.monotonic() + 40
while True:
    wpid, status = os.waitpid(pid, os.WNOHANG)
    if wpid:
        break
    if time.monotonic() > deadline:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        print("child hung", flush=True)
        sys.exit(7)
    time.sleep(0.02)
code = os.waitstatus_to_exitcode(status)
print("child exit", code, flush=True)
check_work(50)                               # the parent is unaffected
assert isinstance(gocoro.runtime_info(), dict)
sys.exit(0 if code == 0 else 8)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_child_keeps_working():
    proc = run_python(FORK_SCRIPT, timeout=90)
    assert proc.returncode == 0, describe(proc)
    assert "child ok" in proc.stdout and "child exit 0" in proc.stdout, describe(proc)


SIGINT_ASYNCIO = r"""
import asyncio, sys
import gocoro, _gocoro_test as t
async def main():
    print("ready", flush=True)
    n = 0
    while True:
        n += await t.program([("await_new", asyncio.sleep, 0.001), ("yield_call", lambda: None),
                              ("return", 1)])
asyncio.run(main())
"""

SIGINT_SLEEP = r"""
import time, sys, asyncio
import gocoro, _gocoro_test as t
asyncio.run(t.program([("await_new", asyncio.sleep, 0), ("return", 1)]))
gocoro.runtime_info()
print("ready", flush=True)
time.sleep(60)
print("sleep finished without interruption", flush=True)
"""

SIGINT_BUSY = r"""
import sys
import gocoro, _gocoro_test as t
print("ready", flush=True)
while True:
    c = t.program([("yield", 1), ("return", 2)])
    c.send(None)
    try:
        c.send(None)
    except StopIteration:
        pass
"""


SIGINT_IN_STEP = r"""
import time, sys
import gocoro, _gocoro_test as t
# (not under asyncio.run: since 3.11 its SIGINT handler only cancels the main task, which does
# not interrupt a blocking call -- for CPython coroutines just the same)
outer = t.program([("await", t.program([("call", time.sleep, 60), ("return", "slept")])),
                   ("return", "outer")])
print("ready", flush=True)
# the step itself blocks (in Python code it calls): the KeyboardInterrupt is raised inside the
# inner step and must propagate out of both
try:
    outer.send(None)
except StopIteration:
    pass
print("step finished without interruption", flush=True)
"""


@pytest.mark.parametrize("script", [SIGINT_ASYNCIO, SIGINT_SLEEP, SIGINT_BUSY, SIGINT_IN_STEP],
                         ids=["asyncio-loop", "time.sleep", "busy-loop", "inside-a-step"])
def test_ctrl_c_raises_keyboardinterrupt(script):
    # the child starts with SIGINT at its default action, whatever this process inherited (a
    # job started in the background of a non-interactive shell ignores SIGINT, and CPython keeps
    # an ignored SIGINT ignored)
    p = subprocess.Popen([sys.executable, "-c", script], env=child_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line = p.stdout.readline()
        assert line.strip() == "ready", (line, p.stderr.read() if p.poll() is not None else "")
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        try:
            out, err = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            pytest.fail(f"process ignored SIGINT (still running 20 s later)\n{err}")
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert "KeyboardInterrupt" in err, f"rc={p.returncode}\n{out}\n{err}"
    assert p.returncode in (-signal.SIGINT, 130, 1), f"rc={p.returncode}\n{err}"
    assert "without interruption" not in out


LEAK_SCRIPT = r"""
import gc, os, sys, time, warnings
import gocoro, _gocoro_test as t

N = int(sys.argv[1])
value = object()

def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)

async def outer(n):
    # create / await / complete, through every path: immediate return, a bare yield (NEXT)
    # and an await of another native coroutine (AWAIT)
    for i in range(n):
        k = i % 4
        if k == 0:
            await t.counted(value)
        elif k == 1:
            await t.counted(value, yields=1)
        elif k == 2:
            await t.program([("await", t.counted(value)), ("return", value)])
        else:
            await t.program([("yield", None), ("return", value)])

def run(n):
    c = outer(n)
    try:
        while True:
            c.send(None)
    except StopIteration:
        pass

def long_lived(n):
    # one object stepped n times, half of the resumptions by throw() (caught by the handler)
    c = t.program([("try", ValueError, 3), ("yield", None), ("goto", 0), ("goto", 0)])
    c.send(None)
    for i in range(n):
        if i % 2:
            c.throw(ValueError(value))
        else:
            c.send(value)
    c.close()

created = lambda: t.counters()["created"] + t.counters()["program_created"]
finalized = lambda: t.counters()["finalized"] + t.counters()["program_finalized"]

run(20000)                         # warm up: free lists, caches, allocator arenas
long_lived(20000)
gc.collect()
rc0 = sys.getrefcount(value)
objs0 = len(gc.get_objects())
rss0 = rss_kb()
c0, f0 = created(), finalized()
t0 = time.monotonic()
run(N)
long_lived(N // 5)
elapsed = time.monotonic() - t0
gc.collect()
rc1 = sys.getrefcount(value)
objs1 = len(gc.get_objects())
rss1 = rss_kb()
c1, f1 = created(), finalized()
print(f"cycles={N} elapsed={elapsed:.1f}s rss0={rss0}kB rss1={rss1}kB objs0={objs0} objs1={objs1} "
      f"refcount {rc0}->{rc1} created={c1 - c0} finalized={f1 - f0}", flush=True)
errors = []
if rc1 != rc0:
    errors.append(f"refcount of the value passed through changed: {rc0} -> {rc1}")
if abs(objs1 - objs0) > 50:
    errors.append(f"gc object count changed: {objs0} -> {objs1}")
if rss1 - rss0 > 16 * 1024:
    errors.append(f"RSS grew by {(rss1 - rss0) // 1024} MB")
if c1 - c0 != f1 - f0 or c1 - c0 != N * 5 // 4 + 1:
    errors.append(f"created {c1 - c0} (expected {N * 5 // 4 + 1}), finalized {f1 - f0}")
print("\n".join(errors) if errors else "OK", flush=True)
sys.exit(1 if errors else 0)
"""


def test_no_leaks_over_a_million_cycles():
    proc = run_python(LEAK_SCRIPT, timeout=120, args=("1000000",))
    assert proc.returncode == 0, describe(proc)


SHUTDOWN = r"""
import sys, _gocoro_test as t, oracle
make = t.program if sys.argv[1] == "native" else oracle.make_program
def say(x):
    print(x, flush=True)
# still suspended at exit: closed during interpreter shutdown
keep = make([("try", GeneratorExit, 3), ("yield", 1), ("return", 0), ("call", say, "cleanup at exit")])
keep.send(None)
keep2 = make([("try", GeneratorExit, 3), ("await", make([("yield", 2)])), ("return", 0),
              ("call", say, "outer cleanup at exit")])
keep2.send(None)
never = make([])
print("main done", flush=True)
"""


@pytest.mark.parametrize("impl_name", ["native", "oracle"])
def test_interpreter_shutdown_with_live_coroutines(impl_name):
    """Suspended / never-awaited objects still alive at exit are finalized during shutdown
    like CPython's (cleanup runs, no crash)."""
    proc = run_python(SHUTDOWN, timeout=60, args=(impl_name,))
    assert proc.returncode == 0, describe(proc)
    lines = proc.stdout.splitlines()
    assert lines[0] == "main done"
    assert sorted(lines[1:]) == ["cleanup at exit", "outer cleanup at exit"], describe(proc)
    assert "Fatal" not in proc.stderr and "Segmentation" not in proc.stderr, describe(proc)
