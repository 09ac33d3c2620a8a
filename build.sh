#!/usr/bin/env bash
# gocoro build driver.
#   ./build.sh            install what is missing, build libgocoro for every CPython found, run the demo
#   ./build.sh test       build, then run every test (C tests, pytest on each CPython)
#   ./build.sh bench [--quick] [--instructions|--instructions-only]
#                         build, then run the benchmarks (bench/run.sh; --instructions adds
#                         callgrind instruction counts per operation, under valgrind)
#   ./build.sh lib        only build libgocoro (+ test extensions)
#   ./build.sh sdist      dist/gocoro-VERSION.tar.gz (PEP 517, setuptools + a go build step)
#   ./build.sh wheel      the sdist, then one wheel per CPython found, manylinux-tagged by auditwheel
#   ./build.sh sid [VERB] CPython 3.14/3.15 in a Debian sid chroot (scripts/sid.sh): provision
#                         (default), test, shell, status, umount, delete.  Once provisioned,
#                         `./build.sh test` also runs the tests there, after the host's CPythons.
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
  sid)   bash "$ROOT/scripts/sid.sh" "${@:-provision}" ;;
  *) echo "usage: ./build.sh [demo|lib|test|bench [--quick] [--instructions|--instructions-only]|sdist|wheel|sid [VERB]]" >&2; exit 2 ;;
esac
