//! The accept loop: HTTP/1.1 over hyper with a deadline on every request head, an idle limit on
//! kept-alive connections and caps on open connections, so slow clients cannot hold file
//! descriptors until `accept` fails for everyone.
//!
//! ```text
//!   accept ──▶ ConnectionGate::admit ──refused──▶ closed before a byte is read
//!                     │ permit (held until the connection closes)
//!                     ▼
//!     ┌──────────────────────────┐  head complete   ┌──────────────────┐
//!     │ waiting for a first head │ ───────────────▶ │ request running  │ (request_timeout)
//!     │ ≤ header_read_timeout    │                  └──────────────────┘
//!     └──────────────────────────┘                        │ response sent
//!                                                         ▼
//!     ┌────────────────────────────┐  first byte  ┌────────────────────────────┐
//!     │ idle ≤ keep_alive_timeout  │ ───────────▶ │ head ≤ header_read_timeout │ ──▶ request
//!     └────────────────────────────┘              └────────────────────────────┘
//!              past either limit: the connection is closed
//! ```
//!
//! hyper's own header-read timer starts whenever it waits for a head, idle or not, so one value
//! would bound both phases; [`HeadTimer`] gives hyper that timer but measures the idle phase
//! against `keep_alive_timeout` and the head, from its first byte, against `header_read_timeout`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

use crate::limits::{ConnectionConfig, ConnectionGate, ConnectionPermit};

/// Serves `router` on `listener` until `shutdown` resolves, with the default connection
/// timeouts and caps ([`ConnectionConfig::default`], no trusted proxy). Use [`serve_with`] to
/// apply the configured ones.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_with(listener, router, ConnectionGate::new(ConnectionConfig::default(), Vec::new()), shutdown).await
}

/// Serves `router` on `listener` under `gate`'s timeouts and caps (e.g.
/// [`Portcullis::connections`](crate::Portcullis::connections)) until `shutdown` resolves; then
/// stops accepting, lets running requests finish and returns when every connection has closed.
/// Handlers read the peer with `ConnectInfo<SocketAddr>`.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    gate: ConnectionGate,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Fd-exhaustion defence: past a cap the connection is closed before anything is read
        // from it, so a refused client costs one accept and one close.
        let Ok(permit) = gate.admit(peer.ip(), Instant::now()) else {
            drop(stream);
            continue;
        };
        let config = gate.config().clone();
        tokio::spawn(connection(stream, peer, router.clone(), config, permit, stop_rx.clone()));
    }
    drop(listener);
    drop(stop_rx);
    stop_tx.send_replace(true);
    // Every connection task holds a receiver: this returns once the last one has ended.
    stop_tx.closed().await;
    Ok(())
}

/// An `accept` error. A client gone before it was accepted is nothing; anything else (out of
/// file descriptors, memory) is logged and retried after a pause rather than in a busy loop.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; retrying in 1s (server.max_connections may exceed the open-file limit)");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Serves one connection until it closes, or until shutdown lets its running request finish.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    config: ConnectionConfig,
    permit: ConnectionPermit,
    mut stop: watch::Receiver<bool>,
) {
    let _permit = permit;
    let activity = Arc::new(Activity::default());
    let io = TokioIo::new(Counted { inner: stream, activity: Arc::clone(&activity) });
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let mut req = req.map(Body::new);
        // What axum's connect-info service inserts: handlers and the rate limits read the peer.
        req.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(req)
    });
    let timer = HeadTimer { activity, header_read: config.header_read_timeout, keep_alive: config.keep_alive_timeout };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(timer).header_read_timeout(config.header_read_timeout).keep_alive(true);
    let mut conn = pin!(builder.serve_connection(io, service));
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection closed");
                }
                break;
            }
            _ = stop.wait_for(|&stop| stop), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What one connection's reads and head waits have been.
#[derive(Debug, Default)]
struct Activity {
    /// Bytes read from the client so far.
    bytes_read: AtomicU64,
    /// Times hyper has started waiting for a request head.
    waits: AtomicU64,
}

/// The client's stream, counting the bytes read from it.
struct Counted {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Counted {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        if read > 0 {
            this.activity.bytes_read.fetch_add(u64::try_from(read).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
        poll
    }
}

impl AsyncWrite for Counted {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// hyper's header-read timer for one connection. hyper asks it for a sleep each time it starts
/// waiting for a request head (and uses it for nothing else on an HTTP/1 server connection). The
/// first wait keeps hyper's deadline (`header_read_timeout` from the start); a later one is the
/// idle phase of a kept-alive connection and lasts `keep_alive_timeout`, until the next head's
/// first byte arrives and gives the head `header_read_timeout` from then.
#[derive(Clone)]
struct HeadTimer {
    activity: Arc<Activity>,
    header_read: Duration,
    keep_alive: Duration,
}

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HeadSleep::fixed(tokio::time::Instant::now() + duration, self))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        if self.activity.waits.fetch_add(1, Ordering::Relaxed) == 0 {
            return Box::pin(HeadSleep::fixed(tokio::time::Instant::from_std(deadline), self));
        }
        Box::pin(HeadSleep {
            sleep: Box::pin(tokio::time::sleep(self.keep_alive)),
            idle_until_read_past: Some(self.activity.bytes_read.load(Ordering::Relaxed)),
            activity: Arc::clone(&self.activity),
            header_read: self.header_read,
        })
    }
}

/// A sleep that, while `idle_until_read_past` is set, moves its deadline to `header_read` from
/// now once more than that many bytes have been read.
struct HeadSleep {
    sleep: Pin<Box<tokio::time::Sleep>>,
    idle_until_read_past: Option<u64>,
    activity: Arc<Activity>,
    header_read: Duration,
}

impl HeadSleep {
    fn fixed(deadline: tokio::time::Instant, timer: &HeadTimer) -> Self {
        Self {
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            idle_until_read_past: None,
            activity: Arc::clone(&timer.activity),
            header_read: timer.header_read,
        }
    }
}

impl Future for HeadSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        // hyper polls this right after each read that left the head incomplete, so the first
        // byte of a new head is seen here as soon as it arrives.
        if let Some(seen) = this.idle_until_read_past {
            if this.activity.bytes_read.load(Ordering::Relaxed) > seen {
                this.idle_until_read_past = None;
                let deadline = tokio::time::Instant::now() + this.header_read;
                this.sleep.as_mut().reset(deadline);
            }
        }
        this.sleep.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for HeadSleep {}
