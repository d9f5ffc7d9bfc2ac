//! LoRA training on the tiny model.
mod common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arkor_engine::chat::encode_example;
use arkor_engine::{
    LoraConfig, LrScheduler, Model, Target, TrainConfig, TrainLog, TrainObserver, Trainer,
};
use candle_core::{Device, Tensor};
use common::{dataset, tiny};

fn cfg() -> TrainConfig {
    TrainConfig {
        lora: LoraConfig { r: 8, alpha: 16.0, targets: Target::ALL.to_vec() },
        learning_rate: 1e-2,
        batch_size: 4,
        max_steps: Some(60),
        train_on_responses_only: true,
        ..TrainConfig::default()
    }
}

/// Training with the frozen products in bf16 follows the f32 run closely and still
/// learns the data (on CPUs without AVX512_BF16 the option is ignored: the same losses
/// as f32).
#[test]
fn bf16_matmul_training_tracks_f32() {
    let model = tiny();
    let run = |bf16_matmul: bool| -> Vec<f64> {
        let mut t = Trainer::new(model.clone(), &dataset(), TrainConfig { bf16_matmul, ..cfg() }).unwrap();
        let mut losses = Vec::new();
        while !t.is_finished() {
            losses.push(t.step().unwrap().loss);
        }
        losses
    };
    let (f32_losses, bf16_losses) = (run(false), run(true));
    if !common::has_bf16() {
        assert_eq!(f32_losses, bf16_losses, "without AVX512_BF16 the bf16 option must run f32");
        return;
    }
    // Step 1 sees identical weights: only the bf16 rounding differs.
    assert!((f32_losses[0] - bf16_losses[0]).abs() < 1e-2 * f32_losses[0], "{f32_losses:?} vs {bf16_losses:?}");
    let (first, last) = (bf16_losses[0], *bf16_losses.last().unwrap());
    assert!(last <= 0.2 * first, "bf16 run: loss {first} -> {last}");
}

#[test]
fn memorises_small_chat_dataset() {
    let model = tiny();
    let mut t = Trainer::new(model.clone(), &dataset(), cfg()).unwrap();
    let frozen: Vec<(String, Vec<f32>)> = model
        .weights()
        .named_tensors()
        .into_iter()
        .map(|(n, t)| (n, t.flatten_all().unwrap().to_vec1().unwrap()))
        .collect();
    let first = t.step().unwrap().loss;
    let mut last = first;
    while !t.is_finished() {
        last = t.step().unwrap().loss;
    }
    eprintln!("loss {first:.3} -> {last:.3}");
    assert!(last <= 0.2 * first, "loss fell from {first} to {last}: less than 80%");
    // The frozen base is bit-for-bit unchanged.
    for ((n, before), (_, after)) in frozen.iter().zip(model.weights().named_tensors()) {
        assert_eq!(before, &after.flatten_all().unwrap().to_vec1::<f32>().unwrap(), "{n} changed");
    }
    // Every LoRA tensor moved (B from zero, A from its init).
    for (n, x) in t.adapter().peft_tensors() {
        let s = x.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(s > 0.0, "{n} is still zero");
    }
    // The trained adapter now answers the training prompts.
    let tok = model.tokenizer();
    let prompt = arkor_engine::chat::encode_chat_prompt(
        tok,
        &[arkor_engine::ChatMessage::new("user", "What is the capital of France?")],
    )
    .unwrap();
    let adapter = Arc::new(t.adapter().snapshot().unwrap());
    let params = arkor_engine::SamplingParams { max_tokens: 20, ..Default::default() };
    let out = arkor_engine::generate(&model, Some(&adapter), &prompt, &params).unwrap();
    assert_eq!(out.text, "Paris.");
    assert_eq!(out.finish_reason, arkor_engine::FinishReason::Stop);
    let base = arkor_engine::generate(&model, None, &prompt, &params).unwrap();
    assert_ne!(base.ids, out.ids);
}

