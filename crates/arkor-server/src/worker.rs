//! The job queue: one job at a time per engine, oldest first, each on its
//! own OS thread so a CPU-bound training step never stalls the HTTP server.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arkor_engine::{TrainLog, TrainObserver};
use serde_json::json;
use tokio::sync::Notify;

use crate::config::{plan, ConfigError, JobPlan};
use crate::dataset::{load_run_data, DatasetError, RunData};
use crate::events::EventLog;
use crate::instance::Instance;
use crate::models::{ModelCache, ModelError};
use crate::store::{Job, Store, Transition};
use crate::Rules;

/// Message for jobs whose server died while they were running.
pub const INTERRUPTED: &str = "The arkor server stopped while this job was running, so it did not finish; it was marked failed when the server restarted. Start the job again to retrain.";

/// Message for jobs whose server died before they started.
pub const ORPHANED: &str = "The arkor server that queued this job stopped before the job could start. Start the job again.";

/// How often a server looks for jobs left behind by dead servers, and a
/// training thread for a cancel written by another process.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
const CANCEL_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// Dry runs train on at most this many examples (and score at most this many
/// eval rows) for at most this many steps.
pub const DRY_RUN_EXAMPLES: usize = 16;
/// See [`DRY_RUN_EXAMPLES`].
pub const DRY_RUN_STEPS: usize = 3;

/// Why a job failed; its text is the `training.failed` event's `error`.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The stored config no longer plans (the server's rules changed since it was queued).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The base model could not be had.
    #[error(transparent)]
    Model(Box<ModelError>),
    /// The rows could not be had.
    #[error(transparent)]
    Dataset(Box<DatasetError>),
    /// The dataset (after a dry run's cut) has nothing to train on.
    #[error("the dataset has no examples")]
    NoExamples,
    /// The job was cancelled before training began (while its data loaded): the
    /// cancel already ended it, so nothing more is reported.
    #[error("cancelled")]
    Cancelled,
    /// Training stopped on an engine error.
    #[error(transparent)]
    Engine(Box<arkor_engine::Error>),
    /// An older adapter in the way of a new one could not be removed.
    #[error("cannot replace {}: {source}", path.display())]
    Replace {
        /// The old adapter's directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A saved adapter could not be moved from staging into the job's directory.
    #[error("cannot move the adapter {} into place at {}: {source}", from.display(), to.display())]
    Publish {
        /// Where the engine wrote it.
        from: PathBuf,
        /// Where readers look for it.
        to: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The training thread panicked; the message is the panic's.
    #[error("internal error in the training step: {0}")]
    Panic(String),
}

// Boxed: engine errors are large, and a job fails at most once.
impl From<ModelError> for JobError {
    fn from(e: ModelError) -> Self {
        JobError::Model(Box::new(e))
    }
}

impl From<DatasetError> for JobError {
    fn from(e: DatasetError) -> Self {
        JobError::Dataset(Box::new(e))
    }
}

impl From<arkor_engine::Error> for JobError {
    fn from(e: arkor_engine::Error) -> Self {
        JobError::Engine(Box::new(e))
    }
}

/// Shared by the routes and the worker loop.
#[derive(Clone)]
pub struct Queue {
    store: Store,
    log: EventLog,
    models: ModelCache,
    home: PathBuf,
    wake: Arc<Notify>,
    cancels: Arc<Mutex<HashMap<String, Arc<AtomicBool>>>>,
    instance: Arc<Instance>,
    rules: Arc<Rules>,
}

/// Runs `work` on a thread of its own and waits for it, or for `cancel`: a dataset
/// download stalled on a silent server (minutes, up to the fetch's timeout) must not
/// hold the queue once its job is cancelled. A cancelled load is left to end on its
/// own, its rows dropped.
fn unless_cancelled<T: Send + 'static>(cancel: &AtomicBool, work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("arkor-load".into())
        .spawn(move || {
            let _ = tx.send(work());
        })
        .expect("spawn the dataset loader");
    loop {
        match rx.recv_timeout(CANCEL_POLL) {
            Ok(v) => return Some(v),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if cancel.load(Ordering::SeqCst) => return None,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("the dataset loader panicked"),
        }
    }
}

impl Queue {
    /// A queue over `store`; call [`Queue::run`] to process it.
    pub(crate) fn new(store: Store, log: EventLog, models: ModelCache, home: PathBuf, instance: Instance, rules: Arc<Rules>) -> Self {
        Self { store, log, models, home, wake: Arc::new(Notify::new()), cancels: Default::default(), instance: Arc::new(instance), rules }
    }

    /// The server instance whose jobs this queue runs.
    pub fn owner(&self) -> &str {
        self.instance.id()
    }

    /// Where a job's checkpoints go.
    pub fn job_dir(home: &Path, job_id: &str) -> PathBuf {
        home.join("jobs").join(job_id)
    }

