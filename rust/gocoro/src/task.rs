//! The boxed task behind every gocoro object this crate makes, and its step function.
//!
//! A gocoro object's inline state is one pointer to a heap `Task<F>`: the common header
//! [`TaskCore`] (delegation slot, the lazily created gocoro waker, the type-erased poll/drop
//! functions) followed by the future or stream itself, which never moves again (so it is
//! pinned).  One step = attach PyO3 once, deliver what the driver sent/threw, poll, and map the
//! outcome to a step result:
//!
//! | poll outcome                                   | step result                             |
//! |------------------------------------------------|-----------------------------------------|
//! | `Ready(Ok(v))` (future)                        | `GOCORO_RETURN v`                       |
//! | `Ready(Some(Ok(x)))` (stream)                  | `GOCORO_ITEM x`                         |
//! | `Ready(None)` (stream)                         | `GOCORO_RETURN` (end of iteration)      |
//! | `Ready(Err(e))`                                | `GOCORO_ERROR` with `e`                 |
//! | `Pending` after `into_future(aw)` was polled   | `GOCORO_AWAIT aw` (the task drives aw)  |
//! | `Pending` otherwise                            | `GOCORO_AWAIT GoCoro_WakerWait(waker)`  |
//! | a panic                                        | `gocoro.PanicException`                 |
use core::cell::Cell;
use core::ffi::{c_int, c_void};
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::ptr::null_mut;
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ThreadId;

use futures_core::Stream;
use gocoro_sys::*;
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;

use crate::api::api_loaded;
use crate::waker::{waker_borrowed, waker_from_owned};

/// What one poll produced.
pub(crate) enum Out {
    /// The future finished (or the stream ended: `Ok(None)`), or failed.
    Done(PyResult<Option<Py<PyAny>>>),
    /// The stream yielded an item.
    Item(Py<PyAny>),
}

pub(crate) struct TaskVTable {
    poll: unsafe fn(*mut TaskCore, &mut Context<'_>, Python<'_>) -> Poll<Out>,
    /// Drops the future/stream and frees the task.
    free: unsafe fn(*mut TaskCore),
}

/// The state of the delegation slot: at most one Python awaitable per task at a time.
pub(crate) enum Slot {
    Idle,
    /// `into_future` asked for `aw` during this poll; the step hands it to the driver.
    Submitted { id: u64, aw: Py<PyAny> },
    /// The driver is running the awaitable (the step returned it with GOCORO_AWAIT).
    InFlight { id: u64 },
    /// Its outcome, waiting for the `into_future` that asked for it.
    Done { id: u64, result: PyResult<Py<PyAny>> },
}

#[repr(C)]
pub(crate) struct TaskCore {
    vtable: &'static TaskVTable,
    pub(crate) slot: Slot,
    next_id: u64,
    /// Owned reference, created at the first time a waker is needed.
    waker: *mut GoCoroWaker,
    /// Creating the waker failed inside a `Waker::clone` (no running event loop...).
    waker_error: Option<PyErr>,
    /// Woken through the lazy waker (before the gocoro waker existed).
    self_woken: AtomicBool,
    /// `local_future_into_py`: the only thread that may poll or drop the future.
    owner: Option<ThreadId>,
}

#[repr(C)]
struct Task<F> {
    core: TaskCore,
    fut: ManuallyDrop<F>,
}

thread_local! {
    /// The task being polled on this thread (null outside a step).
    static CURRENT: Cell<*mut TaskCore> = const { Cell::new(null_mut()) };
}

/// Sets CURRENT for a scope and restores the previous value (steps can nest: a future may
/// drive another gocoro object synchronously).
struct CurrentGuard(*mut TaskCore);
impl CurrentGuard {
    fn enter(t: *mut TaskCore) -> Self {
        CurrentGuard(CURRENT.with(|c| c.replace(t)))
    }
}
impl Drop for CurrentGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// The task being polled by a gocoro step on this thread.
pub(crate) fn current() -> *mut TaskCore {
    CURRENT.with(|c| c.get())
}

