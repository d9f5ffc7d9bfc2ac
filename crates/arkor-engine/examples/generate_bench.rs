//! Generation speed on a real GGUF, side by side with llama.cpp in one run: greedy
//! decoding of up to 128 new tokens for a short and a long chat prompt, on the base model
//! and with a LoRA adapter attached (r=16 on all seven projections, unmerged, as the
//! server serves checkpoints), for each precision of the frozen products.
//!
//! ```sh
//! cargo run -p arkor-engine --example generate_bench -- model.gguf \
//!     [--precisions f32,bf16,q8] [--llama /work/venv-llama/bin/python] [--rounds N] \
//!     [--max-tokens N] [--dump gen.json]
//! ```
//!
//! Per run: prompt length, prefill (the prompt's forward pass plus the first token) as
//! prompt tokens/s, and decode tokens/s over the tokens after the first. With `--llama`
//! (a Python with llama-cpp-python) each round also runs
//! `scripts/llama_cpp_generate_bench.py` on the same prompt ids before and after the
//! engine, and the summary compares each precision's greedy tokens with llama.cpp's: at
//! the first one that differs it prints both tokens' logits under f32 and under that
//! precision (a near tie when the gap is small). The summary gives medians over rounds;
//! the 1-minute load average is printed at the start of each round.
//! `--dump` writes each prompt's ids and the first precision's greedy base ids, so that
//! `scripts/torch_generate_bench.py` runs transformers on exactly the same prompts.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use arkor_engine::{
    chat::encode_chat_prompt, ChatMessage, Device, Frozen, Generator, LoraAdapter, LoraConfig, Model, Precision,
    SamplingParams, Target,
};
use candle_core::Tensor;

