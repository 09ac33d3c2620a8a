"""Extension modules of gocoro-downstream (metadata: pyproject.toml).

  _native  C, capsule mode (recommended): no link step, gocoro._C_API fetched at import
  _linked  C, direct linking: -lgocoro against the library gocoro installs
  _cy      Cython, `from gocoro cimport ...` (capsule mode through gocoro/__init__.pxd)
"""
import gocoro
from Cython.Build import cythonize
from setuptools import Extension, setup

include = [gocoro.get_include()]

setup(
    ext_modules=[
        Extension("gocoro_downstream._native", ["src/gocoro_downstream/_native.c"],
                  include_dirs=include),
        Extension("gocoro_downstream._linked", ["src/gocoro_downstream/_linked.c"],
                  include_dirs=include,
                  library_dirs=[gocoro.get_library_dir()], libraries=["gocoro"],
                  # the library's soname is found (1) already loaded: the package's
                  # __init__ imports gocoro first; (2) else through this rpath, valid when
                  # gocoro is installed in the same site-packages (one ../ per package level)
                  runtime_library_dirs=["$ORIGIN/../gocoro"]),
        *cythonize([Extension("gocoro_downstream._cy", ["src/gocoro_downstream/_cy.pyx"],
                              include_dirs=include)],
                   language_level=3),
    ],
)
