//! Batched decoding speed on a real GGUF: N sequences (different prompts, greedy, the
//! same number of new tokens) decoded together in one [`Batch`], for each N given.
//!
//! `cargo run -p arkor-engine --example batch_bench -- model.gguf [--precision f32|bf16|q8] [--adapter] [--tokens 64] [--n 1,2,4,8] [--join]`
//!
//! Per N: the step time of the decode steps (after every prompt is prefilled), the
//! aggregate decode tokens/s (N tokens per step), and that figure over N = 1's; also
//! the median step and the same ratio from medians (N / median step against N = 1's),
//! which a neighbour's burst of load on a shared machine moves less than the mean. First,
//! for comparison, one sequence through the decode path `Generator` used before batching
//! (`Gemma3::forward_hidden` over a `KvCache` that grows by concatenation). With
//! `--adapter` every second sequence decodes with a LoRA adapter (r=16 on all seven
//! projections, B = 0 so tokens do not change, as in `generate_bench`).
//!
//! With `--join`, then per N: N - 1 sequences decode, and a long prompt (a few hundred
//! tokens) joins between two of their steps; it prints the joiner's time to first token
//! and the longest step its batch-mates waited through meanwhile (against their median
//! decode step before it joined): what a request arriving at a busy server sees, and
//! what it costs the others. N = 1 is the prompt's prefill on an idle batch.
use std::sync::Arc;
use std::time::Instant;

use arkor_engine::gemma3::KvCache;
use arkor_engine::{
    chat::encode_chat_prompt, Batch, ChatMessage, Device, LoraAdapter, LoraConfig, Model, Precision, SamplingParams, Sequence, Target,
};

/// Greedy decode of `tokens` tokens after `prompt` through the concatenating cache, as
/// `Generator` did before batching; decode tokens/s after the prefill.
fn concat_path(model: &Model, prompt: &[u32], adapter: Option<&LoraAdapter>, precision: Precision, tokens: usize) -> arkor_engine::Result<f64> {
    let w = model.weights();
    let frozen = w.frozen(precision)?;
    let mut kv = KvCache::new();
    let mut input = prompt.to_vec();
    let mut t = Instant::now();
    for i in 0..tokens {
        let ids = candle_core::Tensor::from_slice(&input, (1, input.len()), &Device::Cpu)?;
        let h = w.forward_hidden(&ids, adapter, Some(&mut kv), &frozen)?;
        let z = w.logits(&h.narrow(1, input.len() - 1, 1)?, &frozen)?.flatten_all()?.to_vec1::<f32>()?;
        let next = z.iter().enumerate().fold(0, |m, (j, &v)| if v > z[m] { j } else { m }) as u32;
        input = vec![next];
        if i == 0 {
            t = Instant::now();
        }
    }
    Ok((tokens - 1) as f64 / t.elapsed().as_secs_f64())
}

/// The eight prompts, shared with `bench/serve-concurrent.mjs` so the engine alone and
/// the server measure the same work.
fn questions() -> Vec<String> {
    serde_json::from_str(include_str!("../../../bench/questions.json")).expect("bench/questions.json is a list of strings")
}

/// The `i`-th prompt, cycling through [`questions`].
fn question(i: usize) -> String {
    let qs = questions();
    qs[i % qs.len()].clone()
}

/// The joining prompt: every question three times over, a few hundred tokens.
fn long_prompt() -> String {
    let mut s = String::from("Answer each of these questions in turn.\n");
    let qs = questions();
    for round in 0..3 {
        for (i, q) in qs.iter().enumerate() {
            s.push_str(&format!("{}. {q}\n", round * qs.len() + i + 1));
        }
    }
    s
}

/// The `--join` phase for `n` (module docs): `(prompt tokens, median decode step before
/// the join, time to the joiner's first token, longest step until then, steps until
/// then)`, times in ms.
fn join_phase(model: &Arc<Model>, params: &SamplingParams, n: usize) -> arkor_engine::Result<(usize, f64, f64, f64, usize)> {
    let mut batch = Batch::new(model.clone());
    // Enough tokens that no batch-mate finishes before the joiner's first token.
    let others = SamplingParams { max_tokens: 256, ..params.clone() };
    for i in 0..n - 1 {
        let prompt = encode_chat_prompt(model.tokenizer(), &[ChatMessage::new("user", &question(i))])?;
        batch.join(Sequence::new(model.clone(), None, &prompt, others.clone())?)?;
    }
    let mut before = Vec::new();
    if n > 1 {
        // Their prefill, then a few decode steps to time.
        while batch.step().len() < n - 1 {}
        for _ in 0..6 {
            let t = Instant::now();
            batch.step();
            before.push(1e3 * t.elapsed().as_secs_f64());
        }
        before.sort_by(f64::total_cmp);
    }
    let prompt = encode_chat_prompt(model.tokenizer(), &[ChatMessage::new("user", &long_prompt())])?;
    let joiner = batch.join(Sequence::new(model.clone(), None, &prompt, params.clone())?)?;
    let (mut longest, mut steps) = (0f64, 0usize);
    let t = Instant::now();
    loop {
        let s = Instant::now();
        let ups = batch.step();
        longest = longest.max(1e3 * s.elapsed().as_secs_f64());
        steps += 1;
        if let Some(u) = ups.iter().find(|u| u.id == joiner) {
            assert!(matches!(u.token, Ok(Some(_))), "the joiner's first update is a token");
            break;
        }
    }
    let median = before.get(before.len() / 2).copied().unwrap_or(f64::NAN);
    Ok((prompt.len(), median, 1e3 * t.elapsed().as_secs_f64(), longest, steps))
}

