//! Generation speed on a real GGUF: greedy decoding of up to 128 new tokens for a short
//! and a long chat prompt, on the base model and with a LoRA adapter attached (r=16 on
//! all seven projections, unmerged, as the server serves checkpoints).
//!
//! `cargo run -p arkor-engine --example generate_bench -- model.gguf [--bf16] [--max-tokens N] [--dump gen.json]`
//!
//! `--bf16` runs the frozen weights' products in bf16 (`SamplingParams::bf16_matmul`).
//!
//! Per run: prompt length, prefill time (the prompt's forward pass plus the first
//! token) as prompt tokens/s, and decode tokens/s over the tokens after the first.
//! `--dump` writes each prompt's ids and the greedy ids produced, so that
//! `scripts/torch_generate_bench.py` runs transformers on exactly the same prompts and
//! checks that it produces the same tokens.
use std::sync::Arc;
use std::time::Instant;

use arkor_engine::{
    chat::encode_chat_prompt, ChatMessage, Device, Frozen, Generator, LoraAdapter, LoraConfig, Model, Precision,
    SamplingParams, Target,
};

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
    let precision: Precision = take_opt("--precision").map_or(Precision::F32, |s| s.parse().expect("--precision f32|bf16|q8"));
    let max_tokens: usize = take_opt("--max-tokens").map_or(128, |s| s.parse().expect("--max-tokens N"));
    let path = args.first().expect("usage: generate_bench MODEL.gguf [--bf16] [--max-tokens N] [--dump gen.json]");
    let t_load = Instant::now();
    let model = Arc::new(Model::from_gguf("google/gemma-3-270m", path.as_ref(), &Device::Cpu)?);
    eprintln!("model loaded in {:.1}s; {} rayon threads", t_load.elapsed().as_secs_f64(), rayon::current_num_threads());
    // B = 0 at initialisation: the adapter leaves the tokens unchanged but costs its full
    // compute, which is what this measures.
    let lora = LoraConfig { r: 16, alpha: 16.0, targets: Target::ALL.to_vec() };
    let (adapter, _vars) = LoraAdapter::init_trainable(model.config(), lora, "google/gemma-3-270m", 7, &Device::Cpu)?;
    let adapter = Arc::new(adapter.snapshot()?);
    let params =
        SamplingParams { max_tokens, temperature: 0.0, stop_at_end_of_turn: false, precision, ..Default::default() };
    let t0 = Instant::now();
    match model.weights().frozen(precision)? {
        Frozen::F32 => eprintln!("f32 products"),
        Frozen::Bf16(p) => eprintln!("bf16 copies: {:.0} MiB in {:.1}s", p.bytes() as f64 / (1 << 20) as f64, t0.elapsed().as_secs_f64()),
        Frozen::Q8(p) => eprintln!("Q8 copies: {:.0} MiB in {:.1}s", p.bytes() as f64 / (1 << 20) as f64, t0.elapsed().as_secs_f64()),
    }
    let mut rows = Vec::new();
    let mut summary = Vec::new();
    for (variant, lora) in [("base", None), ("lora", Some(adapter.clone()))] {
        for (name, text) in bench_prompts() {
            let ids = encode_chat_prompt(model.tokenizer(), &[ChatMessage::new("user", &text)])?;
            let mut g = Generator::new(model.clone(), lora.clone(), &ids, params.clone())?;
            let t0 = Instant::now();
            let first = g.next_token()?;
            let prefill = t0.elapsed().as_secs_f64();
            let mut out = String::new();
            if let Some(ev) = &first {
                out.push_str(&ev.text);
            }
            let t1 = Instant::now();
            while let Some(ev) = g.next_token()? {
                out.push_str(&ev.text);
            }
            let decode = t1.elapsed().as_secs_f64();
            let produced = g.generated().to_vec();
            let rest = produced.len().saturating_sub(1);
            let (p_tps, d_tps) = (ids.len() as f64 / prefill, rest as f64 / decode.max(1e-9));
            eprintln!(
                "{variant:>4} {name:>5}: prompt {} tokens, prefill {:.3}s ({p_tps:.0} tok/s); {} new tokens, \
                 decode {:.2}s ({d_tps:.1} tok/s); {:?}",
                ids.len(),
                prefill,
                produced.len(),
                decode,
                out.chars().take(70).collect::<String>()
            );
            summary.push(format!(
                "{variant} {name}: prompt {} tok, prefill {p_tps:.0} tok/s, decode {d_tps:.1} tok/s ({} new)",
                ids.len(),
                produced.len()
            ));
            if variant == "base" {
                rows.push(serde_json::json!({ "name": name, "prompt_ids": ids, "ids": produced }));
            }
        }
    }
    for s in &summary {
        println!("{s}");
    }
    if let Some(p) = dump {
        std::fs::write(&p, serde_json::to_string(&rows).unwrap()).expect("writing the dump");
        eprintln!("wrote {p}");
    }
    Ok(())
}
