//! The accept loop, with bounds: how many connections are open at once, how long a request
//! head may take to arrive (which also bounds how long an idle keep-alive connection stays),
//! how much of it is buffered, how long a response waits for a client that does not read;
//! hyper's own error responses rewritten into the envelope ([`stream`]); graceful shutdown.
//! The head's timeout reuses its sleeps ([`timer`]).
//!
//! (`axum::serve` has none of these bounds: idle connections and slowly sent header lines
//! stayed open indefinitely.)

use std::{convert::Infallible, future::Future, sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{Request, Response},
};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::{rt::TokioIo, server::graceful::GracefulShutdown};
use tokio::{net::TcpListener, sync::Semaphore};
use tower::{Service, ServiceExt};

mod per_address;
mod stream;
mod timer;

use per_address::PerAddress;

/// The address of the connection's peer, on every request's extensions (for the session
/// list; the rate limits will read it too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// Bounds on connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// Connections one client address may hold at once (its share); one more is closed as
    /// soon as it is accepted.
    pub per_address: usize,
    /// Addresses exempt from `per_address` (the trusted proxies, which every client behind
    /// them shares).
    pub exempt: Vec<ipnet::IpNet>,
    /// How long a request head (request line and headers) may take to arrive, counted from
    /// when the connection is ready for it: also how long an idle keep-alive connection stays.
    pub header_timeout: Duration,
    /// How long a response may wait for a client that reads none of it.
    pub send_timeout: Duration,
    /// The bytes a second a client must read a response at while a write waits on it (on
    /// average, with the send timeout's worth of waiting saved up at most; 0: no minimum).
    pub min_send_rate: u64,
    /// How long, once the service stops accepting, the requests in flight may take to finish;
    /// then their connections are dropped (a client that does not read its response must not
    /// outlast an orchestrator's grace period).
    pub shutdown_timeout: Duration,
}

/// The largest request head buffered (request line and headers): a filter of 1000 items fits.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Serves `service` on `listener` within `limits` until `shutdown` completes, then lets the
/// requests in flight finish (for at most `limits.shutdown_timeout`).
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_address = PerAddress::new(limits.per_address, limits.exempt.clone());
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(timer::ReusingTimer)
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            // Over the limit: closed now, never queued (a queue would be memory to exhaust).
            if per_address.refused(None, "total") {
                tracing::warn!(
                    max = limits.max_connections,
                    "too many connections: refusing more (logged once a minute)"
                );
            }
            drop(stream);
            continue;
        };
        let Some(held) = per_address.take(peer.ip()) else {
            if per_address.refused(Some(peer.ip()), "per_address") {
                tracing::warn!(
                    address = %peer.ip(),
                    max = limits.per_address,
                    "too many connections from one address: refusing more (logged once a \
                     minute per address)"
                );
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = Connection {
            service: std::cell::RefCell::new(service.clone()),
            peer,
        };
        let connection = graceful.watch(builder.serve_connection(
            TokioIo::new(stream::GuardedStream::new(
                stream,
                limits.send_timeout,
                limits.min_send_rate,
            )),
            service,
        ));
        tokio::spawn(timer::with_sleep(async move {
            // A connection that ends badly (a client that went away) is nobody's error.
            let _ = connection.await;
            drop(held);
            drop(permit);
        }));
    }
    // No new connections while the last requests finish.
    drop(listener);
    if tokio::time::timeout(limits.shutdown_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after the shutdown timeout: dropped");
    }
    Ok(())
}

/// The service of one connection: hyper's `Service` (a call through `&self`) over the app's
/// tower service, with the peer's address on each request. The connection's requests come
/// one at a time, so it keeps one copy of the app's layers for all of them (hyper-util's
/// adapter cloned the whole stack, CORS settings included, for every request).
struct Connection<S> {
    service: std::cell::RefCell<S>,
    peer: std::net::SocketAddr,
}

impl<S> hyper::service::Service<Request<Incoming>> for Connection<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = futures_util::future::Either<S::Future, tower::util::Oneshot<S, Request<Body>>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(PeerAddr(self.peer));
        // Borrowed here only, and not beyond this call: never borrowed twice.
        let mut service = self.service.borrow_mut();
        // The app's layers are always ready (a refusal is an answer, never a wait). Were one
        // not, the copy that waited would serve this request (it holds what it reserved, as
        // tower's contract asks) and a fresh copy would serve the connection's next ones.
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        match service.poll_ready(&mut context) {
            std::task::Poll::Ready(Ok(())) => {
                futures_util::future::Either::Left(service.call(request))
            }
            std::task::Poll::Ready(Err(never)) => match never {},
            std::task::Poll::Pending => {
                let fresh = service.clone();
                let waited = std::mem::replace(&mut *service, fresh);
                futures_util::future::Either::Right(waited.oneshot(request))
            }
        }
    }
}
