//! Writes a LoRA adapter in PEFT layout plus our logits with it, for
//! `scripts/peft_compare.py` (Hugging Face PEFT on the same GGUF).
//!
//! `cargo run -p arkor-engine --example peft_export -- MODEL.gguf OUT_DIR MODE [PROMPT]`
//! MODE: `train:N` trains N LoRA steps (r=16, alpha=32, all seven projections, lr 1e-3)
//! on a few chat examples; `random` writes A from the usual init and B ~ N(0, 0.02^2)
//! so the adapter changes the logits a lot. OUT_DIR gets `adapter/` (PEFT),
//! `logits_lora.f32` and `logits_base.f32` (row-major `(tokens, vocab)` little-endian
//! f32) and `meta.json` (prompt, ids, vocab, mode).
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use arkor_engine::rng::SplitMix64;
use arkor_engine::{ChatMessage, Device, Example, LoraAdapter, LoraConfig, Model, Target, TrainConfig, Trainer};
use candle_core::Tensor;

fn write_f32(path: &PathBuf, t: &Tensor) -> arkor_engine::Result<()> {
    let v = t.flatten_all()?.to_vec1::<f32>()?;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for x in v {
        f.write_all(&x.to_le_bytes()).unwrap();
    }
    Ok(())
}

fn main() -> arkor_engine::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: peft_export MODEL.gguf OUT_DIR train:N|random [PROMPT]";
    let path = args.get(1).expect(usage);
    let out = PathBuf::from(args.get(2).expect(usage));
    let mode = args.get(3).expect(usage).clone();
    let prompt = args
        .get(4)
        .cloned()
        .unwrap_or_else(|| "<start_of_turn>user\nName three colours of the sea.<end_of_turn>\n<start_of_turn>model\n".into());
    std::fs::create_dir_all(&out).unwrap();
    let model = Arc::new(Model::from_gguf("google/gemma-3-270m", path.as_ref(), &Device::Cpu)?);
    let lora = LoraConfig { r: 16, alpha: 32.0, targets: Target::ALL.to_vec() };
    let adapter: LoraAdapter = if let Some(n) = mode.strip_prefix("train:") {
        let steps: usize = n.parse().expect("train:N");
        let data: Vec<Example> = ["the ocean", "volcanoes", "the moon", "honey bees"]
            .iter()
            .map(|t| {
                Example::Chat(vec![
                    ChatMessage::new("user", &format!("Tell me one fact about {t}.")),
                    ChatMessage::new("assistant", &format!("Arkor says: {t} is wonderful, and that is a fact.")),
                ])
            })
            .collect();
        let cfg = TrainConfig {
            lora: lora.clone(),
            learning_rate: 1e-3,
            batch_size: 4,
            max_steps: Some(steps),
            train_on_responses_only: true,
            ..TrainConfig::default()
        };
        let mut t = Trainer::new(model.clone(), &data, cfg)?;
        for _ in 0..steps {
            let r = t.step()?;
            eprintln!("step {} loss {:.4}", r.step, r.loss);
        }
        t.adapter().snapshot()?
    } else if mode == "random" {
        let (a, vars) = LoraAdapter::init_trainable(model.config(), lora, "google/gemma-3-270m", 7, &Device::Cpu)?;
        let mut rng = SplitMix64::new(11);
        // Variables come as (A, B) pairs: give every B a non-zero value.
        for b in vars.iter().skip(1).step_by(2) {
            let n = b.elem_count();
            let v: Vec<f32> = (0..n).map(|_| (0.02 * rng.next_normal()) as f32).collect();
            b.set(&Tensor::from_vec(v, b.shape(), &Device::Cpu)?)?;
        }
        a.snapshot()?
    } else {
        panic!("{usage}");
    };
    adapter.save_peft(&out.join("adapter"))?;
    let ids = model.tokenizer().encode(&prompt, true);
    let x = Tensor::new(ids.as_slice(), &Device::Cpu)?.unsqueeze(0)?;
    write_f32(&out.join("logits_lora.f32"), &model.weights().forward(&x, Some(&adapter))?)?;
    write_f32(&out.join("logits_base.f32"), &model.weights().forward(&x, None)?)?;
    let meta = serde_json::json!({
        "prompt": prompt, "ids": ids, "vocab": model.config().vocab_size, "mode": mode,
        "r": adapter.config().r, "alpha": adapter.config().alpha,
    });
    std::fs::write(out.join("meta.json"), serde_json::to_string_pretty(&meta).unwrap()).unwrap();
    eprintln!("wrote {}", out.display());
    Ok(())
}
