"""python -m gocoro [--cflags] [--libs] [--includedir] [--libdir] [--pkgconfigdir] [--version]
[--abi-version]: print what a build outside Python needs (like numpy-config), e.g.

    export PKG_CONFIG_PATH=$(python -m gocoro --pkgconfigdir)
    cc ... $(python -m gocoro --cflags)              # capsule mode
    cc ... $(python -m gocoro --cflags --libs)       # direct -lgocoro (rpath: see README)
"""
import argparse
import shlex

import gocoro


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m gocoro", description=__doc__.split("\n\n")[0])
    p.add_argument("--cflags", action="store_true", help="-I<include dir>")
    p.add_argument("--libs", action="store_true", help="-L<library dir> -lgocoro")
    p.add_argument("--includedir", action="store_true", help="gocoro.get_include()")
    p.add_argument("--libdir", action="store_true", help="gocoro.get_library_dir()")
    p.add_argument("--pkgconfigdir", action="store_true", help="gocoro.get_pkgconfig_dir()")
    p.add_argument("--version", action="store_true", help="the package version")
    p.add_argument("--abi-version", action="store_true", help="GOCORO_ABI_VERSION")
    a = p.parse_args(argv)
    out = []
    if a.cflags:
        out.append("-I" + shlex.quote(gocoro.get_include()))
    if a.libs:
        out += ["-L" + shlex.quote(gocoro.get_library_dir()), "-lgocoro"]
    for flag, value in ((a.includedir, gocoro.get_include), (a.libdir, gocoro.get_library_dir),
                        (a.pkgconfigdir, gocoro.get_pkgconfig_dir)):
        if flag:
            out.append(value())
    if a.version:
        out.append(gocoro.__version__)
    if a.abi_version:
        out.append(str(gocoro.ABI_VERSION))
    if not out:
        p.print_help()
        return 2
    print(" ".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