impl TaskCore {
    pub(crate) fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

impl Drop for TaskCore {
    fn drop(&mut self) {
        if !self.waker.is_null() {
            // SAFETY: we own one reference.
            unsafe { (api_loaded().WakerRelease)(self.waker) };
        }
    }
}

// ---- the type-erased task --------------------------------------------------------------------

struct FutureVT<F, T>(PhantomData<(F, T)>);
impl<F, T> FutureVT<F, T>
where
    F: Future<Output = PyResult<T>> + 'static,
    T: for<'py> IntoPyObject<'py>,
{
    const VT: &'static TaskVTable = &TaskVTable { poll: Self::poll, free: free_task::<F> };

    unsafe fn poll(p: *mut TaskCore, cx: &mut Context<'_>, py: Python<'_>) -> Poll<Out> {
        // SAFETY: p is a Task<F>; the future lives on the heap and never moves.
        // Only the future is borrowed: the header stays reachable through CURRENT.
        let fut = unsafe { &mut **core::ptr::addr_of_mut!((*(p as *mut Task<F>)).fut) };
        let fut = unsafe { Pin::new_unchecked(fut) };
        match fut.poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => Poll::Ready(Out::Done(r.and_then(|v| v.into_py_any(py)).map(Some))),
        }
    }
}

struct StreamVT<S, T>(PhantomData<(S, T)>);
impl<S, T> StreamVT<S, T>
where
    S: Stream<Item = PyResult<T>> + 'static,
    T: for<'py> IntoPyObject<'py>,
{
    const VT: &'static TaskVTable = &TaskVTable { poll: Self::poll, free: free_task::<S> };

    unsafe fn poll(p: *mut TaskCore, cx: &mut Context<'_>, py: Python<'_>) -> Poll<Out> {
        // SAFETY: p is a Task<S>; the stream lives on the heap and never moves.
        let s = unsafe { &mut **core::ptr::addr_of_mut!((*(p as *mut Task<S>)).fut) };
        let s = unsafe { Pin::new_unchecked(s) };
        match s.poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(Out::Done(Ok(None))),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Out::Done(Err(e))),
            Poll::Ready(Some(Ok(v))) => Poll::Ready(match v.into_py_any(py) {
                Ok(o) => Out::Item(o),
                Err(e) => Out::Done(Err(e)),
            }),
        }
    }
}

unsafe fn free_task<F>(p: *mut TaskCore) {
    // SAFETY: p came from Box::<Task<F>>::into_raw.  The future goes first: its drop may
    // touch the delegation slot in the header (through CURRENT).
    unsafe {
        let _cur = CurrentGuard::enter(p);
        let t = p as *mut Task<F>;
        ManuallyDrop::drop(&mut (*t).fut);
        drop(Box::from_raw(t));
    }
}

fn new_task<F>(vtable: &'static TaskVTable, fut: F, owner: Option<ThreadId>) -> *mut TaskCore {
    let t = Box::new(Task {
        core: TaskCore {
            vtable,
            slot: Slot::Idle,
            next_id: 0,
            waker: null_mut(),
            waker_error: None,
            self_woken: AtomicBool::new(false),
            owner,
        },
        fut: ManuallyDrop::new(fut),
    });
    Box::into_raw(t) as *mut TaskCore
}

pub(crate) fn future_task<F, T>(fut: F, owner: Option<ThreadId>) -> *mut TaskCore
where
    F: Future<Output = PyResult<T>> + 'static,
    T: for<'py> IntoPyObject<'py>,
{
    new_task(FutureVT::<F, T>::VT, fut, owner)
}

pub(crate) fn stream_task<S, T>(s: S, owner: Option<ThreadId>) -> *mut TaskCore
where
    S: Stream<Item = PyResult<T>> + 'static,
    T: for<'py> IntoPyObject<'py>,
{
    new_task(StreamVT::<S, T>::VT, s, owner)
}

// ---- the inline state and the spec callbacks ------------------------------------------------

/// The inline state of the gocoro object: the task, or null once it was dropped.
#[repr(C)]
pub(crate) struct State {
    pub(crate) task: *mut TaskCore,
}

