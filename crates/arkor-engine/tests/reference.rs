//! The real gemma-3-270m against Hugging Face `transformers` on the same GGUF.
//!
//! Fixtures (`tests/fixtures/{tokenizer_ids,logits}.json`) come from
//! `scripts/make_reference_fixtures.py`. These tests need the installed model at
//! `$ARKOR_HOME/models/google--gemma-3-270m/model.gguf` (ARKOR_HOME defaults to
//! `~/.arkor/local`) and fail, saying how to install it, when it is absent.
//!
//! Logit tolerance: |ours - transformers| <= LOGIT_ABS_TOL + LOGIT_REL_TOL * |transformers|
//! on every compared logit (top-50 ids and 16 fixed ids at several positions per prompt),
//! the same argmax wherever the reference's top-2 gap exceeds twice that, and the sum and
//! L2 norm of the whole 262144-wide vector within 1e-4 relative.
mod common;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use arkor_engine::chat::encode_chat_prompt;
use arkor_engine::{generate, Batch, ChatMessage, Device, Frozen, Model, Precision, SamplingParams, Sequence, GEMMA3_270M};
use candle_core::Tensor;
use serde::Deserialize;

const LOGIT_ABS_TOL: f32 = 2e-3;
const LOGIT_REL_TOL: f32 = 1e-4;

fn model() -> &'static Arc<Model> {
    static M: OnceLock<Arc<Model>> = OnceLock::new();
    M.get_or_init(|| {
        let p = common::installed_gemma3_270m();
        Arc::new(
            Model::from_gguf(GEMMA3_270M, &p, &Device::Cpu)
                .unwrap_or_else(|e| panic!("loading {}: {e}", p.display())),
        )
    })
}

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[derive(Deserialize)]
struct TokFixture {
    strings: Vec<String>,
    ids: Vec<Vec<u32>>,
}

#[test]
fn tokenizer_matches_transformers_token_for_token() {
    let path = common::installed_gemma3_270m();
    let content = arkor_engine::gguf::read_content(&path).unwrap();
    let tok = arkor_engine::gguf::tokenizer_from_gguf(&path, &content).unwrap();
    assert_eq!(tok.vocab_size(), 262_144);
    let fx: TokFixture = serde_json::from_str(&fixture("tokenizer_ids.json")).unwrap();
    assert!(fx.strings.len() >= 200 && fx.strings.len() == fx.ids.len());
    let mut bad = Vec::new();
    for (s, want) in fx.strings.iter().zip(&fx.ids) {
        let got = tok.encode(s, false);
        if &got != want {
            let first = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
            let piece = |v: &[u32]| v.iter().skip(first).take(4).map(|&i| format!("{i}:{:?}", tok.piece(i).unwrap_or("?"))).collect::<Vec<_>>();
            bad.push(format!(
                "{s:?}: first difference at token {first}: ours {:?} vs transformers {:?}\n  ours {got:?}\n  want {want:?}",
                piece(&got),
                piece(want)
            ));
        } else {
            assert_eq!(tok.decode(&got, false), *s, "decode(encode(s)) != s");
        }
    }
    assert!(bad.is_empty(), "{} of {} strings differ:\n{}", bad.len(), fx.strings.len(), bad.join("\n"));
}

#[derive(Deserialize)]
struct LogitsFixture {
    fixed_ids: Vec<u32>,
    prompts: Vec<PromptFixture>,
}

#[derive(Deserialize)]
struct PromptFixture {
    prompt: String,
    ids: Vec<u32>,
    positions: Vec<PositionFixture>,
}

#[derive(Deserialize)]
struct PositionFixture {
    pos: usize,
    top_ids: Vec<u32>,
    top_logits: Vec<f32>,
    fixed_logits: Vec<f32>,
    sum: f64,
    l2: f64,
    max: f32,
    argmax: u32,
}

