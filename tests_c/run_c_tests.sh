#!/usr/bin/env bash
# C-level tests of gocoro (no pytest): the public header and the shared library's ABI.
#   bash tests_c/run_c_tests.sh        (GOCORO_PYTHONS="3.11 ..." restricts the versions)
# Prints one line per check and ends with "N passed, M failed" (exit 1 if M > 0).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/common.sh"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
PASS=0 FAIL=0 SKIP=0

ok()   { PASS=$((PASS + 1)); printf '  ok    %s\n' "$1"; }
bad()  { FAIL=$((FAIL + 1)); printf '  FAIL  %s\n' "$1"; [ -n "${2:-}" ] && sed 's/^/        /' "$2" | head -40; }
skip() { SKIP=$((SKIP + 1)); printf '  skip  %s\n' "$1"; }
# check NAME CMD... : passes if CMD exits 0
check() {
  local name=$1; shift
  if "$@" >"$TMP/out" 2>&1; then ok "$name"; else bad "$name" "$TMP/out"; fi
}

HDR="$ROOT/include/gocoro.h"
INC=(-I"$ROOT/include")

echo "gocoro C tests"
echo "header: $HDR"

# ---------------------------------------------------------------------------------------------
# 1. the header alone (no Python.h)

printf '#include "gocoro.h"\n' >"$TMP/only.c"
cp "$TMP/only.c" "$TMP/only.cpp"
check "header: C11 -Wall -Werror -pedantic, no Python.h" \
  gcc -std=c11 -Wall -Wextra -Werror -pedantic -fsyntax-only "${INC[@]}" "$TMP/only.c"
check "header: C99 -pedantic, no Python.h" \
  gcc -std=c99 -Wall -Werror -pedantic -fsyntax-only "${INC[@]}" "$TMP/only.c"
check "header: C++11 -Wall -Werror -pedantic, no Python.h" \
  g++ -std=c++11 -Wall -Wextra -Werror -pedantic -fsyntax-only "${INC[@]}" "$TMP/only.cpp"
check "header: C++17, no Python.h" \
  g++ -std=c++17 -Wall -Werror -pedantic -fsyntax-only "${INC[@]}" "$TMP/only.cpp"
# a real compile (not only -fsyntax-only) also reports unused static definitions
check "header: C11 -Wall -Wextra -Werror -pedantic, compiled to an object" \
  gcc -std=c11 -Wall -Wextra -Werror -pedantic -c -o "$TMP/only.o" "${INC[@]}" "$TMP/only.c"
# a helper .c file of a capsule-mode extension (GOCORO_USE_CAPSULE defined project-wide) that
# only defines steps/specs and therefore does not include Python.h
printf '#define GOCORO_USE_CAPSULE\n#include "gocoro.h"\nGoCoroSpec helper_spec;\n' >"$TMP/capsule_nopy.c"
check "header: GOCORO_USE_CAPSULE without Python.h, C11 -Wall -Werror, compiled to an object" \
  gcc -std=c11 -Wall -Werror -pedantic -c -o "$TMP/capsule_nopy.o" "${INC[@]}" "$TMP/capsule_nopy.c"
check "header: included twice (include guard)" \
  gcc -std=c11 -Wall -Werror -fsyntax-only "${INC[@]}" -include "$HDR" "$TMP/only.c"

# does not depend on Python.h or anything but stddef/stdint
cat >"$TMP/standalone.c" <<'EOF'
#include "gocoro.h"
/* every public name is usable without Python.h */
static int step(GoCoroPyObject *self, void *state, GoCoroPyObject *sent, GoCoroPyObject *thrown,
                GoCoroPyObject **result)
{
    (void)self; (void)state; (void)sent; (void)thrown; (void)result;
    return GOCORO_RETURN;
}
static const GoCoroSpec spec = {GOCORO_ABI_VERSION, sizeof(GoCoroSpec), GOCORO_KIND_COROUTINE, 0,
                                "n", 0, 0, 1, 0, 0, step, 0, 0, 0};
