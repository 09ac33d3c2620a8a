//! Unit-test helpers: a stand-in gocoro API table whose waker handles count the calls made on them, and a per-thread
//! allocation counter.
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Once;

use gocoro_sys::*;

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) struct Counts {
    pub retain: usize,
    pub release: usize,
    pub wake: usize,
}

pub(crate) struct AtomicCounts {
    retain: AtomicUsize,
    release: AtomicUsize,
    wake: AtomicUsize,
}

impl AtomicCounts {
    pub(crate) fn snapshot(&self) -> Counts {
        Counts { retain: self.retain.load(SeqCst), release: self.release.load(SeqCst), wake: self.wake.load(SeqCst) }
    }
}


impl AtomicCounts {
    pub(crate) const fn new() -> Self {
        AtomicCounts { retain: AtomicUsize::new(0), release: AtomicUsize::new(0), wake: AtomicUsize::new(0) }
    }
    /// A fake waker handle: the fake table counts the calls in this struct.
    pub(crate) fn handle(&self) -> *mut GoCoroWaker {
        self as *const Self as *mut GoCoroWaker
    }
}

fn counts<'a>(w: *mut GoCoroWaker) -> &'a AtomicCounts {
    // SAFETY: the tests only hand out handles made by AtomicCounts::handle.
    unsafe { &*(w as *const AtomicCounts) }
}

unsafe extern "C" fn retain(w: *mut GoCoroWaker) {
    counts(w).retain.fetch_add(1, SeqCst);
}
unsafe extern "C" fn release(w: *mut GoCoroWaker) {
    counts(w).release.fetch_add(1, SeqCst);
}
unsafe extern "C" fn wake(w: *mut GoCoroWaker) {
    counts(w).wake.fetch_add(1, SeqCst);
}
unsafe extern "C" fn unused_prepare(_s: *const GoCoroSpec) -> *mut GoCoroCode {
    unreachable!()
}
unsafe extern "C" fn unused_new(
    _c: *mut GoCoroCode,
    _i: *const core::ffi::c_void,
    _n: usize,
    _o: *mut *mut core::ffi::c_void,
) -> *mut GoCoroPyObject {
    unreachable!()
}
unsafe extern "C" fn unused_obj_ptr(_o: *mut GoCoroPyObject) -> *mut core::ffi::c_void {
    unreachable!()
}
unsafe extern "C" fn unused_msg(_m: *const core::ffi::c_char) -> core::ffi::c_int {
    unreachable!()
}
unsafe extern "C" fn unused_obj_int(_o: *mut GoCoroPyObject) -> core::ffi::c_int {
    unreachable!()
}
unsafe extern "C" fn unused_waker_new() -> *mut GoCoroWaker {
    unreachable!()
}
unsafe extern "C" fn unused_waker_wait(_w: *mut GoCoroWaker) -> *mut GoCoroPyObject {
    unreachable!()
}
unsafe extern "C" fn unused_run_blocking(
    _f: Option<GoCoroBlockingFn>,
    _a: *mut core::ffi::c_void,
    _t: Option<GoCoroToPythonFn>,
    _c: Option<GoCoroCleanupFn>,
    _s: core::ffi::c_double,
) -> *mut GoCoroPyObject {
    unreachable!()
}

struct SyncApi(GoCoroAPI);
// SAFETY: immutable after construction.
unsafe impl Sync for SyncApi {}

static FAKE: SyncApi = SyncApi(GoCoroAPI {
    abi_version: GOCORO_ABI_VERSION,
    struct_size: core::mem::size_of::<GoCoroAPI>() as u32,
    Prepare: unused_prepare,
    New: unused_new,
    GetState: unused_obj_ptr,
    RaisePanic: unused_msg,
    Rethrow: unused_obj_int,
    Check: unused_obj_int,
    coroutine_type: core::ptr::null_mut(),
    panic_exception: core::ptr::null_mut(),
    WakerNew: unused_waker_new,
    WakerWait: unused_waker_wait,
    Wake: wake,
    WakerRetain: retain,
    WakerRelease: release,
    RunBlocking: unused_run_blocking,
});

pub(crate) fn fake_api() {
    static ONCE: Once = Once::new();
    // SAFETY: the fake functions accept any pointer and never touch it.
    ONCE.call_once(|| unsafe {
        gocoro_sys::set_api(&FAKE.0);
    });
}

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

/// Allocations made by the current thread so far.
pub(crate) fn allocations() -> usize {
    ALLOCS.with(|a| a.get())
}

struct Counting;
// SAFETY: forwards to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;
