//! `Ping`: a future completed and woken by a plain Rust thread (shared by the Rust benchmark
//! crates, included with `#[path]`).  The first poll hands a slot to one helper thread (started
//! once, fed through a channel); the thread marks the slot done and calls the stored
//! `std::task::Waker` -- whatever waker the driving runtime gave the future (gocoro's
//! `GoCoro_Wake`, PyO3's `call_soon_threadsafe`, tokio's scheduler).  The next poll is `Ready`.
//! One slot allocation per ping, the same for every implementation.
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

struct Slot {
    done: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

fn helper() -> &'static Mutex<Sender<Arc<Slot>>> {
    static TX: OnceLock<Mutex<Sender<Arc<Slot>>>> = OnceLock::new();
    TX.get_or_init(|| {
        let (tx, rx) = channel::<Arc<Slot>>();
        std::thread::Builder::new()
            .name("bench-pinger".into())
            .spawn(move || {
                for slot in rx {
                    slot.done.store(true, Ordering::Release);
                    let w = slot.waker.lock().unwrap().take();
                    if let Some(w) = w {
                        w.wake();
                    }
                }
            })
            .expect("spawn the pinger thread");
        Mutex::new(tx)
    })
}

/// Completes after the helper thread has woken it once.
pub struct Ping {
    slot: Option<Arc<Slot>>,
}

impl Ping {
    pub fn new() -> Self {
        Ping { slot: None }
    }
}

impl Future for Ping {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &self.slot {
            Some(slot) => {
                if slot.done.load(Ordering::Acquire) {
                    return Poll::Ready(());
                }
                *slot.waker.lock().unwrap() = Some(cx.waker().clone());
                if slot.done.load(Ordering::Acquire) {
                    return Poll::Ready(());
                }
                Poll::Pending
            }
            None => {
                let slot = Arc::new(Slot {
                    done: AtomicBool::new(false),
                    waker: Mutex::new(Some(cx.waker().clone())),
                });
                self.slot = Some(slot.clone());
                helper().lock().unwrap().send(slot).expect("pinger thread alive");
                Poll::Pending
            }
        }
    }
}

/// `n` pings one after the other; returns `n`.
pub async fn ping_n(n: usize) -> usize {
    for _ in 0..n {
        Ping::new().await;
    }
    n
}
