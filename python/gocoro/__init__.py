"""gocoro: one canonical native coroutine type for every extension (C, Rust, Cython).

The types, PanicException and the C API capsule `gocoro._C_API` come from the extension module
gocoro._gocoro, which is also the shared library that `-lgocoro` links against.  The helpers
below locate what an extension build needs:

    gocoro.get_include()        directory holding gocoro.h
    gocoro.get_library_dir()    directory for -L (then -lgocoro)
    gocoro.get_pkgconfig_dir()  directory holding gocoro.pc (for PKG_CONFIG_PATH)
    gocoro.get_library()        path of the shared library itself
"""
import os as _os

from . import _gocoro

# Re-export everything the extension defines (types, PanicException, _C_API, functions,
# ABI_VERSION ...), including the private helpers the test suite uses.
globals().update({_k: _v for _k, _v in vars(_gocoro).items() if not _k.startswith("__")})

from ._version import __version__  # noqa: E402

_HERE = _os.path.dirname(_os.path.abspath(__file__))


def get_include():
    """The directory holding gocoro.h (for -I / include_dirs)."""
    return _os.path.join(_HERE, "include")


def get_library_dir():
    """The directory to pass with -L (library_dirs) before -lgocoro.

    -lgocoro resolves to the extension module gocoro._gocoro itself; its soname is that file
    name.  At run time the dynamic loader binds an extension's reference to it by soname when
    `import gocoro` has already loaded it (import gocoro before your extension), or through an
    rpath of $ORIGIN/<relative path to this directory> when both packages are installed in the
    same site-packages.  Either way it is the one copy Python imported.
    """
    return _HERE


def get_library():
    """The path of the shared library (the extension module gocoro._gocoro)."""
    return _os.path.abspath(_gocoro.__file__)


def get_pkgconfig_dir():
    """The directory holding gocoro.pc: PKG_CONFIG_PATH=<this> pkg-config --cflags --libs gocoro."""
    return _os.path.join(_HERE, "pkgconfig")
