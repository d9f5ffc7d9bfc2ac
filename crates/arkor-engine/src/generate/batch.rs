//! Continuous batching: several [`Sequence`]s of one model advance together, one
//! token per [`Batch::step`] each. Each has its own prompt, cache, position, sampling
//! settings, random stream, grammar and adapter; sequences join and leave between steps.
//!
//! A step is one pass of the model (`model::decode`) over every sequence that decodes
//! (one token each) and over chunks of the prompts that joined (their prefill): the
//! products through the frozen weights run once over all of those tokens. While any
//! sequence decodes, a step takes at most [`PREFILL_CHUNK`] prompt tokens (in joining
//! order), so a long prompt, or many arriving at once, delays its batch-mates' next
//! token by a bounded amount instead of its whole prefill; a sequence's first token
//! comes with the step that feeds the last of its prompt. A sequence's tokens do not
//! depend on its batch-mates nor on how its prompt was chunked: the pass keeps tokens
//! apart (see `model::decode`), and [`crate::Generator`] is a batch of one, so a
//! request alone and the same request in a batch compute the same numbers.
//!
//! Sequences whose products run in f32 are prefilled whole and alone, through
//! `Gemma3::forward_hidden` (the f32 GEMM is not row-independent, see
//! `model::decode`), then decode in the shared pass. Off the CPU every sequence
//! decodes alone through `Gemma3::forward_hidden`.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use candle_core::{Device, Tensor};


use super::constraint::{CompiledGrammar, Constraint, ConstraintStats};
use super::sampling::{sample, SamplingParams};
use super::{FinishReason, TokenEvent};
use crate::error::{Error, Result};
use crate::model::decode::{Row, SeqCache};
use crate::model::frozen::Frozen;
use crate::model::gemma3::KvCache;
use crate::model::lora::LoraAdapter;
use crate::model::tokenizer::StreamDecoder;
use crate::model::Model;
use crate::rng::SplitMix64;

/// Prompt tokens a step feeds, over all the sequences it prefills, while others decode
/// in it: the bound on how much a joining prompt delays its batch-mates' next token (a
/// prompt token costs about as much compute as a decoding sequence's token).
pub const PREFILL_CHUNK: usize = 64;
/// Prompt tokens a step feeds when no sequence decodes in it (nothing to delay): bounds
/// the pass's activations.
const PREFILL_ALONE: usize = 512;

/// A sequence's handle in its [`Batch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeqId(u64);

/// Where a sequence keeps its keys and values.
enum Cache {
    /// Nothing yet: the next step prefills the prompt.
    Fresh,
    /// Preallocated, for the CPU's multi-sequence decode pass.
    Rows(SeqCache),
    /// Grown per step by `Gemma3::forward_hidden`, off the CPU.
    Tensors(KvCache),
}

/// One generation's state: what [`crate::Generator`] drives alone and [`Batch`] drives
/// together with others. Owns what it needs (`Arc`s), so it can move between threads.
pub struct Sequence {
    model: Arc<Model>,
    adapter: Option<Arc<LoraAdapter>>,
    params: SamplingParams,
    cache: Cache,
    /// Ids to feed next: the prompt, then each sampled token.
    pending: Vec<u32>,
    rng: SplitMix64,
    produced: Vec<u32>,
    decoder: StreamDecoder,
    finish: Option<FinishReason>,
    failed: bool,
    held: bool,
    prompt_tokens: usize,
    stops: Vec<u32>,
    constraint: Option<Constraint>,
}

impl Sequence {
    /// Prepares a generation for `prompt` (token ids, normally from
    /// `chat::encode_chat_prompt`) on the base model or with `adapter`.
    pub fn new(model: Arc<Model>, adapter: Option<Arc<LoraAdapter>>, prompt: &[u32], params: SamplingParams) -> Result<Self> {
        if prompt.is_empty() {
            return Err(Error::Config("empty prompt".into()));
        }
        if !(params.top_p > 0.0 && params.top_p <= 1.0 && params.temperature >= 0.0) {
            return Err(Error::Config(format!(
                "temperature must be >= 0 and top_p in (0, 1], got {} and {}",
                params.temperature, params.top_p
            )));
        }
        let vocab = model.config().vocab_size as u32;
        if prompt.iter().any(|&i| i >= vocab) {
            return Err(Error::Config("prompt token id outside the vocabulary".into()));
        }
        let sp = model.tokenizer().specials();
        let mut stops = vec![sp.eos];
        if params.stop_at_end_of_turn {
            stops.push(sp.end_of_turn);
        }
        Ok(Self {
            rng: SplitMix64::new(params.seed),
            model,
            adapter,
            params,
            cache: Cache::Fresh,
            pending: prompt.to_vec(),
            produced: Vec::new(),
            decoder: StreamDecoder::new(),
            finish: None,
            failed: false,
            held: false,
            prompt_tokens: prompt.len(),
            stops,
            constraint: None,
        })
    }