const GoCoroSpec *get_spec(void) { return &spec; }
int kinds[] = {GOCORO_KIND_COROUTINE, GOCORO_KIND_GENERATOR, GOCORO_KIND_ITERATOR,
               GOCORO_KIND_ASYNC_GENERATOR};
int codes[] = {GOCORO_ERROR, GOCORO_RETURN, GOCORO_NEXT, GOCORO_AWAIT, GOCORO_ITEM};
const char *capsule = GOCORO_CAPSULE_NAME;
/* direct-link declarations exist */
void *fns[] = {(void *)&GoCoro_Prepare, (void *)&GoCoro_New, (void *)&GoCoro_GetState,
               (void *)&GoCoro_RaisePanic, (void *)&GoCoro_Rethrow, (void *)&GoCoro_Check,
               (void *)&GoCoro_CoroutineType, (void *)&GoCoro_PanicException};
EOF
check "header: direct-link declarations usable without Python.h (C11)" \
  gcc -std=c11 -Wall -Werror -fsyntax-only "${INC[@]}" "$TMP/standalone.c"
cp "$TMP/standalone.c" "$TMP/standalone.cpp"
check "header: direct-link declarations usable without Python.h (C++11)" \
  g++ -std=c++11 -Wall -Werror -fsyntax-only "${INC[@]}" "$TMP/standalone.cpp"

# the return codes mirror CPython's PySendResult, and the visit function type matches visitproc;
# the struct layout is identical in C and C++
cat >"$TMP/layout.c" <<'EOF'
#include <stdio.h>
#include <stddef.h>
#include "gocoro.h"
#define P(T, m) printf(#T "." #m " %zu %zu\n", offsetof(T, m), sizeof(((T *)0)->m))
int main(void)
{
    printf("sizeof(GoCoroSpec) %zu\nsizeof(GoCoroAPI) %zu\n", sizeof(GoCoroSpec), sizeof(GoCoroAPI));
    P(GoCoroSpec, abi_version); P(GoCoroSpec, struct_size); P(GoCoroSpec, kind);
    P(GoCoroSpec, flags); P(GoCoroSpec, name); P(GoCoroSpec, qualname); P(GoCoroSpec, filename);
    P(GoCoroSpec, firstlineno); P(GoCoroSpec, reserved0); P(GoCoroSpec, state_size);
    P(GoCoroSpec, step); P(GoCoroSpec, traverse); P(GoCoroSpec, clear); P(GoCoroSpec, finalize);
    P(GoCoroAPI, abi_version); P(GoCoroAPI, struct_size); P(GoCoroAPI, Prepare); P(GoCoroAPI, New);
    P(GoCoroAPI, GetState); P(GoCoroAPI, RaisePanic); P(GoCoroAPI, Rethrow); P(GoCoroAPI, Check);
    P(GoCoroAPI, coroutine_type); P(GoCoroAPI, panic_exception);
    return 0;
}
EOF
cp "$TMP/layout.c" "$TMP/layout.cpp"
if gcc -std=c11 "${INC[@]}" "$TMP/layout.c" -o "$TMP/layout_c" >"$TMP/out" 2>&1 &&
   g++ -std=c++11 "${INC[@]}" "$TMP/layout.cpp" -o "$TMP/layout_cpp" >>"$TMP/out" 2>&1; then
  "$TMP/layout_c" >"$TMP/layout_c.txt"; "$TMP/layout_cpp" >"$TMP/layout_cpp.txt"
  if diff "$TMP/layout_c.txt" "$TMP/layout_cpp.txt" >"$TMP/out" 2>&1; then
    ok "layout: GoCoroSpec/GoCoroAPI identical in C and C++"
  else
    bad "layout: GoCoroSpec/GoCoroAPI identical in C and C++" "$TMP/out"
  fi
  # the ABI-1 members never move (tables and specs only grow)
  cat >"$TMP/abi1.txt" <<'EOF'
