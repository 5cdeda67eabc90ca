//! What the OTLP exporters share: items wait in a bounded queue and leave in
//! batches, on a size or a timer, from one task; a request never waits for
//! the exporter.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

/// Items waiting for export at most; more are dropped.
pub(super) const QUEUE: usize = 4096;
/// Items per export call at most.
const BATCH: usize = 512;
/// A partial batch leaves after this long.
const EXPORT_INTERVAL: Duration = Duration::from_secs(1);
/// One export call at most.
pub(super) const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) enum Msg<T> {
    Item(Box<T>),
    Flush(oneshot::Sender<()>),
}

/// Where a batch goes: one export call, whose outcome the sink counts.
pub(super) trait Sink<T>: Send + 'static {
    fn export(&mut self, items: Vec<T>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Starts the export task; items go to the sender it returns.
pub(super) fn start<T: Send + 'static>(mut sink: impl Sink<T>) -> mpsc::Sender<Msg<T>> {
    let (tx, mut rx) = mpsc::channel(QUEUE);
    tokio::spawn(async move {
        let mut batch: Vec<T> = Vec::with_capacity(BATCH);
        let mut tick = tokio::time::interval(EXPORT_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let flushed = tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Msg::Item(item)) => {
                        batch.push(*item);
                        if batch.len() < BATCH {
                            continue;
                        }
                        None
                    }
                    Some(Msg::Flush(done)) => Some(done),
                    None => return,
                },
                _ = tick.tick() => {
                    if batch.is_empty() {
                        continue;
                    }
                    None
                }
            };
            let items = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            if !items.is_empty() {
                sink.export(items).await;
            }
            if let Some(done) = flushed {
                let _ = done.send(());
            }
        }
    });
    tx
}

/// Exports what is queued; waits two seconds at most. For the drain.
pub(super) async fn flush<T>(tx: &mpsc::Sender<Msg<T>>) {
    let (done, wait) = oneshot::channel();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        if tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    })
    .await;
}