    /// Decodes under `grammar`: each step samples only among the tokens it allows, and
    /// the turn ends (at `<end_of_turn>` or `<eos>`, whatever `stop_at_end_of_turn`
    /// says) only where it accepts, or as soon as it is complete.
    pub fn with_constraint(mut self, grammar: &CompiledGrammar) -> Self {
        self.constrain(grammar);
        self
    }

    pub(crate) fn constrain(&mut self, grammar: &CompiledGrammar) {
        let sp = self.model.tokenizer().specials();
        if !self.stops.contains(&sp.end_of_turn) {
            self.stops.push(sp.end_of_turn);
        }
        self.constraint = Some(grammar.start());
    }

    /// Masking time so far, when decoding under a constraint.
    pub fn constraint_stats(&self) -> Option<ConstraintStats> {
        self.constraint.as_ref().map(Constraint::stats)
    }

    /// Why it stopped, once it has (None while running, and after a failure).
    pub fn finish_reason(&self) -> Option<FinishReason> {
        self.finish
    }

    /// Whether it will produce nothing more: finished, failed or stopped by its owner.
    pub fn is_done(&self) -> bool {
        self.finish.is_some() || self.failed
    }

    /// Holds it out of the steps (while `held`) without ending it: for a reader that has
    /// fallen behind, so that it does not hold up its batch-mates.
    pub fn hold(&mut self, held: bool) {
        self.held = held;
    }

    /// Ends it early (finish reason `Stop`, as a client disconnect would).
    pub fn stop(&mut self) {
        self.finish.get_or_insert(FinishReason::Stop);
    }

    /// Tokens generated so far.
    pub fn generated(&self) -> &[u32] {
        &self.produced
    }

    /// Prompt length in tokens.
    pub fn prompt_tokens(&self) -> usize {
        self.prompt_tokens
    }

    /// The adapter it decodes with.
    pub fn adapter(&self) -> Option<&Arc<LoraAdapter>> {
        self.adapter.as_ref()
    }

    /// Text held back inside an unfinished UTF-8 character, for the end of the answer.
    pub fn take_tail_text(&mut self) -> String {
        self.decoder.finish()
    }

    fn cache_len(&self) -> usize {
        match &self.cache {
            Cache::Fresh => 0,
            Cache::Rows(c) => c.len(),
            Cache::Tensors(c) => c.len(),
        }
    }

    /// `max_tokens` reached, or no room left in the context for the next input.
    fn out_of_room(&self) -> bool {
        self.produced.len() >= self.params.max_tokens
            || self.cache_len() + self.pending.len() > self.model.config().max_position_embeddings
    }

    fn frozen(&self) -> Result<Frozen> {
        self.model.weights().frozen(self.params.precision)
    }

    /// Whether its prompt goes through the shared pass (in chunks): on the CPU, with
    /// row-independent products (bf16 or Q8 copies).
    fn prefills_in_rows(&self) -> Result<bool> {
        Ok(self.model.weights().device().is_cpu() && matches!(self.frozen()?, Frozen::Q8(_) | Frozen::Bf16(_)))
    }

    /// A cache for the positions it may reach, for its prefill through the shared pass.
    fn start_rows(&mut self) {
        let c = self.model.config();
        let room = (self.prompt_tokens + self.params.max_tokens).min(c.max_position_embeddings);
        self.cache = Cache::Rows(SeqCache::new(c, room));
    }

