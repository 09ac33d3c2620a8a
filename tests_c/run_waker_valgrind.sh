#!/usr/bin/env bash
# Run the waker / GoCoro_RunBlocking scenario (tests_c/waker_valgrind_scenario.py) under
# valgrind memcheck with PYTHONMALLOC=malloc: any invalid read/write/free or definitely lost
# block fails (exit 1).  Known uninitialised-value noise of CPython and the Go runtime is
# suppressed (tests_c/waker_valgrind.supp).  Takes ~30-40 s per CPython.
#
#   tests_c/run_waker_valgrind.sh [X.Y ...]   default: $GOCORO_VALGRIND_PYTHONS, else the newest
#                                             CPython that has build/pyX.Y/ext/_gocoro_waker_test*
#   GOCORO_VALGRIND=0      skip;   GOCORO_VALGRIND=required   fail if valgrind is missing (.ci/run sets it)
#   Under CI (CI=true) a missing valgrind is installed with apt-get when possible.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mode=${GOCORO_VALGRIND:-auto}
say() { printf '\033[1m[gocoro]\033[0m %s\n' "$*" >&2; }

if [ "$mode" = 0 ]; then say "waker valgrind check: skipped (GOCORO_VALGRIND=0)"; exit 0; fi
if ! command -v valgrind >/dev/null; then
  if [ -n "${CI:-}" ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    say "installing valgrind with apt-get"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind) >/dev/null || true
  fi
fi
if ! command -v valgrind >/dev/null; then
  if [ "$mode" = required ]; then say "valgrind not installed"; exit 1; fi
  say "waker valgrind check: skipped (valgrind not installed)"; exit 0
fi

versions=("$@")
if [ ${#versions[@]} -eq 0 ] && [ -n "${GOCORO_VALGRIND_PYTHONS:-}" ]; then
  read -r -a versions <<<"$GOCORO_VALGRIND_PYTHONS"
fi
if [ ${#versions[@]} -eq 0 ]; then
  best=""
  for d in "$ROOT"/build/py3.*; do
    v=${d##*/py}
    compgen -G "$d/ext/_gocoro_waker_test*.so" >/dev/null || continue
    [ -x "$ROOT/.venv/py$v/bin/python" ] || continue
    if [ -z "$best" ] || [ "${v#3.}" -gt "${best#3.}" ]; then best=$v; fi
  done
  if [ -z "$best" ]; then say "waker valgrind check: no build/pyX.Y with _gocoro_waker_test"; exit 1; fi
  versions=("$best")
fi

rc=0
for v in "${versions[@]}"; do
  py="$ROOT/.venv/py$v/bin/python"
  log="$ROOT/build/py$v/waker_valgrind.log"
  say "valgrind: waker scenario on Python $v (log: ${log#$ROOT/})"
  if PYTHONMALLOC=malloc PYTHONPATH="$ROOT/build/py$v:$ROOT/build/py$v/ext" \
     timeout 600 valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
       --show-leak-kinds=definite --num-callers=40 --suppressions="$ROOT/tests_c/waker_valgrind.supp" \
       "$py" "$ROOT/tests_c/waker_valgrind_scenario.py" >"$log" 2>&1; then
    grep -h "ERROR SUMMARY" "$log" | sed "s/^/[py$v] /" >&2
    echo "waker-valgrind-py$v: 1 passed, 0 failed"
  else
    rc=1
    tail -n 80 "$log" >&2
    echo "waker-valgrind-py$v: 0 passed, 1 failed"
  fi
done
exit $rc
