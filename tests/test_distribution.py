"""Distribution: the package layout, the sdist, the wheel, and a third-party project built on it.

The build-tree checks run on every CPython.  The end-to-end checks (sdist -> wheel with
auditwheel -> fresh venv; examples/downstream built in an isolated build from the local wheels;
its coroutines under asyncio and trio; the sdist built from source, and refused with a clear
message without Go / a C compiler) run on one CPython per `./build.sh test`: the one named by
GOCORO_DIST_PYTHON (build.sh sets the newest found), or the running one when it is unset.
Packages come only from dist/ and a local wheelhouse (pip download, once), never from an index,
so a `gocoro` on an index can never be picked up instead of the local wheel.
"""
import glob
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile

import pytest

import gocoro
from support import describe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VER = "%d.%d" % sys.version_info[:2]
SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")


# ---- the package as staged in the build tree (what the wheel holds) --------------------------

def test_package_reexports_the_extension():
    inner = gocoro._gocoro
    assert inner.__name__ == "gocoro._gocoro"
    assert os.path.basename(inner.__file__) == "_gocoro" + SUFFIX
    for name in ("Coroutine", "CoroutineWrapper", "Generator", "Iterator", "AsyncGenerator",
                 "AsyncIterator", "NativeCode", "PanicException", "ABI_VERSION", "_C_API",
                 "runtime_info"):
        assert getattr(gocoro, name) is getattr(inner, name), name
    assert gocoro.Coroutine.__module__ == "gocoro"
    assert gocoro.PanicException.__module__ == "gocoro"
    assert gocoro.__version__ == inner.__version__  # package and library agree


def test_capsule_name():
    import ctypes
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    assert get_name(gocoro._C_API) == b"gocoro._C_API"


def test_get_include():
    h = os.path.join(gocoro.get_include(), "gocoro.h")
    with open(h, "rb") as a, open(os.path.join(ROOT, "include", "gocoro.h"), "rb") as b:
        assert a.read() == b.read()


def test_get_library_dir_and_linker_script():
    d = gocoro.get_library_dir()
    assert gocoro.get_library() == os.path.join(d, "_gocoro" + SUFFIX)
    with open(os.path.join(d, "libgocoro.so")) as f:
        script = f.read()
    assert "INPUT(_gocoro%s)" % SUFFIX in script
    out = subprocess.run(["readelf", "-d", gocoro.get_library()], capture_output=True,
                         text=True).stdout
    assert "Library soname: [_gocoro%s]" % SUFFIX in out


def test_pxd_is_shipped():
    pxd = os.path.join(os.path.dirname(gocoro.__file__), "__init__.pxd")
    with open(pxd) as f:
        text = f.read()
    assert 'cdef extern from "gocoro.h"' in text and "GOCORO_USE_CAPSULE" in text


@pytest.mark.skipif(shutil.which("pkg-config") is None, reason="pkg-config not installed")
def test_pkgconfig():
    env = dict(os.environ, PKG_CONFIG_PATH=gocoro.get_pkgconfig_dir())

    def pc(*args):
        return subprocess.run(["pkg-config", *args, "gocoro"], env=env, capture_output=True,
                              text=True, check=True).stdout.split()

    cflags, libs = pc("--cflags"), pc("--libs")
    assert [os.path.realpath(f[2:]) for f in cflags] == [os.path.realpath(gocoro.get_include())]
    assert os.path.realpath(libs[0][2:]) == os.path.realpath(gocoro.get_library_dir())
    assert libs[1:] == ["-lgocoro"]
    assert pc("--modversion") == [gocoro.__version__]
    assert pc("--variable=abi_version") == [str(gocoro.ABI_VERSION)]


def test_command_line():
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "gocoro", *args], capture_output=True,
                              text=True, check=True).stdout.split()
    assert cli("--cflags") == ["-I" + gocoro.get_include()]
    assert cli("--libs") == ["-L" + gocoro.get_library_dir(), "-lgocoro"]
    assert cli("--pkgconfigdir") == [gocoro.get_pkgconfig_dir()]
    assert cli("--includedir", "--libdir") == [gocoro.get_include(), gocoro.get_library_dir()]
    assert cli("--version", "--abi-version") == [gocoro.__version__, str(gocoro.ABI_VERSION)]


# ---- end to end ----------------------------------------------------------------------------

E2E = os.environ.get("GOCORO_DIST_PYTHON", VER) == VER
e2e = pytest.mark.skipif(not E2E, reason="distribution end-to-end runs on Python "
                         + os.environ.get("GOCORO_DIST_PYTHON", "?") + " only")