#[test]
fn step_zero_equals_base_model() {
    let model = tiny();
    let t = Trainer::new(model.clone(), &dataset(), cfg()).unwrap();
    let ids = Tensor::new(&[[2u32, 300, 301, 302, 303]], &Device::Cpu).unwrap();
    let base = model.weights().forward(&ids, None).unwrap();
    let adapted = model.weights().forward(&ids, Some(t.adapter())).unwrap();
    let d = (base - adapted).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert_eq!(d, 0.0);
    for (n, x) in t.adapter().peft_tensors() {
        let s = x.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert_eq!(s == 0.0, n.contains("lora_B"), "{n}");
    }
}

#[test]
fn fused_loss_matches_reference_cross_entropy_and_gradients() {
    // The chunked head loss and its gradient against candle's stock ops.
    let model = tiny();
    let w = model.weights();
    let h = Tensor::randn(0f32, 1.0, (70, w.config().hidden_size), &Device::Cpu).unwrap();
    let targets: Vec<u32> = (0..70).map(|i| (i * 7 % w.config().vocab_size) as u32).collect();
    let var = candle_core::Var::from_tensor(&h).unwrap();
    let (loss, _) =
        arkor_engine::ops::head_cross_entropy(var.as_tensor(), w.embed_tokens(), &targets, 70.0, None, None).unwrap();
    let g = loss.backward().unwrap().get(var.as_tensor()).unwrap().clone();
    let var2 = candle_core::Var::from_tensor(&h).unwrap();
    let logits = var2.as_tensor().matmul(&w.embed_tokens().t().unwrap()).unwrap();
    let t = Tensor::new(targets.as_slice(), &Device::Cpu).unwrap();
    let reference = candle_nn::loss::cross_entropy(&logits, &t).unwrap();
    let g2 = reference.backward().unwrap().get(var2.as_tensor()).unwrap().clone();
    let (a, b) = (loss.to_scalar::<f32>().unwrap(), reference.to_scalar::<f32>().unwrap());
    assert!((a - b).abs() < 1e-4 * b.abs().max(1.0), "{a} vs {b}");
    let d = (g - g2).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(d < 1e-5, "gradient differs by {d}");
}

#[test]
fn gradient_accumulation_is_equivalent_to_a_bigger_batch() {
    let model = tiny();
    let data = dataset();
    let mut big = Trainer::new(model.clone(), &data, TrainConfig { batch_size: 4, ..cfg() }).unwrap();
    let mut acc = Trainer::new(
        model.clone(),
        &data,
        TrainConfig { batch_size: 2, gradient_accumulation_steps: 2, ..cfg() },
    )
    .unwrap();
    // Same seed: same shuffled order, and the 2x2 micro-batches cover the same 4 examples.
    // Make B non-zero first so every gradient is informative.
    let g1 = big.debug_gradients().unwrap();
    let g2 = acc.debug_gradients().unwrap();
    assert_eq!(g1.len(), g2.len());
    let mut total = 0f32;
    for (a, b) in g1.iter().zip(&g2) {
        let d = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        let m = a.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        total += m;
        assert!(d <= 1e-5 * m.max(1e-3), "accumulated gradient differs by {d} (max {m})");
    }
    assert!(total > 0.0);
}

#[test]
fn schedules_follow_transformers() {
    let (w, n) = (2, 10);
    let lin: Vec<f64> = (0..n).map(|s| LrScheduler::Linear.factor(s, w, n)).collect();
    assert_eq!(lin[0], 0.0);
    assert_eq!(lin[1], 0.5);
    assert_eq!(lin[2], 1.0);
    assert!((lin[6] - 0.5).abs() < 1e-12);
    assert!((lin[9] - 0.125).abs() < 1e-12);
    let cos: Vec<f64> = (0..n).map(|s| LrScheduler::Cosine.factor(s, w, n)).collect();
    assert_eq!(cos[2], 1.0);
    assert!((cos[6] - 0.5).abs() < 1e-12);
    assert!(cos[9] > 0.0 && cos[9] < 0.05);
    assert_eq!(LrScheduler::Constant.factor(1, 2, 10), 0.5);
    assert_eq!(LrScheduler::Constant.factor(7, 2, 10), 1.0);
    assert_eq!(LrScheduler::Cosine.factor(3, 0, 10), 0.5 * (1.0 + (std::f64::consts::PI * 0.3).cos()));
    assert!("cosine".parse::<LrScheduler>().is_ok() && "polynomial".parse::<LrScheduler>().is_err());
    // The trainer applies the schedule per update.
    let model = tiny();
    let mut t = Trainer::new(
        model,
        &dataset(),
        TrainConfig { max_steps: Some(4), warmup_steps: 2, lr_scheduler: LrScheduler::Linear, ..cfg() },
    )
    .unwrap();
    let lrs: Vec<f64> = (0..4).map(|_| t.step().unwrap().learning_rate).collect();
    assert_eq!(lrs, vec![0.0, 0.005, 0.01, 0.005]);
    assert!(t.step().is_err(), "no step after the last");
}

