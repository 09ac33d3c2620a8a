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
//! Rust cases (the same work as the gocoro crate's side in bench/gocoro_rs):
//! * `ready()` (= `done`), `await_n(make, n)`, `wake_n(n)`: PyO3 `experimental-async` `async fn`s.
//!   `await_n` awaits `make()` n times; PyO3 has no way of its own to await a Python awaitable
//!   inside an `async fn`, so it uses pyo3-async-runtimes' `tokio::into_future` (the documented
//!   route).  `wake_n` awaits n `Ping`s (rust_common/ping.rs), each woken by a Rust thread.
//! * `rt_ready()`, `rt_await_n(make, n)`, `rt_wake_n(n)`: the same futures through
//!   pyo3-async-runtimes' `tokio::future_into_py` (spawned on tokio, result marshalled back to the
//!   asyncio loop with `call_soon_threadsafe`).  These need a running asyncio loop.
//!
//! Rust heap allocations (the boxed future, the waker `Arc`) go through `PyMem_RawMalloc`
//! (see `PyRawAlloc`) so that `tracemalloc` sees them in the bytes-per-object case.
use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::os::raw::c_void;
use std::pin::Pin;
use std::task::{Context, Poll};

use pyo3::prelude::*;

#[path = "../../rust_common/ping.rs"]
mod ping;

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

/// (b) awaits `make()` n times (through pyo3-async-runtimes' `into_future`); returns n.
#[pyfunction]
async fn await_n(make: Py<PyAny>, n: usize) -> PyResult<usize> {
    for _ in 0..n {
        let fut = Python::attach(|py| pyo3_async_runtimes::tokio::into_future(make.bind(py).call0()?))?;
        fut.await?;
    }
    Ok(n)
}

/// (c) n futures woken by a Rust thread, one after the other; returns n.
#[pyfunction]
async fn wake_n(n: usize) -> usize {
    ping::ping_n(n).await
}

/// (a) pyo3-async-runtimes: a ready future (returns 1) spawned on tokio.
#[pyfunction]
fn rt_ready(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    pyo3_async_runtimes::tokio::future_into_py(py, async { Ok(1i64) })
}

/// (b) pyo3-async-runtimes: awaits `make()` n times inside a tokio task; returns n.
#[pyfunction]
fn rt_await_n(py: Python<'_>, make: Py<PyAny>, n: usize) -> PyResult<Bound<'_, PyAny>> {
    pyo3_async_runtimes::tokio::future_into_py(py, async move {
        for _ in 0..n {
            let fut =
                Python::attach(|py| pyo3_async_runtimes::tokio::into_future(make.bind(py).call0()?))?;
            fut.await?;
        }
        Ok(n)
    })
}

/// (c) pyo3-async-runtimes: n Rust-thread wakes inside one tokio task; returns n.
#[pyfunction]
fn rt_wake_n(py: Python<'_>, n: usize) -> PyResult<Bound<'_, PyAny>> {
    pyo3_async_runtimes::tokio::future_into_py(py, async move { Ok(ping::ping_n(n).await) })
}

#[pymodule]
fn pyo3_anchor(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(steps, m)?)?;
    m.add_function(wrap_pyfunction!(done, m)?)?;
    m.add_function(wrap_pyfunction!(done_none, m)?)?;
    m.add_function(wrap_pyfunction!(await_n, m)?)?;
    m.add_function(wrap_pyfunction!(wake_n, m)?)?;
    m.add_function(wrap_pyfunction!(rt_ready, m)?)?;
    m.add_function(wrap_pyfunction!(rt_await_n, m)?)?;
    m.add_function(wrap_pyfunction!(rt_wake_n, m)?)?;
    m.add("PYO3_ASYNC_RUNTIMES_VERSION", "0.30")?;
    m.add("PYO3_VERSION", "0.30")?;
    Ok(())
}
