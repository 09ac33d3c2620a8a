#!/usr/bin/env bash
# Build the gocoro test extensions for one CPython:  tests_c/build_exts.sh X.Y /path/to/python
#   _gocoro_test    capsule mode (GOCORO_USE_CAPSULE, no link step)
#   _gocoro_linked  direct mode (-lgocoro: build/pyX.Y/gocoro/libgocoro.so, an ld script naming
#                   the module gocoro._gocoro; rpath to that directory)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/common.sh"

v=${1:?usage: build_exts.sh X.Y PYTHON}
py=${2:?usage: build_exts.sh X.Y PYTHON}
libdir=$(gocoro_libdir "$v")

log "building test extensions for Python $v"
build_ext "$v" "$py" _gocoro_test "$ROOT/tests_c/gocoro_testmod.c"
if [ -e "$libdir/libgocoro.so" ]; then
  build_ext "$v" "$py" _gocoro_linked "$ROOT/tests_c/gocoro_linked.c" -- \
    -L"$libdir" -lgocoro -Wl,-rpath,"$libdir"
else
  log "${libdir#$ROOT/}/libgocoro.so missing: _gocoro_linked not built"
  exit 1
fi
# wakers + GoCoro_RunBlocking (capsule mode)
build_ext "$v" "$py" _gocoro_waker_test "$ROOT/tests_c/waker_testmod.c" -- -lpthread
# an extension compiled against the ABI-1 baseline header (smaller table), not gocoro.h
build_ext "$v" "$py" _gocoro_abi1 "$ROOT/tests_c/gocoro_abi1_testmod.c" -- -I"$ROOT/tests_c"
# which protocol `await` uses to resume a third-party awaitable (no gocoro involved)
build_ext "$v" "$py" _send_probe "$ROOT/tests_c/send_probe.c"
