#!/usr/bin/env bash
# CPython 3.14 and 3.15 for gocoro's tests, in a Debian sid chroot.
#
# Debian 12 has no CPython 3.14/3.15 package, and sid's python3.14/python3.15 need glibc >= 2.38
# (Debian 12 has 2.36), so they run in a sid chroot made with debootstrap: sid also brings the
# newest gcc (warnings must stay at zero there too), Go and cargo.  The host is not changed:
# debootstrap is unpacked under the state directory and apt runs with a private configuration.
# Needs root (debootstrap, chroot, mount); run through sudo when it is available.
#
#   scripts/sid.sh provision      make or refresh the chroot; skips every step already done
#   scripts/sid.sh test [ARGS]    copy this tree into the chroot and run ./build.sh test there for
#                                 its CPythons (ARGS go to pytest); exit status of that run
#   scripts/sid.sh wheel          ./build.sh wheel in the chroot for its CPythons; the wheels land
#                                 in this tree's dist/ (or $GOCORO_DIST)
#   scripts/sid.sh run CMD...     run CMD in the chroot, in the copy of the tree
#   scripts/sid.sh shell          an interactive shell there
#   scripts/sid.sh status         exit 0 when the chroot is provisioned (prints what it holds)
#   scripts/sid.sh umount         unmount what a run left mounted (after a kill -9, say)
#   scripts/sid.sh delete         unmount, then delete the chroot (refused while anything is
#                                 still mounted inside it)
#
# Environment:
#   GOCORO_SID_DIR      state directory (default /var/tmp/gocoro-sid): root/ is the chroot,
#                       apt/ and debootstrap/ the private apt state, *.log the provisioning logs.
#                       Kept outside the tree on purpose: a chroot with mounts inside build/
#                       would make `rm -rf build` dangerous.
#   GOCORO_SID_PYTHONS  the CPythons to install (default "3.14 3.15")
#   GOCORO_SID_MIRROR   Debian mirror (default http://deb.debian.org/debian)
#
# Mounts: /proc and a read-only /sys are fresh instances, /dev/pts a new devpts instance and
# /dev/shm a private tmpfs; the chroot's /dev holds its own device nodes (made by debootstrap).
# Nothing of the host's /dev is bound inside, so even a mistaken rm -rf of a mounted chroot cannot
# reach the host's devices.  Each verb mounts what it needs and unmounts in an EXIT trap; a lock
# serialises concurrent runs on one chroot.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TREE=$(cd "$HERE/.." && pwd)
SID_DIR=${GOCORO_SID_DIR:-/var/tmp/gocoro-sid}
SID_PYTHONS=${GOCORO_SID_PYTHONS:-3.14 3.15}
MIRROR=${GOCORO_SID_MIRROR:-http://deb.debian.org/debian}
R="$SID_DIR/root"
COPY=/work/gocoro                      # the tree's copy, inside the chroot
DONE="$R/.gocoro-provisioned"          # written last by provision: its CPythons and packages
# what the chroot gets: the interpreters with headers and venv, the compilers, Go, cargo (the
# Rust example), valgrind, binutils (+ gold) and pkg-config (C-level checks); a change
# re-provisions
PKGS=(ca-certificates gcc g++ make golang-go cargo valgrind binutils binutils-gold pkg-config)
for v in $SID_PYTHONS; do PKGS+=("python$v-dev" "python$v-venv"); done
RECIPE="$SID_PYTHONS | ${PKGS[*]}"

say() { printf '\033[1m[gocoro sid %4ss]\033[0m %s\n' "$SECONDS" "$*" >&2; }
die() { printf 'scripts/sid.sh: %s\n' "$*" >&2; exit 1; }

case "$SID_DIR" in
  /*) ;; *) die "GOCORO_SID_DIR must be an absolute path (is '$SID_DIR')" ;;
esac
case "$SID_DIR" in *[[:space:]]*) die "GOCORO_SID_DIR must not contain white space" ;; esac
[ "$SID_DIR" != / ] || die "GOCORO_SID_DIR must not be /"

# ---- root ----------------------------------------------------------------------------------
need_root() {
  [ "$(id -u)" = 0 ] && return 0
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    exec sudo -n --preserve-env=GOCORO_SID_DIR,GOCORO_SID_PYTHONS,GOCORO_SID_MIRROR,GOCORO_PYTHONS,GOCORO_DIST_PYTHON,CI \
      bash "${BASH_SOURCE[0]}" "$@"
  fi
  die "needs root (debootstrap, chroot, mount) and sudo is not usable"
}

# ---- mounts --------------------------------------------------------------------------------
mounts_inside() { awk -v r="$R/" 'index($2, r) == 1 {print $2}' /proc/mounts; }

do_mount() {
  [ -d "$R/proc" ] || die "no chroot at $R: run scripts/sid.sh provision"
  mountpoint -q "$R/proc" || mount -t proc proc "$R/proc"
  mountpoint -q "$R/sys" || mount -t sysfs -o ro sysfs "$R/sys"
  mkdir -p "$R/dev/pts" "$R/dev/shm"
  mountpoint -q "$R/dev/pts" || mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$R/dev/pts"
  mountpoint -q "$R/dev/shm" || mount -t tmpfs -o mode=1777,nosuid,nodev shm "$R/dev/shm"
  [ -e "$R/dev/null" ] || die "$R/dev has no device nodes (was it made by debootstrap as root?)"
  # /dev/pts is a new devpts instance: its own ptmx is the one to use
  [ -L "$R/dev/ptmx" ] || { rm -f "$R/dev/ptmx"; ln -s pts/ptmx "$R/dev/ptmx"; }
  cp -L /etc/resolv.conf "$R/etc/resolv.conf"
}

do_umount() {
  local m
  # deepest first
  for m in $(mounts_inside | sort -r); do umount "$m" 2>/dev/null || umount -l "$m"; done
  [ -z "$(mounts_inside)" ] || die "could not unmount: $(mounts_inside | tr '\n' ' ')"
}

# Hold the lock for the rest of this process; unmount on exit unless another holder still runs.
LOCKED=0
lock() {
  mkdir -p "$SID_DIR"
  exec 9>"$SID_DIR/lock"
  if ! flock -n 9; then
    say "waiting for another scripts/sid.sh run on $SID_DIR"
    flock 9
  fi
  LOCKED=1
  trap 'on_exit' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
on_exit() {
  local rc=$?
  if [ "$LOCKED" = 1 ] && [ -d "$R" ]; then do_umount || rc=1; fi
  exit $rc
}

# Run a command in the chroot with a clean environment (as CI would see it).
in_chroot() {
  chroot "$R" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# ---- provision -----------------------------------------------------------------------------
provisioned() { [ -f "$DONE" ]; }                                 # at some point
up_to_date() { provisioned && [ "$(cat "$DONE")" = "$RECIPE" ]; }  # with this script's recipe

provision() {
  if up_to_date; then
    say "chroot $R already provisioned ($SID_PYTHONS)"
    return 0
  fi
  local A="$SID_DIR/apt"
  # 1. debootstrap itself, from sid, with a private apt state (the host's is not touched).
  #    Sid's Release file on the mirror may be past its Valid-Until date: do not check it.
  mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$A/sources.d"
  printf 'Types: deb\nURIs: %s\nSuites: sid\nComponents: main\nSigned-By: %s\n' \
    "$MIRROR" /usr/share/keyrings/debian-archive-keyring.gpg >"$A/sources.d/sid.sources"
  local apt=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$A/sources.d"
             -o Dir::State::Lists="$A/lists" -o Dir::Cache="$A/cache"
             -o Acquire::Check-Valid-Until=false -o APT::Sandbox::User=root -qq)
  local dbs="$SID_DIR/debootstrap"
  if [ ! -x "$dbs/usr/sbin/debootstrap" ]; then
    say "downloading debootstrap (private apt lists for sid)"
    apt-get "${apt[@]}" update
    (cd "$SID_DIR" && rm -f debootstrap_*.deb && apt-get "${apt[@]}" download debootstrap)
    rm -rf "$dbs" && dpkg -x "$SID_DIR"/debootstrap_*.deb "$dbs"
  fi
  # 2. a minimal sid system
  if [ ! -e "$R/.debootstrap-done" ]; then
    if [ -e "$R" ]; then
      say "removing the incomplete chroot $R"
      delete_root
    fi
    say "debootstrap --variant=minbase sid (log: $SID_DIR/debootstrap.log)"
    DEBOOTSTRAP_DIR="$dbs/usr/share/debootstrap" "$dbs/usr/sbin/debootstrap" --variant=minbase \
      --keyring=/usr/share/keyrings/debian-archive-keyring.gpg sid "$R" "$MIRROR" \
      >"$SID_DIR/debootstrap.log" 2>&1 || { tail -30 "$SID_DIR/debootstrap.log" >&2; die "debootstrap failed"; }
    touch "$R/.debootstrap-done"
  fi
  # 3. apt inside (same Valid-Until fact), and the host's extra CA certificates: where PyPI and
  #    crates.io are reached through a TLS-intercepting proxy, pip and cargo must trust it too
  printf 'Acquire::Check-Valid-Until "false";\nAPT::Install-Recommends "false";\n' \
    >"$R/etc/apt/apt.conf.d/99gocoro"
  do_mount
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    mkdir -p "$R/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$R/usr/local/share/ca-certificates/"
  fi
  # 4. the packages (PKGS above)
  local v
  say "apt-get install in the chroot: ${PKGS[*]} (log: $SID_DIR/apt-install.log)"
  in_chroot env DEBIAN_FRONTEND=noninteractive sh -c \
    "apt-get update -qq && apt-get install -y -qq ${PKGS[*]} && update-ca-certificates" \
    >"$SID_DIR/apt-install.log" 2>&1 || { tail -30 "$SID_DIR/apt-install.log" >&2; die "apt-get install failed"; }
  # 5. where build.sh looks for CPythons: ~/.pyenv/versions/X.Y/bin/python3 (and pythonX.Y-config
  #    beside it, for the embedding check of the C tests)
  for v in $SID_PYTHONS; do
    mkdir -p "$R/root/.pyenv/versions/$v/bin"
    ln -sfn "/usr/bin/python$v" "$R/root/.pyenv/versions/$v/bin/python3"
    ln -sfn "/usr/bin/python$v-config" "$R/root/.pyenv/versions/$v/bin/python$v-config"
    in_chroot "python$v" -c 'import ssl, ctypes, venv, ensurepip, sysconfig, sys
assert not sysconfig.get_config_var("Py_GIL_DISABLED")
print(sys.version.split()[0], sysconfig.get_config_var("EXT_SUFFIX"))' | sed "s/^/  python$v: /" >&2
  done
  in_chroot sh -c 'go version; gcc --version | head -1; cargo --version' | sed 's/^/  /' >&2
  echo "$RECIPE" >"$DONE"
  say "provisioned $R"
}

# rm -rf of the chroot, only with nothing mounted inside it.
delete_root() {
  do_umount
  if [ -n "$(mounts_inside)" ]; then die "mounts left under $R, not deleting it"; fi
  rm -rf --one-file-system "$R"
}

# ---- test ----------------------------------------------------------------------------------
copy_tree() {
  local dst="$R$COPY"
  mkdir -p "$dst"
  # keep the chroot's venvs and build outputs between runs; replace everything else
  find "$dst" -mindepth 1 -maxdepth 1 ! -name .venv ! -name build -exec rm -rf --one-file-system {} +
  tar -C "$TREE" --exclude=./.venv --exclude=./build --exclude=./.git -cf - . | tar -C "$dst" -xf -
}

# The chroot's CPythons that GOCORO_PYTHONS asks for (all of them when it is unset).
wanted_versions() {
  local v out=()
  for v in $SID_PYTHONS; do
    if [ -z "${GOCORO_PYTHONS:-}" ] || [[ " $GOCORO_PYTHONS " == *" $v "* ]]; then out+=("$v"); fi
  done
  echo "${out[*]:-}"
}

run_test() {
  local vers=$1; shift
  do_mount
  copy_tree
  say "./build.sh test on CPython $vers in the sid chroot"
  # (GOCORO_DIST_PYTHON: the distribution end-to-end test runs once, on the CPython the
  # calling ./build.sh test chose)
  in_chroot env GOCORO_PYTHONS="$vers" GOCORO_IN_SID=1 ${CI:+CI="$CI"} \
    ${GOCORO_DIST_PYTHON:+GOCORO_DIST_PYTHON="$GOCORO_DIST_PYTHON"} \
    sh -c "cd $COPY && exec ./build.sh test \"\$@\"" sh "$@"
}

# ./build.sh wheel inside the chroot, for its CPythons; the wheels are copied to the tree's dist/
# (or $GOCORO_DIST).
run_wheel() {
  local vers=$1 dist=${GOCORO_DIST:-$TREE/dist} v whl
  do_mount
  copy_tree
  say "./build.sh wheel on CPython $vers in the sid chroot"
  in_chroot env GOCORO_PYTHONS="$vers" GOCORO_IN_SID=1 sh -c "cd $COPY && exec ./build.sh wheel"
  mkdir -p "$dist"
  for v in $vers; do
    for whl in "$R$COPY"/dist/gocoro-*-cp${v/./}-cp${v/./}*-*.whl; do
      [ -e "$whl" ] || die "no wheel for CPython $v in $R$COPY/dist"
      rm -f "$dist"/gocoro-*-cp${v/./}-cp${v/./}*-*.whl
      cp "$whl" "$dist/"
    done
  done
}

cmd=${1:-provision}; shift || true
case "$cmd" in
  provision) need_root "$cmd" "$@"; lock; provision ;;
  test)      provisioned || die "the chroot is not provisioned: run ./build.sh sid (scripts/sid.sh provision)"
             vers=$(wanted_versions)
             [ -n "$vers" ] || { say "no chroot CPython in GOCORO_PYTHONS='${GOCORO_PYTHONS:-}'"; exit 0; }
             need_root "$cmd" "$@"; lock
             up_to_date || provision   # this script asks for more than it was provisioned with
             run_test "$vers" "$@" ;;
  wheel)     provisioned || die "the chroot is not provisioned: run ./build.sh sid (scripts/sid.sh provision)"
             vers=$(wanted_versions)
             [ -n "$vers" ] || { say "no chroot CPython in GOCORO_PYTHONS='${GOCORO_PYTHONS:-}'"; exit 0; }
             need_root "$cmd" "$@"; lock
             up_to_date || provision
             run_wheel "$vers" ;;
  run)       need_root "$cmd" "$@"; lock; provisioned || die "not provisioned"; do_mount; copy_tree
             in_chroot sh -c "cd $COPY && exec \"\$@\"" sh "$@" ;;
  shell)     need_root "$cmd" "$@"; lock; do_mount; in_chroot sh -c "cd $COPY 2>/dev/null; exec bash -l" ;;
  status)    provisioned || exit 1
             echo "$R: $(cat "$DONE")"
             up_to_date || echo "(older than scripts/sid.sh: its next test or provision run refreshes it)" ;;
  umount)    need_root "$cmd" "$@"; lock ;;   # the EXIT trap unmounts
  delete)    need_root "$cmd" "$@"; lock; [ -e "$R" ] && delete_root; say "deleted $R" ;;
  *) echo "usage: scripts/sid.sh [provision|test [pytest args]|wheel|run CMD...|shell|status|umount|delete]" >&2
     exit 2 ;;
esac
