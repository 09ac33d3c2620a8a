//! rust_async: Rust `async fn` and streams as gocoro awaitables, through the `gocoro` crate.
//!
//! Every function returns a `gocoro.Coroutine` (or `gocoro.AsyncGenerator`) that asyncio,
//! uvloop, trio and anyio await natively; nothing here names an event loop.
//!
//!   add(a, b)                      a future that is ready at once
//!   countdown(n, sleep)            awaits sleep(0) n times (asyncio.sleep, trio.sleep...), returns n
//!   arange(n, sleep)               a stream: for i in range(n): await sleep(0); yield i
//!   from_thread(value, delay)      a plain std::thread sends value through a channel after delay s
//!   timer_sleep(seconds, value)    one shared Rust timer thread wakes the future (cheap to run 10k)
//!   ticks(n, seconds)              a stream woken by that timer thread: 0..n, one every `seconds`
//!   tokio_sleep(seconds, value)    tokio::time::sleep (the crate's `tokio` feature)
//!   guarded(awaitable, on_error)   awaits a Python awaitable; on an exception (cancellation...)
//!                                  calls on_error(exc) from Rust, then propagates it
//!   swallow(awaitable)             returns "swallowed" instead of any exception from awaitable
//!   call(f)                        calls f() from inside the future (e.g. ContextVar.get)
//!   pending_forever()              never completes; its drop increments drop_count()
//!   stream_forever(sleep)          an endless stream; its drop increments drop_count()
//!   rust_panic(msg, sleep=None)    panics (after awaiting sleep(0) if given)
//!   self_wake(n)                   wakes itself n times while pending, then returns n
//!   join_two(a, b)                 join! of two Python awaitables (a clear RuntimeError)
//!   race(awaitable, delay)         select! of a Python awaitable and a channel a thread fills
//!   poll_outside(awaitable)        polls into_future outside gocoro (a clear RuntimeError)
//!   drop_is_immediate(obj)         whether a Py<T> dropped inside the future is released at once
//!   nested_attach(n)               n nested Python::attach calls inside the future
//!   local_counter(n, sleep)        a !Send future (Rc) through local_future_into_py
//!   local_pending()                a !Send future that never completes (counts its drop)
//!   named(name, qualname)          Builder: names the coroutine
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// `await sleep(0)` from Rust: call the Python function, await what it returns.
async fn sleep0(sleep: &Py<PyAny>) -> PyResult<()> {
    let aw = Python::attach(|py| sleep.bind(py).call1((0,)).map(Bound::unbind))?;
    Python::attach(|py| gocoro::into_future(aw.into_bound(py))).await?;
    Ok(())
}