GoCoroSpec.abi_version 0 4
GoCoroSpec.struct_size 4 4
GoCoroSpec.kind 8 4
GoCoroSpec.flags 12 4
GoCoroSpec.name 16 8
GoCoroSpec.qualname 24 8
GoCoroSpec.filename 32 8
GoCoroSpec.firstlineno 40 4
GoCoroSpec.reserved0 44 4
GoCoroSpec.state_size 48 8
GoCoroSpec.step 56 8
GoCoroSpec.traverse 64 8
GoCoroSpec.clear 72 8
GoCoroSpec.finalize 80 8
GoCoroAPI.abi_version 0 4
GoCoroAPI.struct_size 4 4
GoCoroAPI.Prepare 8 8
GoCoroAPI.New 16 8
GoCoroAPI.GetState 24 8
GoCoroAPI.RaisePanic 32 8
GoCoroAPI.Rethrow 40 8
GoCoroAPI.Check 48 8
GoCoroAPI.coroutine_type 56 8
GoCoroAPI.panic_exception 64 8
EOF
  if [ "$(getconf LONG_BIT)" = 64 ]; then
    grep -v '^sizeof' "$TMP/layout_c.txt" >"$TMP/layout_members.txt"
    if diff "$TMP/abi1.txt" "$TMP/layout_members.txt" >"$TMP/out" 2>&1; then
      ok "layout: ABI 1 member offsets unchanged (LP64)"
    else
      bad "layout: ABI 1 member offsets unchanged (LP64)" "$TMP/out"
    fi
  else
    skip "layout: ABI 1 member offsets (not LP64)"
  fi
else
  bad "layout: compile" "$TMP/out"
fi

# ---------------------------------------------------------------------------------------------
# 2. per CPython: the header with Python.h, capsule mode, and the built library

