//! One job's event stream across reconnects: connect, read what is ready,
//! back off after a failure.
//!
//! The rules are upstream's (`Last-Event-ID` on every reconnect; pings are
//! not progress; a clean end after progress reconnects at the base delay,
//! anything else is a failure with exponential backoff; 401/403/410/426
//! end the wait at once), plus one upstream lacks: a connection that stays
//! open but sends no bytes for [`StreamPolicy::idle_timeout`] is dropped and
//! counted as a failure, so `wait()` never hangs on a silent proxy.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, Stream, StreamExt};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::events::Parsed;
use crate::http::{CloudApiClient, Scope};
use crate::sse::SseParser;

pub use arkor_protocol::PING_INTERVAL;

/// How long a connection may stay silent: three missed pings.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(3 * PING_INTERVAL.as_secs());

/// Statuses on which reconnecting cannot help.
const PERMANENT: [u16; 4] = [401, 403, 410, 426];

/// Reconnect and backoff settings (the trainer's internal context).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamPolicy {
    /// Delay before reconnecting a stream that closed cleanly; base of the backoff.
    pub reconnect_delay: Duration,
    /// Cap of the backoff.
    pub max_reconnect_delay: Duration,
    /// Consecutive failures tolerated; `None` is unlimited.
    pub max_reconnect_attempts: Option<u32>,
    /// Drop a connection that sent no bytes for this long.
    pub idle_timeout: Duration,
}

impl Default for StreamPolicy {
    fn default() -> Self {
        Self {
            reconnect_delay: Duration::from_millis(1000),
            max_reconnect_delay: Duration::from_millis(60_000),
            max_reconnect_attempts: None,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

impl StreamPolicy {
    /// Backoff before retry number `attempt` (0-based): exponential from the
    /// base delay, ±25% jitter, never above the cap.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let base = self.reconnect_delay.as_secs_f64();
        let cap = self.max_reconnect_delay.as_secs_f64();
        let exp = (base * 2f64.powi(attempt.min(1000) as i32)).min(cap);
        let jitter = exp * (rand::random::<f64>() * 0.5 - 0.25);
        Duration::from_secs_f64((exp + jitter).clamp(0.0, cap))
    }
}

/// What one [`EventStream::next_batch`] read.
#[derive(Debug, PartialEq)]
pub enum Read {
    /// Frames were handed to the visitor; there may be more.
    Frames,
    /// The job ended (a terminal event, or `event: end`) with these artifacts.
    Ended(Vec<Value>),
}

/// A response body as a stream of chunks.
pub type Body = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

struct Connection {
    body: Body,
    parser: SseParser,
    /// A parseable data frame arrived on this connection.
    progressed: bool,
}

/// Source of connections: the backend in the product, scripted in tests.
pub trait Connect: Send {
    /// Opens the stream, resuming after `last_event_id`.
    fn connect(&mut self, last_event_id: Option<&str>) -> Pin<Box<dyn std::future::Future<Output = Result<Body>> + Send + '_>>;
}

/// The job's stream on a backend.
pub struct Backend {
    /// The client.
    pub client: CloudApiClient,
    /// Its scope.
    pub scope: Scope,
    /// The job.
    pub job_id: String,
}

impl Connect for Backend {
    fn connect(&mut self, last_event_id: Option<&str>) -> Pin<Box<dyn std::future::Future<Output = Result<Body>> + Send + '_>> {
        let last = last_event_id.map(str::to_owned);
        Box::pin(async move {
            let res = self.client.open_event_stream(&self.job_id, &self.scope, last.as_deref()).await?;
            Ok(Box::pin(res.bytes_stream()) as Body)
        })
    }
}

/// A job's events across reconnects.
pub struct EventStream<C = Backend> {
    source: C,
    what: String,
    policy: StreamPolicy,
    last_event_id: Option<String>,
    /// Consecutive failures since the last parseable frame.
    failures: u32,
    conn: Option<Connection>,
    /// The connection closed after frames that the caller has not run yet:
    /// the error (if it was not a clean end) and whether it had progressed.
    closed: Option<(Option<Error>, bool)>,
}

impl<C: Connect> EventStream<C> {
    /// A stream that connects on the first read. `what` names it in errors.
    pub fn new(source: C, what: impl Into<String>, policy: StreamPolicy) -> Self {
        Self { source, what: what.into(), policy, last_event_id: None, failures: 0, conn: None, closed: None }
    }