#[test]
fn steps_from_epochs_and_max_steps() {
    let model = tiny();
    let data = dataset(); // 8 examples
    let mk = |c: TrainConfig| Trainer::new(model.clone(), &data, c).unwrap().total_steps();
    assert_eq!(mk(TrainConfig { max_steps: None, num_train_epochs: 1.0, batch_size: 4, ..cfg() }), 2);
    assert_eq!(mk(TrainConfig { max_steps: None, num_train_epochs: 3.0, batch_size: 3, ..cfg() }), 9);
    assert_eq!(
        mk(TrainConfig { max_steps: None, num_train_epochs: 2.0, batch_size: 2, gradient_accumulation_steps: 2, ..cfg() }),
        4
    );
    assert_eq!(mk(TrainConfig { max_steps: None, num_train_epochs: 0.5, batch_size: 1, ..cfg() }), 4);
    assert_eq!(mk(TrainConfig { max_steps: Some(7), num_train_epochs: 100.0, ..cfg() }), 7);
    // Epoch accounting: 2 steps of batch 4 over 8 examples is one epoch.
    let mut t = Trainer::new(model.clone(), &data, TrainConfig { max_steps: Some(3), ..cfg() }).unwrap();
    let e: Vec<f64> = (0..3).map(|_| t.step().unwrap().epoch).collect();
    assert_eq!(e, vec![0.5, 1.0, 1.5]);
    // Invalid settings are errors, not panics.
    assert!(Trainer::new(model.clone(), &data, TrainConfig { batch_size: 0, ..cfg() }).is_err());
    assert!(Trainer::new(model.clone(), &[], cfg()).is_err());
}

#[test]
fn max_length_truncation_drops_unsupervised_examples() {
    let model = tiny();
    let tok = model.tokenizer();
    let data = dataset();
    let lens: Vec<usize> = data.iter().map(|e| encode_example(tok, e, true, None).unwrap().ids.len()).collect();
    let min = *lens.iter().min().unwrap();
    // A max length shorter than every prompt leaves no answer token anywhere.
    let err = Trainer::new(model.clone(), &data, TrainConfig { max_length: Some(6), ..cfg() });
    assert!(matches!(err, Err(arkor_engine::Error::NoTrainingData(_))));
    let t = Trainer::new(model.clone(), &data, TrainConfig { max_length: Some(min), ..cfg() });
    assert!(t.is_ok() || matches!(t, Err(arkor_engine::Error::NoTrainingData(_))));
}

#[derive(Default)]
struct Recorder {
    logs: Vec<TrainLog>,
    checkpoints: Vec<(usize, std::path::PathBuf)>,
}

impl TrainObserver for Recorder {
    fn on_log(&mut self, log: &TrainLog) {
        self.logs.push(log.clone());
    }
    fn on_checkpoint(&mut self, step: usize, dir: &std::path::Path) {
        assert!(dir.join("adapter_model.safetensors").exists());
        assert!(dir.join("adapter_config.json").exists());
        self.checkpoints.push((step, dir.to_path_buf()));
    }
}