/// A short question, and a long one (~300 tokens of context) for prefill.
pub fn bench_prompts() -> Vec<(&'static str, String)> {
    let short = "Write a long story about a lighthouse keeper who finds a message in a bottle.".to_string();
    let context = "The village of Westmere sits where the river meets the sea. Fishing boats leave \
                   before dawn and come back in the afternoon, and the market in the square sells \
                   what they catch, along with bread, cheese and vegetables from the farms inland. "
        .repeat(5);
    let long = format!(
        "{context}\nUsing the description above, write a detailed guide for a visitor who will spend \
         a whole day in Westmere: what to see in the morning, where to eat, and what to do in the evening."
    );
    vec![("short", short), ("long", long)]
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(|_| "?".into(), |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// One timed generation.
struct Run {
    prefill_tps: f64,
    decode_tps: f64,
    ids: Vec<u32>,
}

/// (who, variant, prompt) → runs over the rounds.
type Results = BTreeMap<(String, &'static str, &'static str), Vec<Run>>;

fn run_engine(model: &Arc<Model>, adapter: Option<Arc<LoraAdapter>>, ids: &[u32], params: &SamplingParams) -> arkor_engine::Result<Run> {
    let mut g = Generator::new(model.clone(), adapter, ids, params.clone())?;
    let t0 = Instant::now();
    g.next_token()?;
    let prefill = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    while g.next_token()?.is_some() {}
    let decode = t1.elapsed().as_secs_f64();
    let produced = g.generated().to_vec();
    Ok(Run {
        prefill_tps: ids.len() as f64 / prefill,
        decode_tps: produced.len().saturating_sub(1) as f64 / decode.max(1e-9),
        ids: produced,
    })
}

/// Runs llama.cpp on the prompts through the Python script; results in prompt order.
fn run_llama(python: &str, gguf: &str, prompts: &[(&'static str, Vec<u32>)], max_tokens: usize) -> Vec<Run> {
    let dir = std::env::temp_dir();
    let (input, output) = (dir.join(format!("arkor-gen-{}-in.json", std::process::id())), dir.join(format!("arkor-gen-{}-out.json", std::process::id())));
    let rows: Vec<_> =
        prompts.iter().map(|(n, ids)| serde_json::json!({"name": n, "prompt_ids": ids, "max_tokens": max_tokens})).collect();
    std::fs::write(&input, serde_json::to_string(&rows).unwrap()).expect("writing the prompts for llama.cpp");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/llama_cpp_generate_bench.py");
    let status = std::process::Command::new(python)
        .args([script, gguf])
        .arg(&input)
        .arg("--out")
        .arg(&output)
        .status()
        .expect("running the llama.cpp script");
    assert!(status.success(), "the llama.cpp script failed ({status})");
    let out: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    let _ = (std::fs::remove_file(input), std::fs::remove_file(output));
    out.iter()
        .map(|r| {
            let ids: Vec<u32> = r["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
            let (p, d) = (r["prefill_s"].as_f64().unwrap(), r["decode_s"].as_f64().unwrap());
            Run {
                prefill_tps: r["prompt_tokens"].as_f64().unwrap() / p,
                decode_tps: ids.len().saturating_sub(1) as f64 / d.max(1e-9),
                ids,
            }
        })
        .collect()
}

/// `z[a] - z[b]` for the logits after `ids` under `frozen`.
fn logit_gap(model: &Model, ids: &[u32], a: u32, b: u32, frozen: &Frozen) -> arkor_engine::Result<f32> {
    let w = model.weights();
    let x = Tensor::from_slice(ids, (1, ids.len()), w.device())?;
    let h = w.forward_hidden(&x, None, None, frozen)?;
    let z = w.logits(&h.narrow(1, ids.len() - 1, 1)?, frozen)?.flatten_all()?.to_vec1::<f32>()?;
    Ok(z[a as usize] - z[b as usize])
}

fn main() -> arkor_engine::Result<()> {
    // What the Node addon does as it loads (src/candle_threads.rs): candle's element-wise
    // ops on the calling thread, so its spinning worker does not take a core from the kernels' threads.
    // Set here, before any thread exists; a value given on the command line wins.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut take_opt = |flag: &str| -> Option<String> {
        let i = args.iter().position(|a| a == flag)?;
        let v = args.get(i + 1).cloned().unwrap_or_else(|| panic!("{flag} needs a value"));
        args.drain(i..i + 2);
        Some(v)
    };
    let dump = take_opt("--dump");
    let llama = take_opt("--llama");
    let rounds: usize = take_opt("--rounds").map_or(1, |s| s.parse().expect("--rounds N"));
    let max_tokens: usize = take_opt("--max-tokens").map_or(128, |s| s.parse().expect("--max-tokens N"));
    let precisions: Vec<Precision> = take_opt("--precisions")
        .unwrap_or_else(|| "f32,bf16,q8".into())
        .split(',')
        .map(|s| s.parse().unwrap_or_else(|e| panic!("--precisions: {e}")))
        .collect();
    let path = args.first().expect(
        "usage: generate_bench MODEL.gguf [--precisions f32,bf16,q8] [--llama PYTHON] [--rounds N] [--max-tokens N] [--dump gen.json]",
    );
    eprintln!("load average at the start: {}", load_average());
    let t_load = Instant::now();
    let model = Arc::new(Model::from_gguf("google/gemma-3-270m", path.as_ref(), &Device::Cpu)?);
    eprintln!("model loaded in {:.1}s; {} rayon threads", t_load.elapsed().as_secs_f64(), rayon::current_num_threads());
    for &p in &precisions {
        let t0 = Instant::now();
        let mib = |b: usize| b as f64 / (1 << 20) as f64;
        match model.weights().frozen(p)? {
            Frozen::F32 if p != Precision::F32 => eprintln!("{}: not available on this machine, runs as f32", p.as_str()),
            Frozen::F32 => {}
            Frozen::Bf16(c) => eprintln!("bf16 copies: {:.0} MiB in {:.1}s", mib(c.bytes()), t0.elapsed().as_secs_f64()),
            Frozen::Q8(c) => eprintln!("Q8 copies: {:.0} MiB in {:.1}s", mib(c.bytes()), t0.elapsed().as_secs_f64()),
        }
    }
    // B = 0 at initialisation: the adapter leaves the tokens unchanged but costs its full
    // compute, which is what this measures.
    let lora = LoraConfig { r: 16, alpha: 16.0, targets: Target::ALL.to_vec() };
    let (adapter, _vars) = LoraAdapter::init_trainable(model.config(), lora, "google/gemma-3-270m", 7, &Device::Cpu)?;
    let adapter = Arc::new(adapter.snapshot()?);
    let prompts: Vec<(&'static str, Vec<u32>)> = bench_prompts()
        .into_iter()
        .map(|(n, text)| Ok((n, encode_chat_prompt(model.tokenizer(), &[ChatMessage::new("user", &text)])?)))
        .collect::<arkor_engine::Result<_>>()?;
    let params = SamplingParams { max_tokens, temperature: 0.0, stop_at_end_of_turn: false, ..Default::default() };
    // First calls fault pages in and size buffers: not what a serving process pays.
    for &precision in &precisions {
        let warm = SamplingParams { max_tokens: 3, precision, ..params.clone() };
        run_engine(&model, Some(adapter.clone()), &prompts[0].1, &warm)?;
    }
    let mut results = Results::new();
    let llama_round = |results: &mut Results| {
        if let Some(py) = &llama {
            for ((name, _), run) in prompts.iter().zip(run_llama(py, path, &prompts, max_tokens)) {
                eprintln!("llama.cpp  base {name:>5}: prefill {:.0} tok/s, decode {:.1} tok/s", run.prefill_tps, run.decode_tps);
                results.entry(("llama.cpp".into(), "base", name)).or_default().push(run);
            }
        }
    };
    for round in 0..rounds {
        eprintln!("round {}: load average {}", round + 1, load_average());
        llama_round(&mut results);
        for &precision in &precisions {
            let p = SamplingParams { precision, ..params.clone() };
            for (variant, lora) in [("base", None), ("lora", Some(adapter.clone()))] {
                for (name, ids) in &prompts {
                    let run = run_engine(&model, lora.clone(), ids, &p)?;
                    eprintln!(
                        "{:<10} {variant} {name:>5}: prompt {} tok, prefill {:.0} tok/s, decode {:.1} tok/s ({} new)",
                        format!("engine {}", precision.as_str()),
                        ids.len(),
                        run.prefill_tps,
                        run.decode_tps,
                        run.ids.len()
                    );
                    results.entry((format!("engine {}", precision.as_str()), variant, name)).or_default().push(run);
                }
            }
        }
        llama_round(&mut results);
    }
    eprintln!("load average at the end: {}", load_average());
    println!("\n| run | variant | prompt | prefill tok/s | decode tok/s | runs |");
    println!("|---|---|---|---|---|---|");
    for ((who, variant, name), runs) in &results {
        let pre: Vec<f64> = runs.iter().map(|r| r.prefill_tps).collect();
        let dec: Vec<f64> = runs.iter().map(|r| r.decode_tps).collect();
        let len = prompts.iter().find(|p| p.0 == *name).map_or(0, |p| p.1.len());
        println!("| {who} | {variant} | {name} ({len} tok) | {:.0} | {:.1} | {} |", median(&pre), median(&dec), runs.len());
    }
    // Greedy agreement: each precision's base tokens against llama.cpp's.
    if llama.is_some() {
        println!();
        for (name, ids) in &prompts {
            let theirs = &results[&("llama.cpp".to_string(), "base", *name)][0].ids;
            for &precision in &precisions {
                let ours = &results[&(format!("engine {}", precision.as_str()), "base", *name)][0].ids;
                let same = ours.iter().zip(theirs).take_while(|(a, b)| a == b).count();
                let mut line = format!("{name}: engine {} equals llama.cpp for {same} of {} tokens", precision.as_str(), theirs.len().min(ours.len()));
                if same < theirs.len().min(ours.len()) {
                    let mut prefix = ids.clone();
                    prefix.extend_from_slice(&ours[..same]);
                    let (a, b) = (ours[same], theirs[same]);
                    let f32_gap = logit_gap(&model, &prefix, a, b, &Frozen::F32)?;
                    let own_gap = logit_gap(&model, &prefix, a, b, &model.weights().frozen(precision)?)?;
                    line += &format!(
                        "; at token {same} ours {a} {:?}, theirs {b} {:?}: logit(ours) - logit(theirs) = {own_gap:.3} ({}), {f32_gap:.3} (f32)",
                        model.tokenizer().decode(&[a], false),
                        model.tokenizer().decode(&[b], false),
                        precision.as_str()
                    );
                }
                println!("{line}");
            }
        }
    }
    if let Some(p) = dump {
        let first = precisions.first().map_or("f32", |p| p.as_str());
        let rows: Vec<_> = prompts
            .iter()
            .map(|(name, ids)| {
                let produced = &results[&(format!("engine {first}"), "base", *name)][0].ids;
                serde_json::json!({ "name": name, "prompt_ids": ids, "ids": produced })
            })
            .collect();
        std::fs::write(&p, serde_json::to_string(&rows).unwrap()).expect("writing the dump");
        eprintln!("wrote {p}");
    }
    Ok(())
}