    /// Where the engine writes a job's adapters before each is renamed into
    /// [`Queue::job_dir`]: a save cut short by a kill stays here, where
    /// inference never looks.
    fn staging_dir(home: &Path, job_id: &str) -> PathBuf {
        Self::job_dir(home, job_id).join(".staging")
    }

    /// Tells the worker a job was queued.
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// Fails the unfinished jobs of servers that are no longer alive.
    pub fn recover(&self) {
        for (id, status, owner) in self.store.unfinished_jobs().unwrap_or_default() {
            if self.instance.is_dead(&self.home, owner.as_deref()) {
                let msg = if status == "running" { INTERRUPTED } else { ORPHANED };
                self.log.emit(&id, "training.failed", json!({ "error": msg }), Some(Transition::Failed(msg.into())));
            }
        }
    }

    /// Cancels a job: a queued one at once, a running one within a step.
    /// The terminal event is written here, so nothing the training thread
    /// reports afterwards reaches the log.
    pub fn cancel(&self, job: &Job) {
        if job.is_terminal() {
            return;
        }
        if let Some(flag) = self.cancels.lock().unwrap_or_else(|p| p.into_inner()).get(&job.id) {
            flag.store(true, Ordering::SeqCst);
        }
        self.log.emit(&job.id, "training.cancelled", json!({}), Some(Transition::Cancelled));
    }

