//! Constrained decoding: at each step sampling only sees the tokens a grammar allows,
//! and the turn may end only where the grammar accepts.
//!
//! [`llguidance`] does the parsing. Per model, a [`ConstraintCompiler`] holds the token
//! table built from the tokenizer's vocabulary (built once, on first use, by
//! [`crate::Model::constraints`]) and an LRU of compiled grammars keyed by the spec, so a
//! schema used twice is compiled once and compilation stays off the decode loop. A
//! [`CompiledGrammar`] hands out one [`Constraint`] per generation.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{SimpleVob, TokEnv, TokRxInfo, TokTrie, TokenId, TokenizerEnv};
use llguidance::{Matcher, ParserFactory};
use serde_json::{json, Value};

use crate::model::tokenizer::{TokenKind, Tokenizer};

/// What the output must match.
#[derive(Clone, Debug, PartialEq)]
pub enum GrammarSpec {
    /// A JSON value valid against this JSON schema.
    JsonSchema(Value),
    /// Any JSON object.
    JsonObject,
    /// Text matching this regular expression (Rust `regex` syntax), whole.
    Regex(String),
    /// Exactly one of these strings.
    Choice(Vec<String>),
    /// A grammar in llguidance's Lark dialect (which also embeds `%json {...}` schemas),
    /// or in GBNF (`root ::= ...`, told apart by its `::=`).
    Lark(String),
}

impl GrammarSpec {
    /// The cache key: the kind and the spec's exact text.
    fn key(&self) -> String {
        match self {
            GrammarSpec::JsonSchema(v) => format!("json:{v}"),
            GrammarSpec::JsonObject => "json_object".into(),
            GrammarSpec::Regex(r) => format!("regex:{r}"),
            GrammarSpec::Choice(c) => format!("choice:{}", json!(c)),
            GrammarSpec::Lark(g) => format!("lark:{g}"),
        }
    }

    /// The llguidance grammar; JSON comes out compact (no whitespace between tokens).
    fn to_llguidance(&self) -> Result<TopLevelGrammar, ConstraintError> {
        Ok(match self {
            GrammarSpec::JsonSchema(schema) => {
                if !schema.is_object() && !schema.is_boolean() {
                    return Err(ConstraintError::JsonSchema("a schema must be an object or a boolean".into()));
                }
                TopLevelGrammar::from_json_schema(compact_json(schema.clone()))
            }
            GrammarSpec::JsonObject => TopLevelGrammar::from_json_schema(compact_json(json!({"type": "object"}))),
            GrammarSpec::Regex(rx) => TopLevelGrammar::from_regex(strip_anchors(rx)),
            GrammarSpec::Choice(options) => {
                if options.is_empty() {
                    return Err(ConstraintError::EmptyChoice);
                }
                // Lark string literals take JSON's escapes, so JSON-quoting each option is exact.
                let alts: Vec<String> = options.iter().map(|o| json!(o).to_string()).collect();
                TopLevelGrammar::from_lark(format!("start: {}", alts.join(" | ")))
            }
            GrammarSpec::Lark(g) => {
                if g.trim().is_empty() {
                    return Err(ConstraintError::Grammar("the grammar is empty".into()));
                }
                if super::gbnf::is_gbnf(g) {
                    TopLevelGrammar::from_lark(super::gbnf::gbnf_to_lark(g).map_err(ConstraintError::Grammar)?)
                } else {
                    TopLevelGrammar::from_lark(g.clone())
                }
            }
        })
    }

    /// Wraps a parser's message in the error variant that names this kind of spec.
    fn error(&self, message: String) -> ConstraintError {
        match self {
            GrammarSpec::JsonSchema(_) | GrammarSpec::JsonObject => ConstraintError::JsonSchema(message),
            GrammarSpec::Regex(_) => ConstraintError::Regex(message),
            GrammarSpec::Choice(_) | GrammarSpec::Lark(_) => ConstraintError::Grammar(message),
        }
    }
}

/// The output always matches a regex whole, so a leading `^` and a trailing `$` (which
/// vLLM users write) say nothing; the parser does not take them.
fn strip_anchors(rx: &str) -> &str {
    let rx = rx.strip_prefix('^').unwrap_or(rx);
    match rx.strip_suffix('$') {
        Some(r) if !r.ends_with('\\') || r.ends_with("\\\\") => r,
        _ => rx,
    }
}

/// The JSON layout small models were trained on (and the one that cannot run away into
/// whitespace): `{"a":1,"b":[2,3]}`. A schema's own `x-guidance` options win.
pub(crate) fn compact_json(mut schema: Value) -> Value {
    if let Value::Object(m) = &mut schema {
        m.entry("x-guidance").or_insert_with(|| json!({"whitespace_flexible": false, "item_separator": ",", "key_separator": ":"}));
    }
    schema
}

