"""The README's API guide example (`mymod.tick`) is a complete module: extract it, build it with
the capsule-mode command line the README gives, import it and run it."""
import os
import re
import shutil
import subprocess
import sys
import sysconfig

import pytest

from support import child_env, describe, run_python

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _readme_example():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    guide = text[text.index("## API guide"):]
    return re.search(r"```c\n(.*?)```", guide, re.S).group(1)


@pytest.fixture(scope="module")
def mymod_dir(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    d = tmp_path_factory.mktemp("readme")
    src = d / "mymod.c"
    src.write_text(_readme_example())
    out = d / ("mymod" + sysconfig.get_config_var("EXT_SUFFIX"))
    # the README's command line, with python3-config's answers for this interpreter
    flags = subprocess.run([sys.executable, "-m", "gocoro", "--cflags"], capture_output=True,
                           text=True, check=True, env=child_env()).stdout.split()
    cmd = [cc, "-shared", "-fPIC", "-O2", "-I" + sysconfig.get_paths()["include"], *flags,
           str(src), "-o", str(out), "-Wall", "-Werror"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return str(d)


def test_readme_tick_example_builds_and_runs(mymod_dir):
    code = r"""
import asyncio, sys
sys.path.insert(0, sys.argv[1])
import mymod
print(asyncio.run(mymod.tick(3)), flush=True)
for bad in ("x", 2**70):
    try:
        mymod.tick(bad)
    except (TypeError, OverflowError) as e:
        print(type(e).__name__, flush=True)
c = mymod.tick(0)
try:
    c.send(None)
except StopIteration as e:
    print("returned", e.value, flush=True)
"""
    proc = run_python(code, args=(mymod_dir,))
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.split() == ["42", "TypeError", "OverflowError", "returned", "42"], describe(proc)
