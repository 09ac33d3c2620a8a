"""Instruction counts behind docs/proposal.md's "Performance" section: what one completed
`await` of a third-party awaitable costs when it returns a value versus None.

    python docs/send_path_cost.py [X.Y ...]      (default: 3.10 3.11 3.12 3.13)

For each CPython (the venv .venv/pyX.Y, with build/pyX.Y built by ./build.sh lib) it runs an
`async def` that awaits N freshly created awaitables under valgrind's callgrind, twice
(N = 1000 and N = 21000), and prints (Ir(21000) - Ir(1000)) / 20000: instructions per
create + await + complete, loop included.  Two awaitables: `_send_probe.Probe` (a minimal
type with am_send, tests_c/send_probe.c) and a gocoro coroutine from _gocoro_test.program.
The difference between the "value" and "None" columns is the price of reporting the return
value through a StopIteration.  Needs valgrind; GODEBUG=asyncpreemptoff=1 is set because
the Go runtime is loaded with gocoro.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL, BIG = 1000, 21000


def child(kind, n, value):
    v = "%d.%d" % sys.version_info[:2]
    sys.path[:0] = [os.path.join(ROOT, "build", "py" + v), os.path.join(ROOT, "build", "py" + v, "ext")]
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


def instructions(version, kind, n, value):
    py = os.path.join(ROOT, ".venv", "py" + version, "bin", "python")
    env = dict(os.environ, GODEBUG="asyncpreemptoff=1")
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", py,
                          os.path.abspath(__file__), "--child", kind, str(n), value],
                         env=env, capture_output=True, text=True, check=True).stderr
    return int(re.search(r"Collected : (\d+)", out).group(1))


def main(versions):
    print("| CPython | awaitable | returns 1 (Ir/await) | returns None (Ir/await) | difference |")
    print("|---|---|---:|---:|---:|")
    for version in versions:
        for kind in ("probe", "gocoro"):
            per = {}
            for value in ("1", "None"):
                big = instructions(version, kind, BIG, value)
                small = instructions(version, kind, SMALL, value)
                per[value] = (big - small) / (BIG - SMALL)
            print("| %s | %s | %.0f | %.0f | %+.0f |" % (version, kind, per["1"], per["None"],
                                                       per["1"] - per["None"]))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        kind, n, value = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        child(kind, n, None if value == "None" else int(value))
    else:
        main(sys.argv[1:] or ["3.10", "3.11", "3.12", "3.13"])