PYLIST=$(find_pythons)
[ -n "$PYLIST" ] || { echo "no CPython found"; }
while IFS= read -r line; do
  [ -n "$line" ] || continue
  v=${line%%:*}; p=${line#*:}
  pyinc=$("$p" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  echo "Python $v ($pyinc)"
  cat >"$TMP/capsule.c" <<'EOF'
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define GOCORO_USE_CAPSULE
#include "gocoro.h"
static int step(GoCoroPyObject *self, void *state, GoCoroPyObject *sent, GoCoroPyObject *thrown,
                GoCoroPyObject **result)
{
    (void)self; (void)state; (void)sent;
    if (thrown)
        return GoCoro_Rethrow(thrown);
    *result = (GoCoroPyObject *)Py_NewRef(Py_None);
    return GOCORO_RETURN;
}
PyObject *use(void)
{
    GoCoroSpec s = {GOCORO_ABI_VERSION, sizeof(GoCoroSpec), GOCORO_KIND_COROUTINE, 0, "n", NULL,
                    NULL, 1, 0, 0, step, NULL, NULL, NULL};
    if (GoCoro_ImportAPI() < 0)
        return NULL;
    GoCoroCode *code = GoCoro_Prepare(&s);
    if (code == NULL)
        return NULL;
    PyObject *o = (PyObject *)GoCoro_New(code, NULL, 0, NULL);
    if (o && !GoCoro_Check((GoCoroPyObject *)o)) { Py_DECREF(o); o = NULL; }
    (void)GoCoro_CoroutineType(); (void)GoCoro_PanicException();
    return o;
}
EOF
  cp "$TMP/capsule.c" "$TMP/capsule.cpp"
  check "py$v: Python.h + GOCORO_USE_CAPSULE, C11 -Wall -Wextra -Werror" \
    gcc -std=c11 -Wall -Wextra -Werror -fsyntax-only -I"$pyinc" "${INC[@]}" "$TMP/capsule.c"
  check "py$v: Python.h + GOCORO_USE_CAPSULE, C++11 -Wall -Werror" \
    g++ -std=c++11 -Wall -Werror -Wno-missing-field-initializers -fsyntax-only -I"$pyinc" "${INC[@]}" "$TMP/capsule.cpp"
  check "py$v: Python.h + direct-link mode, C11 -Wall -Werror" \
    gcc -std=c11 -Wall -Werror -fsyntax-only -I"$pyinc" "${INC[@]}" -x c - <<'EOF'
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "gocoro.h"
PyObject *t(void) { return (PyObject *)GoCoro_CoroutineType(); }
EOF

  golib=$(gocoro_libdir "$v")
  suffix=$("$p" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
  lib="$golib/_gocoro$suffix"
  if [ ! -e "$lib" ]; then
    skip "py$v: ${lib#$ROOT/} not built"
    continue
  fi
  # the shared library: soname (= its file name, what -lgocoro records as DT_NEEDED) and exports
  if readelf -d "$lib" 2>/dev/null | grep -qF "Library soname: [_gocoro$suffix]"; then
    ok "py$v: soname is _gocoro$suffix"
  else
    readelf -d "$lib" >"$TMP/out" 2>&1; bad "py$v: soname is _gocoro$suffix" "$TMP/out"
  fi
  # -lgocoro reads the ld script libgocoro.so and records the module's soname as DT_NEEDED
  printf 'int GoCoro_Check(void *);\nint use(void *o) { return GoCoro_Check(o); }\n' >"$TMP/lk.c"
  for ldname in bfd gold; do
    if [ "$ldname" = gold ] && ! command -v ld.gold >/dev/null; then
      skip "py$v: -lgocoro with ld.gold (not installed)"; continue
    fi
    if gcc -shared -fPIC -fuse-ld=$ldname "$TMP/lk.c" -o "$TMP/lk.so" -L"$golib" -lgocoro \
         >"$TMP/out" 2>&1 && readelf -d "$TMP/lk.so" >>"$TMP/out" 2>&1 &&
       grep -qF "Shared library: [_gocoro$suffix]" "$TMP/out"; then
      ok "py$v: -lgocoro (ld.$ldname) links the module: DT_NEEDED _gocoro$suffix"
    else
      bad "py$v: -lgocoro (ld.$ldname) links the module: DT_NEEDED _gocoro$suffix" "$TMP/out"
    fi
  done
  nm -D --defined-only "$lib" | awk '{print $NF}' | sort >"$TMP/syms"
  missing=""
  for s in PyInit__gocoro GoCoro_Prepare GoCoro_New GoCoro_GetState GoCoro_RaisePanic \
           GoCoro_Rethrow GoCoro_Check GoCoro_CoroutineType GoCoro_PanicException \
           GoCoro_WakerNew GoCoro_WakerWait GoCoro_Wake GoCoro_WakerRetain GoCoro_WakerRelease \
           GoCoro_RunBlocking; do
    grep -qx "$s" "$TMP/syms" || missing="$missing $s"
  done
  if [ -z "$missing" ]; then ok "py$v: exports PyInit__gocoro and the GoCoro_* functions"
  else echo "missing:$missing" >"$TMP/out"; bad "py$v: exports PyInit__gocoro and the GoCoro_* functions" "$TMP/out"; fi

  # embedding: a C program (no Python module involved) links -lgocoro and -lpython, creates and
  # runs a coroutine through the direct API; the library initialises itself on first use.
  cat >"$TMP/embed.c" <<'EOF'
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>
#include "gocoro.h"
typedef struct { long n; } St;
static int step(GoCoroPyObject *self, void *state, GoCoroPyObject *sent, GoCoroPyObject *thrown,
                GoCoroPyObject **result)
{
    St *st = (St *)state;
    (void)self; (void)sent;
    if (thrown)
        return GoCoro_Rethrow(thrown);
    if (st->n-- > 0) {
        *result = (GoCoroPyObject *)PyLong_FromLong(st->n);
        return GOCORO_NEXT;
    }
    *result = (GoCoroPyObject *)PyUnicode_FromString("done");
    return GOCORO_RETURN;
}
#define FAIL(msg) do { fprintf(stderr, "FAIL: %s\n", msg); if (PyErr_Occurred()) PyErr_Print(); return 1; } while (0)
int main(void)
{
    Py_InitializeEx(0);
    GoCoroSpec s = {GOCORO_ABI_VERSION, sizeof(GoCoroSpec), GOCORO_KIND_COROUTINE, 0, "embedded",
                    NULL, "embed.c", 1, 0, sizeof(St), step, NULL, NULL, NULL};
    GoCoroCode *code = GoCoro_Prepare(&s);
    if (!code) FAIL("Prepare");
    St init = {3};
    PyObject *c = (PyObject *)GoCoro_New(code, &init, sizeof init, NULL);
    if (!c) FAIL("New");
    if (!GoCoro_Check((GoCoroPyObject *)c)) FAIL("Check");
    if ((PyObject *)Py_TYPE(c) != (PyObject *)GoCoro_CoroutineType()) FAIL("type");
    int yields = 0;
    for (;;) {
        PyObject *r = NULL;
        PySendResult sr = PyIter_Send(c, Py_None, &r);
        if (sr == PYGEN_ERROR) FAIL("send");
        if (sr == PYGEN_RETURN) {
            if (!PyUnicode_Check(r) || PyUnicode_CompareWithASCIIString(r, "done") != 0) FAIL("result");
            Py_DECREF(r);
            break;
        }
        Py_DECREF(r);
        yields++;
    }
    if (yields != 3) FAIL("yields");
    Py_DECREF(c);
    /* `import gocoro` afterwards sees the same type */
    PyObject *m = PyImport_ImportModule("gocoro");
    if (!m) FAIL("import gocoro");
    PyObject *t = PyObject_GetAttrString(m, "Coroutine");
    if (t != (PyObject *)GoCoro_CoroutineType()) FAIL("gocoro.Coroutine is not GoCoro_CoroutineType()");
    PyObject *p = PyObject_GetAttrString(m, "PanicException");
    if (p != (PyObject *)GoCoro_PanicException()) FAIL("gocoro.PanicException differs");
    Py_XDECREF(t); Py_XDECREF(p); Py_DECREF(m);
    if (GoCoro_RaisePanic("x") != GOCORO_ERROR || !PyErr_ExceptionMatches((PyObject *)GoCoro_PanicException()))
        FAIL("RaisePanic");
    PyErr_Clear();
    if (Py_FinalizeEx() < 0) FAIL("finalize");
    printf("embed ok\n");
    return 0;
}
EOF
  pycfg="$(dirname "$p")/python$v-config"
  if [ -x "$pycfg" ] && ldflags=$("$pycfg" --ldflags --embed 2>/dev/null); then
    libdir=$("$p" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')
    if gcc -std=c11 -O1 -I"$pyinc" "${INC[@]}" "$TMP/embed.c" -o "$TMP/embed$v" \
         -L"$golib" -lgocoro -Wl,-rpath,"$golib" $ldflags \
         -Wl,-rpath,"$libdir" >"$TMP/out" 2>&1; then
      check "py$v: embedded interpreter + direct link: create/run/import" \
        env PYTHONPATH="$ROOT/build/py$v" PYTHONHOME="$("$p" -c 'import sys; print(sys.base_prefix)')" \
        timeout 60 "$TMP/embed$v"
    else
      bad "py$v: embedded interpreter + direct link: compile/link" "$TMP/out"
    fi
  else
    skip "py$v: python$v-config --embed unavailable"
  fi
done <<<"$PYLIST"

echo "$PASS passed, $FAIL failed${SKIP:+, $SKIP skipped}"
[ "$FAIL" -eq 0 ]

# ---------------------------------------------------------------------------------------------
# wakers / GoCoro_RunBlocking under valgrind (tests_c/run_waker_valgrind.sh: ~40 s on the newest
# built CPython; GOCORO_VALGRIND=0 skips it; build.sh installs valgrind, and CI runs with
# GOCORO_VALGRIND=required, which fails instead of skipping when valgrind is missing)
_c_tests_rc=$?
bash "$ROOT/tests_c/run_waker_valgrind.sh" || _c_tests_rc=1
exit $_c_tests_rc