    /// The id of the last frame seen, sent as `Last-Event-ID` on reconnect.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// Resumes after `id` (for callers that already hold the events before it).
    pub fn resume_after(&mut self, id: Option<String>) {
        self.last_event_id = id;
    }

    /// Waits for the next bytes (connecting and reconnecting as needed), then
    /// takes everything already delivered, up to about `max_frames` frames,
    /// and hands each data frame to `visit`. Pings and frames after the end
    /// are not handed on. `abort` ends it with [`Error::Aborted`].
    pub async fn next_batch(&mut self, visit: &mut (dyn FnMut(&str) -> Parsed + Send), max_frames: usize, abort: &CancellationToken) -> Result<Read> {
        loop {
            if let Some((error, progressed)) = self.closed.take() {
                self.after_close(error, progressed, abort).await?;
            }
            if self.conn.is_none() {
                // A backend that accepts the connection but never answers is as dead as
                // one that goes silent after its headers: the same timeout ends both.
                let idle = self.policy.idle_timeout;
                let opened = tokio::select! {
                    _ = abort.cancelled() => return Err(Error::Aborted),
                    r = tokio::time::timeout(idle, self.source.connect(self.last_event_id.as_deref())) => {
                        r.unwrap_or_else(|_| Err(Error::StreamIdle { what: self.what.clone(), idle }))
                    }
                };
                match opened {
                    Ok(body) => self.conn = Some(Connection { body, parser: SseParser::new(), progressed: false }),
                    Err(e) if e.status().is_some_and(|s| PERMANENT.contains(&s)) => return Err(e),
                    Err(e) => {
                        self.fail(e, abort).await?;
                        continue;
                    }
                }
            }
            let conn = self.conn.as_mut().expect("connected above");
            let idle = self.policy.idle_timeout;
            let first = tokio::select! {
                _ = abort.cancelled() => return Err(Error::Aborted),
                r = tokio::time::timeout(idle, conn.body.next()) => r,
            };
            let mut chunk = match first {
                Ok(c) => c,
                Err(_) => {
                    self.conn = None;
                    let e = Error::StreamIdle { what: self.what.clone(), idle };
                    self.fail(e, abort).await?;
                    continue;
                }
            };
            let mut frames = 0usize;
            let mut visited = false;
            let mut ended: Option<Vec<Value>> = None;
            let mut closed: Option<Option<Error>> = None;
            loop {
                match chunk {
                    None => closed = Some(None),
                    Some(Err(source)) => closed = Some(Some(Error::Http { url: self.what.clone(), source })),
                    Some(Ok(bytes)) => {
                        let last_id = &mut self.last_event_id;
                        let failures = &mut self.failures;
                        let progressed = &mut conn.progressed;
                        conn.parser.feed(&bytes, |frame| {
                            frames += 1;
                            if ended.is_some() {
                                return;
                            }
                            if let Some(id) = frame.id.filter(|id| !id.is_empty()) {
                                *last_id = Some(id.to_owned());
                            }
                            match frame.event {
                                Some("ping") => return,
                                Some("end") => {
                                    ended = Some(Vec::new());
                                    return;
                                }
                                _ => {}
                            }
                            visited = true;
                            match visit(frame.data) {
                                Parsed::Malformed => {}
                                Parsed::Event => {
                                    *progressed = true;
                                    *failures = 0;
                                }
                                Parsed::Terminal(artifacts) => {
                                    *progressed = true;
                                    *failures = 0;
                                    ended = Some(artifacts);
                                }
                            }
                        });
                    }
                }
                if closed.is_some() || ended.is_some() || frames >= max_frames {
                    break;
                }
                // Take what the socket already delivered, without waiting.
                match conn.body.next().now_or_never() {
                    Some(c) => chunk = c,
                    None => break,
                }
            }
            if let Some(artifacts) = ended {
                self.conn = None;
                return Ok(Read::Ended(artifacts));
            }
            if let Some(error) = closed {
                // Hand over what arrived before the close first; reconnect
                // (and its delay) on the next call.
                self.closed = Some((error, conn.progressed));
                self.conn = None;
            }
            if visited {
                return Ok(Read::Frames);
            }
        }
    }

