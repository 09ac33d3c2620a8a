# cython: language_level=3, boundscheck=False, wraparound=False
"""Cython 3 anchor for the gocoro benchmarks (bench/README.md).

``steps(n)`` is a Cython ``async def`` that suspends n times.  An ``async def`` cannot yield
directly, so (like the native ``async def`` anchor) it awaits ``sleep0()`` each time: the same
one-shot ``types.coroutine`` generator that ``asyncio.sleep(0)`` uses, handed in by ``init()``.
``done()`` completes immediately with 1, ``done_none()`` with None.  ``agen(n)`` is an async
generator yielding None n times; ``chain(depth, leaf)`` the await chain of the deep-chain cases.
"""

cdef object _sleep0 = None


def init(sleep0):
    """Set the yield-once awaitable factory used by steps()."""
    global _sleep0
    _sleep0 = sleep0


async def steps(Py_ssize_t n):
    cdef Py_ssize_t i
    cdef object sleep0 = _sleep0
    for i in range(n):
        await sleep0()


async def done():
    return 1


async def done_none():
    return None


async def agen(Py_ssize_t n):
    """Async generator yielding None n times."""
    cdef Py_ssize_t i
    for i in range(n):
        yield None


async def chain(Py_ssize_t depth, leaf):
    """depth + 1 Cython coroutines awaiting each other, the last one awaiting leaf."""
    if depth:
        return await chain(depth - 1, leaf)
    return await leaf
