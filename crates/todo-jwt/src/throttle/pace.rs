//! Pacing refusals: a bounded tarpit for clients that loop on them.
//!
//! A refusal (401, 403, 429, 503) costs the service little, but a client that ignores
//! `Retry-After` and asks again at once makes thousands a second per connection: 32 such
//! connections took more than half the throughput of everyone else's reads. So each client
//! (the throttle's bucket: its address, or its network prefix, or its forwarded address
//! behind a trusted proxy) gets `per_second` refusals a second at once (twice that in a
//! burst); beyond that its refusals are held back until its turn comes, at most [`MAX_DELAY`].
//! A looping client then makes at most `per_second` refusals a second plus one per connection
//! every [`MAX_DELAY`] (its connections are bounded by the per-address cap), and costs nothing
//! but a timer while it waits. Answers that are not refusals, and the first refusals of anyone,
//! are never delayed.
//!
//! `Retry-After` stays honest: it was computed when the refusal was decided, so a held-back
//! answer says to wait at most [`MAX_DELAY`] longer than needed, never less.
//!
//! The per-client state is [`governor`]'s (a GCRA cell per bucket); buckets that are back to
//! a full allowance are forgotten by [`Pacer::upkeep`], which the app runs periodically.

use std::{
    future::{Future, Ready},
    net::IpAddr,
    num::NonZeroU32,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Duration,
};

use axum::{
    body::Body,
    http::{HeaderValue, Request, Response, StatusCode},
    response::IntoResponse,
};
use futures_util::future::Either;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};

use super::{
    FORWARDED_FOR, Throttles,
    shares::{ClientShares, Share},
};
use crate::http::{middleware::head_too_large, server::PeerAddr};

/// The longest a refusal is held back.
pub const MAX_DELAY: Duration = Duration::from_secs(2);

/// The refusals each client may have at once, and whose client a request is (one `Arc`: a
/// request that may be refused holds a clone).
#[derive(Clone, Debug)]
pub struct Pacer(Arc<PacerInner>);

#[derive(Debug)]
struct PacerInner {
    limiter: DefaultKeyedRateLimiter<String>,
    throttles: Throttles,
}

impl Pacer {
    /// `per_second` refusals a second per client, twice that in a burst; `None` for 0 (no
    /// pacing).
    pub fn new(throttles: Throttles, per_second: u64) -> Option<Self> {
        const TWO: NonZeroU32 = NonZeroU32::new(2).expect("2 is not 0");
        let rate = NonZeroU32::new(u32::try_from(per_second).unwrap_or(u32::MAX))?;
        let burst = rate.saturating_mul(TWO);
        Some(Self(Arc::new(PacerInner {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            throttles,
        })))
    }

    /// Forgets the clients whose allowance is full again.
    pub fn upkeep(&self) {
        self.0.limiter.retain_recent();
        self.0.limiter.shrink_to_fit();
    }

    /// Waits until `client` may be refused again, at most [`MAX_DELAY`].
    async fn pace(self, client: Client) {
        let PacerInner { limiter, throttles } = &*self.0;
        let bucket = throttles.bucket_of(client.peer, client.forwarded.iter().flatten());
        let deadline = tokio::time::Instant::now() + MAX_DELAY;
        loop {
            let Err(not_until) = limiter.check_key(&bucket) else {
                return;
            };
            let wait = not_until.wait_time_from(limiter.clock().now());
            // A little more than the wait, so that the next check finds the turn come.
            let until = tokio::time::Instant::now() + wait + Duration::from_millis(1);
            if until >= deadline {
                tokio::time::sleep_until(deadline).await;
                return;
            }
            tokio::time::sleep_until(until).await;
        }
    }
}

/// Whether a response refuses the request.
fn refuses(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::UNAUTHORIZED
            | StatusCode::FORBIDDEN
            | StatusCode::TOO_MANY_REQUESTS
            | StatusCode::SERVICE_UNAVAILABLE
    )
}

