#!/usr/bin/env bash
# bench/run.sh [--quick] [--instructions | --instructions-only] -- build the benchmark
# implementations for every CPython and run ONE benchmark process per version (bench/bench.py),
# then merge the results (bench/report.py).  Normally called by `./build.sh bench ...` after
# libgocoro is built; see bench/README.md.
#
# Per version X.Y (from GOCORO_PYTHONS / find_pythons, venv .venv/pyX.Y/bin/python):
#   bench/build/pyX.Y/                    the anchor extensions (climit, gocoro_bench, cy_coro,
#                                         pyo3_anchor, gocoro_rs_bench, cgmarks) + logs/
#   $OUT/results/pyX.Y.json               wall-clock results (skipped by --instructions-only)
#   $OUT/results/pyX.Y.instructions.json  callgrind instructions per operation (--instructions*):
#                                         bench.py --instructions under valgrind, one process
# Then $OUT/results.json ({"runs": [...]}), results.md, results.png from every file in
# $OUT/results.  OUT is $GOCORO_BENCH_OUT, default bench/ (use a scratch directory for trial runs
# on a loaded machine so the committed results stay as they are).
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

OUT="${GOCORO_BENCH_OUT:-$BENCH}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
quick=() wall=1 instr=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=(--quick) ;;
    --instructions) instr=1 ;;
    --instructions-only) instr=1; wall=0 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "usage: bench/run.sh [--quick] [--instructions | --instructions-only]" >&2; exit 2 ;;
  esac
done

# valgrind (callgrind + the client-request header valgrind/callgrind.h) for --instructions
if [ $instr = 1 ] && { ! command -v valgrind >/dev/null || [ ! -e /usr/include/valgrind/callgrind.h ]; }; then
  log "installing valgrind with apt-get (needed by --instructions)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind; } >&2 ||
    { log "bench: valgrind could not be installed; --instructions needs it"; exit 1; }
fi

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

  # callgrind client requests (instruction-count pass only)
  if [ $instr = 1 ] && newer "$out/cgmarks$suffix" "$BENCH/cgmarks.c"; then
    if ! cc "${CFLAGS_COMMON[@]}" -I"$inc" "$BENCH/cgmarks.c" -o "$out/cgmarks$suffix" \
         > "$logs/cgmarks.log" 2>&1; then
      rm -f "$out/cgmarks$suffix"; log "bench $v: cgmarks failed to build: $(reason "$logs/cgmarks.log")"
    fi
  fi

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

  # the gocoro Rust crate's side of the Rust cases (needs rust/gocoro in this tree)
  if ! command -v cargo >/dev/null; then
    record gocoro_rs missing "cargo not found (install a Rust toolchain >= 1.85)"
  elif [ ! -e "$ROOT/rust/gocoro/Cargo.toml" ]; then
    record gocoro_rs missing "the gocoro crate (rust/gocoro) is not in this tree"
  else
    log "bench $v: building gocoro_rs (cargo)"
    if (cd "$BENCH/gocoro_rs" && PYO3_PYTHON="$py" PYO3_BUILD_EXTENSION_MODULE=1 \
          CARGO_TARGET_DIR="$BENCH/gocoro_rs/target/py$v" cargo build --release) \
          > "$logs/gocoro_rs.log" 2>&1 &&
       cp "$BENCH/gocoro_rs/target/py$v/release/libgocoro_rs_bench.so" "$out/gocoro_rs_bench$suffix.tmp" &&
       mv -f "$out/gocoro_rs_bench$suffix.tmp" "$out/gocoro_rs_bench$suffix"; then
      record gocoro_rs ok ""
    else rm -f "$out/gocoro_rs_bench$suffix"; record gocoro_rs missing "build failed: $(reason "$logs/gocoro_rs.log")"; fi
  fi
  true
}

git_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || true)
if [ -n "$git_rev" ] && [ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1)" ]; then
  git_rev="$git_rev+dirty"
fi

mkdir -p "$OUT/results"
valgrind_version=$(valgrind --version 2>/dev/null || true)
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
  export PYTHONPATH="$ROOT/build/py$v:$ROOT/build/py$v/ext:$out"
  ok_v=1

  if [ $wall = 1 ]; then
    res="$OUT/results/py$v.json"
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
      mv -f "$res.new" "$res"; report_py=$py
    else
      rm -f "$res.new"; ok_v=0
    fi
  fi

  if [ $instr = 1 ]; then
    # One process under callgrind.  GODEBUG=asyncpreemptoff=1: the Go runtime's asynchronous
    # preemption signals crash it under valgrind.  PYTHONHASHSEED=0: the same dict layouts,
    # hence the same instruction counts, every run.
    res="$OUT/results/py$v.instructions.json"
    cgdir="$out/callgrind"
    rm -rf "$cgdir"; mkdir -p "$cgdir"
    if [ ! -e "$out/cgmarks$($py -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')" ]; then
      log "bench $v: cgmarks not built (see $out/logs/cgmarks.log); no instruction counts"
      ok_v=0
    else
      log "bench $v: running bench/bench.py --instructions under callgrind"
      GODEBUG=asyncpreemptoff=1 PYTHONHASHSEED=0 GOCORO_VALGRIND_VERSION="$valgrind_version" \
        timeout --signal=KILL 5400 valgrind --tool=callgrind --separate-threads=no \
          --callgrind-out-file="$cgdir/cg.%p" \
          "$py" "$BENCH/bench.py" --instructions "$cgdir" --out "$res.new" \
          --status "$out/build_status.tsv" --progress "$out/progress" --git "$git_rev" \
          2> "$out/bench-instructions.stderr"
      rc=$?
      if [ $rc -eq 0 ] && [ -s "$res.new" ]; then
        mv -f "$res.new" "$res"; report_py=$py
      else
        log "bench $v: bench.py --instructions failed (exit status $rc) during: $(cat "$out/progress" 2>/dev/null)"
        grep -v '^==[0-9]*==' "$out/bench-instructions.stderr" | tail -n 20 >&2
        rm -f "$res.new"; ok_v=0
      fi
      rm -rf "$cgdir"
    fi
  fi

  if [ $ok_v = 1 ]; then
    ran+=("$v"); log "bench $v: done in $((SECONDS - t_v)) s"
  else
    failed+=("$v")
  fi
done < <(find_pythons)

if [ -n "$report_py" ]; then
  "$report_py" "$BENCH/report.py" --results-dir "$OUT/results" --out "$OUT" || failed+=(report)
else
  log "bench: no version produced results"
fi
log "bench: finished in $((SECONDS - t_all)) s; ran: ${ran[*]:-none}${failed[*]:+; FAILED: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]
