//! Continuous batching of chat requests: per loaded model, one thread drives an
//! engine [`Batch`] of at most `max_batch` sequences (`ARKOR_MAX_BATCH`).
//!
//! Each turn of its loop:
//! 1. takes in the requests that arrived (prepared elsewhere: loading and grammar
//!    compiling never run here), up to `max_batch`; the rest wait in arrival order,
//!    and a waiting request whose client has gone is dropped;
//! 2. moves each answer's pieces into its channel without blocking: a reader that
//!    has fallen behind only holds its own sequence out of the next steps, and a
//!    dropped receiver (client gone) takes its sequence out;
//! 3. runs one engine step: the new sequences are prefilled, the others advance one
//!    token together, so each weight is read once per step for all of them;
//! 4. turns each sequence's token into pieces (stop texts, tool calls), and takes
//!    out the ones that finished, failed or hit a stop text.
//!
//! A request's failure is its own: the engine turns an error or panic of the shared
//! pass into the failures of the rows it belongs to, and a panic in this loop's
//! per-request work fails that request only. The thread blocks when there is nothing
//! to do.
//!
//! Sharing the cores with training: this thread and a training job's thread hand
//! their kernels' work to rayon's one pool (a thread per core), where the two
//! interleave job by job; neither has priority, and neither yields explicitly. That
//! was measured against separate pools for each (the OS then time-slices four busy
//! threads), a 1-thread pool for inference, and training at nice 5 and 10: with one
//! request after another during training, the shared pool kept about half of the
//! idle decode speed with a step about 1.55x slower; separate pools gave inference
//! about as much and training less (steps about 2x); a lower priority for training
//! slowed its steps 3-9x without helping inference on a machine with other load
//! (figures in bench/README.md).

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use arkor_engine::{Batch, FinishReason, Model, SeqId, Sequence, Update};

use super::reply::Reply;
use crate::fault::panic_message;

/// How long the loop waits when every sequence it holds is held back by its reader.
const BACKLOG_WAIT: Duration = Duration::from_millis(2);

/// A prepared request on its way into its model's batch.
pub(crate) struct Admission {
    /// Its sequence (prompt, adapter, sampling, grammar).
    pub(crate) seq: Sequence,
    /// Where its answer goes.
    pub(crate) reply: Reply,
    /// Test fault ([`crate::Faults::panic_inference_text`]): panic in the loop after its second token.
    pub(crate) fault: bool,
}

/// The batch threads of the loaded models.
#[derive(Clone)]
pub(crate) struct Batches {
    lanes: Arc<Mutex<HashMap<String, Lane>>>,
    max_batch: usize,
}

struct Lane {
    model: Arc<Model>,
    tx: mpsc::Sender<Admission>,
}

impl Batches {
    /// No thread yet; each model's starts with its first request.
    pub(crate) fn new(max_batch: usize) -> Self {
        Self { lanes: Default::default(), max_batch: max_batch.max(1) }
    }

    /// Queues `adm` for `model`'s batch, starting its thread if needed.
    pub(crate) fn submit(&self, model: Arc<Model>, mut adm: Admission) {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lane) = lanes.get(model.name()).filter(|l| Arc::ptr_eq(&l.model, &model)) {
            match lane.tx.send(adm) {
                Ok(()) => return,
                // Its thread is gone (it never returns while the lane exists, but a
                // new one costs nothing to start): start another.
                Err(mpsc::SendError(back)) => adm = back,
            }
        }
        let (tx, rx) = mpsc::channel();
        let (m, max) = (model.clone(), self.max_batch);
        let started = std::thread::Builder::new().name(format!("arkor-batch-{}", model.name())).spawn(move || Loop::new(m, rx, max).run());
        if let Err(e) = started {
            adm.reply.fail(format!("cannot start the batch thread: {e}"));
            adm.reply.flush();
            return;
        }
        // The thread holds the receiver until this lane's sender goes.
        let _ = tx.send(adm);
        lanes.insert(model.name().to_owned(), Lane { model, tx });
    }
}

