//! Per-client rate limits (anonymous sign-ups): a token bucket per client
//! address, in memory. Behind a reverse proxy every client shares the
//! proxy's address, so the limit then applies to all of them together.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

/// Buckets kept before idle ones are dropped; bounds the memory a flood of
/// addresses can take.
const MAX_CLIENTS: usize = 4096;

/// A token bucket per client address.
#[derive(Clone)]
pub struct RateLimiter {
    burst: u32,
    every: Duration,
    buckets: Arc<Mutex<HashMap<IpAddr, (f64, Instant)>>>,
}

impl RateLimiter {
    /// `burst` attempts at once, then one more per `every`.
    pub fn new(burst: u32, every: Duration) -> Self {
        Self { burst, every, buckets: Default::default() }
    }

    /// Takes one attempt for `client`; `Err(seconds)` to wait when none is left.
    pub fn take(&self, client: IpAddr) -> Result<(), u64> {
        self.take_at(client, Instant::now())
    }

    fn take_at(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        let burst = f64::from(self.burst);
        let per_sec = 1.0 / self.every.as_secs_f64().max(1e-9);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(&client) {
            // Full buckets hold no state worth keeping.
            buckets.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * per_sec < burst);
            if buckets.len() >= MAX_CLIENTS {
                buckets.clear();
            }
        }
        let (tokens, at) = buckets.entry(client).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_sec).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / per_sec).ceil().max(1.0) as u64)
        }
    }
}

/// The address of the client that sent the request, when the server knows it.
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_interval_per_client() {
        let l = RateLimiter::new(2, Duration::from_secs(10));
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        assert!(l.take_at(a, t0).is_ok() && l.take_at(a, t0).is_ok());
        assert_eq!(l.take_at(a, t0), Err(10));
        assert!(l.take_at(b, t0).is_ok(), "another client has its own bucket");
        assert_eq!(l.take_at(a, t0 + Duration::from_secs(4)), Err(6));
        assert!(l.take_at(a, t0 + Duration::from_secs(10)).is_ok());
    }
}
