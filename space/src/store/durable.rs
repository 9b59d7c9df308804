//! The writer thread: persists committed changes through the [`Backend`], grouping concurrent
//! changes into one batch (one fsync for many writes), then publishes their watch events and
//! acknowledges the writers, in resourceVersion order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use tokio::sync::oneshot;

use super::StoreError;
use super::backend::{Backend, Change};

/// Most changes written in one batch.
const MAX_BATCH: usize = 2048;

/// One change to persist, with what to do once it is durable.
pub(super) struct DurableWrite {
    pub change: Change,
    pub rv: u64,
    /// Run after the change is durable (publishes the watch event).
    pub on_durable: Box<dyn FnOnce() + Send>,
    pub ack: oneshot::Sender<Result<(), StoreError>>,
}

/// The writer thread and its queue.
pub(super) struct Durable {
    tx: Option<mpsc::Sender<DurableWrite>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Durable {
    /// Closes the queue and waits for the writer, so the backend is released (a space reopened
    /// in the same process must be able to lock its database again).
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Durable {
    /// Starts the writer thread. `failed` is raised, and stays raised, when a batch fails.
    pub fn start(
        backend: Box<dyn Backend>,
        failed: Arc<AtomicBool>,
    ) -> Result<Durable, StoreError> {
        let (tx, rx) = mpsc::channel::<DurableWrite>();
        let thread = std::thread::Builder::new()
            .name("space-store-writer".into())
            .spawn(move || writer_loop(backend, rx, failed))
            .map_err(|e| StoreError::Open(e.to_string()))?;
        Ok(Durable {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues a change; the caller awaits `ack`.
    pub fn submit(&self, w: DurableWrite) -> Result<(), StoreError> {
        self.tx
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(w)
            .map_err(|_| StoreError::Closed)
    }
}

fn writer_loop(
    mut backend: Box<dyn Backend>,
    rx: mpsc::Receiver<DurableWrite>,
    failed: Arc<AtomicBool>,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        let result = if failed.load(Ordering::SeqCst) {
            Err(StoreError::Failed)
        } else {
            let rv = batch.iter().map(|w| w.rv).max().unwrap_or_default();
            let changes: Vec<Change> = batch.iter().map(|w| w.change.clone()).collect();
            backend.persist(&changes, rv)
        };
        if let Err(e) = &result {
            // Memory already holds changes the disk does not: refuse every later write (the
            // space reports not ready) rather than serve a state that a restart would lose.
            if !failed.swap(true, Ordering::SeqCst) {
                tracing::error!(error = %e, "space store: commit failed; the space stops accepting writes");
            }
        }
        let ok = result.is_ok();
        for w in batch {
            if ok {
                (w.on_durable)();
            }
            let _ = w.ack.send(result.clone());
        }
    }
}
