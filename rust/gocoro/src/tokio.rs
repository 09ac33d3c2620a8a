//! Feature `tokio`: every poll of a gocoro-driven future runs inside a tokio runtime context,
//! so `tokio::time::sleep`, `tokio::net` and other reactor-backed futures work.
//!
//! The future is still polled on the Python event-loop thread; tokio's I/O and timer driver
//! runs on the runtime's worker thread(s) and wakes the future through its gocoro waker.  The
//! runtime is the one given to [`init`], or else one the crate creates on first use: a
//! multi-thread runtime with one worker thread (named `gocoro-tokio`) that runs the drivers.
use std::sync::OnceLock;

use tokio::runtime::{EnterGuard, Handle, Runtime};

static HANDLE: OnceLock<Handle> = OnceLock::new();
static OWN: OnceLock<Runtime> = OnceLock::new();

/// Use this runtime for every poll.  Call it before the first gocoro future is polled;
/// returns the handle back if a runtime is already in use.  The runtime must keep running
/// (its drivers wake the futures): a multi-thread runtime, or a current-thread runtime that
/// some thread keeps inside `block_on`.
pub fn init(handle: Handle) -> Result<(), Handle> {
    HANDLE.set(handle)
}

/// The runtime in use (creating the crate's own on first use).
pub fn handle() -> &'static Handle {
    HANDLE.get_or_init(|| {
        OWN.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("gocoro-tokio")
                .enable_all()
                .build()
                .expect("gocoro: cannot start the tokio runtime")
        })
        .handle()
        .clone()
    })
}

pub(crate) fn enter() -> EnterGuard<'static> {
    handle().enter()
}
