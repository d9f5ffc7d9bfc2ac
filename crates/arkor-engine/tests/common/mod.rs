#![allow(dead_code)]
use std::path::PathBuf;
use std::sync::Arc;

use arkor_engine::{ChatMessage, Example, Model, GEMMA3_270M};

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

/// Whether this CPU runs the bf16 kernels. Where it does not, the engine ignores its
/// bf16 options and runs f32, and the test that asked checks that instead (the same
/// numbers as f32, no bf16 copies); says so on stderr.
pub fn has_bf16() -> bool {
    let ok = arkor_engine::bf16::available();
    if !ok {
        eprintln!("no AVX512_BF16 on this CPU: checking that the bf16 option falls back to f32");
    }
    ok
}

/// The installed google/gemma-3-270m GGUF, where `arkor models pull` puts it
/// (`arkor-models`' layout under `$ARKOR_HOME`). Panics, saying how to install it, when
/// it is absent: `npm test` pulls it first, so a missing model is a broken setup, and a
/// test that skipped itself here would turn such a run green.
pub fn installed_gemma3_270m() -> PathBuf {
    let home = arkor_settings::local_home();
    let p = home.join("models").join(GEMMA3_270M.replace('/', "--")).join("model.gguf");
    if !p.is_file() {
        panic!(
            "the real google/gemma-3-270m is not installed at {} (this test needs it; ARKOR_HOME={}). \
             Install it with `node bin/arkor.js models pull google/gemma-3-270m` from the repository root, then rerun.",
            p.display(),
            home.display()
        );
    }
    p
}