    /// Processes this instance's queued jobs, and sweeps up after dead
    /// servers, until the task is dropped.
    pub async fn run(self) {
        let sweeper = self.clone();
        let _sweep = AbortOnDrop(tokio::spawn(async move {
            loop {
                tokio::time::sleep(SWEEP_EVERY).await;
                let q = sweeper.clone();
                let _ = tokio::task::spawn_blocking(move || q.recover()).await;
            }
        }));
        loop {
            match self.store.next_queued(self.owner()) {
                Ok(Some(job)) => {
                    let flag = Arc::new(AtomicBool::new(false));
                    self.cancels.lock().unwrap_or_else(|p| p.into_inner()).insert(job.id.clone(), flag.clone());
                    let this = self.clone();
                    let id = job.id.clone();
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    std::thread::Builder::new()
                        .name(format!("arkor-train-{id}"))
                        .spawn(move || {
                            this.run_job(job, &flag);
                            let _ = tx.send(());
                        })
                        .expect("spawn training thread");
                    let _ = rx.await;
                    self.cancels.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                }
                Ok(None) => self.wake.notified().await,
                Err(e) => {
                    tracing::error!("job queue: {e}");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn run_job(&self, job: Job, cancel: &AtomicBool) {
        if !self.log.emit(&job.id, "training.started", json!({}), Some(Transition::Started)) {
            return; // cancelled while queued
        }
        // A cancel may come through another process's server: it can only
        // write the job's terminal status, which this thread watches for.
        let training = AtomicBool::new(true);
        let outcome = std::thread::scope(|scope| {
            scope.spawn(|| {
                while training.load(Ordering::SeqCst) {
                    std::thread::sleep(CANCEL_POLL);
                    if self.store.job(&job.id).ok().flatten().is_some_and(|j| j.is_terminal()) {
                        cancel.store(true, Ordering::SeqCst);
                        break;
                    }
                }
            });
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.train(&job, cancel)));
            training.store(false, Ordering::SeqCst);
            outcome
        });
        let outcome = match outcome {
            Ok(r) => r,
            Err(panic) => Err(JobError::Panic(crate::fault::panic_message(panic.as_ref()))),
        };
        match outcome {
            Ok(_) | Err(JobError::Cancelled) if cancel.load(Ordering::SeqCst) => {}
            Ok(done) => {
                self.log.emit(&job.id, "training.completed", json!({ "metrics": done.metrics, "artifacts": done.artifacts }), Some(Transition::Completed));
            }
            Err(e) => {
                let msg = e.to_string();
                self.log.emit(&job.id, "training.failed", json!({ "error": msg }), Some(Transition::Failed(msg.clone())));
            }
        }
    }

    fn train(&self, job: &Job, cancel: &AtomicBool) -> Result<Finished, JobError> {
        if self.rules.faults.panic_job_name.as_deref() == Some(job.name.as_str()) {
            panic!("injected fault for job {}", job.id);
        }
        let JobPlan { model, dataset, format, mut train, save_steps, dry_run } = plan(&job.config, &self.rules.access)?;
        let model = self.models.model(&model)?;
        let (rules, evaluate, seed) = (self.rules.clone(), train.eval_steps.is_some(), train.seed);
        let Some(loaded) = unless_cancelled(cancel, move || load_run_data(&dataset, format, &rules, evaluate, seed)) else {
            return Err(JobError::Cancelled);
        };
        let RunData { train: mut examples, eval: mut eval_rows, eval_origin } = loaded?;
        if dry_run {
            examples.truncate(DRY_RUN_EXAMPLES);
            eval_rows.truncate(DRY_RUN_EXAMPLES);
            train.max_steps = Some(train.max_steps.unwrap_or(DRY_RUN_STEPS).min(DRY_RUN_STEPS));
        }
        if examples.is_empty() {
            return Err(JobError::NoExamples);
        }
        let out = Self::job_dir(&self.home, &job.id);
        let staging = Self::staging_dir(&self.home, &job.id);
        // Left over from a save a kill cut short.
        let _ = std::fs::remove_dir_all(&staging);
        train.output_dir = Some(staging.clone());
        train.save_steps = Some(save_steps.unwrap_or_else(|| default_save_steps(&train, examples.len())));
        let evaluate = train.eval_steps.is_some();
        let mut trainer = arkor_engine::Trainer::new(model, &examples, train)?;
        if evaluate {
            trainer = trainer.with_eval(&eval_rows)?;
        }
        let mut observer = JobObserver { log: &self.log, job_id: &job.id, out: &out, cancel, started: Instant::now(), failed: None };
        let run = trainer.run(&mut observer, cancel);
        let finished = match (observer.failed.take(), run) {
            (Some(e), _) => Err(e),
            (None, Err(e)) => Err(e.into()),
            (None, Ok(summary)) => summary.final_adapter.as_deref().map(|dir| publish(dir, &out.join("final"))).transpose().map(|final_dir| {
                let artifacts = final_dir
                    .iter()
                    .map(|p| json!({ "kind": "final", "jobId": job.id, "format": "peft-lora", "path": p.display().to_string() }))
                    .collect();
                let metrics = json!({
                    "steps": summary.steps, "finalLoss": summary.final_loss, "meanLoss": summary.mean_loss,
                    "trainSeconds": summary.seconds, "examples": examples.len(),
                    "evalLoss": summary.eval_loss, "evalSeconds": summary.eval_seconds,
                    "evalExamples": eval_rows.len(), "evalSource": eval_origin.as_ref().map(|o| o.label()),
                });
                Finished { metrics, artifacts }
            }),
        };
        let _ = std::fs::remove_dir_all(&staging);
        finished
    }
}

/// Moves a complete adapter directory from staging to `dest` in one rename,
/// so readers see either nothing or all of it.
fn publish(staged: &Path, dest: &Path) -> Result<PathBuf, JobError> {
    if dest.exists() {
        std::fs::remove_dir_all(dest).map_err(|source| JobError::Replace { path: dest.to_owned(), source })?;
    }
    std::fs::rename(staged, dest).map_err(|source| JobError::Publish { from: staged.to_owned(), to: dest.to_owned(), source })?;
    Ok(dest.to_owned())
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Finished {
    metrics: serde_json::Value,
    artifacts: Vec<serde_json::Value>,
}

/// Ten checkpoints over the run unless the user chose. The mid-run eval
/// recipe sets no `saveSteps` and samples at every checkpoint: the first
/// sample should come early enough to still show the base model's habits,
/// so the run's move toward the data is visible; a LoRA adapter is a few MB
/// and takes well under a second to write.
fn default_save_steps(t: &arkor_engine::TrainConfig, examples: usize) -> usize {
    let total = t.max_steps.unwrap_or_else(|| {
        let per_epoch = examples.div_ceil(t.batch_size * t.gradient_accumulation_steps).max(1);
        ((per_epoch as f64) * t.num_train_epochs).ceil() as usize
    });
    total.div_ceil(10).max(1)
}

struct JobObserver<'a> {
    log: &'a EventLog,
    job_id: &'a str,
    /// The job's directory, where checkpoints are published.
    out: &'a Path,
    cancel: &'a AtomicBool,
    started: Instant,
    /// Why publishing a checkpoint failed; the run is stopped and the job fails with it.
    failed: Option<JobError>,
}

impl TrainObserver for JobObserver<'_> {
    fn on_log(&mut self, l: &TrainLog) {
        if self.cancel.load(Ordering::SeqCst) {
            return;
        }
        self.log.emit(
            self.job_id,
            "training.log",
            json!({
                "step": l.step, "loss": l.loss, "evalLoss": l.eval_loss, "learningRate": l.learning_rate,
                "epoch": l.epoch, "samplesPerSecond": l.samples_per_second,
                "tokensPerSecond": l.tokens_per_second, "gradNorm": l.grad_norm,
                "elapsedSeconds": self.started.elapsed().as_secs_f64(),
            }),
            None,
        );
    }

    fn on_checkpoint(&mut self, step: usize, staged: &Path) {
        if self.cancel.load(Ordering::SeqCst) {
            return;
        }
        let dir = match publish(staged, &self.out.join(format!("checkpoint-{step}"))) {
            Ok(d) => d,
            Err(e) => {
                self.failed = Some(e);
                self.cancel.store(true, Ordering::SeqCst);
                return;
            }
        };
        let artifact = json!({ "kind": "checkpoint", "jobId": self.job_id, "step": step, "format": "peft-lora", "path": dir.display().to_string() });
        self.log.emit(self.job_id, "checkpoint.saved", json!({ "step": step, "artifacts": [artifact] }), None);
    }
}
