//! rust_native: a Rust extension whose async functions are gocoro native objects.
//!
//!   countdown(n, sleep, on_throw=None) -> gocoro.Coroutine: awaits sleep(0) n times (asyncio.sleep,
//!       trio.sleep, ...: the Rust code never names an event loop) and returns n, like
//!       demo_native.countdown.  An exception thrown in (task cancellation, throw(), close()) is
//!       passed to on_throw(exc) first, if given, then re-raised.
//!   arange(n, sleep) -> gocoro.AsyncGenerator: for i in range(n): await sleep(0); yield i.
//!   rust_panic(msg) -> gocoro.Coroutine whose first step panics: the panic is caught and
//!       raised as gocoro.PanicException(msg).
//!
//! This is the low-level way: gocoro.h through the raw `gocoro-sys` bindings (capsule API:
//! nothing to link), the CPython API from pyo3-ffi, and each step written by hand.  The `gocoro`
//! crate (see the `rust_async` example) does all of this for a Rust `async fn`.  Each object's state is a plain Rust struct stored inline in the
//! Python object (one allocation), driven by the generic trampolines below.
use std::ffi::{c_int, c_void, CStr};
use std::mem::{align_of, needs_drop, size_of, ManuallyDrop};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::{self, null_mut};
use std::sync::atomic::{AtomicPtr, Ordering::Relaxed};

use pyo3_ffi::*;

use gocoro_sys::*;

// ---- the function table -------------------------------------------------------------------

static API: AtomicPtr<GoCoroAPI> = AtomicPtr::new(null_mut());

fn api() -> &'static GoCoroAPI {
    // Set once in PyInit_rust_native before any function of the module can run.
    unsafe { &*API.load(Relaxed) }
}

// ---- Rust state <-> GoCoroSpec ------------------------------------------------------------

/// A state struct stored inline in a gocoro object.  `step` follows the protocol of gocoro.h;
/// `traverse`/`clear` cover the Python references the state owns.  Rust-only resources are
/// released by `Drop` (run from the spec's `finalize` callback).
trait NativeState: Sized {
    unsafe fn step(
        &mut self,
        sent: *mut PyObject,
        thrown: *mut PyObject,
        result: &mut *mut PyObject,
    ) -> c_int;
    unsafe fn traverse(&self, _visit: visitproc, _arg: *mut c_void) -> c_int {
        0
    }
    unsafe fn clear(&mut self) {}
}

unsafe extern "C" fn step_fn<T: NativeState>(
    _slf: *mut PyObject,
    state: *mut c_void,
    sent: *mut PyObject,
    thrown: *mut PyObject,
    result: *mut *mut PyObject,
) -> c_int {
    let state = &mut *state.cast::<T>();
    let result = &mut *result;
    // A panic must not unwind into C: turn it into gocoro.PanicException.
    match catch_unwind(AssertUnwindSafe(|| state.step(sent, thrown, result))) {
        Ok(rc) => rc,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "Rust panic".to_string());
            let msg = format!("{}\0", msg.replace('\0', " "));
            (api().RaisePanic)(msg.as_ptr().cast())
        }
    }
}

unsafe extern "C" fn traverse_fn<T: NativeState>(
    state: *mut c_void,
    visit: visitproc,
    arg: *mut c_void,
) -> c_int {
    (*state.cast::<T>()).traverse(visit, arg)
}

unsafe extern "C" fn clear_fn<T: NativeState>(state: *mut c_void) {
    (*state.cast::<T>()).clear()
}

unsafe extern "C" fn finalize_fn<T: NativeState>(state: *mut c_void) {
    ptr::drop_in_place(state.cast::<T>())
}

const FILE: &CStr = match CStr::from_bytes_with_nul(concat!(file!(), "\0").as_bytes()) {
    Ok(s) => s,
    Err(_) => panic!("file name"),
};

