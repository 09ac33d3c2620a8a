//! Rust futures and streams as canonical CPython awaitables, on top of
//! gocoro.
//!
//! [`future_into_py`] turns a `Future<Output = PyResult<T>>` into a `gocoro.Coroutine` that any
//! event loop can await: asyncio, uvloop, trio, anyio.  There is no Rust runtime thread: the
//! future is polled inside the coroutine's step, on the event-loop thread, with the GIL held,
//! in the awaiting task's `contextvars` context.  When it returns `Pending` the coroutine
//! suspends on a gocoro waker; the `std::task::Waker` handed to the future wakes it from any
//! thread, without the GIL and without allocating.  Inside such a future, [`into_future`]
//! awaits any Python awaitable, driven by the awaiting task itself.
//!
//! ```no_run
//! use pyo3::prelude::*;
//!
//! /// `await add(1, 2)` from Python returns 3.
//! #[pyfunction]
//! fn add(py: Python<'_>, a: i64, b: i64) -> PyResult<Bound<'_, PyAny>> {
//!     gocoro::future_into_py(py, async move { Ok(a + b) })
//! }
//!
//! #[pymodule]
//! fn my_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
//!     m.add_function(wrap_pyfunction!(add, m)?)
//! }
//! ```
//!
//! Run-time requirement: the Python package `gocoro` (the first call imports it; when it is
//! missing, the ImportError says so and what to install).
//!
//! Behaviour in short:
//! - **Cancellation**: an exception thrown into the coroutine (`task.cancel()`, trio/anyio
//!   cancel scopes, `close()`) while the future waits in [`into_future`] is returned by that
//!   call as `Err(exc)`, so Rust code can clean up; at any other suspension point the future is
//!   dropped and the exception propagates.  A suspended coroutine that is garbage-collected
//!   drops its future.  Every drop runs with the GIL held.
//! - **Panics** in `poll` (or in a drop run by the coroutine) become `gocoro.PanicException`,
//!   the exception type C extensions raise too; a panic never unwinds into C.
//! - **The GC** cannot see inside a suspended future: Python objects it holds are not visited,
//!   so a reference cycle running through a suspended future (the future holds an object that
//!   refers back to the coroutine) is never collected.  Break such cycles by hand (weak
//!   references, or finish/close the coroutine).
//! - **Names**: the objects have writable `__name__`/`__qualname__`; [`Builder`] sets them.
//! - Feature **`tokio`**: every poll runs inside a tokio runtime context (see [`tokio`]).
#![warn(missing_docs)]

mod api;
mod into_future;
mod task;
mod waker;
#[cfg(test)]
mod test_support;

#[cfg(feature = "tokio")]
pub mod tokio;

use core::future::Future;
use std::thread::ThreadId;

use futures_core::Stream;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

pub use futures_core;
pub use gocoro_sys as sys;
pub use into_future::into_future;

use api::Code;
use task::{State, TaskCore};

/// Turn a future into a `gocoro.Coroutine` (see the [crate docs](crate)).
///
/// The future is polled on whatever thread runs the awaiting event loop (it is `Send`), with
/// the GIL held; `Ok(v)` becomes the coroutine's return value, `Err(e)` its exception.
pub fn future_into_py<F, T>(py: Python<'_>, fut: F) -> PyResult<Bound<'_, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    Builder::new().future_into_py(py, fut)
}

