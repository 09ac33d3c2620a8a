"""setuptools build step for gocoro: the extension module gocoro._gocoro is built by
`go build -buildmode=c-shared` (scripts/gocoro_build.py), then the headers, the .pxd, the
pkg-config file and the -lgocoro linker script are staged next to it.  Metadata: pyproject.toml.
"""
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts"))
import gocoro_build  # noqa: E402


class go_build_ext(build_ext):
    """Builds the one extension with Go instead of the C compiler driver."""

    def run(self):
        try:
            self._go = gocoro_build.check_tools()
        except gocoro_build.MissingToolsError as e:
            sys.stderr.write("\nerror: %s\n\n" % e)
            raise SystemExit("gocoro: cannot build from source, missing: %s (see above)"
                             % ", ".join(e.short))
        super().run()

    def build_extension(self, ext):
        path = self.get_ext_fullpath(ext.name)  # .../gocoro/_gocoro<EXT_SUFFIX>
        gocoro_build.go_build(self._go, path)
        gocoro_build.stage(os.path.dirname(path))


setup(
    # sources are listed for the sdist and for rebuild checks; go build compiles them
    ext_modules=[Extension("gocoro._gocoro", sources=[])],
    cmdclass={"build_ext": go_build_ext},
)
