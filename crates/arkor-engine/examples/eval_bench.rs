//! Cost of an eval pass on a real GGUF, in the local backend's shape for the demo:
//! gemma-3-270m, LoRA r=16 on all seven projections, batch 4, the first `rows` rows of
//! a chat JSONL file as the eval set (60 is the 5% the server holds out of the demo's
//! 1200 training rows), loss on responses only.
//!
//! `cargo run -p arkor-engine --example eval_bench -- model.gguf data.jsonl [rows] [--bf16]`
//!
//! Prints the time of a training step and of each eval pass (the first pays lazy
//! initialisation, so the median of the rest is reported), rows/s and tokens/s.
use std::sync::Arc;

use arkor_engine::data::{load_file, DatasetFormat};
use arkor_engine::{Device, LoraConfig, Model, Target, TrainConfig, Trainer};

fn main() -> arkor_engine::Result<()> {
    // As the Node addon does (see train_bench).
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let bf16 = args.iter().position(|a| a == "--bf16").map(|i| args.remove(i)).is_some();
    let (Some(model_path), Some(data_path)) = (args.first(), args.get(1)) else {
        panic!("usage: eval_bench MODEL.gguf DATA.jsonl [ROWS] [--bf16]");
    };
    let rows: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(60);
    let model = Arc::new(Model::from_gguf("google/gemma-3-270m", model_path.as_ref(), &Device::Cpu)?);
    let data = load_file(data_path.as_ref(), DatasetFormat::Auto)?;
    let (eval, train) = data.split_at(rows.min(data.len() / 2));
    let cfg = TrainConfig {
        lora: LoraConfig { r: 16, alpha: 16.0, targets: Target::ALL.to_vec() },
        batch_size: 4,
        max_steps: Some(3),
        train_on_responses_only: true,
        bf16_matmul: bf16,
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(model, train, cfg)?.with_eval(eval)?;
    let mut steps = Vec::new();
    for _ in 0..3 {
        steps.push(t.step()?.seconds);
    }
    let mut passes = Vec::new();
    for i in 0..4 {
        let e = t.evaluate()?.expect("eval rows given");
        eprintln!("pass {i}: loss {:.4}, {} rows, {} tokens, {:.2}s", e.loss, e.rows, e.tokens, e.seconds);
        passes.push(e);
    }
    let mut secs: Vec<f64> = passes[1..].iter().map(|e| e.seconds).collect();
    secs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let med = secs[secs.len() / 2];
    let step = steps[1..].iter().sum::<f64>() / (steps.len() - 1) as f64;
    let e = &passes[0];
    println!(
        "{}: eval pass of {} rows {med:.2}s ({:.1} rows/s, {:.0} tokens/s); training step (batch 4) {step:.2}s; \
         one pass costs {:.1} training steps",
        if bf16 { "bf16" } else { "f32" },
        e.rows,
        e.rows as f64 / med,
        e.tokens as f64 / med,
        med / step
    );
    Ok(())
}
