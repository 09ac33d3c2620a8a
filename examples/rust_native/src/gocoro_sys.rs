//! Hand-written Rust declarations for `include/gocoro.h` (ABI version 1).
//!
//! The header is self-contained and uses only fixed-width integers, pointers and function
//! pointers, so binding it is a direct transcription: `repr(C)` structs, constants and
//! `extern "C"` function pointer types.  Python objects appear in the header as the opaque
//! `struct _object`, which *is* CPython's `PyObject`, so we use `pyo3_ffi::PyObject` for it.
//!
//! Only the capsule flavour is bound here (the function table `gocoro._C_API`): there is nothing
//! to link against, `import gocoro` provides everything at run time.
#![allow(non_snake_case, dead_code)]

use std::ffi::{c_char, c_double, c_int, c_void, CStr};

/// gocoro.h: `typedef struct _object GoCoroPyObject;`
pub type GoCoroPyObject = pyo3_ffi::PyObject;

pub const GOCORO_ABI_VERSION: u32 = 1;
pub const GOCORO_CAPSULE_NAME: &CStr = c"gocoro._C_API";

// Step results.
pub const GOCORO_ERROR: c_int = -1;
pub const GOCORO_RETURN: c_int = 0;
pub const GOCORO_NEXT: c_int = 1;
pub const GOCORO_AWAIT: c_int = 2;
pub const GOCORO_ITEM: c_int = 3;

// Kinds of Python object a spec makes.
pub const GOCORO_KIND_COROUTINE: u32 = 0;
pub const GOCORO_KIND_GENERATOR: u32 = 1;
pub const GOCORO_KIND_ITERATOR: u32 = 2;
pub const GOCORO_KIND_ASYNC_GENERATOR: u32 = 3;
pub const GOCORO_KIND_ASYNC_ITERATOR: u32 = 4;

/// == CPython's visitproc.
pub type GoCoroVisitFn = unsafe extern "C" fn(obj: *mut GoCoroPyObject, arg: *mut c_void) -> c_int;
pub type GoCoroStepFn = unsafe extern "C" fn(
    slf: *mut GoCoroPyObject,
    state: *mut c_void,
    sent: *mut GoCoroPyObject,
    thrown: *mut GoCoroPyObject,
    result: *mut *mut GoCoroPyObject,
) -> c_int;
pub type GoCoroTraverseFn =
    unsafe extern "C" fn(state: *mut c_void, visit: GoCoroVisitFn, arg: *mut c_void) -> c_int;
pub type GoCoroClearFn = unsafe extern "C" fn(state: *mut c_void);
pub type GoCoroFinalizeFn = unsafe extern "C" fn(state: *mut c_void);

#[repr(C)]
pub struct GoCoroSpec {
    pub abi_version: u32,
    pub struct_size: u32,
    pub kind: u32,
    pub flags: u32,
    pub name: *const c_char,
    pub qualname: *const c_char,
    pub filename: *const c_char,
    pub firstlineno: i32,
    pub reserved0: u32,
    pub state_size: usize,
    // Nullable C function pointers are `Option<fn>` in Rust (same ABI, None == NULL).
    pub step: Option<GoCoroStepFn>,
    pub traverse: Option<GoCoroTraverseFn>,
    pub clear: Option<GoCoroClearFn>,
    pub finalize: Option<GoCoroFinalizeFn>,
}

// A spec only holds pointers to 'static strings and functions: fine to share as a `static`.
unsafe impl Sync for GoCoroSpec {}

/// Opaque: a prepared spec (a Python object, owned by whoever called Prepare).
#[repr(C)]
pub struct GoCoroCode {
    _opaque: [u8; 0],
}

/// Opaque, reference-counted waker handle.
#[repr(C)]
pub struct GoCoroWaker {
    _opaque: [u8; 0],
}

pub type GoCoroBlockingFn = unsafe extern "C" fn(
    arg: *mut c_void,
    cancelled: *const i32, /* volatile */
) -> *mut c_void;
pub type GoCoroToPythonFn =
    unsafe extern "C" fn(arg: *mut c_void, ret: *mut c_void) -> *mut GoCoroPyObject;
