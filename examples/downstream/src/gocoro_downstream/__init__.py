"""gocoro-downstream: native coroutines from C (capsule and -lgocoro) and Cython."""
import gocoro  # noqa: F401  -- load the one gocoro library before the extensions that use it

from ._cy import spin, ticker
from ._linked import coroutine_type, countdown
from ._native import sum_slowly

__all__ = ["countdown", "coroutine_type", "spin", "sum_slowly", "ticker"]