const fn spec<T: NativeState>(
    kind: u32,
    name: &'static CStr,
    qualname: &'static CStr,
    line: u32,
) -> GoCoroSpec {
    assert!(
        align_of::<T>() <= 16,
        "gocoro aligns inline state to 16 bytes"
    );
    GoCoroSpec {
        abi_version: GOCORO_ABI_VERSION,
        struct_size: size_of::<GoCoroSpec>() as u32,
        kind,
        flags: 0,
        name: name.as_ptr(),
        qualname: qualname.as_ptr(),
        filename: FILE.as_ptr(),
        firstlineno: line as i32,
        reserved0: 0,
        state_size: size_of::<T>(),
        step: Some(step_fn::<T>),
        traverse: Some(traverse_fn::<T>),
        clear: Some(clear_fn::<T>),
        finalize: if needs_drop::<T>() {
            Some(finalize_fn::<T>)
        } else {
            None
        },
    }
}

/// GoCoro_New with `init` moved into the object; on failure the state is cleared and dropped.
unsafe fn new_object<T: NativeState>(code: &AtomicPtr<GoCoroCode>, init: T) -> *mut PyObject {
    let init = ManuallyDrop::new(init);
    let obj = (api().New)(
        code.load(Relaxed),
        (&*init as *const T).cast(),
        size_of::<T>(),
        null_mut(),
    );
    if obj.is_null() {
        ManuallyDrop::into_inner(init).clear();
    }
    obj
}

// ---- small CPython helpers ----------------------------------------------------------------

/// `sleep(0)`: a new awaitable, or NULL with an exception set.
unsafe fn call_sleep0(sleep: *mut PyObject) -> *mut PyObject {
    let zero = PyLong_FromLong(0);
    if zero.is_null() {
        return null_mut();
    }
    let r = PyObject_CallOneArg(sleep, zero);
    Py_DECREF(zero);
    r
}

fn done(result: *mut PyObject, rc: c_int) -> c_int {
    if result.is_null() {
        GOCORO_ERROR
    } else {
        rc
    }
}

unsafe fn visit_opt(obj: *mut PyObject, visit: visitproc, arg: *mut c_void) -> c_int {
    if obj.is_null() {
        0
    } else {
        visit(obj, arg)
    }
}

unsafe fn raise(exc: *mut PyObject, msg: &CStr) -> *mut PyObject {
    PyErr_SetString(exc, msg.as_ptr());
    null_mut()
}

/// A non-negative int argument.
unsafe fn count_arg(obj: *mut PyObject) -> Option<u64> {
    let v = PyLong_AsLongLong(obj);
    if v == -1 && !PyErr_Occurred().is_null() {
        return None;
    }
    if v < 0 {
        raise(PyExc_ValueError, c"n must be >= 0");
        return None;
    }
    Some(v as u64)
}

// ---- countdown(n, sleep, on_throw=None) ---------------------------------------------------

struct Countdown {
    remaining: u64,
    total: u64,
    sleep: *mut PyObject,    // owned
    on_throw: *mut PyObject, // owned or NULL
}

impl NativeState for Countdown {
    unsafe fn step(
        &mut self,
        _sent: *mut PyObject,
        thrown: *mut PyObject,
        result: &mut *mut PyObject,
    ) -> c_int {
        if !thrown.is_null() {
            // Cancellation (asyncio.CancelledError, trio.Cancelled), throw() or close() lands here.
            if !self.on_throw.is_null() {
                let r = PyObject_CallOneArg(self.on_throw, thrown);
                if r.is_null() {
                    return GOCORO_ERROR;
                }
                Py_DECREF(r);
            }
            return (api().Rethrow)(thrown);
        }
        if self.remaining == 0 {
            *result = PyLong_FromUnsignedLongLong(self.total);
            return done(*result, GOCORO_RETURN);
        }
        self.remaining -= 1;
        *result = call_sleep0(self.sleep);
        done(*result, GOCORO_AWAIT)
    }