WORK = os.path.join(ROOT, "build", "e2e", "py" + VER)
DEPS = os.path.join(ROOT, "build", "wheelhouse", "deps-py" + VER)
BASE_PY = getattr(sys, "_base_executable", sys.executable)


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV")
           and not k.startswith(("PIP_", "GOCORO_"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.update(extra)
    return env


def run(cmd, timeout=600, **kw):
    kw.setdefault("env", clean_env())
    kw.setdefault("cwd", WORK)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def check(cmd, **kw):
    p = run(cmd, **kw)
    assert p.returncode == 0, describe(p)
    return p


def fresh_venv(name):
    path = os.path.join(WORK, name)
    shutil.rmtree(path, ignore_errors=True)
    check([BASE_PY, "-m", "venv", path])
    return os.path.join(path, "bin", "python")


def pip_install(py, *args, **kw):
    return run([py, "-m", "pip", "install", "--no-index", "--find-links", DEPS, *args], **kw)


@pytest.fixture(scope="module")
def dist():
    """sdist + this CPython's wheel (./build.sh wheel's build_wheel) into build/e2e/pyX.Y/dist,
    plus the third-party wheels the venvs need in build/wheelhouse/deps-pyX.Y."""
    if not E2E:
        pytest.skip("distribution end-to-end runs on another Python")
    if shutil.which("go") is None:
        pytest.fail("go not on PATH: ./build.sh installs it")
    os.makedirs(WORK, exist_ok=True)
    d = os.path.join(WORK, "dist")
    shutil.rmtree(d, ignore_errors=True)
    env = clean_env(ROOT=ROOT, GOCORO_DIST=d)
    p = check(["bash", "-c", '. "$ROOT/scripts/common.sh"; build_wheel "$1" "$2"', "-",
               VER, BASE_PY], env=env)
    wheel = p.stdout.strip().splitlines()[-1]
    if not glob.glob(os.path.join(DEPS, "trio-*.whl")) or \
       not glob.glob(os.path.join(DEPS, "[Cc]ython-*.whl")):
        check([sys.executable, "-m", "pip", "download", "-q", "-d", DEPS,
               "setuptools>=64", "Cython>=3", "trio"])
    return {"dir": d, "wheel": wheel, "sdist": glob.glob(os.path.join(d, "gocoro-*.tar.gz"))[0]}


@pytest.fixture(scope="module")
def downstream(dist):
    """A fresh venv with the gocoro wheel and examples/downstream, built in an isolated build
    whose gocoro also comes from the local wheel."""
    py = fresh_venv("venv-downstream")
    src = os.path.join(WORK, "downstream-src")
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(os.path.join(ROOT, "examples", "downstream"), src,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "_cy.c", "*.so"))
    p = pip_install(py, "--find-links", dist["dir"], src, "trio")
    assert p.returncode == 0, describe(p)
    return py


@e2e
def test_wheel_contents(dist):
    name = os.path.basename(dist["wheel"])
    tag = "cp%d%d" % sys.version_info[:2]
    assert name.startswith("gocoro-%s-%s-%s-" % (gocoro.__version__, tag, tag)), name
    assert "manylinux_" in name, name  # auditwheel tagged it
    with zipfile.ZipFile(dist["wheel"]) as z:
        names = set(z.namelist())
    for f in ("gocoro/__init__.py", "gocoro/__main__.py", "gocoro/_version.py",
              "gocoro/__init__.pxd",
              "gocoro/_gocoro" + SUFFIX, "gocoro/libgocoro.so", "gocoro/include/gocoro.h",
              "gocoro/pkgconfig/gocoro.pc"):
        assert f in names, (f, sorted(names))


DOWNSTREAM_SCRIPT = r"""
import asyncio, os, sys, sysconfig
import trio
import gocoro, gocoro_downstream as d

site = sysconfig.get_paths()["platlib"]
assert gocoro.__file__.startswith(site), gocoro.__file__
assert d.__file__.startswith(site), d.__file__

async def main(sleep):
    return (await d.sum_slowly([1, 2, 3], sleep), await d.countdown(3, sleep),
            await d.spin(2, sleep))

assert asyncio.run(main(asyncio.sleep)) == (6, 3, 2)
assert trio.run(main, trio.sleep) == (6, 3, 2)

async def bare():
    return await d.ticker(3)
assert asyncio.run(bare()) == 3

async def gathered():
    return await asyncio.gather(d.sum_slowly([4], asyncio.sleep), d.countdown(2, asyncio.sleep),
                                d.spin(1, asyncio.sleep), d.ticker(1))
assert asyncio.run(gathered()) == [4, 2, 1, 1]

# cancellation reaches the native steps
async def cancel():
    t = asyncio.ensure_future(d.countdown(10**6, asyncio.sleep))
    await asyncio.sleep(0)
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        return "cancelled"
assert asyncio.run(cancel()) == "cancelled"

# every extension made the canonical types, through one library
objs = [d.sum_slowly([], None), d.countdown(0, None), d.spin(0, None), d.ticker(0)]
assert all(type(o) is gocoro.Coroutine for o in objs), [type(o) for o in objs]
assert d.coroutine_type() is gocoro.Coroutine
for o in objs:
    o.close()
inodes = {l.split()[4] for l in open("/proc/self/maps") if "_gocoro" in l}
assert len(inodes) == 1, inodes
print("OK", gocoro.__version__)
"""


@e2e
def test_downstream_asyncio_and_trio(downstream):
    p = check([downstream, "-c", DOWNSTREAM_SCRIPT])
    assert p.stdout.strip().startswith("OK"), describe(p)


LINKED_FIRST = r"""
import glob, importlib.machinery, importlib.util, os, sys, sysconfig
# load the -lgocoro extension by itself, before anything imported gocoro: the dynamic loader
# finds the library through the extension's $ORIGIN rpath
path = glob.glob(os.path.join(sysconfig.get_paths()["platlib"], "gocoro_downstream",
                              "_linked*.so"))[0]
loader = importlib.machinery.ExtensionFileLoader("_linked", path)
spec = importlib.util.spec_from_file_location("_linked", path, loader=loader)
m = importlib.util.module_from_spec(spec)
loader.exec_module(m)
assert "gocoro" not in sys.modules
T = m.coroutine_type()
import gocoro  # Python's dlopen of the module finds the very object the rpath loaded
assert T is gocoro.Coroutine
maps = [l.split() for l in open("/proc/self/maps") if "_gocoro" in l]
assert len({l[4] for l in maps}) == 1, maps
print("OK")
"""


@e2e
def test_downstream_linked_extension_loaded_before_gocoro(downstream):
    p = check([downstream, "-c", LINKED_FIRST])
    assert p.stdout.strip() == "OK", describe(p)


PKGCONFIG_EXT = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "gocoro.h"
static PyObject *t(PyObject *m, PyObject *u) { return Py_NewRef((PyObject *)GoCoro_CoroutineType()); }
static PyMethodDef meths[] = {{"coroutine_type", t, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "pcext", NULL, -1, meths};
PyMODINIT_FUNC PyInit_pcext(void) { return PyModule_Create(&def); }
"""


@e2e
@pytest.mark.skipif(shutil.which("pkg-config") is None, reason="pkg-config not installed")
def test_installed_pkgconfig_links_an_extension(downstream):
    """cc $(pkg-config --cflags --libs gocoro) against the installed wheel."""
    pcdir = check([downstream, "-c", "import gocoro; print(gocoro.get_pkgconfig_dir())"]
                  ).stdout.strip()
    env = clean_env(PKG_CONFIG_PATH=pcdir)
    flags = check(["pkg-config", "--cflags", "--libs", "gocoro"], env=env).stdout.split()
    libdir = check(["pkg-config", "--variable=libdir", "gocoro"], env=env).stdout.strip()
    src = os.path.join(WORK, "pcext.c")
    with open(src, "w") as f:
        f.write(PKGCONFIG_EXT)
    out = os.path.join(WORK, "pcext" + SUFFIX)
    check(["cc", "-shared", "-fPIC", "-I" + sysconfig.get_paths()["include"], src, "-o", out,
           *flags, "-Wl,-rpath," + os.path.realpath(libdir)])
    p = check([downstream, "-c", "import sys; sys.path.insert(0, %r); import pcext, gocoro; "
               "assert pcext.coroutine_type() is gocoro.Coroutine; print('OK')" % WORK])
    assert p.stdout.strip() == "OK"


@e2e
def test_sdist_builds_from_source(dist):
    py = fresh_venv("venv-sdist")
    p = pip_install(py, dist["sdist"])
    assert p.returncode == 0, describe(p)
    p = check([py, "-c", textwrap.dedent("""
        import asyncio, os, gocoro
        assert os.path.isfile(os.path.join(gocoro.get_include(), "gocoro.h"))
        assert gocoro.runtime_info()["abi_version"] == gocoro.ABI_VERSION
        print(gocoro.__version__)
    """)])
    assert p.stdout.strip() == gocoro.__version__


def _tool_dir(name, tools):
    """A PATH directory holding only `tools` (symlinks)."""
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for t in tools:
        where = shutil.which(t)
        if where:
            os.symlink(where, os.path.join(d, t))
    return d


@pytest.fixture(scope="module")
def notools_venv(dist):
    return fresh_venv("venv-notools")


@e2e
@pytest.mark.parametrize("have, missing", [
    (["cc", "gcc"], ["Go 1.22 or newer"]),
    ([], ["Go 1.22 or newer", "a C compiler for cgo"]),
])
def test_sdist_without_build_tools_fails_clearly(notools_venv, dist, have, missing):
    py = notools_venv
    path = _tool_dir("bin-notools", have)
    env = clean_env(PATH=path)
    env.pop("CC", None)
    p = pip_install(py, dist["sdist"], env=env)
    assert p.returncode != 0, describe(p)
    out = p.stdout + p.stderr
    assert "building gocoro from source needs:" in out, describe(p)
    for m in missing:
        assert m in out, (m, describe(p))
    assert "cannot build from source, missing: " + ("Go" if len(missing) == 1 else
                                                    "Go, a C compiler (gcc)") in out, describe(p)
    if len(missing) == 1:
        assert "C compiler" not in out, describe(p)
