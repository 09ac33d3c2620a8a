#!/usr/bin/env bash
# bench/run.sh [--quick] -- build the benchmark implementations for every CPython and run ONE
# benchmark process per version (bench/bench.py), then merge the results (bench/report.py).
# Normally called by `./build.sh bench [--quick]` after libgocoro is built; see bench/README.md.
#
# Per version X.Y (from GOCORO_PYTHONS / find_pythons, venv .venv/pyX.Y/bin/python):
#   bench/build/pyX.Y/       climit, gocoro_bench, cy_coro, pyo3_anchor extensions + logs/
#   bench/results/pyX.Y.json that version's results
# Then bench/results.json ({"runs": [...]}, every bench/results/py*.json), results.md, results.png.
#
# An implementation that fails to build is recorded as missing (with the reason) instead of
# failing the run; a benchmark process that crashes or hangs is retried once without gocoro and
# the crash is recorded as gocoro's reason.  Exit status: 0 when every version produced results.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
# shellcheck source=../scripts/common.sh
. "$ROOT/scripts/common.sh"
BENCH="$ROOT/bench"

quick=()
for arg in "$@"; do
  case "$arg" in
    --quick) quick=(--quick) ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "usage: bench/run.sh [--quick]" >&2; exit 2 ;;
  esac
done

CFLAGS_COMMON=(-shared -fPIC -O2 -g -Wall -Wextra -Wno-unused-parameter
               -Wno-missing-field-initializers)

# newer TARGET DEP...: true when TARGET is missing or older than any DEP.
newer() {
  local t=$1 d; shift
  [ -e "$t" ] || return 0
  for d in "$@"; do [ "$d" -nt "$t" ] && return 0; done
  return 1
}

# reason LOG: a one-line failure reason from a build log.
reason() {
  local r
  r=$(grep -m 3 -iE '(^|[^a-z])(error|fatal)' "$1" 2>/dev/null | tr -s ' \t\n' ' ' | cut -c1-400)
  [ -n "$r" ] || r=$(tail -n 3 "$1" 2>/dev/null | tr -s ' \t\n' ' ' | cut -c1-400)
  echo "${r:-unknown error} (log: ${1#"$ROOT"/})"
}

# build_version X.Y VENV_PYTHON: build every anchor, writing IMPL<TAB>ok|missing<TAB>REASON lines.
build_version() {
  local v=$1 py=$2 out="$BENCH/build/py$v" inc suffix status logs t0
  status="$out/build_status.tsv"; logs="$out/logs"
  mkdir -p "$out" "$logs"; : > "$status"
  inc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  suffix=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
  record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$status"; }

  # C limit (also provides the C drivers)
  if newer "$out/climit$suffix" "$BENCH/climit.c"; then
    log "bench $v: building climit"
    if cc "${CFLAGS_COMMON[@]}" -I"$inc" "$BENCH/climit.c" -o "$out/climit$suffix" \
         > "$logs/climit.log" 2>&1; then record climit ok ""
    else rm -f "$out/climit$suffix"; record climit missing "build failed: $(reason "$logs/climit.log")"; fi
  else record climit ok ""; fi

  # gocoro (capsule-mode extension; needs the package at build/pyX.Y/gocoro to import)
  if [ ! -e "$ROOT/build/py$v/gocoro/_gocoro$suffix" ]; then
    record gocoro missing "libgocoro not built for Python $v (build/py$v/gocoro/_gocoro$suffix missing; run ./build.sh lib)"
  elif newer "$out/gocoro_bench$suffix" "$BENCH/gocoro_bench.c" "$ROOT/include/gocoro.h"; then
    log "bench $v: building gocoro_bench"
    if cc "${CFLAGS_COMMON[@]}" -pthread -I"$inc" -I"$ROOT/include" "$BENCH/gocoro_bench.c" \
         -o "$out/gocoro_bench$suffix" > "$logs/gocoro_bench.log" 2>&1; then record gocoro ok ""
    else rm -f "$out/gocoro_bench$suffix"; record gocoro missing "build failed: $(reason "$logs/gocoro_bench.log")"; fi
  else record gocoro ok ""; fi

  # Cython 3
  if newer "$out/cy_coro$suffix" "$BENCH/cy_coro.pyx"; then
    log "bench $v: building cy_coro (Cython)"
    if "$py" -m cython -3 "$BENCH/cy_coro.pyx" -o "$out/cy_coro.c" > "$logs/cy_coro.log" 2>&1 &&
       cc "${CFLAGS_COMMON[@]}" -Wno-unused-function -Wno-sign-compare -I"$inc" "$out/cy_coro.c" \
         -o "$out/cy_coro$suffix" >> "$logs/cy_coro.log" 2>&1; then record cython ok ""
    else rm -f "$out/cy_coro$suffix"; record cython missing "build failed: $(reason "$logs/cy_coro.log")"; fi
  else record cython ok ""; fi

  # PyO3 (cargo handles its own up-to-date checks; one target dir per Python version)
  if ! command -v cargo >/dev/null; then
    record pyo3 missing "cargo not found (install a Rust toolchain >= 1.85)"
  else
    log "bench $v: building pyo3_anchor (cargo)"
    t0=$SECONDS
    if (cd "$BENCH/pyo3_anchor" && PYO3_PYTHON="$py" PYO3_BUILD_EXTENSION_MODULE=1 \
          CARGO_TARGET_DIR="$BENCH/pyo3_anchor/target/py$v" cargo build --release) \
          > "$logs/pyo3.log" 2>&1 &&
       cp "$BENCH/pyo3_anchor/target/py$v/release/libpyo3_anchor.so" "$out/pyo3_anchor$suffix.tmp" &&
       mv -f "$out/pyo3_anchor$suffix.tmp" "$out/pyo3_anchor$suffix"; then
      record pyo3 ok ""
      [ $((SECONDS - t0)) -gt 5 ] && log "bench $v: pyo3_anchor built in $((SECONDS - t0)) s"
    else rm -f "$out/pyo3_anchor$suffix"; record pyo3 missing "build failed: $(reason "$logs/pyo3.log")"; fi
  fi
  true
}

