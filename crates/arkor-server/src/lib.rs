//! arkor-server: the local Arkor backend.
//!
//! The Arkor cloud API (docs/PROTOCOL.md) over HTTP with axum, jobs and their
//! event logs in SQLite under `$ARKOR_HOME`, and a queue that trains with
//! `arkor-engine` one job at a time while inference requests run beside it.
//! Used embedded (the SDK starts it in-process on loopback) and standalone
//! (`arkor serve`).

#![warn(missing_docs)]

pub mod access;
mod auth;
mod body;
mod conn;
pub mod config;
mod dataset;
mod deployments;
mod error;
mod events;
mod fault;
pub mod guard;
mod inference;
mod instance;
pub mod limits;
mod models;
#[cfg(test)]
mod proptests;
mod ratelimit;
mod routes;
pub mod store;
mod stream;
mod worker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use access::{Access, PublicAccess};
pub use error::ApiError;
use events::EventLog;
pub use limits::Limits;
use models::ModelCache;
use store::Store;
use worker::Queue;

/// Shared state of the routes.
#[derive(Clone)]
pub struct AppState {
    store: Store,
    log: EventLog,
    queue: Queue,
    models: ModelCache,
    batches: inference::Batches,
    home: PathBuf,
    ping_every: Duration,
    rules: Arc<Rules>,
    signups: ratelimit::RateLimiter,
}

/// What the routes and the job worker enforce, fixed at start.
#[derive(Debug, Default)]
pub(crate) struct Rules {
    access: Access,
    limits: Limits,
    faults: Faults,
}

/// Faults a test can inject to show the server survives them. Never set by
/// the CLI or the SDK.
#[doc(hidden)]
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Mounts `GET /v1/__fault/panic`, a handler that panics.
    pub panic_route: bool,
    /// A job with this name panics in its training worker.
    pub panic_job_name: Option<String>,
    /// A chat request whose messages contain this text panics in its model's batch
    /// loop after its second token.
    pub panic_inference_text: Option<String>,
}

/// How to run a server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Data directory (`$ARKOR_HOME`, default `~/.arkor/local`).
    pub home: PathBuf,
    /// A token to accept for org [`LOCAL_ORG`] without sign-up: how the
    /// embedded server and its in-process client trust each other.
    pub static_token: Option<String>,
    /// Keepalive interval of event streams.
    pub ping_every: Duration,
    /// Names the Host guard accepts besides 127.0.0.1, localhost and [::1]
    /// (`--allow-host`).
    pub allow_hosts: Vec<String>,
    /// Loopback (the default) or public mode.
    pub access: Access,
    /// Bounds on requests and jobs.
    pub limits: Limits,
    /// The most chat requests one model decodes together; more wait their turn.
    /// None: `ARKOR_MAX_BATCH`, checked when the server starts.
    pub max_batch: Option<usize>,
    /// Test-only fault injection; leave at its default.
    #[doc(hidden)]
    pub faults: Faults,
}

pub use arkor_protocol::LOCAL_ORG;

impl ServerOptions {
    /// Options for `home` with the defaults.
    pub fn new(home: PathBuf) -> Self {
        Self {
            home,
            static_token: None,
            ping_every: arkor_protocol::PING_INTERVAL,
            allow_hosts: Vec::new(),
            access: Access::Loopback,
            limits: Limits::default(),
            max_batch: None,
            faults: Faults::default(),
        }
    }
}

/// `$ARKOR_HOME`, else `~/.arkor/local` ([`arkor_settings::local_home`]).
pub fn default_home() -> PathBuf {
    arkor_settings::local_home()
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened.
    #[error("cannot open the job database {path}: {source}")]
    Database {
        /// Its path.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The listener or the instance lock under `home/run/` failed.
    #[error("cannot start: {0}")]
    Listen(#[from] std::io::Error),
    /// The static token could not be registered.
    #[error("cannot register the local token: {0}")]
    Token(store::StoreError),
    /// An option is unusable (an `--allow-host` name, an `--allow-path` root).
    #[error("{0}")]
    Options(String),
}

/// A running server; dropping it does not stop it, [`RunningServer::shutdown`] does.
pub struct RunningServer {
    /// Where it listens.
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// The kind of an embedded server's token, followed by its instance's id.
const EMBEDDED_TOKEN: &str = "embedded:";

/// An embedded server's token lives as long as its process: the tokens of
/// embedded servers that have exited (and those from before tokens named
/// their instance) stop working, so neither a leaked old token nor a row per
/// script run stays behind in the store.
fn retire_embedded_tokens(store: &Store, me: &instance::Instance, home: &std::path::Path) -> Result<(), store::StoreError> {
    for (token, kind) in store.tokens_of_kind("embedded")? {
        let owner = kind.strip_prefix(EMBEDDED_TOKEN);
        if me.is_dead(home, owner) {
            store.remove_token(&token)?;
        }
    }
    Ok(())
}

/// Opens the store, recovers interrupted jobs, starts the job worker and
/// serves on `listener`. Must be called inside a tokio runtime.
pub async fn start(options: ServerOptions, listener: tokio::net::TcpListener) -> Result<RunningServer, StartError> {
    let public = matches!(options.access, Access::Public(_));
    let settings = arkor_settings::Settings::global();
    settings.check().map_err(|e| StartError::Options(e.to_string()))?;
    let max_batch = options.max_batch.unwrap_or_else(|| settings.max_batch_or_default());
    let mut hosts = guard::HostPolicy::new(&options.allow_hosts).map_err(|e| StartError::Options(e.to_string()))?;
    if public {
        hosts = hosts.with_ip_literals();
    }
    let access = options.access.canonicalized().map_err(|e| StartError::Options(e.to_string()))?;
    let db = options.home.join("arkor.sqlite");
    let store = Store::open(&db).map_err(|source| StartError::Database { path: db.clone(), source })?;
    let instance = instance::Instance::acquire(&options.home).map_err(StartError::Listen)?;
    if let Some(token) = &options.static_token {
        let org = store.ensure_org(LOCAL_ORG, "Local").map_err(StartError::Token)?;
        // A public server's token is its only credential: a new one retires the old.
        // An embedded server's token is tied to the instance that made it.
        let kind = if public { "serve".to_owned() } else { format!("{EMBEDDED_TOKEN}{}", instance.id()) };
        store.set_token(token, &org, &kind, public).map_err(StartError::Token)?;
    }
    retire_embedded_tokens(&store, &instance, &options.home).map_err(StartError::Token)?;
    let rules = Arc::new(Rules { access, limits: options.limits, faults: options.faults });
    let log = EventLog::new(store.clone());
    let models = ModelCache::new(options.home.clone());
    let queue = Queue::new(store.clone(), log.clone(), models.clone(), options.home.clone(), instance, rules.clone());
    queue.recover();
    let signups = ratelimit::RateLimiter::new(rules.limits.signup_burst, rules.limits.signup_every);
    let sweep_store = store.clone();
    let batches = inference::Batches::new(max_batch);
    let state = AppState { store, log, queue: queue.clone(), models, batches, home: options.home.clone(), ping_every: options.ping_every, rules, signups };
    let app = routes::router(state, hosts);
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let worker = tokio::spawn(queue.run());
        let sweeper = tokio::spawn(deployments::sweep_runs(sweep_store));
        conn::serve(listener, app, async move {
            let _ = rx.await;
        })
        .await;
        worker.abort();
        sweeper.abort();
    });
    Ok(RunningServer { addr, shutdown: Some(tx), task })
}
