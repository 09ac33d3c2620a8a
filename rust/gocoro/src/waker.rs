//! `std::task::Waker` on top of a gocoro waker.
//!
//! The data pointer of the raw waker *is* the `GoCoroWaker` handle: cloning retains it,
//! dropping releases it, waking calls `GoCoro_Wake`.  All four are a few atomic operations in
//! C, need no GIL, work from any thread and never allocate.
use core::task::{RawWaker, RawWakerVTable, Waker};
use std::mem::ManuallyDrop;

use gocoro_sys::GoCoroWaker;

use crate::api::api_loaded;

pub(crate) static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

unsafe fn clone(p: *const ()) -> RawWaker {
    // SAFETY: p is a live waker handle (we hold a reference through the Waker being cloned).
    unsafe { (api_loaded().WakerRetain)(p as *mut GoCoroWaker) };
    RawWaker::new(p, &VTABLE)
}

unsafe fn wake(p: *const ()) {
    let api = api_loaded();
    // SAFETY: consumes the reference of the Waker.
    unsafe {
        (api.Wake)(p as *mut GoCoroWaker);
        (api.WakerRelease)(p as *mut GoCoroWaker);
    }
}

unsafe fn wake_by_ref(p: *const ()) {
    // SAFETY: the Waker holds a reference.
    unsafe { (api_loaded().Wake)(p as *mut GoCoroWaker) };
}

unsafe fn drop_waker(p: *const ()) {
    // SAFETY: releases the reference of the Waker.
    unsafe { (api_loaded().WakerRelease)(p as *mut GoCoroWaker) };
}

/// A `Waker` that owns one reference to `w` (taken over from the caller).
///
/// # Safety
/// `w` must be a live gocoro waker whose reference the caller hands over.
pub(crate) unsafe fn waker_from_owned(w: *mut GoCoroWaker) -> Waker {
    // SAFETY: VTABLE implements the RawWaker contract for gocoro waker handles.
    unsafe { Waker::from_raw(RawWaker::new(w as *const (), &VTABLE)) }
}

/// A `Waker` borrowing the caller's reference to `w` (never dropped).
///
/// # Safety
/// `w` must stay alive while the returned value is used.
#[inline]
pub(crate) unsafe fn waker_borrowed(w: *mut GoCoroWaker) -> ManuallyDrop<Waker> {
    ManuallyDrop::new(unsafe { waker_from_owned(w) })
}

#[cfg(test)]
mod tests {
    //! The vtable against a stand-in API table that counts the calls (no Python needed).
    use super::*;
    use crate::test_support::{allocations, fake_api, AtomicCounts, Counts};

    #[test]
    fn vtable_maps_to_retain_release_wake_without_allocating() {
        fake_api();
        static C: AtomicCounts = AtomicCounts::new();
        let w = C.handle();
        // SAFETY: a fake handle.
        let waker = unsafe { waker_from_owned(w) };
        let w2 = waker.clone();
        assert!(w2.will_wake(&waker));
        w2.wake_by_ref();
        let w3 = w2.clone();
        w3.wake(); // wake + release
        let t = std::thread::spawn({
            let w4 = waker.clone();
            move || w4.wake() // any thread
        });
        t.join().unwrap();
        drop(w2);
        drop(waker);
        assert_eq!(C.snapshot(), Counts { retain: 3, release: 4, wake: 3 });
    }

    #[test]
    fn waker_operations_do_not_allocate() {
        fake_api();
        static C: AtomicCounts = AtomicCounts::new();
        let w = C.handle();
        // SAFETY: a fake handle.
        let waker = unsafe { waker_from_owned(w) };
        let before = allocations();
        for _ in 0..1000 {
            let c = waker.clone();
            c.wake_by_ref();
            c.wake();
        }
        assert_eq!(allocations() - before, 0);
        drop(waker);
        assert_eq!(C.snapshot(), Counts { retain: 1000, release: 1001, wake: 2000 });
    }
}