#[test]
fn logits_match_transformers() {
    let m = model();
    let fx: LogitsFixture = serde_json::from_str(&fixture("logits.json")).unwrap();
    assert!(fx.prompts.iter().any(|p| p.ids.len() > m.config().sliding_window), "no prompt crosses the sliding window");
    let tol = |r: f32| LOGIT_ABS_TOL + LOGIT_REL_TOL * r.abs();
    let mut worst = (0f32, String::new());
    let mut failures = Vec::new();
    for p in &fx.prompts {
        assert_eq!(m.tokenizer().encode(&p.prompt, true), p.ids, "prompt ids for {:?}", p.prompt);
        let ids = Tensor::new(p.ids.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let hidden = m.weights().forward_hidden(&ids, None, None, &Frozen::F32).unwrap().squeeze(0).unwrap();
        let pos: Vec<u32> = p.positions.iter().map(|q| q.pos as u32).collect();
        let sel = hidden.index_select(&Tensor::new(pos.as_slice(), &Device::Cpu).unwrap(), 0).unwrap();
        let logits = m.weights().logits(&sel, &Frozen::F32).unwrap().to_vec2::<f32>().unwrap();
        for (q, z) in p.positions.iter().zip(&logits) {
            let at = format!("{:?} pos {}", truncate(&p.prompt), q.pos);
            let pairs = q.top_ids.iter().zip(&q.top_logits).chain(fx.fixed_ids.iter().zip(&q.fixed_logits));
            for (&id, &want) in pairs {
                let d = (z[id as usize] - want).abs();
                if d > worst.0 {
                    worst = (d, format!("{at} id {id}"));
                }
                if d > tol(want) {
                    failures.push(format!("{at} id {id}: ours {} vs {want} (diff {d})", z[id as usize]));
                }
            }
            let (am, mx) = z.iter().enumerate().fold((0, f32::MIN), |a, (i, &v)| if v > a.1 { (i, v) } else { a });
            let gap = q.top_logits[0] - q.top_logits[1];
            if gap > 2.0 * tol(q.max) && am as u32 != q.argmax {
                failures.push(format!("{at}: argmax ours {am} vs {} (gap {gap})", q.argmax));
            }
            if (mx - q.max).abs() > tol(q.max) {
                failures.push(format!("{at}: max ours {mx} vs {}", q.max));
            }
            let sum: f64 = z.iter().map(|&v| v as f64).sum();
            let l2: f64 = z.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>().sqrt();
            if (sum - q.sum).abs() > 1e-4 * q.sum.abs() {
                failures.push(format!("{at}: sum ours {sum} vs {}", q.sum));
            }
            if (l2 - q.l2).abs() > 1e-4 * q.l2 {
                failures.push(format!("{at}: L2 ours {l2} vs {}", q.l2));
            }
        }
    }
    eprintln!("max |ours - transformers| over compared logits: {} at {}", worst.0, worst.1);
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

/// The bf16 products (`Precision::Bf16`, what the local backend trains with)
/// stay within bf16 rounding of the f32 logits and give the f32 greedy continuation of a
/// chat prompt, or part from it only at a near tie ([`part_at_near_tie`]), as any change
/// of precision may where the model hesitates between near-equal tokens. On CPUs without
/// AVX512_BF16 the option is ignored: the same continuation as f32.
#[test]
fn bf16_greedy_generation_matches_f32() {
    let m = model();
    let msgs = [ChatMessage::new("user", "Write a long story about a lighthouse keeper who finds a message in a bottle.")];
    let prompt = encode_chat_prompt(m.tokenizer(), &msgs).unwrap();
    let w = m.weights();
    if !common::has_bf16() {
        assert!(w.bf16_packs().unwrap().is_none(), "no bf16 copies without AVX512_BF16");
        let f32_params = SamplingParams { max_tokens: 24, stop_at_end_of_turn: false, ..Default::default() };
        let bf16_params = SamplingParams { precision: Precision::Bf16, ..f32_params.clone() };
        assert_eq!(generate(m, None, &prompt, &bf16_params).unwrap(), generate(m, None, &prompt, &f32_params).unwrap());
        return;
    }
    let packs = w.bf16_packs().unwrap().expect("packs on an AVX512_BF16 CPU");
    let ids = Tensor::new(prompt.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    let bf16 = Frozen::Bf16(packs);
    let z32 = w.logits(&w.forward_hidden(&ids, None, None, &Frozen::F32).unwrap(), &Frozen::F32).unwrap();
    let z16 = w.logits(&w.forward_hidden(&ids, None, None, &bf16).unwrap(), &bf16).unwrap();
    let d = (&z32 - &z16).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    let scale = z32.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    eprintln!("max |f32 - bf16| logit over the prompt: {d} (max |logit| {scale})");
    assert!(d <= 0.05 * scale, "max |f32 - bf16| logit {d} against max |logit| {scale}");
    let f32_params = SamplingParams { max_tokens: 24, stop_at_end_of_turn: false, ..Default::default() };
    let bf16_params = SamplingParams { precision: Precision::Bf16, ..f32_params.clone() };
    let a = generate(m, None, &prompt, &f32_params).unwrap();
    let b = generate(m, None, &prompt, &bf16_params).unwrap();
    assert_eq!(a.ids.len(), 24, "{:?}", a.text);
    eprintln!("f32 {:?}\nbf16 {:?}", a.text, b.text);
    part_at_near_tie("bf16 vs f32", &prompt, &b.ids, &a.ids, &bf16);
}

/// Largest `|logit(ours) - logit(llama.cpp's)|`, under our f32 products, allowed where
/// the two greedy continuations part: beyond it the difference is not a near tie that
/// quantisation may flip but a wrong model.
const NEAR_TIE: f32 = 0.25;

/// `ours` (greedy under `frozen`) equals `theirs` token for token, or parts from it
/// where the two tokens are a near tie under our f32 logits (gap at most [`NEAR_TIE`]),
/// with ours the argmax of our own logits there, computed as generation computes them.
fn part_at_near_tie(name: &str, prompt: &[u32], ours: &[u32], theirs: &[u32], frozen: &Frozen) {
    let w = model().weights();
    let same = ours.iter().zip(theirs).take_while(|(a, b)| a == b).count();
    eprintln!("{name}: greedy tokens equal for {same} of {}", theirs.len());
    if same == theirs.len() {
        assert_eq!(ours.len(), theirs.len());
        return;
    }
    assert!(same < ours.len(), "{name}: ours stopped after {same} tokens, theirs went on");
    let (a, b) = (ours[same], theirs[same]);
    let mut prefix = prompt.to_vec();
    prefix.extend_from_slice(&ours[..same]);
    let x = Tensor::new(prefix.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
    let h = w.forward_hidden(&x, None, None, &Frozen::F32).unwrap();
    let z32: Vec<f32> = w.logits(&h.narrow(1, prefix.len() - 1, 1).unwrap(), &Frozen::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let zq = w.next_logits(&prefix, None, frozen).unwrap();
    let gap = z32[a as usize] - z32[b as usize];
    eprintln!("{name}: at token {same} ours {a}, theirs {b}: f32 logit gap {gap}, ours {}", zq[a as usize] - zq[b as usize]);
    assert!(gap.abs() <= NEAR_TIE, "{name}: token {same} parts with an f32 logit gap of {gap}");
    assert!(zq[a as usize] >= zq[b as usize], "{name}: token {same} is not the argmax of our own logits");
}

/// llama.cpp's greedy tokens on the generation bench's two prompts (128 each, from
/// `scripts/llama_cpp_generate_bench.py --out`, llama-cpp-python 0.3.36 on the same GGUF).
#[derive(Deserialize)]
struct LlamaGreedy {
    name: String,
    prompt_ids: Vec<u32>,
    ids: Vec<u32>,
}

/// The Q8 products (`Precision::Q8`, what the local backend serves with) give
/// llama.cpp's greedy continuation on the bench prompts, or part from it only at a near
/// tie ([`part_at_near_tie`]).
#[test]
fn q8_greedy_generation_matches_llama_cpp() {
    let m = model();
    let q8 = m.weights().frozen(Precision::Q8).unwrap();
    let rows: Vec<LlamaGreedy> = serde_json::from_str(&fixture("llama_cpp_greedy.json")).unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        let params = SamplingParams {
            max_tokens: row.ids.len(),
            stop_at_end_of_turn: false,
            precision: Precision::Q8,
            ..Default::default()
        };
        let ours = generate(m, None, &row.prompt_ids, &params).unwrap().ids;
        part_at_near_tie(&format!("{} (Q8 vs llama.cpp)", row.name), &row.prompt_ids, &ours, &row.ids, &q8);
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(24).collect()
}

/// The eight concurrent-serving prompts (`bench/questions.json`, what
/// `bench/serve-concurrent.mjs` and `batch_bench` send) decoded together in one Q8
/// batch give each the greedy tokens it gets alone: the many-row products (tiles of
/// up to 8 rows) and the one-row product (what a request alone runs) must agree bit
/// for bit on the real model, where the tiny model's shapes fill few panels.
#[test]
fn q8_eight_streams_together_equal_each_alone() {
    let m = model();
    let questions: Vec<String> = serde_json::from_str(include_str!("../../../bench/questions.json")).unwrap();
    assert_eq!(questions.len(), 8);
    let params = SamplingParams { max_tokens: 48, stop_at_end_of_turn: false, precision: Precision::Q8, ..Default::default() };
    let prompts: Vec<Vec<u32>> = questions
        .iter()
        .map(|q| encode_chat_prompt(m.tokenizer(), &[ChatMessage::new("user", q)]).unwrap())
        .collect();
    let mut batch = Batch::new(m.clone());
    let ids: Vec<_> = prompts
        .iter()
        .map(|p| batch.join(Sequence::new(m.clone(), None, p, params.clone()).unwrap()).unwrap())
        .collect();
    while batch.active() > 0 {
        assert!(batch.step().iter().all(|u| u.token.is_ok()));
    }
    for ((q, p), id) in questions.iter().zip(&prompts).zip(ids) {
        let alone = generate(m, None, p, &params).unwrap().ids;
        let together = batch.get(id).unwrap().generated();
        assert_eq!(together.len(), 48, "{q}: stopped early");
        assert_eq!(together, alone, "{q}: the batch of eight and the request alone part");
    }
}
