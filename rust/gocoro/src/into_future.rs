//! Awaiting a Python awaitable from inside a gocoro-driven Rust future.
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::task::{current, Slot, TaskCore};

/// Await any Python awaitable (an asyncio future or task, `trio.sleep(...)`, a coroutine, ...)
/// from inside a future run by [`future_into_py`](crate::future_into_py),
/// [`local_future_into_py`](crate::local_future_into_py) or
/// [`stream_into_py`](crate::stream_into_py).
///
/// The awaitable is driven by the awaiting Python task itself: the first poll records it and
/// returns `Pending`, the step hands it to the driver exactly like `await` (GOCORO_AWAIT), and
/// the next step delivers its result (or exception) here.  So trio traps and asyncio futures
/// work without any thread hop, and an exception thrown into the task while it waits here
/// (`task.cancel()`, a trio/anyio cancel scope, `close()` → `GeneratorExit`) is returned as
/// `Err(exc)`, so the Rust code can clean up before propagating it.
///
/// One Python awaitable at a time per task: a second `into_future` polled while another is
/// pending in the same task (`join!`, `select!` of two Python awaitables) returns a
/// `RuntimeError`.  While the task is suspended in a Python awaitable, Rust wakes do not
/// interrupt it: they are remembered and seen at the next poll, after the awaitable finished.
///
/// Polled anywhere else (another executor, a plain `block_on`), it returns a `RuntimeError`.
///
/// ```no_run
/// use pyo3::prelude::*;
///
/// /// `await sleep(0)` n times, from Rust, under whatever event loop runs the caller.
/// #[pyfunction]
/// fn countdown<'py>(py: Python<'py>, n: u32, sleep: Py<PyAny>) -> PyResult<Bound<'py, PyAny>> {
///     gocoro::future_into_py(py, async move {
///         for _ in 0..n {
///             let aw = Python::attach(|py| sleep.bind(py).call1((0,)).map(Bound::unbind))?;
///             Python::attach(|py| gocoro::into_future(aw.into_bound(py))).await?;
///         }
///         Ok(n)
///     })
/// }
/// ```
pub fn into_future(awaitable: Bound<'_, PyAny>) -> impl Future<Output = PyResult<Py<PyAny>>> + Send + 'static {
    PyAwait { awaitable: Some(awaitable.unbind()), id: 0, task: core::ptr::null_mut() }
}

struct PyAwait {
    awaitable: Option<Py<PyAny>>,
    /// Our number in the task's delegation slot (0: not submitted yet).
    id: u64,
    task: *mut TaskCore,
}

// SAFETY: `task` is only dereferenced when it is the task being polled on the current thread
// (CURRENT), never from wherever the value happens to be.
unsafe impl Send for PyAwait {}

fn outside_error() -> PyErr {
    PyRuntimeError::new_err(
        "gocoro::into_future() was polled outside a future driven by gocoro: await it only inside \
         a future given to gocoro::future_into_py / local_future_into_py / stream_into_py, \
         which the awaiting Python task polls",
    )
}

impl Future for PyAwait {
    type Output = PyResult<Py<PyAny>>;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        let t = current();
        if t.is_null() {
            return Poll::Ready(Err(outside_error()));
        }
        // SAFETY: the task being polled on this thread; no other reference to the header is
        // live during the poll.
        let core = unsafe { &mut *t };
        if self.id == 0 {
            let Some(aw) = self.awaitable.take() else {
                return Poll::Ready(Err(PyRuntimeError::new_err(
                    "gocoro::into_future() polled again after it completed",
                )));
            };
            if !matches!(core.slot, Slot::Idle) {
                return Poll::Ready(Err(PyRuntimeError::new_err(
                    "gocoro: a Rust future awaits two Python awaitables at the same time \
                     (join!/select! of gocoro::into_future); await them one after the other, \
                     or combine them in Python (asyncio.gather, a trio nursery) and await that",
                )));
            }
            let id = core.new_id();
            core.slot = Slot::Submitted { id, aw };
            self.id = id;
            self.task = t;
            return Poll::Pending;
        }
        if self.task != t {
            return Poll::Ready(Err(PyRuntimeError::new_err(
                "gocoro::into_future() was moved to another task while awaiting",
            )));
        }
        match &core.slot {
            Slot::Done { id, .. } if *id == self.id => {
                let Slot::Done { result, .. } = std::mem::replace(&mut core.slot, Slot::Idle) else {
                    unreachable!()
                };
                self.id = u64::MAX; // completed
                Poll::Ready(result)
            }
            _ => Poll::Pending,
        }
    }
}

impl Drop for PyAwait {
    fn drop(&mut self) {
        if self.id == 0 || self.id == u64::MAX || self.task.is_null() || current() != self.task {
            return;
        }
        // Dropped inside its own task (select! took another branch, or the future is being
        // dropped): forget our entry in the slot.
        // SAFETY: the task being polled/dropped on this thread.
        let core = unsafe { &mut *self.task };
        let ours = match &core.slot {
            Slot::Submitted { id, .. } | Slot::Done { id, .. } | Slot::InFlight { id } => *id == self.id,
            Slot::Idle => false,
        };
        if ours && !matches!(core.slot, Slot::InFlight { .. }) {
            core.slot = Slot::Idle;
        }
    }
}
