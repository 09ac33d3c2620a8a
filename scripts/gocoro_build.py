"""Build the installable `gocoro` package for the running CPython (stdlib only).

One implementation for both ways of building gocoro:
  * the repository build (scripts/common.sh build_lib):  python scripts/gocoro_build.py DEST
    stages the package into DEST/gocoro/ (DEST = build/pyX.Y, importable with PYTHONPATH=DEST);
  * the PEP 517 build (setup.py's build_ext step) calls check_tools(), go_build() and stage().

Package layout (identical in build/pyX.Y/gocoro/ and in site-packages/gocoro/):
  __init__.py, _version.py      re-export the extension, get_include(), get_library_dir(), ...
  _gocoro<EXT_SUFFIX>           the Go c-shared library: the module gocoro._gocoro AND the
                                library that -lgocoro binds to (soname = this file name)
  libgocoro.so                  a one-line GNU ld script, INPUT(_gocoro<EXT_SUFFIX>), so that
                                `-L<get_library_dir()> -lgocoro` links against the module itself
                                (wheels cannot hold symlinks)
  include/gocoro.h              the public header
  __init__.pxd                  Cython declarations (`cimport gocoro`)
  pkgconfig/gocoro.pc           pkg-config file, relocatable through ${pcfiledir}

Nothing is downloaded: Go runs with GOTOOLCHAIN=local, GOPROXY=off, GOFLAGS=-mod=readonly.
"""
import os
import shutil
import subprocess
import sys
import sysconfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG_SRC = os.path.join(ROOT, "python", "gocoro")
HEADER = os.path.join(ROOT, "include", "gocoro.h")
MODULE = "_gocoro"


class MissingToolsError(RuntimeError):
    def __init__(self, message, short):
        super().__init__(message)
        self.short = short  # e.g. ["Go", "a C compiler"]


def version():
    ns = {}
    with open(os.path.join(PKG_SRC, "_version.py")) as f:
        exec(f.read(), ns)
    return ns["__version__"]


def ext_suffix():
    return sysconfig.get_config_var("EXT_SUFFIX")


def module_filename():
    return MODULE + ext_suffix()


def _go_env_cc(go):
    try:
        out = subprocess.run([go, "env", "CC"], capture_output=True, text=True, check=True,
                             env=_go_environ()).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        out = ""
    return out.split()[0] if out else "gcc"


def check_tools():
    """Raise MissingToolsError naming everything a source build lacks."""
    missing, short = [], []
    go = os.environ.get("GOCORO_GO") or shutil.which("go")
    if not go or not os.access(go, os.X_OK):
        missing.append("Go 1.22 or newer (the `go` command on PATH; e.g. `apt-get install "
                       "golang-go`, or https://go.dev/dl)")
        short.append("Go")
    # cgo compiles the C sources with $CC, else `go env CC` (gcc by default)
    cc = os.environ.get("CC", "").split()
    cc = cc[0] if cc else (_go_env_cc(go) if go else "gcc")
    if not shutil.which(cc):
        missing.append("a C compiler for cgo (`%s` not found; e.g. `apt-get install gcc`, or set "
                       "CC)" % cc)
        short.append("a C compiler (%s)" % cc)
    inc = sysconfig.get_paths()["include"]
    if not os.path.isfile(os.path.join(inc, "Python.h")):
        missing.append("the CPython development headers (Python.h not in %s; e.g. `apt-get "
                       "install python%d.%d-dev`)" % ((inc,) + sys.version_info[:2]))
        short.append("Python.h")
    if missing:
        raise MissingToolsError(
            "building gocoro from source needs:\n  - " + "\n  - ".join(missing) +
            "\n(or install a prebuilt gocoro wheel for this platform)", short)
    return go


def _go_environ():
    env = dict(os.environ)
    # never download: no toolchain switch, no module proxy (the module has no dependencies)
    env.setdefault("GOTOOLCHAIN", "local")
    env.setdefault("GOPROXY", "off")
    env.setdefault("GOFLAGS", "-mod=readonly")
    return env


def go_build(go, out_path, src_root=ROOT):
    """go build -buildmode=c-shared ./capi -> out_path (soname = basename(out_path))."""
    inc = sysconfig.get_paths()["include"]
    env = _go_environ()
    env["CGO_ENABLED"] = "1"
    env["CGO_CFLAGS"] = "-I%s -I%s -O2 -g -fno-plt -Wall -Wno-unused-function" % (
        inc, os.path.join(src_root, "include"))
    env["CGO_LDFLAGS"] = "-Wl,-soname,%s" % os.path.basename(out_path)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    subprocess.run([go, "build", "-buildmode=c-shared", "-buildvcs=false", "-trimpath",
                    "-o", os.path.abspath(out_path), "./capi"], cwd=src_root, env=env, check=True)
    header = os.path.splitext(os.path.abspath(out_path))[0] + ".h"  # cgo's export header
    if os.path.exists(header):
        os.remove(header)


PC_TEMPLATE = """\
# pkg-config file of the gocoro Python package (relocatable: paths are relative to this file).
# PKG_CONFIG_PATH=$(python -c 'import gocoro; print(gocoro.get_pkgconfig_dir())')
prefix=${{pcfiledir}}/..
includedir=${{prefix}}/include
libdir=${{prefix}}
abi_version={abi}
library={library}

Name: gocoro
Description: native CPython awaitables from function pointers (gocoro.h), CPython {py}
Version: {version}
Cflags: -I${{includedir}}
Libs: -L${{libdir}} -lgocoro
"""


def _abi_version():
    with open(HEADER) as f:
        for line in f:
            if line.startswith("#define GOCORO_ABI_VERSION"):
                return line.split()[2].rstrip("uU")
    raise RuntimeError("GOCORO_ABI_VERSION not found in " + HEADER)


def stage(pkg_dir):
    """Copy the pure files of the package into pkg_dir (next to the built library)."""
    os.makedirs(os.path.join(pkg_dir, "include"), exist_ok=True)
    os.makedirs(os.path.join(pkg_dir, "pkgconfig"), exist_ok=True)
    for name in sorted(os.listdir(PKG_SRC)):
        if name.endswith((".py", ".pxd", ".typed")):
            shutil.copyfile(os.path.join(PKG_SRC, name), os.path.join(pkg_dir, name))
    shutil.copyfile(HEADER, os.path.join(pkg_dir, "include", "gocoro.h"))
    lib = module_filename()
    with open(os.path.join(pkg_dir, "libgocoro.so"), "w") as f:
        # the linker resolves the name through the -L search path; the resulting DT_NEEDED is
        # the module's soname (its file name)
        f.write("/* GNU ld script: -lgocoro links against the module gocoro._gocoro */\n"
                "INPUT(%s)\n" % lib)
    with open(os.path.join(pkg_dir, "pkgconfig", "gocoro.pc"), "w") as f:
        f.write(PC_TEMPLATE.format(version=version(), abi=_abi_version(), library=lib,
                                   py="%d.%d" % sys.version_info[:2]))


def build_into(dest):
    """Repository build: DEST/gocoro/ holds the whole package for the running CPython."""
    go = check_tools()
    pkg_dir = os.path.join(dest, "gocoro")
    os.makedirs(pkg_dir, exist_ok=True)
    go_build(go, os.path.join(pkg_dir, module_filename()))
    stage(pkg_dir)
    return pkg_dir


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/gocoro_build.py DEST   (stages DEST/gocoro/)")
    try:
        print(build_into(sys.argv[1]))
    except MissingToolsError as e:
        sys.exit("error: " + str(e))
