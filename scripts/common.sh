# Shared shell helpers for build.sh, .ci/run and bench/run.sh (sourced, not executed).
# Conventions other scripts rely on:
#   build/pyX.Y/gocoro<EXT_SUFFIX>   the Go c-shared library, importable as `gocoro`
#   build/pyX.Y/libgocoro.so          symlink to it, for -lgocoro linking (soname libgocoro.so)
#   build/pyX.Y/ext/                   compiled example / test C extensions for that Python
#   .venv/pyX.Y/bin/python             a venv per CPython with pytest, trio, anyio, uvloop, Cython, pyperf
: "${ROOT:?}"
PY_DEPS=(pytest trio anyio uvloop "Cython>=3" pyperf matplotlib)

log() { printf '\033[1m[gocoro]\033[0m %s\n' "$*" >&2; }

# The CPython interpreters to build for: "X.Y:/path/to/python" lines.
find_pythons() {
  local want="${GOCORO_PYTHONS:-}" found=0 p v
  for p in "$HOME"/.pyenv/versions/3.*/bin/python3; do
    [ -x "$p" ] || continue
    v=$("$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || continue
    case "$v" in 3.1[0-9]) ;; *) continue ;; esac
    if [ -n "$want" ] && [[ " $want " != *" $v "* ]]; then continue; fi
    echo "$v:$p"; found=1
  done
  if [ "$found" = 0 ] && command -v python3 >/dev/null; then
    p=$(command -v python3); v=$("$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    echo "$v:$p"
  fi
}

ensure_tools() {
  local missing=()
  command -v go >/dev/null || missing+=(golang-go)
  command -v gcc >/dev/null || missing+=(gcc)
  command -v g++ >/dev/null || missing+=(g++)
  command -v valgrind >/dev/null || missing+=(valgrind)   # the waker memcheck scenario
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
  local line v p venv
  while IFS= read -r line; do
    v=${line%%:*}; p=${line#*:}; venv="$ROOT/.venv/py$v"
    if [ ! -x "$venv/bin/python" ]; then
      log "creating venv for Python $v"
      "$p" -m venv "$venv"
    fi
    if ! "$venv/bin/python" -c 'import pytest, trio, anyio, uvloop, Cython, pyperf, matplotlib' 2>/dev/null; then
      log "installing Python deps for $v: ${PY_DEPS[*]}"
      "$venv/bin/python" -m pip install -q --disable-pip-version-check "${PY_DEPS[@]}"
    fi
  done < <(find_pythons)
  (cd "$ROOT" && go mod download)
}

# build_lib X.Y PYTHON: build the c-shared library for one CPython.
build_lib() {
  local v=$1 py=$2 inc suffix
  local out="$ROOT/build/py$v"
  inc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  suffix=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
  mkdir -p "$out"
  log "building libgocoro for Python $v"
  # per-package include paths and warnings are in each package's #cgo CFLAGS; only the
  # CPython include directory (one per version) and the optimisation level come from here
  (cd "$ROOT" && CGO_ENABLED=1 CGO_CFLAGS="-I$inc -O2 -g" \
     CGO_LDFLAGS="-Wl,-soname,libgocoro.so" \
     go build -buildmode=c-shared -o "$out/gocoro$suffix" ./capi)
  rm -f "$out/gocoro.h"*  "$out"/gocoro*.h
  ln -sf "gocoro$suffix" "$out/libgocoro.so"
}

# build_ext X.Y PYTHON MODNAME SRC... [-- extra cc flags]: build a C extension into build/pyX.Y/ext.
build_ext() {
  local v=$1 py=$2 mod=$3; shift 3
  local srcs=() extra=()
  while [ $# -gt 0 ]; do
    if [ "$1" = "--" ]; then shift; extra=("$@"); break; fi
    srcs+=("$1"); shift
  done
  local out="$ROOT/build/py$v/ext" inc suffix
  inc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  suffix=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
  mkdir -p "$out"
  cc -shared -fPIC -O2 -g -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
     -I"$inc" -I"$ROOT/include" "${srcs[@]}" -o "$out/$mod$suffix" "${extra[@]}"
}

build_all() {
  local line v p
  while IFS= read -r line; do
    v=${line%%:*}; p=${line#*:}
    build_lib "$v" "$p"
    build_examples "$v" "$ROOT/.venv/py$v/bin/python"
    if [ -f "$ROOT/tests_c/build_exts.sh" ]; then
      bash "$ROOT/tests_c/build_exts.sh" "$v" "$ROOT/.venv/py$v/bin/python"
    fi
  done < <(find_pythons)
}

build_examples() {
  local v=$1 py=$2
  build_ext "$v" "$py" demo_native "$ROOT/examples/demo_native.c"
  bash "$ROOT/examples/build_examples.sh" "$v" "$py"   # Cython and Rust examples
}

pypath_for() { echo "$ROOT/build/py$1:$ROOT/build/py$1/ext:$ROOT/tests:$ROOT"; }

run_demo() {
  local line v
  line=$(find_pythons | tail -n 1); v=${line%%:*}
  log "demo on Python $v: examples/demo.py"
  PYTHONPATH="$(pypath_for "$v")" "$ROOT/.venv/py$v/bin/python" "$ROOT/examples/demo.py"
}

run_tests() {
  local line v rc=0 total_fail=0
  if [ -f "$ROOT/tests_c/run_c_tests.sh" ]; then
    bash "$ROOT/tests_c/run_c_tests.sh" || rc=1
  fi
  while IFS= read -r line; do
    v=${line%%:*}
    log "pytest on Python $v"
    # an exception reported as unraisable inside a test fails that test
    PYTHONPATH="$(pypath_for "$v")" "$ROOT/.venv/py$v/bin/python" -m pytest -q -p no:cacheprovider \
      -W error::pytest.PytestUnraisableExceptionWarning "$ROOT/tests" "$@" || rc=1
  done < <(find_pythons)
  return $rc
}
