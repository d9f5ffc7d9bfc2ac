//! The cost of constrained decoding on a real GGUF, with the demo's triage JSON schema:
//! the token table's build and the schema's compile (once each, then cached), the
//! masking time per token against the decode step's, and decode tokens/s with and
//! without the constraint, on the same tickets.
//!
//! `cargo run -p arkor-engine --example constrained_bench -- model.gguf [--precision f32|bf16|q8] [--rounds N]`
use std::sync::Arc;
use std::time::{Duration, Instant};

use arkor_engine::{chat::encode_chat_prompt, ChatMessage, Device, Generator, GrammarSpec, Model, SamplingParams};

const TICKETS: [&str; 4] = [
    "I can't log in to my account.",
    "Hi, I was charged twice for order #A48213, $29.99 each time.",
    "The dashboard has been down for an hour, nothing loads.",
    "Could you add a dark mode to the mobile app?",
];

fn main() -> arkor_engine::Result<()> {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let rounds = match args.iter().position(|a| a == "--rounds") {
        Some(i) => {
            let n = args[i + 1].parse().expect("--rounds takes a number");
            args.drain(i..i + 2);
            n
        }
        None => 1usize,
    };
    let precision: arkor_engine::Precision = match args.iter().position(|a| a == "--precision") {
        Some(i) => {
            let p = args[i + 1].parse().expect("--precision takes f32, bf16 or q8");
            args.drain(i..i + 2);
            p
        }
        None => arkor_engine::Precision::F32,
    };
    let path = args.first().expect("usage: constrained_bench model.gguf [--precision f32|bf16|q8] [--rounds N]");
    let model = Arc::new(Model::from_gguf("bench", path.as_ref(), &Device::Cpu)?);
    // The demo's triage answer (`examples/data/triage.jsonl`), as the real-model test checks it.
    let schema: serde_json::Value = serde_json::from_str(include_str!("../tests/fixtures/triage_schema.json")).unwrap();
    let t0 = Instant::now();
    let compiler = model.constraints()?;
    let table = t0.elapsed();
    let t1 = Instant::now();
    let grammar = compiler.compile(&GrammarSpec::JsonSchema(schema.clone()))?;
    let compile = t1.elapsed();
    let t2 = Instant::now();
    compiler.compile(&GrammarSpec::JsonSchema(schema))?;
    let cached = t2.elapsed();
    println!("token table {:.0} ms, schema compile {:.1} ms, cached compile {:.1} us", ms(table), ms(compile), cached.as_secs_f64() * 1e6);

    let params = SamplingParams { max_tokens: 64, precision, stop_at_end_of_turn: true, ..Default::default() };
    // (decode tokens, decode time, masks, mask time) per mode.
    let mut totals = [(0usize, Duration::ZERO, 0usize, Duration::ZERO); 2];
    for _ in 0..rounds {
        for t in TICKETS {
            let prompt = encode_chat_prompt(model.tokenizer(), &[ChatMessage::new("user", t)])?;
            for (mode, constrained) in [(0, false), (1, true)] {
                let mut g = Generator::new(model.clone(), None, &prompt, params.clone())?;
                if constrained {
                    g = g.with_constraint(&grammar);
                }
                // The first token carries the prefill; decode is timed from after it.
                let mut first = None;
                let mut text = String::new();
                let mut n = 0;
                while let Some(ev) = g.next_token()? {
                    if first.is_none() {
                        first = Some((Instant::now(), g.constraint_stats().unwrap_or_default()));
                    } else {
                        n += 1;
                    }
                    text.push_str(&ev.text);
                }
                let Some((start, stats0)) = first else { continue };
                let stats = g.constraint_stats().unwrap_or_default();
                let total = &mut totals[mode];
                total.0 += n;
                total.1 += start.elapsed();
                total.2 += stats.masks - stats0.masks;
                total.3 += stats.mask_time - stats0.mask_time;
                if rounds == 1 {
                    println!("{} {t:?} -> {text:?}", if constrained { "constrained  " } else { "unconstrained" });
                }
            }
        }
    }
    let [(n0, d0, _, _), (n1, d1, masks, mask_time)] = totals;
    let step0 = d0.as_secs_f64() / n0.max(1) as f64;
    let step1 = d1.as_secs_f64() / n1.max(1) as f64;
    let mask = mask_time.as_secs_f64() / masks.max(1) as f64;
    println!("unconstrained: {n0} decode tokens, {:.1} tok/s, {:.2} ms/step", n0 as f64 / d0.as_secs_f64(), step0 * 1e3);
    println!("constrained:   {n1} decode tokens, {:.1} tok/s, {:.2} ms/step", n1 as f64 / d1.as_secs_f64(), step1 * 1e3);
    println!("mask: {:.3} ms/token = {:.1}% of an unconstrained decode step", mask * 1e3, 100.0 * mask / step0);
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
