//! Training throughput on a real GGUF: LoRA r=16 on all seven projections, batch 4,
//! chat examples of about 110 tokens, train on responses only.
//! `cargo run --release -p arkor-engine --example train_bench -- model.gguf [steps]`
use std::sync::Arc;

use arkor_engine::{ChatMessage, Device, Example, LoraConfig, Model, Target, TrainConfig, Trainer};

fn main() -> arkor_engine::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("usage: train_bench MODEL.gguf [STEPS]");
    let steps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(4);
    let model = Arc::new(Model::from_gguf("google/gemma-3-270m", path.as_ref(), &Device::Cpu)?);
    let topics = ["the ocean", "volcanoes", "the moon", "honey bees", "glaciers", "the printing press", "jazz", "rainforests"];
    let data: Vec<Example> = (0..64)
        .map(|i| {
            let t = topics[i % topics.len()];
            Example::Chat(vec![
                ChatMessage::new("user", &format!("Write two short sentences for a curious child about {t}, and keep it simple please (question {i}).")),
                ChatMessage::new("assistant", &format!("Here is a simple fact about {t}: people have studied it for a very long time and still learn new things. Scientists think {t} will keep surprising us for many years to come, so keep asking questions!")),
            ])
        })
        .collect();
    let cfg = TrainConfig {
        lora: LoraConfig { r: 16, alpha: 16.0, targets: Target::ALL.to_vec() },
        learning_rate: 2e-4,
        batch_size: 4,
        max_steps: Some(steps),
        train_on_responses_only: true,
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(model.clone(), &data, cfg)?;
    let lens: Vec<usize> = data.iter().map(|e| arkor_engine::chat::encode_example(model.tokenizer(), e, true, None).unwrap().ids.len()).collect();
    eprintln!("example tokens: min {} max {}", lens.iter().min().unwrap(), lens.iter().max().unwrap());
    let mut secs = Vec::new();
    let mut toks = 0;
    for _ in 0..steps {
        let r = t.step()?;
        eprintln!("step {} loss {:.4} {:.2}s ({} tokens)", r.step, r.loss, r.seconds, r.tokens);
        secs.push(r.seconds);
        toks = r.tokens;
    }
    secs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let med = secs[secs.len() / 2];
    println!("median {med:.2} s/step, {:.1} tokens/s (padded tokens per step {toks})", toks as f64 / med);
    Ok(())
}