/// Who sent a request, as far as a bucket needs (read before the request is handed on).
struct Client {
    peer: IpAddr,
    /// `X-Forwarded-For`'s values, when the peer is a trusted proxy.
    forwarded: Option<Vec<HeaderValue>>,
}

/// Holds refusals back per [`Pacer`]; first refuses a request whose head is over 64 KiB (431,
/// [`head_too_large`]), and one from a client behind a trusted proxy that has its share of
/// requests in flight already (429, [`ClientShares`]). One layer for the three, of its own
/// rather than `from_fn` (which clones the stack below it on every request): each layer costs
/// its nesting on every request.
#[derive(Clone, Debug)]
pub struct PaceRefusalsLayer {
    /// The refusal pacer (none when pacing is off).
    pub pacer: Option<Pacer>,
    /// The shares of the clients behind trusted proxies (none when no proxy is trusted).
    pub shares: Option<Arc<ClientShares>>,
}

impl<S> tower::Layer<S> for PaceRefusalsLayer {
    type Service = PaceRefusals<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PaceRefusals {
            inner,
            front: self.clone(),
        }
    }
}

/// See [`PaceRefusalsLayer`].
#[derive(Clone, Debug)]
pub struct PaceRefusals<S> {
    inner: S,
    front: PaceRefusalsLayer,
}

impl<S> tower::Service<Request<Body>> for PaceRefusals<S>
where
    S: tower::Service<Request<Body>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Paced<S::Future, S::Error>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let PaceRefusalsLayer { pacer, shares } = &self.front;
        let peer = request
            .extensions()
            .get::<PeerAddr>()
            .map(|PeerAddr(peer)| peer.ip());
        let client = pacer.as_ref().zip(peer).map(|(pacer, peer)| {
            // Behind a trusted proxy only, the client is named in X-Forwarded-For.
            let forwarded = pacer.0.throttles.trusts(peer).then(|| {
                request
                    .headers()
                    .get_all(FORWARDED_FOR)
                    .iter()
                    .cloned()
                    .collect()
            });
            (Client { peer, forwarded }, pacer.clone())
        });
        let mut share = None;
        let mut refusal = head_too_large(&request);
        if let (None, Some(shares), Some(peer)) = (&refusal, shares, peer)
            && shares.applies_to(peer)
        {
            match shares.take(peer, request.headers().get_all(FORWARDED_FOR)) {
                Ok(taken) => share = Some(taken),
                Err(error) => refusal = Some(error.into_response()),
            }
        }
        let inner = match refusal {
            Some(refusal) => Either::Left(std::future::ready(Ok(refusal))),
            None => Either::Right(self.inner.call(request)),
        };
        Paced {
            inner,
            client,
            held: None,
            share,
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's answer; a refusal held back until its client's turn.
    pub struct Paced<F, E> {
        #[pin]
        inner: Either<Ready<Result<Response<Body>, E>>, F>,
        client: Option<(Client, Pacer)>,
        held: Option<(Pin<Box<dyn Future<Output = ()> + Send>>, Response<Body>)>,
        // Given back once the answer is ready.
        share: Option<Share>,
    }
}

impl<F, E> Future for Paced<F, E>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some((turn, _)) = this.held {
            ready!(turn.as_mut().poll(context));
            let (_, response) = this.held.take().expect("held");
            return Poll::Ready(Ok(response));
        }
        let response = ready!(this.inner.poll(context))?;
        this.share.take();
        match this.client.take() {
            Some((client, pacer)) if refuses(response.status()) => {
                let mut turn: Pin<Box<dyn Future<Output = ()> + Send>> =
                    Box::pin(pacer.pace(client));
                if turn.as_mut().poll(context).is_ready() {
                    return Poll::Ready(Ok(response));
                }
                *this.held = Some((turn, response));
                Poll::Pending
            }
            _ => Poll::Ready(Ok(response)),
        }
    }
}
