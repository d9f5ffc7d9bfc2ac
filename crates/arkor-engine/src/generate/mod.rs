//! Autoregressive generation with a KV cache: greedy or temperature / top-p sampling,
//! streaming one token at a time, optionally under a grammar ([`constraint`]).

use std::sync::Arc;

use candle_core::Tensor;

use crate::error::{Error, Result};
use crate::model::gemma3::KvCache;
use crate::model::lora::LoraAdapter;
use crate::model::tokenizer::StreamDecoder;
use crate::model::Model;
use crate::ops::F32Slice;
use crate::rng::SplitMix64;

pub mod constraint;
mod gbnf;
mod sampling;
pub mod tools;

pub use constraint::{CompiledGrammar, Constraint, ConstraintCompiler, ConstraintError, ConstraintStats, GrammarSpec};
use sampling::sample;
pub use sampling::SamplingParams;

/// Why generation stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// A stop token (`<eos>` or `<end_of_turn>`) was produced.
    Stop,
    /// `max_tokens` (or the context length) was reached.
    Length,
}

impl FinishReason {
    /// OpenAI's `finish_reason` string.
    pub fn as_openai(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        }
    }
}

/// One generated token.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenEvent {
    /// Token id.
    pub id: u32,
    /// Text that became complete with this token (may be empty inside a UTF-8 character).
    pub text: String,
}

/// A finished generation.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    /// Generated ids (stop token excluded).
    pub ids: Vec<u32>,
    /// Generated text.
    pub text: String,
    /// Why it stopped.
    pub finish_reason: FinishReason,
    /// Prompt length in tokens.
    pub prompt_tokens: usize,
}

/// A streaming generation. Owns what it needs (`Arc`s), so it can move to a worker
/// thread; iterate it to get tokens as they are produced.
pub struct Generator {
    model: Arc<Model>,
    adapter: Option<Arc<LoraAdapter>>,
    params: SamplingParams,
    cache: KvCache,
    pending_input: Vec<u32>,
    rng: SplitMix64,
    produced: Vec<u32>,
    decoder: StreamDecoder,
    finish: Option<FinishReason>,
    prompt_tokens: usize,
    stops: Vec<u32>,
    constraint: Option<Constraint>,
}

impl Generator {
    /// Prepares a generation for `prompt` (token ids, normally from
    /// `chat::encode_chat_prompt`) on the base model or with `adapter`.
    pub fn new(
        model: Arc<Model>,
        adapter: Option<Arc<LoraAdapter>>,
        prompt: &[u32],
        params: SamplingParams,
    ) -> Result<Self> {
        if prompt.is_empty() {
            return Err(Error::Config("empty prompt".into()));
        }
        if !(params.top_p > 0.0 && params.top_p <= 1.0) || !(params.temperature >= 0.0) {
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
            cache: KvCache::new(),
            pending_input: prompt.to_vec(),
            produced: Vec::new(),
            decoder: StreamDecoder::new(),
            finish: None,
            prompt_tokens: prompt.len(),
            stops,
            constraint: None,
        })
    }

    /// Decodes under `grammar`: each step samples only among the tokens it allows, and
    /// the turn ends (at `<end_of_turn>` or `<eos>`, whatever `stop_at_end_of_turn`
    /// says) only where it accepts, or as soon as it is complete.
    pub fn with_constraint(mut self, grammar: &CompiledGrammar) -> Self {
        let sp = self.model.tokenizer().specials();
        if !self.stops.contains(&sp.end_of_turn) {
            self.stops.push(sp.end_of_turn);
        }
        self.constraint = Some(grammar.start());
        self
    }

    /// Masking time so far, when decoding under a constraint.
    pub fn constraint_stats(&self) -> Option<ConstraintStats> {
        self.constraint.as_ref().map(Constraint::stats)
    }

    /// Why it stopped, once it has.
    pub fn finish_reason(&self) -> Option<FinishReason> {
        self.finish
    }

    /// Tokens generated so far.
    pub fn generated(&self) -> &[u32] {
        &self.produced
    }

    /// Prompt length in tokens.
    pub fn prompt_tokens(&self) -> usize {
        self.prompt_tokens
    }

    /// Produces the next token, or None when finished.
    pub fn next_token(&mut self) -> Result<Option<TokenEvent>> {
        if self.finish.is_some() {
            return Ok(None);
        }
        if self.produced.len() >= self.params.max_tokens
            || self.cache.len() + self.pending_input.len() > self.model.config().max_position_embeddings
        {
            self.finish = Some(FinishReason::Length);
            return Ok(None);
        }
        let w = self.model.weights();
        let input = Tensor::from_slice(&self.pending_input, (1, self.pending_input.len()), w.device())?;
        let frozen = w.frozen(self.params.precision)?;
        let (adapter, cache, last_pos) = (self.adapter.as_deref(), &mut self.cache, self.pending_input.len() - 1);
        // The whole step on a pool thread: its ~130 products then split their work from
        // inside the pool instead of each handing off to it and blocking (two context
        // switches per product, each a wait for a core when the machine is busy).
        let logits = rayon::scope(|_| -> Result<Tensor> {
            let hidden = w.forward_hidden(&input, adapter, Some(cache), &frozen)?;
            Ok(w.logits(&hidden.narrow(1, last_pos, 1)?, &frozen)?.flatten_all()?)
        })?;
        let logits = if logits.device().is_cpu() { logits } else { logits.to_device(&candle_core::Device::Cpu)? };
        let logits = logits.contiguous()?;
        let z = F32Slice::new(&logits)?;
        let id = match &mut self.constraint {
            None => sample(&z, &self.params, &mut self.rng),
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
        self.pending_input = vec![id];
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

    /// Runs to the end, calling `on_token` for each token; `on_token` returning false
    /// stops early (finish reason `Stop`, as a client disconnect would).
    pub fn run(mut self, mut on_token: impl FnMut(&TokenEvent) -> bool) -> Result<Generation> {
        let mut text = String::new();
        while let Some(ev) = self.next_token()? {
            text.push_str(&ev.text);
            if !on_token(&ev) {
                self.finish = Some(FinishReason::Stop);
                break;
            }
        }
        text.push_str(&self.decoder.finish());
        Ok(Generation {
            ids: self.produced,
            text,
            finish_reason: self.finish.unwrap_or(FinishReason::Length),
            prompt_tokens: self.prompt_tokens,
        })
    }
}

impl Iterator for Generator {
    type Item = Result<TokenEvent>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_token().transpose()
    }
}

/// Generates to completion (convenience over `Generator`).
pub fn generate(
    model: &Arc<Model>,
    adapter: Option<&Arc<LoraAdapter>>,
    prompt: &[u32],
    params: &SamplingParams,
) -> Result<Generation> {
    Generator::new(model.clone(), adapter.cloned(), prompt, params.clone())?.run(|_| true)
}
