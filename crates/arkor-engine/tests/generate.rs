//! Generation, checkpoints and concurrency on the tiny model.
mod common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arkor_engine::chat::encode_chat_prompt;
use arkor_engine::{
    generate, ChatMessage, FinishReason, Frozen, Generator, LoraAdapter, LoraConfig, Precision, SamplingParams, Target,
    TrainConfig, Trainer,
};
use common::{dataset, tiny};

fn prompt(model: &arkor_engine::Model, text: &str) -> Vec<u32> {
    encode_chat_prompt(model.tokenizer(), &[ChatMessage::new("user", text)]).unwrap()
}

fn trained(model: &Arc<arkor_engine::Model>, steps: usize) -> Trainer {
    let mut t = Trainer::new(
        model.clone(),
        &dataset(),
        TrainConfig {
            lora: LoraConfig { r: 8, alpha: 16.0, targets: Target::ALL.to_vec() },
            learning_rate: 1e-2,
            max_steps: Some(steps),
            train_on_responses_only: true,
            ..TrainConfig::default()
        },
    )
    .unwrap();
    t.run(&mut (), &AtomicBool::new(false)).unwrap();
    t
}

#[test]
fn greedy_is_deterministic_and_max_tokens_is_honoured() {
    let model = tiny();
    let p = prompt(&model, "Hello");
    let params = SamplingParams { max_tokens: 12, stop_at_end_of_turn: false, ..Default::default() };
    let a = generate(&model, None, &p, &params).unwrap();
    let b = generate(&model, None, &p, &params).unwrap();
    assert_eq!(a, b);
    assert!(a.ids.len() <= 12);
    if a.ids.len() == 12 {
        assert_eq!(a.finish_reason, FinishReason::Length);
    }
    assert_eq!(a.prompt_tokens, p.len());
    let one = generate(&model, None, &p, &SamplingParams { max_tokens: 1, ..params.clone() }).unwrap();
    assert!(one.ids.len() <= 1);
    assert_eq!(one.ids[..], a.ids[..one.ids.len()]);
}

#[test]
fn sampling_depends_on_seed_temperature_and_top_p() {
    let model = tiny();
    let p = prompt(&model, "Tell me a joke");
    let base =
        SamplingParams { max_tokens: 16, temperature: 1.5, top_p: 1.0, seed: 1, stop_at_end_of_turn: false, ..Default::default() };
    let a = generate(&model, None, &p, &base).unwrap();
    let a2 = generate(&model, None, &p, &base).unwrap();
    assert_eq!(a, a2, "same seed, same text");
    let outs: Vec<Vec<u32>> = (2..6)
        .map(|s| generate(&model, None, &p, &SamplingParams { seed: s, ..base.clone() }).unwrap().ids)
        .collect();
    assert!(outs.iter().any(|o| *o != a.ids), "different seeds differ");
    // A tiny top_p keeps only the most likely token: sampling becomes greedy.
    let greedy = generate(&model, None, &p, &SamplingParams { temperature: 0.0, ..base.clone() }).unwrap();
    let nucleus = generate(&model, None, &p, &SamplingParams { top_p: 1e-6, seed: 9, ..base.clone() }).unwrap();
    assert_eq!(greedy.ids, nucleus.ids);
    assert!(generate(&model, None, &p, &SamplingParams { top_p: 0.0, ..base.clone() }).is_err());
}

