"""pytest configuration for gocoro.

build.sh runs pytest with PYTHONPATH=build/pyX.Y:build/pyX.Y/ext:tests:ROOT (build/pyX.Y holds the
package gocoro/ as a wheel installs it).  When pytest is
started by hand (e.g. `.venv/py3.11/bin/python -m pytest tests`), the same directories are added
here for the running interpreter.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ver = "%d.%d" % sys.version_info[:2]
for _p in (os.path.join(ROOT, "build", "py" + _ver, "ext"), os.path.join(ROOT, "build", "py" + _ver),
           os.path.join(ROOT, "tests")):
    if os.path.isdir(_p) and _p not in sys.path:
        sys.path.insert(0, _p)

import pytest  # noqa: E402

import gocoro  # noqa: E402,F401  -- fail loudly (not skip) when the library is missing
import _gocoro_test  # noqa: E402,F401


@pytest.fixture(params=["native", "oracle"])
def impl(request):
    """Both implementations of the op interpreter (for non-differential property tests)."""
    import oracle
    return oracle.native_impl() if request.param == "native" else oracle.oracle_impl()


@pytest.fixture
def unraisable():
    """Collect sys.unraisablehook calls."""
    seen = []
    old = sys.unraisablehook
    sys.unraisablehook = seen.append
    try:
        yield seen
    finally:
        sys.unraisablehook = old