    /// The next logits from a forward of this sequence alone: the prompt's prefill (on
    /// the CPU it then moves to a preallocated cache), or a decode step off the CPU.
    fn forward_alone(&mut self) -> Result<Vec<f32>> {
        let w = self.model.weights();
        let frozen = self.frozen()?;
        let n = self.pending.len();
        let input = Tensor::from_slice(&self.pending, (1, n), w.device())?;
        let mut kv = match std::mem::replace(&mut self.cache, Cache::Fresh) {
            Cache::Tensors(kv) => kv,
            _ => KvCache::new(),
        };
        let hidden = w.forward_hidden(&input, self.adapter.as_deref(), Some(&mut kv), &frozen)?;
        let logits = w.logits(&hidden.narrow(1, n - 1, 1)?, &frozen)?.flatten_all()?;
        let logits = logits.to_device(&Device::Cpu)?.to_vec1::<f32>()?;
        self.cache = if w.device().is_cpu() {
            let c = self.model.config();
            let room = (self.prompt_tokens + self.params.max_tokens).min(c.max_position_embeddings);
            let mut rows = SeqCache::new(c, room);
            rows.fill_from(&kv)?;
            Cache::Rows(rows)
        } else {
            Cache::Tensors(kv)
        };
        Ok(logits)
    }

    /// Samples the next token from `z` and takes it in.
    fn accept(&mut self, z: &[f32]) -> Result<Option<TokenEvent>> {
        let id = match &mut self.constraint {
            None => sample(z, &self.params, &mut self.rng),
            Some(c) => {
                let mut z = z.to_vec();
                c.mask(&mut z)?;
                sample(&z, &self.params, &mut self.rng)
            }
        };
        if self.stops.contains(&id) {
            self.finish = Some(FinishReason::Stop);
            return Ok(None);
        }
        self.pending = vec![id];
        self.produced.push(id);
        if let Some(c) = &mut self.constraint {
            c.commit(id)?;
            // Complete: the only thing left to sample would be a stop token, so save that step.
            if c.is_finished() {
                self.finish = Some(FinishReason::Stop);
            }
        }
        let text = self.decoder.push(self.model.tokenizer(), id);
        Ok(Some(TokenEvent { id, text }))
    }

    /// Records a failure: the sequence is done.
    fn settle(&mut self, r: Result<Option<TokenEvent>>) -> Result<Option<TokenEvent>> {
        if r.is_err() {
            self.failed = true;
        }
        r
    }
}

/// What one step did for one sequence.
#[derive(Debug)]
pub struct Update {
    /// The sequence.
    pub id: SeqId,
    /// Its new token; `Ok(None)` when it finished without one (a stop token, or
    /// `max_tokens`); an error fails this sequence only.
    pub token: Result<Option<TokenEvent>>,
    /// Whether it will produce nothing more ([`Sequence::is_done`]): take it out with
    /// [`Batch::leave`].
    pub done: bool,
}

/// Sequences of one model decoded together. See the module docs.
pub struct Batch {
    model: Arc<Model>,
    seqs: Vec<(SeqId, Sequence)>,
    next: u64,
    prefill_chunk: usize,
    /// The last pass's logits, kept so that each step does not allocate (and fault in)
    /// a fresh megabyte per sequence.
    logits: Vec<f32>,
}

impl Batch {
    /// An empty batch for `model`.
    pub fn new(model: Arc<Model>) -> Self {
        Self { model, seqs: Vec::new(), next: 0, prefill_chunk: PREFILL_CHUNK, logits: Vec::new() }
    }

    /// The model it decodes.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Adds `seq`; its prompt is prefilled by the next step. It must be of this batch's model.
    pub fn join(&mut self, seq: Sequence) -> Result<SeqId> {
        if !Arc::ptr_eq(&seq.model, &self.model) {
            return Err(Error::Config(format!(
                "a batch decodes one model: this one decodes {}, the sequence is for {}",
                self.model.name(),
                seq.model.name()
            )));
        }
        let id = SeqId(self.next);
        self.next += 1;
        self.seqs.push((id, seq));
        Ok(id)
    }

    /// Takes `id` out (between steps), with what it produced.
    pub fn leave(&mut self, id: SeqId) -> Option<Sequence> {
        let i = self.seqs.iter().position(|(s, _)| *s == id)?;
        Some(self.seqs.remove(i).1)
    }

    /// The sequence `id`.
    pub fn get(&self, id: SeqId) -> Option<&Sequence> {
        self.seqs.iter().find(|(s, _)| *s == id).map(|(_, s)| s)
    }

    /// The sequence `id`, to change (stop it, for instance).
    pub fn get_mut(&mut self, id: SeqId) -> Option<&mut Sequence> {
        self.seqs.iter_mut().find(|(s, _)| *s == id).map(|(_, s)| s)
    }

