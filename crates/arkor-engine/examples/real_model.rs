//! Smoke run on a real Gemma 3 GGUF: `cargo run -p arkor-engine --example real_model -- path/to/model.gguf "prompt"`.
use std::sync::Arc;
use std::time::Instant;

use arkor_engine::{chat::encode_chat_prompt, ChatMessage, Device, Generator, Model, SamplingParams};

fn main() -> arkor_engine::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("usage: real_model MODEL.gguf [PROMPT]");
    let prompt = args.get(2).map(String::as_str).unwrap_or("What is the capital of France?");
    let t0 = Instant::now();
    let model = Arc::new(Model::from_gguf("google/gemma-3-270m", path.as_ref(), &Device::Cpu)?);
    eprintln!("loaded in {:.1}s: {:?}", t0.elapsed().as_secs_f64(), model.config());
    let tok = model.tokenizer();
    eprintln!("specials {:?}", tok.specials());
    let ids = if std::env::var("RAW").is_ok() {
        tok.encode(prompt, true)
    } else {
        encode_chat_prompt(tok, &[ChatMessage::new("user", prompt)])?
    };
    eprintln!("prompt ids {:?}", ids);
    let t1 = Instant::now();
    let mut g = Generator::new(model.clone(), None, &ids, SamplingParams { max_tokens: 48, ..Default::default() })?;
    let mut n = 0;
    for ev in &mut g {
        let ev = ev?;
        n += 1;
        print!("{}", ev.text);
    }
    println!();
    eprintln!("{n} tokens in {:.2}s ({:?})", t1.elapsed().as_secs_f64(), g.finish_reason());
    Ok(())
}