/// A sequence in the batch and its answer.
struct Running {
    reply: Reply,
    fault: bool,
}

/// One model's scheduling loop (module docs).
struct Loop {
    batch: Batch,
    rx: mpsc::Receiver<Admission>,
    max: usize,
    waiting: VecDeque<Admission>,
    running: HashMap<SeqId, Running>,
    /// Finished answers whose last pieces wait for room in their channel.
    draining: Vec<Reply>,
}

impl Loop {
    fn new(model: Arc<Model>, rx: mpsc::Receiver<Admission>, max: usize) -> Self {
        Self { batch: Batch::new(model), rx, max, waiting: VecDeque::new(), running: HashMap::new(), draining: Vec::new() }
    }

    fn run(mut self) {
        while self.admit() {
            self.flush();
            if self.batch.active() == 0 {
                if !self.batch.is_empty() || !self.draining.is_empty() {
                    std::thread::sleep(BACKLOG_WAIT);
                }
                continue;
            }
            for u in self.batch.step() {
                self.take(u);
            }
        }
    }

    /// Takes arrived requests in, blocking while there is nothing else to do; false
    /// once the server dropped this model's lane.
    fn admit(&mut self) -> bool {
        if self.batch.is_empty() && self.waiting.is_empty() && self.draining.is_empty() {
            match self.rx.recv() {
                Ok(a) => self.waiting.push_back(a),
                Err(_) => return false,
            }
        }
        while let Ok(a) = self.rx.try_recv() {
            self.waiting.push_back(a);
        }
        self.waiting.retain(|a| !a.reply.gone());
        while self.batch.len() < self.max {
            let Some(mut a) = self.waiting.pop_front() else { break };
            match self.batch.join(a.seq) {
                Ok(id) => {
                    self.running.insert(id, Running { reply: a.reply, fault: a.fault });
                }
                Err(e) => {
                    a.reply.fail(e.to_string());
                    self.draining.push(a.reply);
                }
            }
        }
        true
    }

    /// Pieces into channels; sequences whose reader is behind sit out, those whose
    /// client has gone leave.
    fn flush(&mut self) {
        let mut gone = Vec::new();
        for (id, r) in self.running.iter_mut() {
            if !r.reply.flush() {
                gone.push(*id);
            } else if let Some(s) = self.batch.get_mut(*id) {
                s.hold(r.reply.backlogged());
            }
        }
        for id in gone {
            self.batch.leave(id);
            self.running.remove(&id);
        }
        self.draining.retain_mut(|r| r.flush() && r.backlogged());
    }

    /// A step's update for one sequence: its token into its answer, and its end.
    fn take(&mut self, u: Update) {
        let Some(run) = self.running.get_mut(&u.id) else { return };
        let batch = &mut self.batch;
        let ended = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let Some(seq) = batch.get_mut(u.id) else { return true };
            if run.fault && seq.generated().len() >= 2 {
                panic!("injected fault in the batch loop");
            }
            match u.token {
                Err(e) => {
                    run.reply.fail(e.to_string());
                    return true;
                }
                Ok(Some(ev)) => {
                    if !run.reply.text(&ev.text) {
                        seq.stop();
                    }
                }
                Ok(None) => {}
            }
            if !(u.done || seq.is_done()) {
                return false;
            }
            let tail = seq.take_tail_text();
            let finish = seq.finish_reason().unwrap_or(FinishReason::Length);
            run.reply.finish(finish, &tail, seq.prompt_tokens(), seq.generated().len());
            true
        }));
        let ended = ended.unwrap_or_else(|p| {
            let msg = panic_message(p.as_ref());
            tracing::error!("chat request panicked in the batch loop: {msg}");
            run.reply.fail(format!("internal error while generating ({msg}); the server is still running, please report this"));
            true
        });
        if ended {
            self.batch.leave(u.id);
            if let Some(mut run) = self.running.remove(&u.id) {
                if run.reply.flush() && run.reply.backlogged() {
                    self.draining.push(run.reply);
                }
            }
        }
    }
}