    /// Sequences in the batch, done or not.
    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    /// Whether it holds no sequence.
    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// Sequences that will take part in the next step: not done, not held.
    pub fn active(&self) -> usize {
        self.seqs.iter().filter(|(_, s)| !s.is_done() && !s.held).count()
    }

    /// Prompt tokens a step feeds while other sequences decode in it ([`PREFILL_CHUNK`]
    /// unless set; at least 1). Outputs do not depend on it, only latencies do.
    pub fn set_prefill_chunk(&mut self, tokens: usize) {
        self.prefill_chunk = tokens.max(1);
    }

    /// Runs one step (module docs): every sequence that is neither done nor held and
    /// decodes gets its next token; sequences that joined feed their prompt, in chunks
    /// while others decode, and get their first token with the step that feeds its
    /// end. One update per sequence that produced a token, finished or failed (a
    /// sequence that only fed part of its prompt has none).
    pub fn step(&mut self) -> Vec<Update> {
        crate::sharing::decode_step(|| self.step_here())
    }

    fn step_here(&mut self) -> Vec<Update> {
        let mut out = Vec::new();
        let mut decoding = Vec::new();
        let mut prefilling = Vec::new();
        for (i, (id, s)) in self.seqs.iter_mut().enumerate() {
            if s.is_done() || s.held {
                continue;
            }
            if s.out_of_room() {
                s.finish = Some(FinishReason::Length);
                out.push(Update { id: *id, token: Ok(None), done: true });
                continue;
            }
            if matches!(s.cache, Cache::Fresh) {
                match s.prefills_in_rows() {
                    Ok(true) => s.start_rows(),
                    Ok(false) => {}
                    Err(e) => {
                        let token = s.settle(Err(e));
                        out.push(Update { id: *id, token, done: true });
                        continue;
                    }
                }
            }
            match &s.cache {
                Cache::Rows(c) if c.len() > 0 && s.pending.len() == 1 => decoding.push(Feed { seq: i, tokens: 1, logits: true }),
                Cache::Rows(_) => prefilling.push(i),
                _ => {
                    let r = guarded(|| s.forward_alone()).and_then(|z| s.accept(&z));
                    let token = s.settle(r);
                    out.push(Update { id: *id, token, done: s.is_done() });
                }
            }
        }
        let mut budget = if decoding.is_empty() { PREFILL_ALONE.max(self.prefill_chunk) } else { self.prefill_chunk };
        let mut feeds = decoding;
        for i in prefilling {
            if budget == 0 {
                break;
            }
            let left = self.seqs[i].1.pending.len();
            let tokens = left.min(budget);
            budget -= tokens;
            feeds.push(Feed { seq: i, tokens, logits: tokens == left });
        }
        feeds.sort_by_key(|f| f.seq);
        if !feeds.is_empty() {
            self.decode(&feeds, &mut out);
        }
        out
    }

    /// One pass over `feeds`; if it fails, each sequence again alone, so that a failure
    /// (error or panic) fails only the sequences it belongs to.
    fn decode(&mut self, feeds: &[Feed], out: &mut Vec<Update>) {
        let mut ok = Vec::with_capacity(feeds.len());
        let mut packs = Vec::with_capacity(feeds.len());
        for f in feeds {
            let s = &mut self.seqs[f.seq].1;
            match s.frozen() {
                Ok(p) => {
                    ok.push(*f);
                    packs.push(p);
                }
                Err(e) => {
                    let token = s.settle(Err(e));
                    out.push(Update { id: self.seqs[f.seq].0, token, done: true });
                }
            }
        }
        if ok.is_empty() {
            return;
        }
        match self.decode_pass(&ok, &packs) {
            Ok(()) => self.take_logits(&ok, out),
            Err(e) if ok.len() == 1 => {
                let (id, s) = &mut self.seqs[ok[0].seq];
                let token = s.settle(Err(e));
                out.push(Update { id: *id, token, done: true });
            }
            Err(_) => {
                for (k, f) in ok.iter().enumerate() {
                    match self.decode_pass(std::slice::from_ref(f), &packs[k..k + 1]) {
                        Ok(()) => self.take_logits(std::slice::from_ref(f), out),
                        Err(e) => {
                            let (id, s) = &mut self.seqs[f.seq];
                            let token = s.settle(Err(e));
                            out.push(Update { id: *id, token, done: true });
                        }
                    }
                }
            }
        }
    }