    unsafe fn traverse(&self, visit: visitproc, arg: *mut c_void) -> c_int {
        match visit_opt(self.sleep, visit, arg) {
            0 => visit_opt(self.on_throw, visit, arg),
            r => r,
        }
    }

    unsafe fn clear(&mut self) {
        Py_CLEAR(&mut self.sleep);
        Py_CLEAR(&mut self.on_throw);
    }
}

static COUNTDOWN_SPEC: GoCoroSpec = spec::<Countdown>(
    GOCORO_KIND_COROUTINE,
    c"countdown",
    c"rust_native.countdown",
    line!(),
);
static COUNTDOWN_CODE: AtomicPtr<GoCoroCode> = AtomicPtr::new(null_mut());

unsafe extern "C" fn countdown(
    _m: *mut PyObject,
    args: *mut *mut PyObject,
    nargs: Py_ssize_t,
) -> *mut PyObject {
    if !(2..=3).contains(&nargs) {
        return raise(
            PyExc_TypeError,
            c"countdown(n, sleep, on_throw=None) takes 2 or 3 arguments",
        );
    }
    let Some(n) = count_arg(*args) else {
        return null_mut();
    };
    let on_throw = if nargs == 3 && *args.add(2) != Py_None() {
        Py_NewRef(*args.add(2))
    } else {
        null_mut()
    };
    let init = Countdown {
        remaining: n,
        total: n,
        sleep: Py_NewRef(*args.add(1)),
        on_throw,
    };
    new_object(&COUNTDOWN_CODE, init)
}

// ---- arange(n, sleep): an async generator -------------------------------------------------

struct ARange {
    next: u64,
    stop: u64,
    awaiting: bool,       // sleep(0) is in flight; yield `next` when it is done
    sleep: *mut PyObject, // owned
}

impl NativeState for ARange {
    unsafe fn step(
        &mut self,
        _sent: *mut PyObject,
        thrown: *mut PyObject,
        result: &mut *mut PyObject,
    ) -> c_int {
        if !thrown.is_null() {
            // aclose() (GeneratorExit), athrow(), or cancellation while awaiting sleep(0).
            return (api().Rethrow)(thrown);
        }
        if self.awaiting {
            self.awaiting = false;
            *result = PyLong_FromUnsignedLongLong(self.next);
            self.next += 1;
            return done(*result, GOCORO_ITEM); // `yield i`
        }
        if self.next >= self.stop {
            return GOCORO_RETURN; // StopAsyncIteration
        }
        self.awaiting = true;
        *result = call_sleep0(self.sleep);
        done(*result, GOCORO_AWAIT) // `await sleep(0)`
    }

    unsafe fn traverse(&self, visit: visitproc, arg: *mut c_void) -> c_int {
        visit_opt(self.sleep, visit, arg)
    }

    unsafe fn clear(&mut self) {
        Py_CLEAR(&mut self.sleep);
    }
}

static ARANGE_SPEC: GoCoroSpec = spec::<ARange>(
    GOCORO_KIND_ASYNC_GENERATOR,
    c"arange",
    c"rust_native.arange",
    line!(),
);
static ARANGE_CODE: AtomicPtr<GoCoroCode> = AtomicPtr::new(null_mut());

unsafe extern "C" fn arange(
    _m: *mut PyObject,
    args: *mut *mut PyObject,
    nargs: Py_ssize_t,
) -> *mut PyObject {
    if nargs != 2 {
        return raise(PyExc_TypeError, c"arange(n, sleep) takes 2 arguments");
    }
    let Some(n) = count_arg(*args) else {
        return null_mut();
    };
    new_object(
        &ARANGE_CODE,
        ARange {
            next: 0,
            stop: n,
            awaiting: false,
            sleep: Py_NewRef(*args.add(1)),
        },
    )
}