#[test]
fn streams_tokens_as_they_are_produced_and_stops_at_end_of_turn() {
    let model = tiny();
    let t = trained(&model, 60);
    let adapter = Arc::new(t.adapter().snapshot().unwrap());
    let p = prompt(&model, "Say hello.");
    let mut g = Generator::new(model.clone(), Some(adapter.clone()), &p, SamplingParams::default()).unwrap();
    let mut pieces = Vec::new();
    // The first token is available before the rest is computed.
    let first = g.next().unwrap().unwrap();
    assert!(g.generated().len() == 1 && g.finish_reason().is_none());
    pieces.push(first.text);
    for ev in &mut g {
        pieces.push(ev.unwrap().text);
    }
    assert_eq!(g.finish_reason(), Some(FinishReason::Stop));
    assert_eq!(pieces.concat(), "Hello! How are you today?");
    assert!(pieces.len() > 1);
    // Without stop at end-of-turn the model runs on past <end_of_turn>.
    let params = SamplingParams { max_tokens: 30, stop_at_end_of_turn: false, ..Default::default() };
    let long = generate(&model, Some(&adapter), &p, &params).unwrap();
    assert!(long.ids.contains(&model.tokenizer().specials().end_of_turn));
    // A consumer can stop the stream.
    let g = Generator::new(model.clone(), Some(adapter), &p, SamplingParams::default()).unwrap();
    let mut n = 0;
    let out = g.run(|_| { n += 1; n < 2 }).unwrap();
    assert_eq!(out.ids.len(), 2);
}

/// Generation with the frozen products in bf16 gives logits within bf16 rounding of the
/// f32 ones and the same greedy answers, base and adapter (on CPUs without AVX512_BF16
/// the option is ignored and the answers are f32's).
#[test]
fn bf16_generation_tracks_f32() {
    let model = tiny();
    let t = trained(&model, 60);
    let adapter = Arc::new(t.adapter().snapshot().unwrap());
    let w = model.weights();
    let p = prompt(&model, "What is the capital of France?");
    let f32_params = SamplingParams { max_tokens: 20, ..Default::default() };
    let bf16_params = SamplingParams { precision: Precision::Bf16, ..f32_params.clone() };
    if !common::has_bf16() {
        assert!(w.bf16_packs().unwrap().is_none(), "no bf16 copies without AVX512_BF16");
        let want = generate(&model, Some(&adapter), &p, &f32_params).unwrap();
        assert_eq!(want.text, "Paris.");
        assert_eq!(generate(&model, Some(&adapter), &p, &bf16_params).unwrap(), want);
        return;
    }
    let packs = w.bf16_packs().unwrap().expect("packs on an AVX512_BF16 CPU");
    let ids = candle_core::Tensor::new(p.as_slice(), model.device()).unwrap().unsqueeze(0).unwrap();
    for a in [None, Some(t.adapter())] {
        let bf16 = Frozen::Bf16(packs.clone());
        let z32 = w.logits(&w.forward_hidden(&ids, a, None, &Frozen::F32).unwrap(), &Frozen::F32).unwrap();
        let z16 = w.logits(&w.forward_hidden(&ids, a, None, &bf16).unwrap(), &bf16).unwrap();
        let scale = z32.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        let d = (&z32 - &z16).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(d > 0.0, "bf16 products should round somewhere");
        assert!(d <= 0.03 * scale, "max |f32 - bf16| logit {d} against max |logit| {scale}");
    }
    let trained_answer = generate(&model, Some(&adapter), &p, &bf16_params).unwrap();
    assert_eq!(trained_answer.text, "Paris.");
    assert_eq!(trained_answer, generate(&model, Some(&adapter), &p, &f32_params).unwrap());
    // Generation packed only the forward layout; training's transposes double it.
    let inference_bytes = packs.bytes();
    packs.prepare_backward();
    assert!(packs.bytes() >= 19 * inference_bytes / 10, "{inference_bytes} -> {}", packs.bytes());
}