    /// One pass; the logits of the feeds that want them land in `self.logits`; caches
    /// written, not committed.
    fn decode_pass(&mut self, feeds: &[Feed], packs: &[Frozen]) -> Result<()> {
        let model = &self.model;
        let mut rows: Vec<Row<'_>> = Vec::with_capacity(feeds.len());
        let mut want = feeds.iter().zip(packs).peekable();
        for (i, (_, s)) in self.seqs.iter_mut().enumerate() {
            let Some((f, p)) = want.next_if(|(f, _)| f.seq == i) else { continue };
            let Sequence { cache: Cache::Rows(cache), adapter, pending, .. } = s else {
                return Err(Error::Config("a sequence without a decode cache reached the decode pass".into()));
            };
            rows.push(Row { tokens: &pending[..f.tokens], cache, adapter: adapter.as_deref(), frozen: p, logits: f.logits });
        }
        let logits = &mut self.logits;
        guarded(|| model.weights().decode_rows(&mut rows, logits))
    }

    /// Commits each fed sequence's cache and, for those that wanted logits, samples its
    /// token from its logits row.
    fn take_logits(&mut self, feeds: &[Feed], out: &mut Vec<Update>) {
        let vocab = self.model.config().vocab_size;
        let mut k = 0;
        for f in feeds {
            let (id, s) = &mut self.seqs[f.seq];
            if let Cache::Rows(c) = &mut s.cache {
                c.commit(f.tokens);
            }
            s.pending.drain(..f.tokens);
            if !f.logits {
                continue;
            }
            let token = match self.logits.get(k * vocab..(k + 1) * vocab) {
                Some(z) => s.accept(z),
                None => Err(Error::Config(format!("the pass returned {} logits rows, row {k} is missing", self.logits.len() / vocab))),
            };
            k += 1;
            let token = s.settle(token);
            out.push(Update { id: *id, token, done: s.is_done() });
        }
    }
}

/// What a step feeds one sequence: `tokens` of its pending ids, and whether it samples
/// after them (the end of its prompt, or a decoding token).
#[derive(Clone, Copy, Debug)]
struct Feed {
    seq: usize,
    tokens: usize,
    logits: bool,
}

/// Runs `f`, turning a panic into an error, so one sequence's panic cannot take its
/// batch-mates (or the thread that drives them) down with it.
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(Error::Panicked(msg))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::lora::LoraConfig;

    /// A pass that fails (here a panic inside the LoRA kernels, from an adapter whose
    /// shapes do not fit) is run again row by row: only the row it belongs to fails, the
    /// others keep their tokens.
    #[test]
    fn a_failing_decode_pass_fails_only_its_row() {
        let model = Arc::new(Model::tiny(0).unwrap());
        let mut other = model.config().clone();
        other.hidden_size *= 2;
        let (bad, _) = LoraAdapter::init_trainable(&other, LoraConfig::default(), "x", 1, model.device()).unwrap();
        let p = SamplingParams { max_tokens: 8, stop_at_end_of_turn: false, ..Default::default() };
        let prompt = [2u32, 40, 50, 60];
        let want = crate::generate(&model, None, &prompt, &p).unwrap().ids;
        let mut batch = Batch::new(model.clone());
        let ids: Vec<SeqId> = (0..3).map(|_| batch.join(Sequence::new(model.clone(), None, &prompt, p.clone()).unwrap()).unwrap()).collect();
        assert!(batch.step().iter().all(|u| u.token.is_ok()));
        // After the prefill, the middle row's adapter turns bad: the next pass panics.
        batch.get_mut(ids[1]).unwrap().adapter = Some(Arc::new(bad));
        let updates = batch.step();
        assert_eq!(updates.len(), 3);
        for u in &updates {
            assert_eq!(u.token.is_err(), u.id == ids[1], "{u:?}");
        }
        assert!(matches!(&updates.iter().find(|u| u.id == ids[1]).unwrap().token, Err(Error::Panicked(_))));
        while batch.active() > 0 {
            assert!(batch.step().iter().all(|u| u.token.is_ok()));
        }
        assert_eq!(batch.get(ids[0]).unwrap().generated(), want);
        assert_eq!(batch.get(ids[2]).unwrap().generated(), want);
        assert_eq!(batch.get(ids[1]).unwrap().generated().len(), 1);
    }
}
