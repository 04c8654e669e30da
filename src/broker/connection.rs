//! One client connection: frames are read and dispatched in order, their
//! responses written in the same order by a writer task, so pipelined
//! requests are answered in sequence while produce appends and fsync waits
//! of several requests overlap.
//!
//! Memory: a request's bytes are charged to the broker-wide
//! `queued.max.request.bytes` budget (see [`RequestBudget`]) before its body
//! is read, and given back once its response is complete, so connections
//! sending large frames together wait for each other instead of pinning
//! memory each.
//!
//! Quotas (KIP-219): a handler that throttles its client marks this
//! connection's [`ChannelThrottle`]; the next request read is not
//! dispatched until the throttle time has passed (the client is muted, its
//! response already sent).

use super::dispatch::{Dispatcher, PendingReply, Route};
use super::quota::ChannelThrottle;
use crate::protocol::writer::write_response;
use crate::protocol::{FrameReader, RequestBudget, RequestPreamble};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};

/// Responses queued per connection before reading pauses.
const MAX_IN_FLIGHT: usize = 16;

/// Per-connection limits from the broker config.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `socket.request.max.bytes`.
    pub max_request_bytes: usize,
    /// `queued.max.request.bytes`, shared by every connection (`None`:
    /// unbounded, Kafka's -1).
    pub budget: Option<RequestBudget>,
    /// `connections.max.idle.ms`.
    pub max_idle: std::time::Duration,
}

/// Serves one connection until the peer closes it, it misbehaves, or
/// shutdown begins (then queued requests are still answered).
pub async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    dispatcher: Arc<Dispatcher>,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let (reader, mut writer) = stream.into_split();
    let mut frames = match limits.budget {
        Some(budget) => FrameReader::with_budget(reader, limits.max_request_bytes, budget),
        None => FrameReader::new(reader, limits.max_request_bytes),
    };
    // Each reply travels with the budget its request holds, given back once
    // the reply is complete (the request's bytes are no longer needed).
    let (tx, mut rx) = mpsc::channel::<(PendingReply, Option<OwnedSemaphorePermit>)>(MAX_IN_FLIGHT);
    // How many queued replies the writer has completed.
    let (done_tx, mut done_rx) = watch::channel(0u64);

    let writer_task = tokio::spawn(async move {
        let mut completed = 0u64;
        while let Some((pending, permit)) = rx.recv().await {
            let result = pending.await;
            drop(permit);
            completed += 1;
            let _ = done_tx.send(completed);
            match result {
                Ok(Some(body)) => {
                    if let Err(e) = write_response(&mut writer, &body).await {
                        tracing::debug!("{peer}: write failed: {e}");
                        return;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!("{peer}: cannot answer request: {e:#}; closing connection");
                    return;
                }
            }
        }
    });

    let mut queued = 0u64;
    let mut last_lazy = 0u64;
    let channel = Arc::new(ChannelThrottle::default());
    loop {
        // The read stays the same future across idle checks, so a frame
        // arriving slowly is never cut.
        if let Some(until) = channel.muted_until() {
            // Throttled: nothing more is read from this client (no frame, so
            // no share of queued.max.request.bytes) until the time passes.
            tokio::select! {
                _ = tokio::time::sleep_until(until) => {}
                _ = shutdown.changed() => break,
            }
        }
        let frame = {
            let read = frames.next();
            tokio::pin!(read);
            // Idle time counts from the last request read or response done.
            let idle = tokio::time::sleep(limits.max_idle);
            tokio::pin!(idle);
            loop {
                tokio::select! {
                    f = &mut read => break Some(f),
                    _ = shutdown.changed() => break None,
                    done = done_rx.changed() => {
                        if done.is_err() {
                            break None;
                        }
                        idle.as_mut().reset(tokio::time::Instant::now() + limits.max_idle);
                    }
                    _ = &mut idle => {
                        if *done_rx.borrow() < queued {
                            idle.as_mut().reset(tokio::time::Instant::now() + limits.max_idle);
                            continue;
                        }
                        tracing::debug!("{peer}: idle for {:?}; closing connection", limits.max_idle);
                        break None;
                    }
                }
            }
        };
        let Some(frame) = frame else {
            break;
        };
        let frame = match frame {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(crate::protocol::FrameError::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::BrokenPipe
                ) =>
            {
                // Clients drop connections abruptly all the time.
                tracing::debug!("{peer}: {e}");
                break;
            }
            Err(e) => {
                tracing::warn!("{peer}: {e}; closing connection");
                break;
            }
        };
        let permit = frames.take_permit();
        let Some(pre) = RequestPreamble::parse(&frame) else {
            tracing::warn!(
                "{peer}: request of {} bytes is too short for a header; closing connection",
                frame.len()
            );
            break;
        };
        let dispatched = match dispatcher.route(&pre) {
            Route::Supported(api) => {
                if api == kafka_protocol::messages::ApiKey::Produce && last_lazy > 0 {
                    // An append must not overtake an earlier request that
                    // has not run yet (e.g. the CreateTopics before it).
                    if done_rx.wait_for(|done| *done >= last_lazy).await.is_err() {
                        break;
                    }
                }
                match dispatcher.dispatch(api, pre.api_version, peer, frame, &channel) {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::warn!(
                            "{peer}: malformed {api:?} v{} request: {e:#}; closing connection",
                            pre.api_version
                        );
                        break;
                    }
                }
            }
            Route::ApiVersionsFallback => {
                match dispatcher.api_versions_fallback(pre.correlation_id) {
                    Ok(reply) => super::dispatch::Dispatched {
                        reply,
                        eager: false,
                    },
                    Err(e) => {
                        tracing::warn!("{peer}: {e:#}; closing connection");
                        break;
                    }
                }
            }
            Route::UnknownApi => {
                tracing::warn!(
                    "{peer}: unknown or unimplemented API key {} (v{}); closing connection",
                    pre.api_key,
                    pre.api_version
                );
                break;
            }
            Route::UnsupportedVersion(api) => {
                tracing::warn!(
                    "{peer}: unsupported {api:?} version {}; closing connection",
                    pre.api_version
                );
                break;
            }
        };
        queued += 1;
        if !dispatched.eager {
            last_lazy = queued;
        }
        if tx.send((dispatched.reply, permit)).await.is_err() {
            break;
        }
    }
    drop(tx);
    if let Err(e) = writer_task.await
        && e.is_panic()
    {
        tracing::error!("{peer}: request handler panicked; connection closed");
    }
}