#[pyfunction]
fn add(py: Python<'_>, a: i64, b: i64) -> PyResult<Bound<'_, PyAny>> {
    gocoro::future_into_py(py, async move { Ok(a + b) })
}

/// A Rust async fn that awaits whatever sleep function it is given.
async fn count_down(n: u64, sleep: Py<PyAny>) -> PyResult<u64> {
    for _ in 0..n {
        sleep0(&sleep).await?;
    }
    Ok(n)
}

#[pyfunction]
fn countdown(py: Python<'_>, n: u64, sleep: Py<PyAny>) -> PyResult<Bound<'_, PyAny>> {
    gocoro::future_into_py(py, count_down(n, sleep))
}

#[pyfunction]
fn arange(py: Python<'_>, n: u64, sleep: Py<PyAny>) -> PyResult<Bound<'_, PyAny>> {
    let s = futures_util::stream::unfold(0u64, move |i| {
        let sleep = Python::attach(|py| sleep.clone_ref(py));
        async move {
            if i >= n {
                return None;
            }
            Some((sleep0(&sleep).await.map(|()| i), i + 1))
        }
    });
    gocoro::stream_into_py(py, s)
}

// ---- a one-shot channel: the receiving future is woken by whichever thread sends ------------

struct Shared<T> {
    value: Option<T>,
    waker: Option<Waker>,
}

struct Receiver<T>(Arc<Mutex<Shared<T>>>);
struct Sender<T>(Arc<Mutex<Shared<T>>>);

fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let s = Arc::new(Mutex::new(Shared { value: None, waker: None }));
    (Sender(s.clone()), Receiver(s))
}

impl<T> Sender<T> {
    fn send(self, v: T) {
        let w = {
            let mut s = self.0.lock().unwrap();
            s.value = Some(v);
            s.waker.take()
        };
        if let Some(w) = w {
            w.wake(); // GoCoro_Wake: no GIL, no allocation
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut s = self.0.lock().unwrap();
        match s.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                match &s.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => s.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // Nobody waits any more: release the waker now, not when the sender gets round to it.
        let w = self.0.lock().unwrap().waker.take();
        drop(w);
    }
}

#[pyfunction]
fn from_thread(py: Python<'_>, value: Py<PyAny>, delay: f64) -> PyResult<Bound<'_, PyAny>> {
    let (tx, rx) = channel::<()>();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs_f64(delay));
        tx.send(());
    });
    gocoro::future_into_py(py, async move {
        rx.await;
        Ok(value)
    })
}

/// One background thread that fires timers (a plain std::thread, no runtime).
fn timer_thread() -> &'static Mutex<mpsc::Sender<(Instant, Sender<()>)>> {
    static TX: OnceLock<Mutex<mpsc::Sender<(Instant, Sender<()>)>>> = OnceLock::new();
    TX.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<(Instant, Sender<()>)>();
        std::thread::Builder::new()
            .name("rust_async-timer".into())
            .spawn(move || {
                let mut heap: Vec<(Instant, Sender<()>)> = Vec::new();
                loop {
                    let now = Instant::now();
                    let mut i = 0;
                    while i < heap.len() {
                        if heap[i].0 <= now {
                            heap.swap_remove(i).1.send(());
                        } else {
                            i += 1;
                        }
                    }
                    let next = heap.iter().map(|e| e.0).min();
                    let msg = match next {
                        Some(t) => rx.recv_timeout(t.saturating_duration_since(Instant::now())),
                        None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                    };
                    match msg {
                        Ok(e) => heap.push(e),
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
            })
            .expect("timer thread");
        Mutex::new(tx)
    })
}

