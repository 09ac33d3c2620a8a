#!/usr/bin/env bash
# Build the gocoro test extensions for one CPython:  tests_c/build_exts.sh X.Y /path/to/python
#   _gocoro_test    capsule mode (GOCORO_USE_CAPSULE, no link step)
#   _gocoro_linked  direct mode (-lgocoro against build/pyX.Y/libgocoro.so, rpath to it)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/common.sh"

v=${1:?usage: build_exts.sh X.Y PYTHON}
py=${2:?usage: build_exts.sh X.Y PYTHON}
libdir="$ROOT/build/py$v"

log "building test extensions for Python $v"
build_ext "$v" "$py" _gocoro_test "$ROOT/tests_c/gocoro_testmod.c"
if [ -e "$libdir/libgocoro.so" ]; then
  build_ext "$v" "$py" _gocoro_linked "$ROOT/tests_c/gocoro_linked.c" -- \
    -L"$libdir" -lgocoro -Wl,-rpath,"$libdir"
else
  log "build/py$v/libgocoro.so missing: _gocoro_linked not built"
  exit 1
fi
# wakers + GoCoro_RunBlocking (capsule mode)
build_ext "$v" "$py" _gocoro_waker_test "$ROOT/tests_c/waker_testmod.c" -- -lpthread
# which protocol `await` uses to resume a third-party awaitable (no gocoro involved)
build_ext "$v" "$py" _send_probe "$ROOT/tests_c/send_probe.c"