pub type GoCoroCleanupFn = unsafe extern "C" fn(arg: *mut c_void, ret: *mut c_void);

/// The function table behind the capsule `gocoro._C_API`.  Every member below exists once
/// `struct_size >= size_of::<GoCoroAPI>()` (checked by `import_api`), so the function pointers
/// are declared non-nullable.
#[repr(C)]
pub struct GoCoroAPI {
    pub abi_version: u32,
    pub struct_size: u32,
    pub Prepare: unsafe extern "C" fn(spec: *const GoCoroSpec) -> *mut GoCoroCode,
    pub New: unsafe extern "C" fn(
        code: *mut GoCoroCode,
        init: *const c_void,
        init_size: usize,
        state_out: *mut *mut c_void,
    ) -> *mut GoCoroPyObject,
    pub GetState: unsafe extern "C" fn(obj: *mut GoCoroPyObject) -> *mut c_void,
    pub RaisePanic: unsafe extern "C" fn(msg: *const c_char) -> c_int,
    pub Rethrow: unsafe extern "C" fn(exc: *mut GoCoroPyObject) -> c_int,
    pub Check: unsafe extern "C" fn(obj: *mut GoCoroPyObject) -> c_int,
    pub coroutine_type: *mut GoCoroPyObject,
    pub panic_exception: *mut GoCoroPyObject,
    // ---- Wakers and blocking work ----
    pub WakerNew: unsafe extern "C" fn() -> *mut GoCoroWaker,
    pub WakerWait: unsafe extern "C" fn(w: *mut GoCoroWaker) -> *mut GoCoroPyObject,
    pub Wake: unsafe extern "C" fn(w: *mut GoCoroWaker),
    pub WakerRetain: unsafe extern "C" fn(w: *mut GoCoroWaker),
    pub WakerRelease: unsafe extern "C" fn(w: *mut GoCoroWaker),
    pub RunBlocking: unsafe extern "C" fn(
        f: Option<GoCoroBlockingFn>,
        arg: *mut c_void,
        to_python: Option<GoCoroToPythonFn>,
        cleanup: Option<GoCoroCleanupFn>,
        timeout_seconds: c_double,
    ) -> *mut GoCoroPyObject,
}

// The layout the C compiler gives gocoro.h on LP64 targets (checked with offsetof in C).
#[cfg(target_pointer_width = "64")]
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<GoCoroSpec>() == 88);
    assert!(offset_of!(GoCoroSpec, firstlineno) == 40);
    assert!(offset_of!(GoCoroSpec, state_size) == 48);
    assert!(offset_of!(GoCoroSpec, step) == 56);
    assert!(size_of::<GoCoroAPI>() == 120);
    assert!(offset_of!(GoCoroAPI, coroutine_type) == 56);
    assert!(offset_of!(GoCoroAPI, RunBlocking) == 112);
};

/// `GoCoro_ImportAPI()`: import `gocoro`, fetch the capsule and check the ABI.  Returns the
/// table (valid for the life of the process) or NULL with ImportError set.
///
/// # Safety
/// Call with the GIL held (typically from the module's `PyInit_*`).
pub unsafe fn import_api() -> *const GoCoroAPI {
    use pyo3_ffi::*;
    let module = PyImport_ImportModule(c"gocoro".as_ptr());
    if module.is_null() {
        return std::ptr::null();
    }
    Py_DECREF(module);
    let api = PyCapsule_Import(GOCORO_CAPSULE_NAME.as_ptr(), 0) as *const GoCoroAPI;
    if api.is_null() {
        return api;
    }
    let (abi, size) = ((*api).abi_version, (*api).struct_size as usize);
    if abi != GOCORO_ABI_VERSION || size < std::mem::size_of::<GoCoroAPI>() {
        let msg = format!(
            "gocoro ABI mismatch: this extension was built for ABI {} (table {} bytes), \
             the loaded gocoro provides ABI {} (table {} bytes)\0",
            GOCORO_ABI_VERSION,
            std::mem::size_of::<GoCoroAPI>(),
            abi,
            size
        );
        PyErr_SetString(PyExc_ImportError, msg.as_ptr().cast());
        return std::ptr::null();
    }
    api
}