/// Drop the task (GIL held).  A `!Send` future is only dropped on its own thread; elsewhere it
/// is leaked (never dropped on a thread it does not belong to).
unsafe fn drop_task(st: &mut State) {
    let t = std::mem::replace(&mut st.task, null_mut());
    if t.is_null() {
        return;
    }
    // SAFETY: t is a live task we own.
    unsafe {
        if let Some(owner) = (*t).owner {
            if owner != std::thread::current().id() {
                return; // leaked on purpose
            }
        }
        ((*t).vtable.free)(t);
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Rust panic".to_string()
    }
}

/// Raise gocoro.PanicException for a caught panic; returns GOCORO_ERROR.
pub(crate) fn raise_panic(payload: Box<dyn std::any::Any + Send>) -> c_int {
    let msg = panic_message(&*payload).replace('\0', " ");
    let msg = std::ffi::CString::new(msg).unwrap_or_default();
    // The payload's own drop could panic again: never let that escape either.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    // SAFETY: GIL held (every caller is a step).
    unsafe { (api_loaded().RaisePanic)(msg.as_ptr()) }
}

pub(crate) unsafe extern "C" fn step(
    _slf: *mut GoCoroPyObject,
    state: *mut c_void,
    sent: *mut GoCoroPyObject,
    thrown: *mut GoCoroPyObject,
    result: *mut *mut GoCoroPyObject,
) -> c_int {
    // SAFETY: the library hands us our inline state and a valid out pointer, GIL held.
    let st = unsafe { &mut *(state as *mut State) };
    let result = unsafe { &mut *result };
    // Attach PyO3 once for the whole step: the thread holds the GIL (we are called by
    // CPython through gocoro), and with PyO3's attach count raised every nested
    // `Python::attach` is a counter increment and every `Py<T>` dropped in the future is
    // released at once instead of going through PyO3's deferred reference pool.
    let r = catch_unwind(AssertUnwindSafe(|| {
        Python::attach(|py| unsafe { step_attached(py, st, sent, thrown, result) })
    }));
    match r {
        Ok(rc) => rc,
        Err(payload) => {
            // The future panicked (or its drop did): it is unusable, drop what is left.
            let drop_r = catch_unwind(AssertUnwindSafe(|| {
                Python::attach(|_py| unsafe { drop_task(st) })
            }));
            if let Err(p) = drop_r {
                std::mem::forget(p);
            }
            if !result.is_null() {
                // SAFETY: a reference we produced before the panic.
                unsafe { pyo3::ffi::Py_DECREF(*result) };
                *result = null_mut();
            }
            raise_panic(payload)
        }
    }
}