fn main() -> arkor_engine::Result<()> {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut flag = |f: &str| args.iter().position(|a| a == f).map(|i| args.remove(i)).is_some();
    let with_adapter = flag("--adapter");
    let join = flag("--join");
    let mut take = |f: &str| -> Option<String> {
        let i = args.iter().position(|a| a == f)?;
        let v = args.get(i + 1).cloned().unwrap_or_else(|| panic!("{f} needs a value"));
        args.drain(i..i + 2);
        Some(v)
    };
    let precision: Precision = take("--precision").map_or(Ok(Precision::Bf16), |s| s.parse()).expect("--precision f32|bf16|q8");
    let tokens: usize = take("--tokens").map_or(64, |s| s.parse().expect("--tokens N"));
    let ns: Vec<usize> = take("--n").map_or(vec![1, 2, 4, 8], |s| s.split(',').map(|n| n.parse().expect("--n 1,2,4")).collect());
    let path = args.first().expect("usage: batch_bench MODEL.gguf [--precision f32|bf16|q8] [--adapter] [--tokens N] [--n 1,2,4,8]");
    let model = Arc::new(Model::from_gguf("google/gemma-3-270m", path.as_ref(), &Device::Cpu)?);
    let lora = LoraConfig { r: 16, alpha: 16.0, targets: Target::ALL.to_vec() };
    let (adapter, _vars) = LoraAdapter::init_trainable(model.config(), lora, "google/gemma-3-270m", 7, &Device::Cpu)?;
    let adapter = Arc::new(adapter.snapshot()?);
    model.weights().frozen(precision)?;
    let params = SamplingParams { max_tokens: tokens, stop_at_end_of_turn: false, precision, ..Default::default() };
    eprintln!("{} products, adapter on odd rows {with_adapter}, {tokens} tokens per sequence, {} rayon threads", precision.as_str(), rayon::current_num_threads());
    let first = encode_chat_prompt(model.tokenizer(), &[ChatMessage::new("user", &question(0))])?;
    let old = concat_path(&model, &first, None, precision, tokens)?;
    println!("one sequence through the concatenating cache (before batching): {old:.1} tok/s");
    println!("| N | decode step (ms) | median step (ms) | aggregate decode tok/s | vs N=1 | by median steps |");
    println!("|---|---|---|---|---|---|");
    let (mut single, mut single_median) = (None, None);
    for &n in &ns {
        let mut batch = Batch::new(model.clone());
        for i in 0..n {
            let prompt = encode_chat_prompt(model.tokenizer(), &[ChatMessage::new("user", &question(i))])?;
            let a = (with_adapter && i % 2 == 1).then(|| adapter.clone());
            batch.join(Sequence::new(model.clone(), a, &prompt, params.clone())?)?;
        }
        // The first step prefills every prompt; the rest decode all rows together.
        batch.step();
        let (mut steps, mut produced, mut times) = (0usize, 0usize, Vec::new());
        let t = Instant::now();
        while batch.active() > 0 {
            let s = Instant::now();
            for u in batch.step() {
                produced += usize::from(u.token?.is_some());
            }
            times.push(1e3 * s.elapsed().as_secs_f64());
            steps += 1;
        }
        let secs = t.elapsed().as_secs_f64();
        let tps = produced as f64 / secs;
        let base = *single.get_or_insert(tps);
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let base_median = *single_median.get_or_insert(median / n as f64);
        println!(
            "| {n} | {:.1} | {median:.1} | {tps:.1} | {:.2}x | {:.2}x |",
            1e3 * secs / steps as f64,
            tps / base,
            base_median / (median / n as f64)
        );
    }
    if join {
        println!();
        println!("| N (N-1 decoding + 1 joining) | prompt tokens | batch-mates' decode step before (ms) | joiner's TTFT (ms) | longest step until then (ms) | steps |");
        println!("|---|---|---|---|---|---|");
        for &n in &ns {
            let (len, before, ttft, longest, steps) = join_phase(&model, &params, n)?;
            println!("| {n} | {len} | {before:.1} | {ttft:.1} | {longest:.1} | {steps} |");
        }
    }
    Ok(())
}
