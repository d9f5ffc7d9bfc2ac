//! Training throughput on a real GGUF, in the shape: gemma-3-270m, LoRA r=16
//! (alpha 16) on all seven projections, AdamW lr 2e-4, batch 4, 64 chat examples of
//! about 110 tokens (about 55 answer tokens), loss on responses only.
//!
//! `cargo run -p arkor-engine --example train_bench -- model.gguf [steps] [--dump data.json] [--bf16]
//! [--jsonl rows.jsonl] [--batch N]` (the workspace's dev profile is optimised)
//!
//! `--jsonl` trains on the first 64 rows of a dataset file instead, such as the demo's
//! `examples/data/triage.jsonl`.
//!
//! Prints per-step times, the median s/step of the steps after the first (the first
//! one pays page faults and lazy initialisation), forwarded and real tokens per second
//! (the same since training packs its batches) and the peak RSS. `--dump` writes the
//! encoded examples (token ids and target masks) so that `scripts/torch_train_bench.py`
//! trains PyTorch on exactly the same tokens.
use std::sync::Arc;

use arkor_engine::data::{load_file, DatasetFormat};
use arkor_engine::{
    chat::encode_example, ChatMessage, Device, EncodedExample, Example, LoraConfig, Model, Target,
    TrainConfig, Trainer,
};

/// The 64 bench examples: short explanatory answers to a child's question, with the
/// wording varied so lengths spread over roughly 100-120 tokens.
pub fn bench_examples() -> Vec<Example> {
    let topics = [
        "the ocean", "volcanoes", "the moon", "honey bees", "glaciers", "the printing press",
        "jazz", "rainforests",
    ];
    let asks = [
        "in simple words that a seven year old would understand",
        "without using any difficult or technical words",
        "as if you were talking to a curious child at bedtime",
        "in a friendly way, and please keep it short and simple",
    ];
    let extras = [
        "",
        " Many children find this topic exciting when they first hear about it.",
        " You can also read picture books about it at the library.",
        " Ask a grown-up to help you find out even more about it.",
    ];
    (0..64)
        .map(|i| {
            let t = topics[i % topics.len()];
            let ask = asks[(i / 8) % asks.len()];
            let extra = extras[(i / 2) % extras.len()];
            Example::Chat(vec![
                ChatMessage::new(
                    "user",
                    &format!(
                        "I am preparing a short lesson for my class. Could you explain what makes {t} \
                         so interesting, {ask}? This is question number {i}."
                    ),
                ),
                ChatMessage::new(
                    "assistant",
                    &format!(
                        "Here is a simple fact about {t}: people have studied it for a very long time \
                         and they still learn new things every year. Scientists think {t} will keep \
                         surprising us for many years to come, so never stop asking questions about \
                         how it works and why it matters.{extra}"
                    ),
                ),
            ])
        })
        .collect()
}

fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() -> arkor_engine::Result<()> {
    // What the Node addon does as it loads (src/candle_threads.rs): candle's element-wise
    // ops on the calling thread, so its spinning worker does not take a core from the kernels' threads.
    // Set here, before any thread exists; a value given on the command line wins.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let bf16 = args.iter().position(|a| a == "--bf16").map(|i| args.remove(i)).is_some();
    let mut value_of = |flag: &str| {
        args.iter().position(|a| a == flag).map(|i| {
            let v = args.get(i + 1).cloned().unwrap_or_else(|| panic!("{flag} needs a value"));
            args.drain(i..i + 2);
            v
        })
    };
    let dump = value_of("--dump");
    let jsonl = value_of("--jsonl");
    let batch: usize = value_of("--batch").map(|b| b.parse().expect("--batch takes a number")).unwrap_or(4);
    let path = args.first().expect("usage: train_bench MODEL.gguf [STEPS] [--dump data.json] [--bf16] [--jsonl rows.jsonl] [--batch N]");
    let steps: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(6);
    let t_load = std::time::Instant::now();
    let model = Arc::new(Model::from_gguf("google/gemma-3-270m", path.as_ref(), &Device::Cpu)?);
    eprintln!("model loaded in {:.1}s", t_load.elapsed().as_secs_f64());
    let data = match &jsonl {
        // Any file the engine's dataset loader reads; its first 64 rows.
        Some(p) => load_file(p.as_ref(), DatasetFormat::Auto)?.into_iter().take(64).collect(),
        None => bench_examples(),
    };
    let encoded: Vec<EncodedExample> = data
        .iter()
        .map(|e| encode_example(model.tokenizer(), e, true, None))
        .collect::<arkor_engine::Result<_>>()?;
    let lens: Vec<usize> = encoded.iter().map(|e| e.ids.len()).collect();
    let answer: Vec<usize> = encoded.iter().map(|e| e.num_targets()).collect();
    let mean_len = lens.iter().sum::<usize>() as f64 / lens.len() as f64;
    eprintln!(
        "{} examples: {}-{} tokens (mean {:.1}), {}-{} supervised",
        lens.len(),
        lens.iter().min().unwrap(),
        lens.iter().max().unwrap(),
        mean_len,
        answer.iter().min().unwrap(),
        answer.iter().max().unwrap()
    );
    if let Some(p) = dump {
        let rows: Vec<serde_json::Value> = encoded
            .iter()
            .map(|e| serde_json::json!({ "ids": e.ids, "targets": e.targets }))
            .collect();
        std::fs::write(&p, serde_json::to_string(&rows).unwrap()).expect("writing the dump");
        eprintln!("wrote {p}");
    }
    let cfg = TrainConfig {
        lora: LoraConfig { r: 16, alpha: 16.0, targets: Target::ALL.to_vec() },
        learning_rate: 2e-4,
        batch_size: batch,
        max_steps: Some(steps),
        train_on_responses_only: true,
        bf16_matmul: bf16,
        ..TrainConfig::default()
    };
    if bf16 {
        let t0 = std::time::Instant::now();
        match model.weights().bf16_packs()?.inspect(|p| p.prepare_backward()) {
            Some(p) => eprintln!(
                "bf16 copies of the frozen weights: {:.0} MiB in {:.1}s",
                p.bytes() as f64 / (1 << 20) as f64,
                t0.elapsed().as_secs_f64()
            ),
            None => eprintln!("no AVX512_BF16 on this CPU: --bf16 changes nothing"),
        }
    }
    let mut t = Trainer::from_encoded(model.clone(), encoded, cfg)?;
    let mut secs = Vec::new();
    let mut forwarded = Vec::new();
    let mut losses = Vec::new();
    for _ in 0..steps {
        let r = t.step()?;
        eprintln!(
            "step {} loss {:.4} {:.2}s ({} tokens forwarded) rss {:.0} MiB",
            r.step,
            r.loss,
            r.seconds,
            r.tokens,
            peak_rss_mib().unwrap_or(0.0)
        );
        secs.push(r.seconds);
        losses.push(format!("{:.4}", r.loss));
        forwarded.push(r.tokens as f64);
    }
    let timed = if secs.len() > 1 { &secs[1..] } else { &secs[..] };
    let med = median(timed);
    let real = batch as f64 * mean_len;
    let pad = forwarded.iter().sum::<f64>() / forwarded.len() as f64;
    println!(
        "median {med:.2} s/step over steps 2..{steps}: {:.1} real tokens/s ({real:.0} per step), \
         {:.1} forwarded tokens/s ({pad:.0} per step); peak RSS {:.0} MiB",
        real / med,
        pad / med,
        peak_rss_mib().unwrap_or(0.0)
    );
    println!("losses: {}", losses.join(" "));
    Ok(())
}
