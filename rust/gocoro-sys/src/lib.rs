//! Raw bindings for `gocoro.h`, the C API of gocoro:
//! native CPython awaitables (coroutines, generators, async generators) made from a step
//! function and inline state, shared by every extension in the interpreter.
//!
//! This crate is a direct transcription of the header (a copy ships in `include/gocoro.h`):
//! `repr(C)` structs, constants, `extern "C"` function pointer types and the function table
//! [`GoCoroAPI`] that the Python package `gocoro` exports as the capsule `gocoro._C_API`.
//! Nothing is linked: [`import_api`] imports the Python package at run time (so the package
//! `gocoro` must be installed in the interpreter that imports your extension), checks the ABI
//! and caches the table for [`api`].
//!
//! Python objects appear in the header as the opaque `struct _object`, which *is* CPython's
//! `PyObject`; here that is [`pyo3_ffi::PyObject`].
//!
//! For a safe API (Rust futures and streams as gocoro awaitables) use the `gocoro` crate.
//!
//! ```no_run
//! use gocoro_sys::*;
//!
//! /// A step that returns 42 at once.
//! unsafe extern "C" fn step(
//!     _slf: *mut GoCoroPyObject,
//!     _state: *mut std::ffi::c_void,
//!     _sent: *mut GoCoroPyObject,
//!     _thrown: *mut GoCoroPyObject,
//!     result: *mut *mut GoCoroPyObject,
//! ) -> std::ffi::c_int {
//!     unsafe { *result = pyo3_ffi::PyLong_FromLong(42) };
//!     if unsafe { (*result).is_null() } { GOCORO_ERROR } else { GOCORO_RETURN }
//! }
//!
//! static SPEC: GoCoroSpec = GoCoroSpec {
//!     abi_version: GOCORO_ABI_VERSION,
//!     struct_size: std::mem::size_of::<GoCoroSpec>() as u32,
//!     kind: GOCORO_KIND_COROUTINE,
//!     flags: 0,
//!     name: c"answer".as_ptr(),
//!     qualname: std::ptr::null(),
//!     filename: std::ptr::null(),
//!     firstlineno: 0,
//!     reserved0: 0,
//!     state_size: 0,
//!     step: Some(step),
//!     traverse: None,
//!     clear: None,
//!     finalize: None,
//! };
//!
//! /// With the GIL held (e.g. in the module's init): a new `gocoro.Coroutine` returning 42.
//! unsafe fn answer() -> *mut GoCoroPyObject {
//!     let api = unsafe { import_api() };
//!     if api.is_null() {
//!         return std::ptr::null_mut(); // ImportError is set
//!     }
//!     let code = unsafe { ((*api).Prepare)(&SPEC) };
//!     if code.is_null() {
//!         return std::ptr::null_mut();
//!     }
//!     unsafe { ((*api).New)(code, std::ptr::null(), 0, std::ptr::null_mut()) }
//! }
//! ```
#![allow(non_snake_case)]
#![no_std]

pub use pyo3_ffi;

use core::ffi::{c_char, c_double, c_int, c_void, CStr};
use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, Ordering};

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
    use core::mem::{offset_of, size_of};
    assert!(size_of::<GoCoroSpec>() == 88);
    assert!(offset_of!(GoCoroSpec, firstlineno) == 40);
    assert!(offset_of!(GoCoroSpec, state_size) == 48);
    assert!(offset_of!(GoCoroSpec, step) == 56);
    assert!(size_of::<GoCoroAPI>() == 120);
    assert!(offset_of!(GoCoroAPI, coroutine_type) == 56);
    assert!(offset_of!(GoCoroAPI, RunBlocking) == 112);
};

/// The table fetched by [`import_api`], cached for the life of the process (the capsule and
/// its table are static data of the loaded `gocoro` library).
static API: AtomicPtr<GoCoroAPI> = AtomicPtr::new(null_mut());

/// The cached function table, or `None` before a successful [`import_api`].
#[inline]
pub fn api() -> Option<&'static GoCoroAPI> {
    let p = API.load(Ordering::Acquire);
    // SAFETY: only ever set to the table of the loaded library, which is never unloaded.
    unsafe { p.as_ref() }
}

/// Use `table` as the function table (for a table obtained another way, e.g. from a directly
/// linked libgocoro, or a stand-in in tests).  Returns false, changing nothing, when a table is
/// already in use.
///
/// # Safety
/// Every function pointer in `table` must follow the contracts of gocoro.h.
pub unsafe fn set_api(table: &'static GoCoroAPI) -> bool {
    API.compare_exchange(
        null_mut(),
        table as *const GoCoroAPI as *mut GoCoroAPI,
        Ordering::AcqRel,
        Ordering::Acquire,
    )
    .is_ok()
}