unsafe fn step_attached(
    py: Python<'_>,
    st: &mut State,
    sent: *mut GoCoroPyObject,
    thrown: *mut GoCoroPyObject,
    result: &mut *mut GoCoroPyObject,
) -> c_int {
    let api = api_loaded();
    let t = st.task;
    if t.is_null() {
        // Only reachable if the library stepped a finished object again.
        pyo3::exceptions::PyRuntimeError::new_err("gocoro: this Rust future was already dropped")
            .restore(py);
        return GOCORO_ERROR;
    }
    // SAFETY: a live task owned by this object.
    let core = unsafe { &mut *t };
    if let Some(owner) = core.owner {
        if owner != std::thread::current().id() {
            pyo3::exceptions::PyRuntimeError::new_err(
                "gocoro: a !Send future made by local_future_into_py can only be run on the \
                 thread that created it",
            )
            .restore(py);
            return GOCORO_ERROR;
        }
    }
    // What the driver sent or threw goes to the pending `into_future`, if any.
    if let Slot::InFlight { id } = core.slot {
        let res = if thrown.is_null() {
            // SAFETY: sent is a borrowed, non-NULL reference when thrown is NULL.
            Ok(unsafe { Bound::from_borrowed_ptr(py, sent) }.unbind())
        } else {
            Err(PyErr::from_value(unsafe { Bound::from_borrowed_ptr(py, thrown) }))
        };
        core.slot = Slot::Done { id, result: res };
    } else if !thrown.is_null() {
        // Suspended on the waker (or not started): nothing in Rust can receive the
        // exception, so the future is dropped and the exception propagates.
        unsafe { drop_task(st) };
        return unsafe { (api.Rethrow)(thrown) };
    }

    let (poll_fn, waker) = (core.vtable.poll, core.waker);
    let poll = {
        let _cur = CurrentGuard::enter(t);
        #[cfg(feature = "tokio")]
        let _rt = crate::tokio::enter();
        if waker.is_null() {
            // No gocoro waker yet: hand out the lazy waker, which creates it on first clone.
            // SAFETY: LAZY_VTABLE's contract holds while CURRENT == t (this scope).
            let lazy =
                ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(t as *const (), &LAZY_VTABLE)) });
            let mut cx = Context::from_waker(&lazy);
            unsafe { poll_fn(t, &mut cx, py) }
        } else {
            let w = unsafe { waker_borrowed(waker) };
            let mut cx = Context::from_waker(&w);
            unsafe { poll_fn(t, &mut cx, py) }
        }
    };
    // No reference into the header lives across the poll (into_future reaches it through
    // CURRENT); borrow it again.
    let core = unsafe { &mut *t };
    match poll {
        Poll::Ready(Out::Item(v)) => {
            core.slot = Slot::Idle;
            *result = v.into_ptr();
            GOCORO_ITEM
        }
        Poll::Ready(Out::Done(r)) => {
            unsafe { drop_task(st) };
            match r {
                Ok(v) => {
                    *result = match v {
                        Some(v) => v.into_ptr(),
                        None => py.None().into_ptr(),
                    };
                    GOCORO_RETURN
                }
                Err(e) => {
                    e.restore(py);
                    GOCORO_ERROR
                }
            }
        }
        Poll::Pending => {
            if let Some(e) = core.waker_error.take() {
                unsafe { drop_task(st) };
                e.restore(py);
                return GOCORO_ERROR;
            }
            match std::mem::replace(&mut core.slot, Slot::Idle) {
                Slot::Submitted { id, aw } => {
                    core.slot = Slot::InFlight { id };
                    *result = aw.into_ptr();
                    return GOCORO_AWAIT;
                }
                // A result nobody took (its into_future was forgotten): discard it.
                Slot::Done { .. } | Slot::Idle | Slot::InFlight { .. } => {}
            }
            if core.waker.is_null() {
                // SAFETY: GIL held, on the loop thread.
                let w = unsafe { (api.WakerNew)() };
                if w.is_null() {
                    unsafe { drop_task(st) };
                    return GOCORO_ERROR;
                }
                core.waker = w;
                if core.self_woken.swap(false, Ordering::Relaxed) {
                    // Woken during its first poll: wake for real, so the next wait completes
                    // after one turn of the event loop.
                    unsafe { (api.Wake)(w) };
                }
            }
            // SAFETY: a live waker, GIL held on its loop thread.
            let mut aw = unsafe { (api.WakerWait)(core.waker) };
            if aw.is_null() {
                // The waker belongs to another event loop (a stream iterated first under one
                // loop, then under another; or its loop is closed): bind a new one to the
                // running loop, and wake it at once so the future is polled again and hands
                // the new waker to whatever it waits on (wakes sent to the old one are lost
                // with their loop).
                let old = PyErr::take(py);
                // SAFETY: GIL held.
                let w = unsafe { (api.WakerNew)() };
                if w.is_null() {
                    // No running loop here either: report the original error.
                    drop(PyErr::take(py));
                    if let Some(e) = old {
                        e.restore(py);
                    }
                } else {
                    unsafe {
                        (api.WakerRelease)(core.waker);
                        core.waker = w;
                        (api.Wake)(w);
                        aw = (api.WakerWait)(w);
                    }
                }
            }
            if aw.is_null() {
                unsafe { drop_task(st) };
                return GOCORO_ERROR;
            }
            *result = aw;
            GOCORO_AWAIT
        }
    }
}