/// A constraint that cannot be compiled or followed, with the parser's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    /// The JSON schema is malformed or uses something the parser does not support.
    #[error("invalid JSON schema: {0}")]
    JsonSchema(String),
    /// The regular expression does not parse.
    #[error("invalid regex: {0}")]
    Regex(String),
    /// The grammar (or a choice list turned into one) does not compile.
    #[error("invalid grammar: {0}")]
    Grammar(String),
    /// A choice list with no options.
    #[error("choice needs at least one option")]
    EmptyChoice,
    /// The token table could not be built from the vocabulary.
    #[error("cannot index the vocabulary for constrained decoding: {0}")]
    Vocabulary(String),
    /// The parser failed in the middle of a generation (a bug, or a grammar that
    /// dead-ends: no token can continue it and it does not accept).
    #[error("constrained decoding failed: {0}")]
    Decode(String),
}

/// How many compiled grammars a model keeps.
const CACHE_CAPACITY: usize = 64;

/// Per-model state of constrained decoding: the token table, the parser factory and the
/// cache of compiled grammars. Shared by every generation on the model.
pub struct ConstraintCompiler {
    factory: ParserFactory,
    /// Most recently used last.
    cache: Mutex<VecDeque<(String, Arc<CompiledGrammar>)>>,
    compilations: Mutex<usize>,
}

impl fmt::Debug for ConstraintCompiler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConstraintCompiler").field("compilations", &self.compilations()).finish_non_exhaustive()
    }
}

impl ConstraintCompiler {
    /// Indexes `tok`'s vocabulary for a head of `vocab_size` logits (ids past the
    /// tokenizer's vocabulary can never be produced under a constraint).
    pub fn new(tok: &Tokenizer, vocab_size: usize) -> Result<Self, ConstraintError> {
        let env: TokEnv = Arc::new(GemmaTokEnv::new(tok, vocab_size)?);
        let mut factory = ParserFactory::new_simple(&env).map_err(|e| ConstraintError::Vocabulary(e.to_string()))?;
        factory.quiet();
        Ok(Self { factory, cache: Mutex::new(VecDeque::new()), compilations: Mutex::new(0) })
    }

    /// The compiled grammar for `spec`, from the cache when it was compiled before.
    pub fn compile(&self, spec: &GrammarSpec) -> Result<Arc<CompiledGrammar>, ConstraintError> {
        let key = spec.key();
        {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(pos) = cache.iter().position(|(k, _)| *k == key) {
                let hit = cache.remove(pos).expect("position is in range");
                let g = hit.1.clone();
                cache.push_back(hit);
                return Ok(g);
            }
        }
        // Compiled outside the lock: a large schema must not hold up other requests.
        let grammar = spec.to_llguidance()?;
        let parser = self.factory.create_parser(grammar).map_err(|e| spec.error(e.to_string()))?;
        let mut matcher = Matcher::new(Ok(parser));
        // Some errors (an empty language, a lexer that cannot start) only show at the first
        // mask, where the parser's message goes on with a dump of its state: its first
        // line is what a user can act on.
        matcher.compute_mask().map_err(|e| {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default().chars().take(200).collect::<String>();
            spec.error(format!("no text can satisfy it (an empty language, or a rule that only refers to itself): {first}"))
        })?;
        let compiled = Arc::new(CompiledGrammar { fresh: Mutex::new(matcher) });
        *self.compilations.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.retain(|(k, _)| *k != key);
        if cache.len() >= CACHE_CAPACITY {
            cache.pop_front();
        }
        cache.push_back((key, compiled.clone()));
        Ok(compiled)
    }

    /// How many grammars this model has compiled (cache misses).
    pub fn compilations(&self) -> usize {
        *self.compilations.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A grammar compiled for one model's vocabulary, ready to start any number of
/// generations.
pub struct CompiledGrammar {
    /// The parser before any token; each generation gets a clone, which shares the
    /// lexer's caches (so the second generation under a schema is faster than the first).
    fresh: Mutex<Matcher>,
}

impl fmt::Debug for CompiledGrammar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CompiledGrammar")
    }
}

impl CompiledGrammar {
    /// A constraint for one generation.
    pub fn start(&self) -> Constraint {
        let matcher = self.fresh.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Constraint { matcher, stats: ConstraintStats::default() }
    }