/// [`future_into_py`] for a `!Send` future.
///
/// The coroutine may only be run on the thread that called this function: a step on another
/// thread raises `RuntimeError` (and the future is then never polled again).  If the
/// coroutine is freed on another thread, the future is leaked rather than dropped there.
pub fn local_future_into_py<F, T>(py: Python<'_>, fut: F) -> PyResult<Bound<'_, PyAny>>
where
    F: Future<Output = PyResult<T>> + 'static,
    T: for<'py> IntoPyObject<'py> + 'static,
{
    Builder::new().local_future_into_py(py, fut)
}

/// Turn a stream into a `gocoro.AsyncGenerator`: each `Ok(item)` is yielded, an `Err(e)`
/// raises `e` and ends it, the end of the stream ends the iteration.  `aclose()` (or an
/// exception thrown in with `athrow()` while the stream is not inside [`into_future`]) drops
/// the stream.
pub fn stream_into_py<S, T>(py: Python<'_>, stream: S) -> PyResult<Bound<'_, PyAny>>
where
    S: Stream<Item = PyResult<T>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    Builder::new().stream_into_py(py, stream)
}

/// Options for the objects this crate makes: `__name__` and `__qualname__` (default
/// `rust_future`/`rust_stream`, qualified with `gocoro.`).
///
/// ```no_run
/// # use pyo3::prelude::*;
/// # fn f(py: Python<'_>) -> PyResult<()> {
/// let coro = gocoro::Builder::new()
///     .name("fetch")
///     .qualname("Client.fetch")
///     .future_into_py(py, async { Ok(1) })?;
/// assert_eq!(coro.getattr("__qualname__")?.extract::<String>()?, "Client.fetch");
/// # Ok(())
/// # }
/// ```
#[derive(Default, Clone, Debug)]
pub struct Builder {
    name: Option<String>,
    qualname: Option<String>,
}

static FUTURE_CODE: PyOnceLock<Code> = PyOnceLock::new();
static STREAM_CODE: PyOnceLock<Code> = PyOnceLock::new();

impl Builder {
    /// Default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// `__name__` of the objects (the `__qualname__` too, unless set).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// `__qualname__` of the objects.
    pub fn qualname(mut self, qualname: impl Into<String>) -> Self {
        self.qualname = Some(qualname.into());
        self
    }

    /// [`future_into_py`](crate::future_into_py) with these options.
    pub fn future_into_py<'py, F, T>(&self, py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
    where
        F: Future<Output = PyResult<T>> + Send + 'static,
        T: for<'a> IntoPyObject<'a> + Send + 'static,
    {
        self.make(py, &FUTURE_CODE, &task::FUTURE_SPEC, task::future_task(fut, None))
    }

    /// [`local_future_into_py`](crate::local_future_into_py) with these options.
    pub fn local_future_into_py<'py, F, T>(&self, py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
    where
        F: Future<Output = PyResult<T>> + 'static,
        T: for<'a> IntoPyObject<'a> + 'static,
    {
        let owner: Option<ThreadId> = Some(std::thread::current().id());
        self.make(py, &FUTURE_CODE, &task::FUTURE_SPEC, task::future_task(fut, owner))
    }

    /// [`stream_into_py`](crate::stream_into_py) with these options.
    pub fn stream_into_py<'py, S, T>(&self, py: Python<'py>, stream: S) -> PyResult<Bound<'py, PyAny>>
    where
        S: Stream<Item = PyResult<T>> + Send + 'static,
        T: for<'a> IntoPyObject<'a> + Send + 'static,
    {
        self.make(py, &STREAM_CODE, &task::STREAM_SPEC, task::stream_task(stream, None))
    }

    fn make<'py>(
        &self,
        py: Python<'py>,
        cell: &'static PyOnceLock<Code>,
        spec: &'static gocoro_sys::GoCoroSpec,
        t: *mut TaskCore,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut init = State { task: t };
        let obj = (|| {
            let code = Code::get(cell, py, spec)?;
            let api = api::api_loaded();
            // SAFETY: GIL held; `init` is exactly state_size bytes, moved into the object.
            let obj = unsafe {
                (api.New)(
                    code,
                    (&init as *const State).cast(),
                    core::mem::size_of::<State>(),
                    core::ptr::null_mut(),
                )
            };
            if obj.is_null() {
                return Err(PyErr::fetch(py));
            }
            init.task = core::ptr::null_mut(); // owned by the object now
            // SAFETY: a new reference.
            Ok(unsafe { Bound::from_owned_ptr(py, obj) })
        })();
        if !init.task.is_null() {
            // SAFETY: GIL held; same function the object's clear would run.
            unsafe { task::clear((&mut init as *mut State).cast()) };
        }
        let obj = obj?;
        if let Some(name) = &self.name {
            obj.setattr(pyo3::intern!(py, "__name__"), name)?;
            if self.qualname.is_none() {
                obj.setattr(pyo3::intern!(py, "__qualname__"), name)?;
            }
        }
        if let Some(q) = &self.qualname {
            obj.setattr(pyo3::intern!(py, "__qualname__"), q)?;
        }
        Ok(obj)
    }
}
