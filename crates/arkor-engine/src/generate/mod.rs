//! Autoregressive generation with a KV cache: greedy or temperature / top-p sampling,
//! streaming one token at a time, optionally under a grammar ([`constraint`]); one
//! stream ([`Generator`]) or many decoded together ([`batch`]).

use std::sync::Arc;

use crate::error::Result;
use crate::model::lora::LoraAdapter;
use crate::model::Model;

pub mod batch;
pub mod constraint;
mod gbnf;
mod sampling;
pub mod tools;

pub use batch::{Batch, SeqId, Sequence, Update};
pub use constraint::{CompiledGrammar, Constraint, ConstraintCompiler, ConstraintError, ConstraintStats, GrammarSpec};
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

/// A streaming generation: a [`Batch`] of one [`Sequence`], so a request decoded alone
/// runs exactly the arithmetic it would run beside others. Owns what it needs
/// (`Arc`s), so it can move to a worker thread; iterate it to get tokens as they are
/// produced.
pub struct Generator {
    batch: Batch,
    id: SeqId,
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
        let seq = Sequence::new(model.clone(), adapter, prompt, params)?;
        let mut batch = Batch::new(model);
        let id = batch.join(seq)?;
        Ok(Self { batch, id })
    }

    fn seq(&self) -> &Sequence {
        self.batch.get(self.id).expect("a generator's sequence stays in its batch")
    }

    fn seq_mut(&mut self) -> &mut Sequence {
        self.batch.get_mut(self.id).expect("a generator's sequence stays in its batch")
    }

    /// Decodes under `grammar`: each step samples only among the tokens it allows, and
    /// the turn ends (at `<end_of_turn>` or `<eos>`, whatever `stop_at_end_of_turn`
    /// says) only where it accepts, or as soon as it is complete.
    pub fn with_constraint(mut self, grammar: &CompiledGrammar) -> Self {
        self.seq_mut().constrain(grammar);
        self
    }

    /// Masking time so far, when decoding under a constraint.
    pub fn constraint_stats(&self) -> Option<ConstraintStats> {
        self.seq().constraint_stats()
    }

    /// Why it stopped, once it has.
    pub fn finish_reason(&self) -> Option<FinishReason> {
        self.seq().finish_reason()
    }

    /// Tokens generated so far.
    pub fn generated(&self) -> &[u32] {
        self.seq().generated()
    }

    /// Prompt length in tokens.
    pub fn prompt_tokens(&self) -> usize {
        self.seq().prompt_tokens()
    }

    /// Produces the next token, or None when finished.
    pub fn next_token(&mut self) -> Result<Option<TokenEvent>> {
        if self.seq().is_done() {
            return Ok(None);
        }
        let id = self.id;
        // A step that feeds only part of a long prompt has no update for it.
        loop {
            if let Some(u) = self.batch.step().into_iter().find(|u| u.id == id) {
                return u.token;
            }
            if self.seq().is_done() {
                return Ok(None);
            }
        }
    }

    /// Runs to the end, calling `on_token` for each token; `on_token` returning false
    /// stops early (finish reason `Stop`, as a client disconnect would).
    pub fn run(mut self, mut on_token: impl FnMut(&TokenEvent) -> bool) -> Result<Generation> {
        let mut text = String::new();
        while let Some(ev) = self.next_token()? {
            text.push_str(&ev.text);
            if !on_token(&ev) {
                self.seq_mut().stop();
                break;
            }
        }
        let seq = self.seq_mut();
        text.push_str(&seq.take_tail_text());
        Ok(Generation {
            ids: seq.generated().to_vec(),
            text,
            finish_reason: seq.finish_reason().unwrap_or(FinishReason::Length),
            prompt_tokens: seq.prompt_tokens(),
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