// ---- rust_panic(msg): a Rust heap value (String) inline, freed by Drop via `finalize` --------

struct Panicker {
    msg: String,
}

impl NativeState for Panicker {
    unsafe fn step(
        &mut self,
        _sent: *mut PyObject,
        _thrown: *mut PyObject,
        _result: &mut *mut PyObject,
    ) -> c_int {
        panic!("{}", self.msg)
    }
}

static PANIC_SPEC: GoCoroSpec = spec::<Panicker>(
    GOCORO_KIND_COROUTINE,
    c"rust_panic",
    c"rust_native.rust_panic",
    line!(),
);
static PANIC_CODE: AtomicPtr<GoCoroCode> = AtomicPtr::new(null_mut());

unsafe extern "C" fn rust_panic(_m: *mut PyObject, msg: *mut PyObject) -> *mut PyObject {
    let mut size: Py_ssize_t = 0;
    let p = PyUnicode_AsUTF8AndSize(msg, &mut size);
    if p.is_null() {
        return null_mut();
    }
    let bytes = std::slice::from_raw_parts(p.cast::<u8>(), size as usize);
    new_object(
        &PANIC_CODE,
        Panicker {
            msg: String::from_utf8_lossy(bytes).into_owned(),
        },
    )
}

// ---- module -------------------------------------------------------------------------------

static mut METHODS: [PyMethodDef; 4] = [
    PyMethodDef {
        ml_name: c"countdown".as_ptr(),
        ml_meth: PyMethodDefPointer {
            PyCFunctionFast: countdown,
        },
        ml_flags: METH_FASTCALL,
        ml_doc: c"countdown(n, sleep, on_throw=None) -> awaits sleep(0) n times, returns n"
            .as_ptr(),
    },
    PyMethodDef {
        ml_name: c"arange".as_ptr(),
        ml_meth: PyMethodDefPointer {
            PyCFunctionFast: arange,
        },
        ml_flags: METH_FASTCALL,
        ml_doc: c"arange(n, sleep) -> async generator: await sleep(0), yield i, for i in range(n)"
            .as_ptr(),
    },
    PyMethodDef {
        ml_name: c"rust_panic".as_ptr(),
        ml_meth: PyMethodDefPointer {
            PyCFunction: rust_panic,
        },
        ml_flags: METH_O,
        ml_doc: c"rust_panic(msg) -> coroutine whose step panics (gocoro.PanicException)".as_ptr(),
    },
    PyMethodDef::zeroed(),
];

static mut MODULE_DEF: PyModuleDef = PyModuleDef {
    m_base: PyModuleDef_HEAD_INIT,
    m_name: c"rust_native".as_ptr(),
    m_doc: c"gocoro example: native coroutines and async generators written in Rust".as_ptr(),
    m_size: -1,
    m_methods: (&raw mut METHODS).cast(),
    m_slots: ptr::null_mut(),
    m_traverse: None,
    m_clear: None,
    m_free: None,
};

/// The module's init function (single-phase, like demo_native).
///
/// # Safety
/// Called by CPython's import machinery, with the GIL held.
#[no_mangle]
#[allow(non_snake_case)]
pub unsafe extern "C" fn PyInit_rust_native() -> *mut PyObject {
    let table = import_api(); // GoCoro_ImportAPI(): import gocoro, capsule, ABI + size check
    if table.is_null() {
        return null_mut();
    }
    API.store(table as *mut GoCoroAPI, Relaxed);
    for (spec, code) in [
        (&COUNTDOWN_SPEC, &COUNTDOWN_CODE),
        (&ARANGE_SPEC, &ARANGE_CODE),
        (&PANIC_SPEC, &PANIC_CODE),
    ] {
        let prepared = ((*table).Prepare)(spec); // kept forever
        if prepared.is_null() {
            return null_mut();
        }
        code.store(prepared, Relaxed);
    }
    PyModule_Create(&raw mut MODULE_DEF)
}
