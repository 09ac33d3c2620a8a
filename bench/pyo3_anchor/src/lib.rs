//! PyO3 anchor for the gocoro benchmarks (bench/README.md).
//!
//! * `steps(n)`  -> a PyO3 `Coroutine` whose Rust future returns `Poll::Pending` `n` times and
//!   then `Ready(())`.  Before each `Pending` it calls `cx.waker().wake_by_ref()`: PyO3's
//!   `Coroutine::poll` notices that the waker fired during the poll and yields `None` to the
//!   driver (like `asyncio.sleep(0)`) instead of creating an `asyncio.Future`, so no event
//!   loop is needed and each step is one `send(None)` / `__next__`.
//! * `done()`    -> a coroutine that completes on its first poll with `1`;
//!   `done_none()` the same with `None`.
//!
//! Rust heap allocations (the boxed future, the waker `Arc`) go through `PyMem_RawMalloc`
//! (see `PyRawAlloc`) so that `tracemalloc` sees them in the bytes-per-object case.
use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::os::raw::c_void;
use std::pin::Pin;
use std::task::{Context, Poll};

use pyo3::prelude::*;

/// Global allocator routing Rust heap allocations through CPython's raw memory domain
/// (plain `malloc` underneath, but visible to `tracemalloc`).  `PyMem_Raw*` may be called
/// without the GIL.  Alignments above 16 (never used here) fall back to the system allocator;
/// `dealloc` gets the same layout, so it always picks the matching allocator.
struct PyRawAlloc;

const RAW_ALIGN: usize = 16;

unsafe impl GlobalAlloc for PyRawAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= RAW_ALIGN {
            pyo3::ffi::PyMem_RawMalloc(layout.size()) as *mut u8
        } else {
            System.alloc(layout)
        }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.align() <= RAW_ALIGN {
            pyo3::ffi::PyMem_RawFree(ptr as *mut c_void)
        } else {
            System.dealloc(ptr, layout)
        }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= RAW_ALIGN {
            pyo3::ffi::PyMem_RawRealloc(ptr as *mut c_void, new_size) as *mut u8
        } else {
            System.realloc(ptr, layout, new_size)
        }
    }
}

#[global_allocator]
static GLOBAL: PyRawAlloc = PyRawAlloc;

/// A future that is `Pending` `remaining` times (waking itself each time), then `Ready`.
struct YieldN {
    remaining: usize,
}

impl Future for YieldN {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.remaining == 0 {
            Poll::Ready(())
        } else {
            self.remaining -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Coroutine that suspends `n` times (yielding None) and then returns None.
#[pyfunction]
async fn steps(n: usize) {
    YieldN { remaining: n }.await
}

/// Coroutine that completes immediately with 1.
#[pyfunction]
async fn done() -> i64 {
    1
}

/// Coroutine that completes immediately with None.
#[pyfunction]
async fn done_none() {}

#[pymodule]
fn pyo3_anchor(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(steps, m)?)?;
    m.add_function(wrap_pyfunction!(done, m)?)?;
    m.add_function(wrap_pyfunction!(done_none, m)?)?;
    m.add("PYO3_VERSION", "0.30")?;
    Ok(())
}