/// Generation through the Q8_0 copies (`Precision::Q8`, what the local backend serves
/// with): logits within Q8 rounding of f32's, base and with an unmerged adapter, the
/// same greedy answers, and the same tokens every time.
#[test]
fn q8_generation_tracks_f32_and_is_deterministic() {
    let model = tiny();
    let t = trained(&model, 60);
    let adapter = Arc::new(t.adapter().snapshot().unwrap());
    let w = model.weights();
    let q8 = w.frozen(Precision::Q8).unwrap();
    assert_eq!(q8.precision(), Precision::Q8, "the CPU always has Q8 copies");
    let p = prompt(&model, "What is the capital of France?");
    let ids = candle_core::Tensor::new(p.as_slice(), model.device()).unwrap().unsqueeze(0).unwrap();
    for a in [None, Some(adapter.as_ref())] {
        let z32 = w.logits(&w.forward_hidden(&ids, a, None, &Frozen::F32).unwrap(), &Frozen::F32).unwrap();
        let zq = w.logits(&w.forward_hidden(&ids, a, None, &q8).unwrap(), &q8).unwrap();
        let scale = z32.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        let d = (&z32 - &zq).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(d > 0.0, "Q8 products should round somewhere");
        assert!(d <= 0.05 * scale, "max |f32 - q8| logit {d} against max |logit| {scale}");
    }
    let f32_params = SamplingParams { max_tokens: 20, ..Default::default() };
    let q8_params = SamplingParams { precision: Precision::Q8, ..f32_params.clone() };
    let answer = generate(&model, Some(&adapter), &p, &q8_params).unwrap();
    assert_eq!(answer.text, "Paris.");
    assert_eq!(answer, generate(&model, Some(&adapter), &p, &f32_params).unwrap());
    let long = SamplingParams { max_tokens: 40, stop_at_end_of_turn: false, ..q8_params };
    for a in [None, Some(&adapter)] {
        let first = generate(&model, a, &p, &long).unwrap();
        assert_eq!(first.ids.len(), 40);
        assert_eq!(first, generate(&model, a, &p, &long).unwrap());
    }
}

#[test]
fn checkpoint_round_trip_gives_identical_generations() {
    let model = tiny();
    let t = trained(&model, 30);
    let dir = tempfile::tempdir().unwrap();
    t.save_adapter(dir.path()).unwrap();
    let names: Vec<String> = t.adapter().peft_tensors().into_iter().map(|x| x.0).collect();
    assert!(names.contains(&"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight".to_string()));
    assert!(names.contains(&"base_model.model.model.layers.1.mlp.down_proj.lora_B.weight".to_string()));
    assert_eq!(names.len(), 2 * 7 * 2);
    let loaded = Arc::new(LoraAdapter::load_peft(dir.path(), model.config(), model.device()).unwrap());
    assert_eq!(loaded.config(), t.adapter().config());
    assert_eq!(loaded.base_model(), "arkor/tiny-gemma3");
    let live = Arc::new(t.adapter().snapshot().unwrap());
    let params = SamplingParams { max_tokens: 20, ..Default::default() };
    for q in ["What is two plus two?", "Who are you?", "Name a color."] {
        let p = prompt(&model, q);
        let a = generate(&model, Some(&live), &p, &params).unwrap();
        let b = generate(&model, Some(&loaded), &p, &params).unwrap();
        assert_eq!(a, b);
        let base = generate(&model, None, &p, &params).unwrap();
        assert_ne!(base.ids, a.ids, "training changed the answer to {q}");
    }
    // Broken checkpoints are errors that name the directory.
    std::fs::write(dir.path().join("adapter_config.json"), "{\"peft_type\":\"PREFIX\"}").unwrap();
    let err = LoraAdapter::load_peft(dir.path(), model.config(), model.device()).unwrap_err();
    assert!(err.to_string().contains(&dir.path().display().to_string()));
}

#[test]
fn training_and_generation_share_the_base_concurrently() {
    let model = tiny();
    let before = generate(&model, None, &prompt(&model, "Hello"), &SamplingParams::default()).unwrap();
    let m2 = model.clone();
    let trainer = std::thread::spawn(move || trained(&m2, 20).current_step());
    let gens: Vec<_> = (0..2)
        .map(|_| {
            let m = model.clone();
            std::thread::spawn(move || {
                (0..5).map(|_| generate(&m, None, &prompt(&m, "Hello"), &SamplingParams::default()).unwrap()).collect::<Vec<_>>()
            })
        })
        .collect();
    assert_eq!(trainer.join().unwrap(), 20);
    for g in gens {
        for out in g.join().unwrap() {
            assert_eq!(out, before, "base generations are unaffected by the concurrent run");
        }
    }
}
