#![allow(dead_code)]
use std::sync::Arc;

use arkor_engine::{ChatMessage, Example, Model};

pub fn tiny() -> Arc<Model> {
    Arc::new(Model::tiny(0).unwrap())
}

pub fn chat(user: &str, answer: &str) -> Example {
    Example::Chat(vec![ChatMessage::new("user", user), ChatMessage::new("assistant", answer)])
}

/// A small chat dataset the tiny model must memorise.
pub fn dataset() -> Vec<Example> {
    vec![
        chat("What is the capital of France?", "Paris."),
        chat("What is two plus two?", "Four."),
        chat("Say hello.", "Hello! How are you today?"),
        chat("Answer with yes or no: is the sea blue?", "Yes."),
        chat("Tell me a joke.", "The computer had a virus."),
        chat("Translate thank you into French.", "Merci."),
        chat("Name a color.", "Blue."),
        chat("Who are you?", "I am a tiny model."),
    ]
}

/// Whether this CPU runs the bf16 kernels; says so on stderr when it does not, where the
/// test that asked returns early (the engine ignores its bf16 options on such CPUs).
pub fn bf16_or_skip() -> bool {
    let ok = arkor_engine::bf16::available();
    if !ok {
        eprintln!("no AVX512_BF16 on this CPU: skipped");
    }
    ok
}
