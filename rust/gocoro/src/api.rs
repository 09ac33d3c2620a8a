//! The gocoro function table (capsule `gocoro._C_API`), imported once per process.
use gocoro_sys::{GoCoroAPI, GoCoroCode, GoCoroSpec};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

/// The table, importing the Python package `gocoro` on first use.  The ImportError for a
/// missing package says that the package is needed and how to install it.
pub(crate) fn api(py: Python<'_>) -> PyResult<&'static GoCoroAPI> {
    if let Some(api) = gocoro_sys::api() {
        return Ok(api);
    }
    // SAFETY: attached to the interpreter (we hold `py`).
    let p = unsafe { gocoro_sys::import_api() };
    if p.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: a successful import returns the library's static table.
    Ok(unsafe { &*p })
}

/// The table after a successful import (every path that can reach this ran [`api`] first:
/// objects, wakers and steps only exist once the table was imported).
#[inline]
pub(crate) fn api_loaded() -> &'static GoCoroAPI {
    match gocoro_sys::api() {
        Some(a) => a,
        None => unreachable!("gocoro: the API table is used before it was imported"),
    }
}

/// A prepared spec, kept for the life of the process.
///
/// One prepared code object per process is enough: PyO3 extension modules refuse to load in
/// subinterpreters, so every object this crate makes lives in the main interpreter.
pub(crate) struct Code(*mut GoCoroCode);
// SAFETY: a prepared spec is an immutable Python object only used with the GIL held.
unsafe impl Send for Code {}
unsafe impl Sync for Code {}

impl Code {
    pub(crate) fn get(
        cell: &'static PyOnceLock<Code>,
        py: Python<'_>,
        spec: &'static GoCoroSpec,
    ) -> PyResult<*mut GoCoroCode> {
        let code = cell.get_or_try_init(py, || {
            let api = api(py)?;
            // SAFETY: a valid 'static spec, GIL held.
            let c = unsafe { (api.Prepare)(spec) };
            if c.is_null() {
                Err(PyErr::fetch(py))
            } else {
                Ok(Code(c))
            }
        })?;
        Ok(code.0)
    }
}
