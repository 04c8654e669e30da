//! The listening server: accepts connections, runs the background jobs
//! (retention, log cleaning), and shuts down cleanly.

use super::background;
use super::config::BrokerConfig;
use super::connection::{Limits, serve_connection};
use super::coordinators::Coordinators;
use super::dispatch::Dispatcher;
use super::state::Broker;
use crate::protocol::RequestBudget;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long in-flight requests get to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A bound broker, ready to serve.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    broker: Arc<Broker>,
    coordinators: Arc<Coordinators>,
}

impl Server {
    /// Binds the listen address, opens the data directory (recovering its
    /// logs) and, if `__consumer_offsets` exists, the group coordinator
    /// (otherwise it opens at the first group request).
    pub async fn bind(config: BrokerConfig) -> anyhow::Result<Server> {
        let listener = TcpListener::bind(&config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let local_addr = listener.local_addr()?;
        let port = config.advertised_port.unwrap_or(local_addr.port());
        let broker = tokio::task::spawn_blocking(move || Broker::open(config, port)).await??;
        let broker = Arc::new(broker);
        let coordinators = Coordinators::new(broker.clone());
        coordinators.open_if_present().await?;
        Ok(Server {
            listener,
            local_addr,
            broker,
            coordinators,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The broker state (for the group coordinator to use the logs).
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Serves until `shutdown` completes; then stops accepting, lets
    /// in-flight requests finish (bounded), flushes and closes every log.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Server {
            listener,
            broker,
            coordinators,
            ..
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let dispatcher = Arc::new(Dispatcher::new(
            broker.clone(),
            coordinators.clone(),
            stop_rx.clone(),
        ));
        let budget = broker
            .config
            .queued_max_request_bytes
            .map(RequestBudget::new);
        if let Some(budget) = &budget
            && budget.bytes() < broker.config.socket_request_max_bytes
        {
            tracing::warn!(
                "queued.max.request.bytes={} is below socket.request.max.bytes={}: larger requests are refused",
                budget.bytes(),
                broker.config.socket_request_max_bytes
            );
        }
        let limits = Limits {
            max_request_bytes: broker.config.socket_request_max_bytes,
            budget,
            max_idle: Duration::from_millis(broker.config.connections_max_idle_ms),
        };
        let background = background::spawn(broker.clone(), stop_rx.clone());
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        tracing::debug!("connection from {peer}");
                        connections.spawn(serve_connection(
                            stream,
                            peer,
                            dispatcher.clone(),
                            limits.clone(),
                            stop_rx.clone(),
                        ));
                    }
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(done) = connections.join_next(), if !connections.is_empty() => {
                    if let Err(e) = done && e.is_panic() {
                        tracing::error!("a connection task panicked");
                    }
                }
            }
        }
        tracing::info!("shutting down: finishing in-flight requests");
        drop(listener);
        let _ = stop_tx.send(true);
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("some requests did not finish within {SHUTDOWN_GRACE:?}; dropping them");
            connections.shutdown().await;
        }
        for job in background {
            let _ = job.await;
        }
        drop(dispatcher);
        tokio::task::spawn_blocking(move || {
            coordinators.shutdown();
            broker.close()
        })
        .await??;
        tracing::info!("all logs flushed and closed");
        Ok(())
    }
}