pub(crate) unsafe extern "C" fn clear(state: *mut c_void) {
    // SAFETY: our inline state; GIL held (tp_clear, end of the object, before finalize).
    let st = unsafe { &mut *(state as *mut State) };
    if st.task.is_null() {
        return;
    }
    // During interpreter finalization PyO3 refuses to attach: drop anyway (the GIL is held;
    // PyO3 then defers the Py<T> releases to its pool).
    let r = catch_unwind(AssertUnwindSafe(|| {
        if Python::try_attach(|_py| unsafe { drop_task(st) }).is_none() {
            unsafe { drop_task(st) }
        }
    }));
    if let Err(payload) = r {
        st.task = null_mut();
        raise_panic(payload);
        // SAFETY: GIL held; a drop has nowhere to raise to.
        unsafe { pyo3::ffi::PyErr_WriteUnraisable(null_mut()) };
    }
}

// ---- the lazy waker: used until the task needs a gocoro waker -------------------------------
//
// Creating a gocoro waker binds it to the running event loop and costs a little, so a future
// that completes without ever storing its waker never gets one.  The lazy waker's data pointer
// is the task; it only exists inside the poll (a `&Waker` cannot outlive the Context), on the
// polling thread.  Cloning it creates the gocoro waker and returns a real (owned) one; waking it
// by reference records the wake, which the step turns into a real wake after the poll.

static LAZY_VTABLE: RawWakerVTable =
    RawWakerVTable::new(lazy_clone, lazy_wake, lazy_wake_by_ref, lazy_drop);

unsafe fn lazy_clone(p: *const ()) -> RawWaker {
    let t = p as *mut TaskCore;
    assert!(
        current() == t,
        "gocoro: the waker of a Rust future was cloned on another thread during its first poll; \
         clone it on the thread that polls the future"
    );
    let api = api_loaded();
    // SAFETY: t is the task being polled on this thread (checked above), GIL held.
    let core = unsafe { &mut *t };
    if core.waker.is_null() && core.waker_error.is_none() {
        let w = unsafe { (api.WakerNew)() };
        if w.is_null() {
            // SAFETY: attached (inside the step).
            let py = unsafe { Python::assume_attached() };
            core.waker_error = Some(PyErr::fetch(py));
        } else {
            core.waker = w;
            if core.self_woken.swap(false, Ordering::Relaxed) {
                unsafe { (api.Wake)(w) };
            }
        }
    }
    if core.waker.is_null() {
        // The error is raised once the poll returns; until then wakes go nowhere.
        let noop = ManuallyDrop::new(Waker::noop().clone());
        return RawWaker::new(noop.data(), noop.vtable());
    }
    unsafe { (api.WakerRetain)(core.waker) };
    let w = ManuallyDrop::new(unsafe { waker_from_owned(core.waker) });
    RawWaker::new(w.data(), w.vtable())
}

unsafe fn lazy_wake(p: *const ()) {
    unsafe { lazy_wake_by_ref(p) }
}

unsafe fn lazy_wake_by_ref(p: *const ()) {
    let t = p as *mut TaskCore;
    // SAFETY: the lazy waker only exists during the poll of t.
    let core = unsafe { &*t };
    if core.waker.is_null() {
        core.self_woken.store(true, Ordering::Relaxed);
    } else {
        unsafe { (api_loaded().Wake)(core.waker) };
    }
}

unsafe fn lazy_drop(_p: *const ()) {}

// ---- specs ------------------------------------------------------------------------------------

const fn spec(kind: u32, name: &'static core::ffi::CStr, qualname: &'static core::ffi::CStr) -> GoCoroSpec {
    GoCoroSpec {
        abi_version: GOCORO_ABI_VERSION,
        struct_size: core::mem::size_of::<GoCoroSpec>() as u32,
        kind,
        flags: 0,
        name: name.as_ptr(),
        qualname: qualname.as_ptr(),
        filename: c"<rust>".as_ptr(),
        firstlineno: 0,
        reserved0: 0,
        state_size: core::mem::size_of::<State>(),
        step: Some(step),
        traverse: None, // the future is opaque: nothing to visit
        clear: Some(clear),
        finalize: Some(clear),
    }
}

pub(crate) static FUTURE_SPEC: GoCoroSpec =
    spec(GOCORO_KIND_COROUTINE, c"rust_future", c"gocoro.rust_future");
pub(crate) static STREAM_SPEC: GoCoroSpec =
    spec(GOCORO_KIND_ASYNC_GENERATOR, c"rust_stream", c"gocoro.rust_stream");