    /// After a connection closed: a clean end after progress reconnects at
    /// the base delay; anything else is a failure.
    async fn after_close(&mut self, error: Option<Error>, progressed: bool, abort: &CancellationToken) -> Result<()> {
        match error {
            Some(e) => self.fail(e, abort).await,
            None if progressed => sleep_or_abort(self.policy.reconnect_delay, abort).await,
            None => self.fail(Error::NoFrames { what: self.what.clone() }, abort).await,
        }
    }

    /// Counts a failure: gives up past `max_reconnect_attempts`, else waits
    /// out the backoff.
    async fn fail(&mut self, err: Error, abort: &CancellationToken) -> Result<()> {
        if abort.is_cancelled() {
            return Err(Error::Aborted);
        }
        if self.policy.max_reconnect_attempts.is_some_and(|max| self.failures >= max) {
            return Err(Error::StreamGaveUp { attempts: self.failures + 1, last: Box::new(err) });
        }
        sleep_or_abort(self.policy.backoff(self.failures), abort).await?;
        self.failures += 1;
        Ok(())
    }
}

async fn sleep_or_abort(d: Duration, abort: &CancellationToken) -> Result<()> {
    tokio::select! {
        _ = abort.cancelled() => Err(Error::Aborted),
        _ = tokio::time::sleep(d) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    /// One scripted connection attempt.
    enum Attempt {
        Refused(Error),
        /// These chunks, then a clean end (or silence, if `silent`).
        Body(Vec<&'static str>, bool),
        /// Raw chunks (not necessarily UTF-8), then silence: the stream
        /// must end on what they carry.
        Raw(Vec<&'static [u8]>),
        /// Accepted, and no response ever comes.
        Unanswered,
    }

    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<Option<String>>>>);

    struct Script {
        attempts: VecDeque<Attempt>,
        seen: Seen,
    }

    impl Connect for Script {
        fn connect(&mut self, last: Option<&str>) -> Pin<Box<dyn std::future::Future<Output = Result<Body>> + Send + '_>> {
            self.seen.0.lock().unwrap().push(last.map(str::to_owned));
            let next = self.attempts.pop_front().expect("script ran out of attempts");
            Box::pin(async move {
                match next {
                    Attempt::Refused(e) => Err(e),
                    Attempt::Body(chunks, silent) => {
                        let chunks = futures::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from_static(c.as_bytes()))));
                        Ok(if silent { Box::pin(chunks.chain(futures::stream::pending())) as Body } else { Box::pin(chunks) as Body })
                    }
                    Attempt::Raw(chunks) => {
                        let chunks = futures::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from_static(c))));
                        Ok(Box::pin(chunks.chain(futures::stream::pending())) as Body)
                    }
                    Attempt::Unanswered => futures::future::pending().await,
                }
            })
        }
    }

    fn policy(max: Option<u32>) -> StreamPolicy {
        StreamPolicy {
            reconnect_delay: Duration::from_millis(100),
            max_reconnect_delay: Duration::from_millis(1000),
            max_reconnect_attempts: max,
            idle_timeout: Duration::from_secs(45),
        }
    }

    fn stream(attempts: Vec<Attempt>, max: Option<u32>) -> (EventStream<Script>, Seen) {
        let seen = Seen::default();
        let s = Script { attempts: attempts.into(), seen: seen.clone() };
        (EventStream::new(s, "event stream of job j", policy(max)), seen)
    }

    /// Treats `{...}` data as an event, `"T"` as terminal, the rest as malformed.
    fn classify(data: &str) -> Parsed {
        match data {
            "\"T\"" => Parsed::Terminal(vec![Value::from(1)]),
            d if d.starts_with('{') => Parsed::Event,
            _ => Parsed::Malformed,
        }
    }

    /// Reads to the end, returning every data frame seen and the outcome.
    async fn drain(s: &mut EventStream<Script>) -> (Vec<String>, Result<Vec<Value>>) {
        let mut seen = Vec::new();
        let abort = CancellationToken::new();
        loop {
            let r = s
                .next_batch(
                    &mut |d| {
                        seen.push(d.to_owned());
                        classify(d)
                    },
                    1000,
                    &abort,
                )
                .await;
            match r {
                Ok(Read::Frames) => continue,
                Ok(Read::Ended(a)) => return (seen, Ok(a)),
                Err(e) => return (seen, Err(e)),
            }
        }
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let p = policy(None);
        for _ in 0..200 {
            let d0 = p.backoff(0).as_millis();
            assert!((75..=125).contains(&d0), "{d0}");
            let d2 = p.backoff(2).as_millis();
            assert!((300..=500).contains(&d2), "{d2}");
            assert!((750..=1000).contains(&p.backoff(10).as_millis()));
            assert!(p.backoff(u32::MAX).as_millis() <= 1000);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_clean_end_after_progress_resumes_from_the_last_id() {
        let (mut s, seen) = stream(
            vec![
                Attempt::Body(vec!["id: 1\ndata: {}\n\nid: 2\ndata: {}\n\n"], false),
                Attempt::Body(vec!["id: 3\ndata: \"T\"\n\nid: 4\ndata: {}\n\n"], false),
            ],
            Some(0),
        );
        let start = tokio::time::Instant::now();
        let (frames, end) = drain(&mut s).await;
        assert_eq!(frames, vec!["{}", "{}", "\"T\""], "nothing after the terminal event");
        assert_eq!(end.unwrap(), vec![Value::from(1)]);
        assert_eq!(*seen.0.lock().unwrap(), vec![None, Some("2".into())]);
        // The base delay, not a backoff, and no failure counted (max 0).
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        assert_eq!(s.last_event_id(), Some("3"));
    }

    /// A backend that accepts and never sends its headers counts as a failed attempt
    /// after the idle timeout, so a bounded reconnect budget still ends.
    #[tokio::test(start_paused = true)]
    async fn a_connection_never_answered_times_out_like_a_silent_one() {
        let (mut s, _) = stream(vec![Attempt::Unanswered, Attempt::Unanswered], Some(1));
        let start = tokio::time::Instant::now();
        let (frames, end) = drain(&mut s).await;
        assert!(frames.is_empty());
        let e = end.unwrap_err();
        assert!(e.to_string().contains("not even a keepalive ping") || matches!(e, Error::StreamGaveUp { .. }), "{e}");
        assert!(start.elapsed() >= Duration::from_secs(90), "two idle timeouts, {:?}", start.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_is_dropped_and_resumed() {
        let (mut s, seen) = stream(
            vec![Attempt::Body(vec!["id: 7\ndata: {}\n\n"], true), Attempt::Body(vec!["event: end\ndata: {}\n\n"], false)],
            None,
        );
        let start = tokio::time::Instant::now();
        let (frames, end) = drain(&mut s).await;
        assert_eq!(frames, vec!["{}"]);
        assert_eq!(end.unwrap(), Vec::<Value>::new(), "`end` ends the stream");
        assert_eq!(*seen.0.lock().unwrap(), vec![None, Some("7".into())]);
        let waited = start.elapsed();
        assert!(waited >= Duration::from_secs(45) && waited <= Duration::from_millis(45_125), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn giving_up_carries_the_last_failure() {
        let api = || Attempt::Refused(Error::Api { status: 503, message: "down".into() });
        let (mut s, _) = stream(vec![api(), api(), api()], Some(2));
        match drain(&mut s).await.1 {
            Err(Error::StreamGaveUp { attempts: 3, last }) => assert!(matches!(*last, Error::Api { status: 503, .. })),
            other => panic!("{other:?}"),
        }
        // Pings, comments and malformed data are no progress.
        let (mut s, _) = stream(vec![Attempt::Body(vec![": hi\n\nevent: ping\ndata: {}\n\ndata: nope\n\n"], false)], Some(0));
        match drain(&mut s).await.1 {
            Err(Error::StreamGaveUp { attempts: 1, last }) => {
                assert!(matches!(*last, Error::NoFrames { .. }));
                assert_eq!(last.to_string(), "SSE stream closed without emitting any frame");
            }
            other => panic!("{other:?}"),
        }
        let (mut s, _) = stream(vec![Attempt::Body(vec![], true)], Some(0));
        match drain(&mut s).await.1 {
            Err(Error::StreamGaveUp { last, .. }) => assert!(matches!(*last, Error::StreamIdle { .. }), "{last}"),
            other => panic!("{other:?}"),
        }
    }

    /// One bad byte must cost at most its own frame. (A parser that holds
    /// back undecodable bytes until more arrive, as `eventsource-stream`
    /// does, would deliver nothing after it while the connection stays busy,
    /// so not even the idle timeout would end the wait.)
    #[tokio::test(start_paused = true)]
    async fn invalid_utf8_costs_only_its_own_frame() {
        let (mut s, seen) = stream(
            vec![Attempt::Raw(vec![b"id: 1\ndata: {\"a\":\"\xff\"}\n\n", b"id: 2\ndata: {}\n\n", b"id: 3\ndata: \"T\"\n\n"])],
            Some(0),
        );
        let (frames, end) = drain(&mut s).await;
        assert_eq!(frames, vec!["{\"a\":\"\u{fffd}\"}", "{}", "\"T\""]);
        assert!(end.is_ok());
        assert_eq!(seen.0.lock().unwrap().len(), 1, "no reconnect");
    }

    #[tokio::test(start_paused = true)]
    async fn progress_resets_the_failure_count() {
        let api = || Attempt::Refused(Error::Api { status: 502, message: "bad gateway".into() });
        let (mut s, _) = stream(
            vec![api(), Attempt::Body(vec!["id: 1\ndata: {}\n\n"], false), api(), Attempt::Body(vec!["data: \"T\"\n\n"], false)],
            Some(1),
        );
        assert!(drain(&mut s).await.1.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_statuses_end_at_once() {
        for status in [401, 403, 410, 426] {
            let (mut s, seen) = stream(vec![Attempt::Refused(Error::Api { status, message: "no".into() })], None);
            assert_eq!(drain(&mut s).await.1.unwrap_err().status(), Some(status));
            assert_eq!(seen.0.lock().unwrap().len(), 1);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn what_is_already_delivered_comes_in_one_batch() {
        let (mut s, _) = stream(vec![Attempt::Body(vec!["data: {}\n\n", "data: {}\n\n", "data: {}\n", "\ndata: \"T\"\n\n"], false)], None);
        let mut calls = 0;
        let mut frames = 0;
        let abort = CancellationToken::new();
        loop {
            calls += 1;
            let r = s
                .next_batch(
                    &mut |d| {
                        frames += 1;
                        classify(d)
                    },
                    1000,
                    &abort,
                )
                .await
                .unwrap();
            if r != Read::Frames {
                break;
            }
        }
        assert_eq!((calls, frames), (1, 4));
    }

    #[tokio::test(start_paused = true)]
    async fn abort_ends_a_backoff() {
        let (mut s, _) = stream(vec![Attempt::Refused(Error::Api { status: 500, message: "x".into() })], None);
        let abort = CancellationToken::new();
        let a = abort.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            a.cancel();
        });
        let r = s.next_batch(&mut classify, 10, &abort).await;
        assert!(matches!(r, Err(Error::Aborted)));
    }
}
