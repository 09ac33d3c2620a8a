"""Instruction counts behind docs/proposal.md's "Performance" section: what one completed
`await` of a third-party awaitable costs when it returns a value versus None.

    python docs/send_path_cost.py [X.Y | X.Y=COMMAND ...]     (default: 3.10 3.11 3.12 3.13)

For each CPython (the venv .venv/pyX.Y, with build/pyX.Y built by ./build.sh lib; or X.Y=COMMAND,
a command line that starts that interpreter, optionally after NAME=VALUE environment settings as
in a shell, with SEND_COST_PATH naming extra directories that hold its _send_probe build) it runs an
`async def` that awaits N freshly created awaitables under valgrind's callgrind, twice
(N = 1000 and N = 21000), and prints (Ir(21000) - Ir(1000)) / 20000: instructions per
create + await + complete, loop included.  Two awaitables: `_send_probe.Probe` (a minimal
type with am_send, tests_c/send_probe.c) and a gocoro coroutine from _gocoro_test.program.
The difference between the "value" and "None" columns is the price of reporting the return
value through a StopIteration.  Needs valgrind; GODEBUG=asyncpreemptoff=1 is set because
the Go runtime is loaded with gocoro.  A version without a gocoro build gets the probe row only.
"""
import os
import re
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL, BIG = 1000, 21000


def child(kind, n, value):
    v = "%d.%d" % sys.version_info[:2]
    extra = [d for d in os.environ.get("SEND_COST_PATH", "").split(os.pathsep) if d]
    sys.path[:0] = extra + [os.path.join(ROOT, "build", "py" + v), os.path.join(ROOT, "build", "py" + v, "ext")]
    if kind == "probe":
        import _send_probe

        def make():
            return _send_probe.Probe(value)
    else:
        import _gocoro_test
        ops = [("return", value)]

        def make():
            return _gocoro_test.program(ops)

    async def outer():
        for _ in range(n):
            await make()

    c = outer()
    try:
        c.send(None)
    except StopIteration:
        pass


def python_command(spec):
    """(version, argv, extra environment) for X.Y or X.Y=[NAME=VALUE ...] COMMAND ..."""
    version, _, command = spec.partition("=")
    if not command:
        return version, [os.path.join(ROOT, ".venv", "py" + version, "bin", "python")], {}
    words, env = shlex.split(command), {}
    while words and re.match(r"[A-Za-z_][A-Za-z0-9_]*=", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    return version, words, env


def instructions(python, kind, n, value):
    python, extra_env = python
    env = dict(os.environ, GODEBUG="asyncpreemptoff=1", **extra_env)
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *python,
                           os.path.abspath(__file__), "--child", kind, str(n), value],
                          env=env, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        return None
    return int(found.group(1))


def main(specs):
    print("| CPython | awaitable | returns 1 (Ir/await) | returns None (Ir/await) | difference |")
    print("|---|---|---:|---:|---:|")
    for spec in specs:
        version, argv, env = python_command(spec)
        python = (argv, env)
        for kind in ("probe", "gocoro"):
            per = {}
            for value in ("1", "None"):
                big = instructions(python, kind, BIG, value)
                small = instructions(python, kind, SMALL, value)
                per[value] = None if big is None or small is None else (big - small) / (BIG - SMALL)
            if None in per.values():
                print("| %s | %s | (not available) | | |" % (version, kind))
                continue
            print("| %s | %s | %.0f | %.0f | %+.0f |" % (version, kind, per["1"], per["None"],
                                                       per["1"] - per["None"]))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        kind, n, value = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        child(kind, n, None if value == "None" else int(value))
    else:
        main(sys.argv[1:] or ["3.10", "3.11", "3.12", "3.13"])
