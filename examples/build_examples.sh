#!/usr/bin/env bash
# Build the Rust and Cython example extensions for one CPython into build/pyX.Y/ext:
#   bash examples/build_examples.sh X.Y /path/to/venv/python
#   rust_native<EXT_SUFFIX>, rust_async<EXT_SUFFIX>  rust/examples/* (cargo workspace rust/; skipped
#                            with a note when no usable cargo can be installed)
#   cy_native<EXT_SUFFIX>    examples/cy_native.pyx (the venv's Cython + cc; skipped without Cython)
# (demo_native, the C example, is built by build_examples in scripts/common.sh.)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/scripts/common.sh"

v=${1:?usage: build_examples.sh X.Y PYTHON}
py=${2:?usage: build_examples.sh X.Y PYTHON}
case "$py" in /*) ;; */*) py="$(cd "$(dirname "$py")" && pwd)/$(basename "$py")" ;; esac  # cargo runs elsewhere
out="$ROOT/build/py$v/ext"
suffix=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
mkdir -p "$out"

# ---- Cython: examples/cy_native.pyx -------------------------------------------------------
pyx="$ROOT/examples/cy_native.pyx"
gen="$ROOT/build/py$v/cython/cy_native.c"
if ! "$py" -c 'import Cython' 2>/dev/null; then
  log "Cython is not installed for Python $v: skipping cy_native"
elif [ -f "$out/cy_native$suffix" ] && [ "$out/cy_native$suffix" -nt "$pyx" ] &&
     [ "$out/cy_native$suffix" -nt "$ROOT/include/gocoro.h" ] &&
     [ "$out/cy_native$suffix" -nt "$ROOT/python/gocoro/__init__.pxd" ] &&
     [ "$out/cy_native$suffix" -nt "${BASH_SOURCE[0]}" ]; then
  : # up to date
else
  log "building cy_native (Cython) for Python $v"
  mkdir -p "$(dirname "$gen")"
  # `from gocoro cimport ...` finds gocoro/__init__.pxd in the staged package under build/pyX.Y
  "$py" -m cython -3 -I "$ROOT/build/py$v" "$pyx" -o "$gen"
  build_ext "$v" "$py" cy_native "$gen"
fi

# ---- Rust: the cargo workspace rust/ (crates gocoro-sys, gocoro; examples rust_native, rust_async)
if ensure_cargo; then
  log "building the Rust crates and examples (cargo) for Python $v"
  target="$ROOT/build/cargo-target/py$v"  # one target dir per CPython: rebuilds stay incremental
  # PYO3_PYTHON picks the interpreter PyO3 is configured for; PYO3_BUILD_EXTENSION_MODULE
  # keeps libpython out of the link (the symbols come from the importing interpreter).
  PYO3_PYTHON="$py" PYO3_BUILD_EXTENSION_MODULE=1 \
    cargo build --release --locked --quiet --workspace \
      --manifest-path "$ROOT/rust/Cargo.toml" --target-dir "$target"
  for m in rust_native rust_async; do
    cp "$target/release/lib$m.so" "$out/$m$suffix"
  done
fi