git_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || true)
if [ -n "$git_rev" ] && [ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1)" ]; then
  git_rev="$git_rev+dirty"
fi

mkdir -p "$BENCH/results"
failed=() ran=() report_py=""
t_all=$SECONDS
while IFS= read -r line; do
  v=${line%%:*}; base=${line#*:}
  py="$ROOT/.venv/py$v/bin/python"
  if [ ! -x "$py" ]; then
    log "bench $v: no venv at .venv/py$v (run ./build.sh lib first); using $base"
    py=$base
  fi
  t_v=$SECONDS
  build_version "$v" "$py"
  out="$BENCH/build/py$v"
  res="$BENCH/results/py$v.json"
  export PYTHONPATH="$ROOT/build/py$v:$ROOT/build/py$v/ext:$out"
  limit=1800; [ ${#quick[@]} -gt 0 ] && limit=300
  log "bench $v: running bench/bench.py ${quick[*]}"
  skip=()
  for attempt in 1 2; do
    timeout --signal=KILL "$limit" "$py" "$BENCH/bench.py" "${quick[@]}" --out "$res.new" \
      --status "$out/build_status.tsv" --progress "$out/progress" --git "$git_rev" "${skip[@]}" \
      2> "$out/bench.stderr"
    rc=$?
    [ $rc -eq 0 ] && break
    where=$(cat "$out/progress" 2>/dev/null || echo "?")
    what="exit status $rc"
    [ $rc -gt 128 ] && what="killed by signal $((rc - 128))"
    [ $rc -eq 137 ] && what="killed (signal 9; hung past ${limit}s or OOM)"
    log "bench $v: bench.py failed ($what) during: $where"
    tail -n 20 "$out/bench.stderr" >&2
    if [ $attempt -eq 1 ] && grep -q $'^gocoro\tok' "$out/build_status.tsv"; then
      log "bench $v: retrying without gocoro"
      skip=(--skip "gocoro=benchmark process crashed with gocoro loaded ($what) during: $where; see bench/build/py$v/bench.stderr")
    else
      break
    fi
  done
  if [ $rc -eq 0 ] && [ -s "$res.new" ]; then
    mv -f "$res.new" "$res"; ran+=("$v"); report_py=$py
    log "bench $v: done in $((SECONDS - t_v)) s"
  else
    rm -f "$res.new"; failed+=("$v")
  fi
done < <(find_pythons)

if [ -n "$report_py" ]; then
  "$report_py" "$BENCH/report.py" --results-dir "$BENCH/results" --out "$BENCH" || failed+=(report)
else
  log "bench: no version produced results"
fi
log "bench: finished in $((SECONDS - t_all)) s; ran: ${ran[*]:-none}${failed[*]:+; FAILED: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]
