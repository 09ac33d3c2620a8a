# The gocoro package version (PEP 440).  The C ABI has its own number, GOCORO_ABI_VERSION in
# include/gocoro.h (gocoro.ABI_VERSION): see "Versioning" in README.md.
__version__ = "0.1.0"
