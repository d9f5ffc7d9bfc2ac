//! The demo's triage schema on the real gemma-3-270m: parseable, schema-valid output on a
//! handful of tickets, from the base model and from a checkpoint (a LoRA trained a few
//! steps on the demo's data, saved and loaded back as the server loads checkpoints).
//!
//! Needs the installed model (`node bin/arkor.js models pull google/gemma-3-270m`, which
//! `npm test` runs first) and fails, saying so, without it.
mod common;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arkor_engine::chat::encode_chat_prompt;
use arkor_engine::data::{load_file, DatasetFormat};
use arkor_engine::{
    ChatMessage, Device, FinishReason, Generator, GrammarSpec, LoraAdapter, LoraConfig, Model, Precision, SamplingParams, Target,
    TrainConfig, Trainer, GEMMA3_270M,
};
use serde_json::{json, Value};

/// The triage answer the demo's data teaches (`examples/data/triage.jsonl`), as a schema
/// (shared with `examples/constrained_bench.rs`).
fn triage_schema() -> Value {
    serde_json::from_str(include_str!("fixtures/triage_schema.json")).unwrap()
}

const TICKETS: [&str; 5] = [
    "I can't log in to my account.",
    "Hi, I was charged twice for order #A48213, $29.99 each time.",
    "The dashboard has been down for an hour, nothing loads.",
    "Please cancel my subscription at the end of the month.",
    "Could you add a dark mode to the mobile app?",
];

/// Checks an answer against [`triage_schema`] field by field.
fn check(text: &str) {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    let o = v.as_object().unwrap_or_else(|| panic!("not an object: {text}"));
    let schema = triage_schema();
    assert_eq!(o.len(), 4, "{text}");
    for (k, s) in schema["properties"].as_object().unwrap() {
        let x = o.get(k).and_then(Value::as_str).unwrap_or_else(|| panic!("{k} missing or not a string: {text}"));
        if let Some(e) = s.get("enum") {
            assert!(e.as_array().unwrap().contains(&json!(x)), "{k}={x:?} not allowed: {text}");
        } else {
            let (min, max) = (s["minLength"].as_u64().unwrap(), s["maxLength"].as_u64().unwrap());
            assert!((min..=max).contains(&(x.chars().count() as u64)), "{k} length: {text}");
        }
    }
}

fn answers(model: &Arc<Model>, adapter: Option<Arc<LoraAdapter>>) {
    let grammar = model.constraints().unwrap().compile(&GrammarSpec::JsonSchema(triage_schema())).unwrap();
    for (i, t) in TICKETS.iter().enumerate() {
        let prompt = encode_chat_prompt(model.tokenizer(), &[ChatMessage::new("user", t)]).unwrap();
        let params = if i % 2 == 0 {
            SamplingParams { max_tokens: 200, precision: Precision::Q8, ..Default::default() }
        } else {
            SamplingParams { max_tokens: 200, temperature: 0.8, top_p: 0.95, seed: i as u64, precision: Precision::Q8, ..Default::default() }
        };
        let out = Generator::new(model.clone(), adapter.clone(), &prompt, params).unwrap().with_constraint(&grammar).run(|_| true).unwrap();
        eprintln!("{} {t:?} -> {}", if adapter.is_some() { "checkpoint" } else { "base" }, out.text);
        assert_eq!(out.finish_reason, FinishReason::Stop, "{}", out.text);
        check(&out.text);
    }
}

#[test]
fn triage_schema_holds_on_gemma_270m_base_and_checkpoint() {
    let path = common::installed_gemma3_270m();
    let model = Arc::new(Model::from_gguf(GEMMA3_270M, &path, &Device::Cpu).unwrap());
    answers(&model, None);

    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/triage.jsonl");
    let rows: Vec<_> = load_file(&data, DatasetFormat::Chatml).unwrap().into_iter().take(16).collect();
    let mut trainer = Trainer::new(
        model.clone(),
        &rows,
        TrainConfig {
            lora: LoraConfig { r: 8, alpha: 16.0, targets: Target::ALL.to_vec() },
            max_steps: Some(3),
            train_on_responses_only: true,
            ..TrainConfig::default()
        },
    )
    .unwrap();
    trainer.run(&mut (), &AtomicBool::new(false)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    trainer.save_adapter(dir.path()).unwrap();
    let checkpoint = Arc::new(LoraAdapter::load_peft(dir.path(), model.config(), model.device()).unwrap());
    answers(&model, Some(checkpoint));
}
