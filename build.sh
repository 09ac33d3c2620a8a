#!/usr/bin/env bash
# gocoro build driver.
#   ./build.sh            install what is missing, build libgocoro for every CPython found, run the demo
#   ./build.sh test       build, then run every test (C tests, pytest on each CPython)
#   ./build.sh bench [--quick]   build, then run the benchmarks (bench/run.sh)
#   ./build.sh lib        only build libgocoro (+ test extensions)
#   ./build.sh sdist      dist/gocoro-VERSION.tar.gz (PEP 517, setuptools + a go build step)
#   ./build.sh wheel      the sdist, then one wheel per CPython found, manylinux-tagged by auditwheel
# Environment: GOCORO_PYTHONS="3.11 3.13" restricts the CPython versions (default: every
# 3.10+ under ~/.pyenv/versions, else python3 on PATH).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
. "$ROOT/scripts/common.sh"

cmd="${1:-demo}"; shift || true
case "$cmd" in
  demo)  ensure_tools; build_all; run_demo ;;
  lib)   ensure_tools; build_all ;;
  test)  ensure_tools; build_all; run_tests "$@" ;;
  bench) ensure_tools; build_all; bash "$ROOT/bench/run.sh" "$@" ;;
  sdist) ensure_tools; build_sdist ;;
  wheel) ensure_tools; build_wheels ;;
  *) echo "usage: ./build.sh [demo|lib|test|bench [--quick]|sdist|wheel]" >&2; exit 2 ;;
esac