#[test]
fn run_logs_saves_and_cancels() {
    let model = tiny();
    let dir = tempfile::tempdir().unwrap();
    let c = TrainConfig {
        max_steps: Some(6),
        logging_steps: 2,
        save_steps: Some(3),
        output_dir: Some(dir.path().to_path_buf()),
        ..cfg()
    };
    let mut t = Trainer::new(model.clone(), &dataset(), c.clone()).unwrap();
    let mut rec = Recorder::default();
    let s = t.run(&mut rec, &AtomicBool::new(false)).unwrap();
    assert_eq!(s.steps, 6);
    assert!(!s.cancelled);
    assert_eq!(rec.logs.iter().map(|l| l.step).collect::<Vec<_>>(), vec![2, 4, 6]);
    assert!(rec.logs.iter().all(|l| l.loss.is_finite() && l.samples_per_second > 0.0 && l.learning_rate > 0.0));
    // Every example is several tokens long.
    assert!(rec.logs.iter().all(|l| l.tokens_per_second > l.samples_per_second), "{:?}", rec.logs);
    assert_eq!(rec.checkpoints.iter().map(|c| c.0).collect::<Vec<_>>(), vec![3, 6]);
    assert_eq!(rec.checkpoints[0].1, dir.path().join("checkpoint-3"));
    assert_eq!(s.final_adapter.as_deref(), Some(dir.path().join("final").as_path()));
    let cfgjson: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("final/adapter_config.json")).unwrap()).unwrap();
    assert_eq!(cfgjson["peft_type"], "LORA");
    assert_eq!(cfgjson["task_type"], "CAUSAL_LM");
    assert_eq!(cfgjson["r"], 8);
    assert_eq!(cfgjson["lora_alpha"], 16.0);
    assert_eq!(cfgjson["base_model_name_or_path"], "arkor/tiny-gemma3");
    assert_eq!(cfgjson["target_modules"].as_array().unwrap().len(), 7);
    // A set flag stops before the next step.
    let mut t = Trainer::new(model, &dataset(), c).unwrap();
    let s = t.run(&mut (), &AtomicBool::new(true)).unwrap();
    assert!(s.cancelled);
    assert_eq!(s.steps, 0);
    let _ = Model::tiny(0);
}

/// A rank wider than the narrowest adapted projection is a config error naming the
/// widest usable rank, before anything is allocated (a rank of 1e11 once aborted the
/// process on allocation), and that widest rank itself trains.
#[test]
fn a_rank_wider_than_a_projection_is_refused() {
    let model = tiny();
    let too_wide = TrainConfig { lora: LoraConfig { r: 100_000_000_000, ..cfg().lora }, ..cfg() };
    let err = Trainer::new(model.clone(), &dataset(), too_wide).err().expect("refused").to_string();
    // The tiny model's k/v projections are 32 wide (one key/value head of 32).
    assert!(err.contains("use at most 32"), "{err}");
    assert!(err.contains("k_proj"), "{err}");
    let widest = TrainConfig { lora: LoraConfig { r: 32, ..cfg().lora }, max_steps: Some(1), ..cfg() };
    Trainer::new(model, &dataset(), widest).unwrap().step().unwrap();
}

/// A rate or decay too large for f32 fails the step that diverges, naming the value,
/// instead of carrying on with NaN losses and saving an adapter of infinities.
#[test]
fn a_diverging_run_fails_at_the_step_it_diverges() {
    let model = tiny();
    for (what, c) in [
        ("learningRate", TrainConfig { learning_rate: 1e38, ..cfg() }),
        ("weightDecay", TrainConfig { weight_decay: 1e38, ..cfg() }),
    ] {
        let mut t = Trainer::new(model.clone(), &dataset(), c).unwrap();
        let err = (0..5).find_map(|_| t.step().err()).unwrap_or_else(|| panic!("{what}: five steps ran"));
        let msg = err.to_string();
        assert!(matches!(err, arkor_engine::Error::Diverged { step: 1..=2, .. }), "{what}: {msg}");
        assert!(msg.contains("training diverged at step") && msg.contains("lower learningRate"), "{what}: {msg}");
    }
    // A sane rate trains on.
    let mut t = Trainer::new(model, &dataset(), cfg()).unwrap();
    for _ in 0..3 {
        assert!(t.step().unwrap().loss.is_finite());
    }
}

/// A `maxLength` past the model's context is refused before any row is encoded.
#[test]
fn a_max_length_past_the_context_is_refused() {
    let model = tiny();
    let context = model.config().max_position_embeddings;
    let err = Trainer::new(model.clone(), &dataset(), TrainConfig { max_length: Some(context + 1), ..cfg() }).err().unwrap();
    assert!(err.to_string().contains(&format!("context of {context} tokens: set it to at most {context}")), "{err}");
    assert!(Trainer::new(model, &dataset(), TrainConfig { max_length: Some(context), ..cfg() }).is_ok());
}
