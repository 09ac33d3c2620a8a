//! The Rust declarations have the layout the system C compiler gives `include/gocoro.h`:
//! tests/layout.c prints every sizeof/alignof/offsetof and constant, compiled here with `cc`
//! (or $CC).  The copy of the header in this crate is the project's include/gocoro.h.
use std::collections::HashMap;
use std::mem::{align_of, offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::Command;

use gocoro_sys::*;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn c_layout() -> Option<HashMap<String, String>> {
    let dir = crate_dir();
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let exe = out_dir.join("gocoro_layout");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Werror", "-I"])
        .arg(dir.join("include"))
        .arg(dir.join("tests/layout.c"))
        .arg("-o")
        .arg(&exe)
        .status();
    match status {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("no C compiler ({cc}): layout test skipped");
            return None;
        }
        Err(e) => panic!("running {cc}: {e}"),
        Ok(s) => assert!(s.success(), "compiling tests/layout.c failed"),
    }
    let out = Command::new(&exe).output().expect("run layout program");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    Some(
        text.lines()
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect(),
    )
}

#[test]
fn rust_layout_matches_c_header() {
    let Some(c) = c_layout() else { return };
    let mut rust: Vec<(String, String)> = Vec::new();
    macro_rules! size {
        ($t:ident) => {
            rust.push((format!("sizeof {}", stringify!($t)), size_of::<$t>().to_string()));
            rust.push((format!("alignof {}", stringify!($t)), align_of::<$t>().to_string()));
        };
    }
    macro_rules! off {
        ($t:ident, $($m:ident),+) => {$(
            rust.push((
                format!("offsetof {}.{}", stringify!($t), stringify!($m)),
                offset_of!($t, $m).to_string(),
            ));
        )+};
    }
    macro_rules! konst {
        ($($k:ident),+) => {$(
            rust.push((format!("const {}", stringify!($k)), $k.to_string()));
        )+};
    }
    size!(GoCoroSpec);
    off!(GoCoroSpec, abi_version, struct_size, kind, flags, name, qualname, filename,
         firstlineno, reserved0, state_size, step, traverse, clear, finalize);
    size!(GoCoroAPI);
    off!(GoCoroAPI, abi_version, struct_size, Prepare, New, GetState, RaisePanic, Rethrow,
         Check, coroutine_type, panic_exception, WakerNew, WakerWait, Wake, WakerRetain,
         WakerRelease, RunBlocking);
    konst!(GOCORO_ABI_VERSION, GOCORO_ERROR, GOCORO_RETURN, GOCORO_NEXT, GOCORO_AWAIT,
           GOCORO_ITEM, GOCORO_KIND_COROUTINE, GOCORO_KIND_GENERATOR, GOCORO_KIND_ITERATOR,
           GOCORO_KIND_ASYNC_GENERATOR, GOCORO_KIND_ASYNC_ITERATOR);
    rust.push(("capsule".into(), GOCORO_CAPSULE_NAME.to_str().unwrap().into()));
    assert_eq!(rust.len(), c.len(), "layout.c and layout.rs check different members");
    for (k, v) in &rust {
        assert_eq!(c.get(k), Some(v), "{k}: C says {:?}, Rust says {v}", c.get(k));
    }
}

/// In the project's source tree, the crate's copy of the header is the public header itself
/// (a packaged crate cannot reach ../../include, so the header travels as a copy).
#[test]
fn header_copy_is_current() {
    let project = crate_dir().join("../../include/gocoro.h");
    if !Path::new(&project).exists() {
        eprintln!("not inside the gocoro source tree: nothing to compare");
        return;
    }
    let ours = std::fs::read(crate_dir().join("include/gocoro.h")).unwrap();
    let theirs = std::fs::read(&project).unwrap();
    assert!(
        ours == theirs,
        "rust/gocoro-sys/include/gocoro.h differs from include/gocoro.h: copy it over \
         (and update the Rust declarations if the ABI grew)"
    );
}