    /// Whether `ids` form a complete output of this grammar (used by tests and checks).
    pub fn accepts(&self, ids: &[u32]) -> bool {
        let mut c = self.start();
        ids.iter().all(|&t| c.commit(t).is_ok()) && c.matcher.is_accepting().unwrap_or(false)
    }
}

/// Time spent masking, for benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ConstraintStats {
    /// Masks computed (one per generated token).
    pub masks: usize,
    /// Total time computing masks and applying them to the logits.
    pub mask_time: Duration,
}

/// The state of one constrained generation.
pub struct Constraint {
    matcher: Matcher,
    stats: ConstraintStats,
}

impl fmt::Debug for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Constraint").field("stats", &self.stats).finish_non_exhaustive()
    }
}

impl Constraint {
    /// Sets the logits of every token the grammar does not allow next to -inf. The stop
    /// tokens stay allowed only where the grammar accepts.
    pub fn mask(&mut self, logits: &mut [f32]) -> Result<(), ConstraintError> {
        let t0 = Instant::now();
        let mask = self.matcher.compute_mask_or_eos().map_err(|e| ConstraintError::Decode(e.to_string()))?;
        if mask.is_zero() {
            return Err(ConstraintError::Decode("no token can continue the output".into()));
        }
        apply_mask(&mask, logits);
        self.stats.masks += 1;
        self.stats.mask_time += t0.elapsed();
        Ok(())
    }

    /// Advances past a sampled token.
    pub fn commit(&mut self, id: u32) -> Result<(), ConstraintError> {
        self.matcher.consume_token(id as TokenId).map_err(|e| ConstraintError::Decode(e.to_string()))
    }

    /// The grammar is complete and allows nothing but a stop token.
    pub fn is_finished(&self) -> bool {
        self.matcher.is_stopped()
    }

    /// Masking time so far.
    pub fn stats(&self) -> ConstraintStats {
        self.stats
    }
}

/// -inf wherever the mask's bit is clear, 32 tokens per word; all-allowed words are
/// skipped, so a permissive mask costs little.
fn apply_mask(mask: &SimpleVob, logits: &mut [f32]) {
    let words = mask.as_slice();
    let mut chunks = logits.chunks_mut(32);
    for (&w, chunk) in words.iter().zip(&mut chunks) {
        if w == u32::MAX {
            continue;
        }
        for (b, v) in chunk.iter_mut().enumerate() {
            if (w >> b) & 1 == 0 {
                *v = f32::NEG_INFINITY;
            }
        }
    }
    for chunk in chunks {
        chunk.fill(f32::NEG_INFINITY);
    }
}

/// llguidance's view of the Gemma vocabulary: each token's bytes, control tokens marked
/// as special (so no grammar text can produce them), `<eos>` and `<end_of_turn>` as the
/// stop tokens.
struct GemmaTokEnv {
    trie: TokTrie,
}

impl GemmaTokEnv {
    fn new(tok: &Tokenizer, vocab_size: usize) -> Result<Self, ConstraintError> {
        if vocab_size < tok.vocab_size() {
            return Err(ConstraintError::Vocabulary(format!(
                "the head has {vocab_size} logits but the tokenizer {} tokens",
                tok.vocab_size()
            )));
        }
        let words: Vec<Vec<u8>> = (0..vocab_size as u32)
            .map(|id| match tok.kind(id) {
                None => Vec::new(),
                Some(TokenKind::Control | TokenKind::Unknown | TokenKind::Unused) => {
                    let mut w = vec![TokTrie::SPECIAL_TOKEN_MARKER];
                    w.extend(tok.token_bytes(id, false));
                    w
                }
                Some(_) => tok.token_bytes(id, false),
            })
            .collect();
        let sp = tok.specials();
        let info = TokRxInfo {
            vocab_size: vocab_size as u32,
            tok_eos: sp.eos,
            tok_bos: Some(sp.bos),
            tok_pad: Some(sp.pad),
            tok_unk: Some(sp.unk),
            tok_end_of_turn: Some(sp.end_of_turn),
        };
        let trie = TokTrie::from(&info, &words).with_eos_tokens(&[sp.end_of_turn, sp.eos]);
        Ok(Self { trie })
    }
}

impl TokenizerEnv for GemmaTokEnv {
    fn tok_trie(&self) -> &TokTrie {
        &self.trie
    }

    fn tokenize_bytes(&self, s: &[u8]) -> Vec<TokenId> {
        self.trie.greedy_tokenize(s)
    }

    // Greedy tokenization is not what the BPE would produce, so llguidance must not
    // force tokens from it; masks alone are exact either way.
    fn tokenize_is_canonical(&self) -> bool {
        false
    }
}
