//! `arkor/tiny-gemma3`: a Gemma 3 architecture small enough for unit tests, built
//! from a seed with no download.

use std::collections::{BTreeMap, HashMap};

use candle_core::Device;

use super::config::{LayerType, ModelConfig};
use super::gemma3::Gemma3;
use super::tokenizer::{TokenKind, Tokenizer};
use super::{Model, TINY_MODEL};
use crate::error::Result;

const CORPUS: &str = "The quick brown fox jumps over the lazy dog. What is the capital of France? \
The capital of France is Paris. Hello! How are you today? I am fine, thank you. \
Please write a short poem about the sea. The sea is blue and the waves are high. \
User: translate this sentence into French. Assistant: here is the translation. \
What is two plus two? Two plus two is four. Tell me a joke about computers. \
Why did the computer go to the doctor? Because it had a virus. \
The model answers questions about science, history, and programming. \
In Python, a function is defined with def and a list with square brackets. \
Summarize the following text in one sentence. This is a summary of the text. \
Answer with yes or no. Yes. No. Thank you for your help, it was very useful. \
the and of to in is that it for with as was on be at by this have from or one had \
";

const MERGES: usize = 320;

/// Piece strings of the tiny vocabulary's fixed head: Gemma's specials at Gemma's ids
/// for pad/eos/bos/unk, then the turn markers.
const SPECIALS: [&str; 6] = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"];

impl Model {
    /// `arkor/tiny-gemma3` built from `seed` on the CPU (seed 0 is the canonical one).
    pub fn tiny(seed: u64) -> Result<Self> {
        let tokenizer = Tokenizer::tiny();
        let config = ModelConfig::tiny(tokenizer.vocab_size());
        let weights = Gemma3::random(config, seed, &Device::Cpu)?;
        Self::new(TINY_MODEL, weights, tokenizer)
    }
}

impl ModelConfig {
    /// The tiny test architecture `arkor/tiny-gemma3`: two layers (one sliding with a
    /// 4-position window so the window matters on short inputs, one global), GQA 2:1.
    pub fn tiny(vocab_size: usize) -> Self {
        Self {
            vocab_size,
            hidden_size: 64,
            intermediate_size: 128,
            num_hidden_layers: 2,
            num_attention_heads: 2,
            num_key_value_heads: 1,
            head_dim: 32,
            rms_norm_eps: 1e-6,
            rope_theta: 1_000_000.0,
            rope_local_base_freq: 10_000.0,
            rope_scaling_factor: None,
            sliding_window: 4,
            sliding_window_pattern: 2,
            layer_types: vec![LayerType::SlidingAttention, LayerType::FullAttention],
            query_pre_attn_scalar: 32.0,
            final_logit_softcapping: None,
            attn_logit_softcapping: None,
            max_position_embeddings: 4096,
            bos_token_id: 2,
            eos_token_id: 1,
            pad_token_id: 0,
        }
    }
}

impl Tokenizer {
    /// The tiny tokenizer of `arkor/tiny-gemma3`: Gemma's special tokens, 256 byte
    /// pieces, printable ASCII and a few hundred merges learnt deterministically from a
    /// built-in English/chat corpus.
    pub fn tiny() -> Self {
        tiny_tokenizer()
    }
}

fn tiny_tokenizer() -> Tokenizer {
    let mut pieces: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
    let mut kinds = vec![TokenKind::Control; SPECIALS.len()];
    kinds[3] = TokenKind::Unknown;
    for b in 0..=255u8 {
        pieces.push(format!("<0x{b:02X}>"));
        kinds.push(TokenKind::Byte);
    }
    let mut alphabet: Vec<char> = vec!['\u{2581}', '\n'];
    alphabet.extend((0x21u8..=0x7E).map(|b| b as char));
    for c in &alphabet {
        pieces.push(c.to_string());
        kinds.push(TokenKind::Normal);
    }
    let mut scores = vec![0f32; pieces.len()];
    for (i, m) in learn_merges(CORPUS, MERGES).into_iter().enumerate() {
        pieces.push(m);
        kinds.push(TokenKind::Normal);
        scores.push(-(i as f32) - 1.0);
    }
    Tokenizer::from_vocab(pieces, scores, kinds).expect("tiny vocabulary is well formed")
}

/// Classic BPE training over `▁`-prefixed words; ties broken by the pair's text so the
/// result never depends on hash order.
fn learn_merges(corpus: &str, n: usize) -> Vec<String> {
    let mut words: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    for w in corpus.split_whitespace() {
        let w = format!("\u{2581}{w}");
        *words.entry(w.chars().map(|c| c.to_string()).collect()).or_default() += 1;
    }
    let mut merges = Vec::new();
    for _ in 0..n {
        let mut counts: HashMap<(String, String), usize> = HashMap::new();
        for (w, c) in &words {
            for p in w.windows(2) {
                *counts.entry((p[0].clone(), p[1].clone())).or_default() += c;
            }
        }
        let Some(best) = counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
            .map(|x| x.0)
        else {
            break;
        };
        let merged = format!("{}{}", best.0, best.1);
        let mut next = BTreeMap::new();
        for (w, c) in words {
            let mut out: Vec<String> = Vec::with_capacity(w.len());
            let mut i = 0;
            while i < w.len() {
                if i + 1 < w.len() && w[i] == best.0 && w[i + 1] == best.1 {
                    out.push(merged.clone());
                    i += 2;
                } else {
                    out.push(w[i].clone());
                    i += 1;
                }
            }
            *next.entry(out).or_default() += c;
        }
        words = next;
        if !merges.contains(&merged) {
            merges.push(merged);
        }
    }
    merges
}