/// Message of the ImportError raised when the Python package `gocoro` cannot be imported.
pub const MISSING_PACKAGE_MESSAGE: &CStr = c"this extension uses gocoro (Rust crates gocoro/gocoro-sys), which needs the Python package `gocoro` at run time: install it into this Python environment (e.g. `pip install gocoro`, or build it from source with ./build.sh and put build/pyX.Y on sys.path)";

/// `GoCoro_ImportAPI()`: import the Python package `gocoro`, fetch the capsule
/// `gocoro._C_API`, check the ABI version and the table size, and cache the table for [`api`].
/// Returns the table (valid for the life of the process) or NULL with `ImportError` set: a
/// missing package gives an ImportError that says the package `gocoro` is needed and how to
/// install it (the original error is chained as `__cause__`).
///
/// # Safety
/// Call with the GIL held (typically from the module's init).
pub unsafe fn import_api() -> *const GoCoroAPI {
    use pyo3_ffi::*;
    if let Some(api) = api() {
        return api;
    }
    unsafe {
        let module = PyImport_ImportModule(c"gocoro".as_ptr());
        if module.is_null() {
            if PyErr_ExceptionMatches(PyExc_ImportError) != 0 {
                raise_from_current(PyExc_ImportError, MISSING_PACKAGE_MESSAGE);
            }
            return core::ptr::null();
        }
        let api = PyCapsule_Import(GOCORO_CAPSULE_NAME.as_ptr(), 0) as *const GoCoroAPI;
        if api.is_null() {
            Py_DECREF(module);
            return api;
        }
        let (abi, size) = ((*api).abi_version, (*api).struct_size);
        if abi != GOCORO_ABI_VERSION || (size as usize) < core::mem::size_of::<GoCoroAPI>() {
            let ver = PyObject_GetAttrString(module, c"__version__".as_ptr());
            let mut v: *const c_char = core::ptr::null();
            if !ver.is_null() && PyUnicode_Check(ver) != 0 {
                v = PyUnicode_AsUTF8(ver);
            }
            if v.is_null() {
                PyErr_Clear();
                v = c"(unknown version)".as_ptr();
            }
            let advice = if abi != GOCORO_ABI_VERSION {
                c"rebuild the extension against the installed gocoro"
            } else {
                c"upgrade gocoro to the version the extension was built with"
            };
            PyErr_Format(
                PyExc_ImportError,
                c"gocoro ABI mismatch: this extension was built for ABI %u (table %u bytes), the loaded gocoro %s provides ABI %u (table %u bytes); %s".as_ptr(),
                GOCORO_ABI_VERSION as core::ffi::c_uint,
                core::mem::size_of::<GoCoroAPI>() as core::ffi::c_uint,
                v,
                abi as core::ffi::c_uint,
                size as core::ffi::c_uint,
                advice.as_ptr(),
            );
            Py_XDECREF(ver);
            Py_DECREF(module);
            return core::ptr::null();
        }
        Py_DECREF(module);
        API.store(api as *mut GoCoroAPI, Ordering::Release);
        api
    }
}

/// Replace the current exception by `exc_type(msg)` with the old one as `__cause__`.
#[allow(deprecated)] // PyErr_Fetch & co: the only spelling that works on every supported CPython
unsafe fn raise_from_current(exc_type: *mut pyo3_ffi::PyObject, msg: &CStr) {
    use pyo3_ffi::*;
    unsafe {
        let (mut t, mut v, mut tb) = (null_mut(), null_mut(), null_mut());
        PyErr_Fetch(&mut t, &mut v, &mut tb);
        PyErr_NormalizeException(&mut t, &mut v, &mut tb);
        if !tb.is_null() && !v.is_null() {
            PyException_SetTraceback(v, tb);
        }
        Py_XDECREF(t);
        Py_XDECREF(tb);
        PyErr_SetString(exc_type, msg.as_ptr());
        let (mut t2, mut v2, mut tb2) = (null_mut(), null_mut(), null_mut());
        PyErr_Fetch(&mut t2, &mut v2, &mut tb2);
        PyErr_NormalizeException(&mut t2, &mut v2, &mut tb2);
        if !v.is_null() && !v2.is_null() {
            PyException_SetCause(v2, v); // steals v
        } else {
            Py_XDECREF(v);
        }
        PyErr_Restore(t2, v2, tb2);
    }
}
