"""Helpers shared by the gocoro tests (subprocess runner, small awaitables)."""
import os
import subprocess
import sys
import textwrap

import gocoro
import _gocoro_test

PY = sys.version_info[:2]


def child_env(extra=None):
    """Environment for a child interpreter that can import gocoro and the test extensions."""
    paths = []
    # gocoro is a package: its parent directory goes on the path
    for d in (os.path.dirname(os.path.dirname(os.path.abspath(gocoro.__file__))),
              os.path.dirname(os.path.abspath(_gocoro_test.__file__))):
        if d not in paths:
            paths.append(d)
    try:
        import _gocoro_linked
        d = os.path.dirname(os.path.abspath(_gocoro_linked.__file__))
        if d not in paths:
            paths.append(d)
    except ImportError:
        pass
    paths.append(os.path.dirname(os.path.abspath(__file__)))
    old = os.environ.get("PYTHONPATH")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(paths + ([old] if old else []))
    env.pop("PYTHONWARNINGS", None)
    env["PYTHONFAULTHANDLER"] = "1"
    if extra:
        env.update(extra)
    return env


def run_python(code, timeout=60, extra_env=None, args=()):
    """Run `code` in a fresh interpreter; returns CompletedProcess (text).  A hang fails the
    calling test with subprocess.TimeoutExpired instead of blocking the suite."""
    code = textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", code, *args], env=child_env(extra_env),
                          capture_output=True, text=True, timeout=timeout)


def describe(proc):
    return f"rc={proc.returncode}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"


class Awaitable:
    """An awaitable whose __await__ returns whatever `make_iter()` returns."""

    def __init__(self, make_iter):
        self.make_iter = make_iter

    def __await__(self):
        return self.make_iter()


class NextOnlyIter:
    """An await-iterator with only __iter__/__next__ (no send/throw/close): yields `values`,
    then returns `result`."""

    def __init__(self, values, result):
        self.values = list(values)
        self.result = result

    def __iter__(self):
        return self

    def __next__(self):
        if self.values:
            return self.values.pop(0)
        raise StopIteration(self.result)


class FullIter(NextOnlyIter):
    """An await-iterator with send/throw/close that records what it receives."""

    def __init__(self, values, result, seen):
        super().__init__(values, result)
        self.seen = seen

    def send(self, v):
        self.seen.append(("it.send", v))
        return self.__next__()

    def throw(self, *args):
        from oracle import normalize_throw
        exc = normalize_throw(*args)
        self.seen.append(("it.throw", type(exc).__name__, str(exc)))
        raise exc

    def close(self):
        self.seen.append(("it.close",))
