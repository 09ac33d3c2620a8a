//! The gocoro crate's side of the Rust benchmark cases (bench/README.md); the anchors are in
//! bench/pyo3_anchor (PyO3 experimental-async and pyo3-async-runtimes), with the same futures.
//!
//! * `ready()`: (a) a future that is ready at once (returns 1), as a `gocoro.Coroutine`.
//! * `await_n(make, n)`: (b) a Rust async fn awaiting `make()` n times through
//!   `gocoro::into_future` (delegated to the awaiting task, no thread hop); returns n.
//! * `wake_n(n)`: (c) n `Ping`s (rust_common/ping.rs), each woken by a plain Rust thread
//!   through the gocoro waker (`GoCoro_Wake`, no GIL); returns n.
use pyo3::prelude::*;

#[path = "../../rust_common/ping.rs"]
mod ping;

#[pyfunction]
fn ready(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    gocoro::future_into_py(py, async { Ok(1i64) })
}

#[pyfunction]
fn await_n(py: Python<'_>, make: Py<PyAny>, n: usize) -> PyResult<Bound<'_, PyAny>> {
    gocoro::future_into_py(py, async move {
        for _ in 0..n {
            let fut = Python::attach(|py| make.bind(py).call0().map(gocoro::into_future))?;
            fut.await?;
        }
        Ok(n)
    })
}

#[pyfunction]
fn wake_n(py: Python<'_>, n: usize) -> PyResult<Bound<'_, PyAny>> {
    gocoro::future_into_py(py, async move { Ok(ping::ping_n(n).await) })
}

#[pymodule]
fn gocoro_rs_bench(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(ready, m)?)?;
    m.add_function(wrap_pyfunction!(await_n, m)?)?;
    m.add_function(wrap_pyfunction!(wake_n, m)?)?;
    m.add("GOCORO_CRATE_VERSION", "0.1")?;
    Ok(())
}