#[pyfunction]
fn timer_sleep(py: Python<'_>, seconds: f64, value: Py<PyAny>) -> PyResult<Bound<'_, PyAny>> {
    let (tx, rx) = channel::<()>();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    timer_thread().lock().unwrap().send((deadline, tx)).unwrap();
    gocoro::future_into_py(py, async move {
        rx.await;
        Ok(value)
    })
}

/// A stream woken by the Rust timer thread: yields 0..n, one every `seconds`.
#[pyfunction]
fn ticks(py: Python<'_>, n: u64, seconds: f64) -> PyResult<Bound<'_, PyAny>> {
    let s = futures_util::stream::unfold(0u64, move |i| async move {
        if i >= n {
            return None;
        }
        let (tx, rx) = channel::<()>();
        let deadline = Instant::now() + Duration::from_secs_f64(seconds);
        timer_thread().lock().unwrap().send((deadline, tx)).unwrap();
        rx.await;
        Some((Ok::<u64, PyErr>(i), i + 1))
    });
    gocoro::stream_into_py(py, s)
}

/// The `tokio` feature: tokio's timer driver wakes the future; it is polled on the loop thread.
#[pyfunction]
fn tokio_sleep(py: Python<'_>, seconds: f64, value: Py<PyAny>) -> PyResult<Bound<'_, PyAny>> {
    gocoro::future_into_py(py, async move {
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        Ok(value)
    })
}

/// Cancellation reaches Rust as Err(exc) from into_future: clean up, then propagate.
#[pyfunction]
fn guarded(py: Python<'_>, awaitable: Py<PyAny>, on_error: Py<PyAny>) -> PyResult<Bound<'_, PyAny>> {
    gocoro::future_into_py(py, async move {
        let r = Python::attach(|py| gocoro::into_future(awaitable.into_bound(py))).await;
        match r {
            Ok(v) => Ok(v),
            Err(e) => {
                Python::attach(|py| on_error.call1(py, (e.value(py),)))?;
                Err(e)
            }
        }
    })
}

/// Awaits a Python awaitable and returns "swallowed" instead of any exception it gets
/// (cancellation included), like `try: return await aw / except BaseException: return ...`.
#[pyfunction]
fn swallow(py: Python<'_>, awaitable: Py<PyAny>) -> PyResult<Bound<'_, PyAny>> {
    gocoro::future_into_py(py, async move {
        match Python::attach(|py| gocoro::into_future(awaitable.into_bound(py))).await {
            Ok(v) => Ok(v),
            Err(_) => Python::attach(|py| Ok("swallowed".into_pyobject(py)?.into_any().unbind())),
        }
    })
}

#[pyfunction]
fn call(py: Python<'_>, f: Py<PyAny>) -> PyResult<Bound<'_, PyAny>> {
    gocoro::future_into_py(py, async move { Python::attach(|py| f.call0(py)) })
}

static DROPS: AtomicUsize = AtomicUsize::new(0);

struct DropCounter;
impl Drop for DropCounter {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

#[pyfunction]
fn drop_count() -> usize {
    DROPS.load(Ordering::SeqCst)
}

#[pyfunction]
fn pending_forever(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let guard = DropCounter;
    gocoro::future_into_py(py, async move {
        let _guard = guard;
        std::future::pending::<()>().await;
        Ok(())
    })
}

#[pyfunction]
fn stream_forever(py: Python<'_>, sleep: Py<PyAny>) -> PyResult<Bound<'_, PyAny>> {
    let guard = Arc::new(DropCounter);
    let s = futures_util::stream::unfold(0u64, move |i| {
        let _g = guard.clone();
        let sleep = Python::attach(|py| sleep.clone_ref(py));
        async move {
            let _g = _g;
            Some((sleep0(&sleep).await.map(|()| i), i + 1))
        }
    });
    gocoro::stream_into_py(py, s)
}

#[pyfunction]
#[pyo3(signature = (msg, sleep=None))]
fn rust_panic(py: Python<'_>, msg: String, sleep: Option<Py<PyAny>>) -> PyResult<Bound<'_, PyAny>> {
    gocoro::future_into_py(py, async move {
        if let Some(s) = &sleep {
            sleep0(s).await?;
        }
        if !msg.is_empty() {
            panic!("{msg}");
        }
        Ok(())
    })
}

/// Wakes itself (by reference) n times while pending, then returns n.
struct SelfWake {
    left: u64,
    n: u64,
}
impl Future for SelfWake {
    type Output = PyResult<u64>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.left == 0 {
            return Poll::Ready(Ok(self.n));
        }
        self.left -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[pyfunction]
fn self_wake(py: Python<'_>, n: u64) -> PyResult<Bound<'_, PyAny>> {
    gocoro::future_into_py(py, SelfWake { left: n, n })
}

#[pyfunction]
fn join_two(py: Python<'_>, a: Py<PyAny>, b: Py<PyAny>) -> PyResult<Bound<'_, PyAny>> {
    gocoro::future_into_py(py, async move {
        let (fa, fb) = Python::attach(|py| {
            (gocoro::into_future(a.into_bound(py)), gocoro::into_future(b.into_bound(py)))
        });
        let (ra, rb) = futures_util::future::join(fa, fb).await;
        Ok((ra?, rb?))
    })
}

/// `select` between a Python awaitable and a channel a std::thread fills after `delay` seconds:
/// returns ("python", result) or ("rust", None).  While the task is inside the Python awaitable,
/// the Rust wake cannot interrupt it: the channel is only seen once the awaitable finished.
#[pyfunction]
fn race(py: Python<'_>, awaitable: Py<PyAny>, delay: f64) -> PyResult<Bound<'_, PyAny>> {
    let (tx, rx) = channel::<()>();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs_f64(delay));
        tx.send(());
    });
    gocoro::future_into_py(py, async move {
        let py_side = Python::attach(|py| gocoro::into_future(awaitable.into_bound(py)));
        let py_side = std::pin::pin!(py_side);
        match futures_util::future::select(rx, py_side).await {
            futures_util::future::Either::Left(((), _)) => Ok(("rust", None)),
            futures_util::future::Either::Right((r, _)) => Ok(("python", Some(r?))),
        }
    })
}

#[pyfunction]
fn poll_outside(awaitable: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let mut f = std::pin::pin!(gocoro::into_future(awaitable));
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(r) => r,
        Poll::Pending => Err(PyValueError::new_err("unexpected: Pending")),
    }
}

/// With PyO3 attached once around the step, a Py<T> dropped inside the future is released at
/// once (not queued in PyO3's deferred reference pool).  Returns whether the object was gone
/// right after the drop.
#[pyfunction]
fn drop_is_immediate(py: Python<'_>, factory: Py<PyAny>) -> PyResult<Bound<'_, PyAny>> {
    gocoro::future_into_py(py, async move {
        Python::attach(|py| {
            let obj = factory.call0(py)?;
            let weakref = py.import("weakref")?.getattr("ref")?.call1((obj.bind(py),))?;
            drop(obj);
            Ok(weakref.call0()?.is_none())
        })
    })
}

/// n nested `Python::attach` calls inside the future (for instruction counts: each is a
/// counter increment because PyO3 is attached around the whole step).
#[pyfunction]
fn nested_attach(py: Python<'_>, n: u64) -> PyResult<Bound<'_, PyAny>> {
    gocoro::future_into_py(py, async move {
        let mut total = 0u64;
        for _ in 0..n {
            total += Python::attach(|py| {
                std::hint::black_box(py);
                1u64
            });
        }
        Ok(total)
    })
}

/// A !Send future that never completes; its drop increments drop_count().
#[pyfunction]
fn local_pending(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let guard = Rc::new(DropCounter); // !Send
    gocoro::local_future_into_py(py, async move {
        let _guard = guard;
        std::future::pending::<()>().await;
        Ok(())
    })
}

#[pyfunction]
fn local_counter(py: Python<'_>, n: u64, sleep: Py<PyAny>) -> PyResult<Bound<'_, PyAny>> {
    let count = Rc::new(Cell::new(0u64)); // !Send
    gocoro::local_future_into_py(py, async move {
        for _ in 0..n {
            sleep0(&sleep).await?;
            count.set(count.get() + 1);
        }
        Ok(count.get())
    })
}

#[pyfunction]
#[pyo3(signature = (name, qualname=None))]
fn named(py: Python<'_>, name: String, qualname: Option<String>) -> PyResult<Bound<'_, PyAny>> {
    let mut b = gocoro::Builder::new().name(name);
    if let Some(q) = qualname {
        b = b.qualname(q);
    }
    b.future_into_py(py, async { Ok(()) })
}

#[pymodule]
fn rust_async(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(add, m)?)?;
    m.add_function(wrap_pyfunction!(countdown, m)?)?;
    m.add_function(wrap_pyfunction!(arange, m)?)?;
    m.add_function(wrap_pyfunction!(from_thread, m)?)?;
    m.add_function(wrap_pyfunction!(timer_sleep, m)?)?;
    m.add_function(wrap_pyfunction!(tokio_sleep, m)?)?;
    m.add_function(wrap_pyfunction!(ticks, m)?)?;
    m.add_function(wrap_pyfunction!(guarded, m)?)?;
    m.add_function(wrap_pyfunction!(call, m)?)?;
    m.add_function(wrap_pyfunction!(drop_count, m)?)?;
    m.add_function(wrap_pyfunction!(pending_forever, m)?)?;
    m.add_function(wrap_pyfunction!(stream_forever, m)?)?;
    m.add_function(wrap_pyfunction!(rust_panic, m)?)?;
    m.add_function(wrap_pyfunction!(self_wake, m)?)?;
    m.add_function(wrap_pyfunction!(join_two, m)?)?;
    m.add_function(wrap_pyfunction!(poll_outside, m)?)?;
    m.add_function(wrap_pyfunction!(race, m)?)?;
    m.add_function(wrap_pyfunction!(drop_is_immediate, m)?)?;
    m.add_function(wrap_pyfunction!(local_counter, m)?)?;
    m.add_function(wrap_pyfunction!(local_pending, m)?)?;
    m.add_function(wrap_pyfunction!(swallow, m)?)?;
    m.add_function(wrap_pyfunction!(nested_attach, m)?)?;
    m.add_function(wrap_pyfunction!(named, m)?)?;
    Ok(())
}
