//! Gemma chat rendering and training-example encoding.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::tokenizer::Tokenizer;

/// One chat message (`role` is `system`, `user` or `assistant`; `model` is accepted
/// for `assistant`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who speaks.
    pub role: String,
    /// What they say.
    pub content: String,
}

impl ChatMessage {
    /// A message.
    pub fn new(role: &str, content: &str) -> Self {
        Self { role: role.into(), content: content.into() }
    }
}

/// A training example after format detection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Example {
    /// A conversation (also what prompt/completion and alpaca rows become).
    Chat(Vec<ChatMessage>),
    /// Plain text: `<bos>text<eos>`, every token supervised.
    Text(String),
}

/// Token ids with, for each position, whether that token is a training target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedExample {
    /// Token ids, starting with `<bos>`.
    pub ids: Vec<u32>,
    /// `targets[i]`: token `i` contributes to the loss (predicted from position `i - 1`).
    pub targets: Vec<bool>,
}

impl EncodedExample {
    /// Number of supervised tokens.
    pub fn num_targets(&self) -> usize {
        self.targets.iter().filter(|&&t| t).count()
    }
}

/// Gemma's role name for a message role.
fn turn_role(role: &str) -> Result<&'static str> {
    match role {
        "user" => Ok("user"),
        "assistant" | "model" => Ok("model"),
        other => Err(Error::Config(format!(
            "chat role {other:?} is not supported (use system, user or assistant)"
        ))),
    }
}

/// Turns a message list into Gemma turns `(role, text)`: a leading system message is
/// folded into the first user turn followed by a blank line, as Gemma 3's template does;
/// contents are trimmed, as the template does.
fn turns(messages: &[ChatMessage]) -> Result<Vec<(&'static str, String)>> {
    let (system, rest) = match messages.first() {
        Some(m) if m.role == "system" => (Some(m.content.trim().to_string()), &messages[1..]),
        _ => (None, messages),
    };
    let mut out = Vec::with_capacity(rest.len());
    let mut system = system;
    for m in rest {
        let role = turn_role(&m.role)?;
        let mut text = m.content.trim().to_string();
        if let Some(s) = system.take() {
            text = format!("{s}\n\n{text}");
        }
        out.push((role, text));
    }
    if let Some(s) = system {
        // A conversation that is only a system message: keep it as a user turn.
        out.push(("user", format!("{s}\n\n")));
    }
    Ok(out)
}

/// The chat as text in Gemma's format: `<bos><start_of_turn>user\n...<end_of_turn>\n`
/// per turn, ending with `<start_of_turn>model\n` when `add_generation_prompt`.
pub fn render_chat(messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
    let mut s = String::from("<bos>");
    for (role, text) in turns(messages)? {
        s.push_str(&format!("<start_of_turn>{role}\n{text}<end_of_turn>\n"));
    }
    if add_generation_prompt {
        s.push_str("<start_of_turn>model\n");
    }
    Ok(s)
}

/// Token ids of a chat prompt, ready for generation.
pub fn encode_chat_prompt(tok: &Tokenizer, messages: &[ChatMessage]) -> Result<Vec<u32>> {
    Ok(encode_chat(tok, messages, true)?.ids)
}

fn encode_chat(
    tok: &Tokenizer,
    messages: &[ChatMessage],
    add_generation_prompt: bool,
) -> Result<EncodedExample> {
    let sp = tok.specials();
    let mut ids = vec![sp.bos];
    let mut resp = vec![false];
    let nl = tok.encode("\n", false);
    for (role, text) in turns(messages)? {
        let answer = role == "model";
        ids.push(sp.start_of_turn);
        resp.push(false);
        // Header and content are encoded apart, so the response boundary falls on a
        // token boundary (contents are trimmed and never begin with a newline).
        let head = tok.encode(&format!("{role}\n"), false);
        resp.extend(std::iter::repeat_n(false, head.len()));
        ids.extend(head);
        let body = tok.encode(&text, false);
        resp.extend(std::iter::repeat_n(answer, body.len() + 1 + nl.len()));
        ids.extend(body);
        ids.push(sp.end_of_turn);
        ids.extend(nl.iter().copied());
    }
    if add_generation_prompt {
        ids.push(sp.start_of_turn);
        ids.extend(tok.encode("model\n", false));
        resp.resize(ids.len(), false);
    }
    Ok(EncodedExample { ids, targets: resp })
}

/// Encodes a training example. With `train_on_responses_only`, only assistant turns
/// (their text, `<end_of_turn>` and the newline after it) are targets; otherwise every
/// token after `<bos>`. Sequences longer than `max_length` are cut at the end.
pub fn encode_example(
    tok: &Tokenizer,
    example: &Example,
    train_on_responses_only: bool,
    max_length: Option<usize>,
) -> Result<EncodedExample> {
    let mut e = match example {
        Example::Chat(messages) => {
            let mut e = encode_chat(tok, messages, false)?;
            if !train_on_responses_only {
                e.targets = (0..e.ids.len()).map(|i| i > 0).collect();
            }
            e
        }
        Example::Text(text) => {
            let mut ids = tok.encode(text, true);
            ids.push(tok.specials().eos);
            let targets = (0..ids.len()).map(|i| i > 0).collect();
            EncodedExample { ids, targets }
        }
    };
    if let Some(m) = max_length {
        if m < 2 {
            return Err(Error::Config(format!("maxLength {m} is too small (need at least 2)")));
        }
        e.ids.truncate(m);
        e.targets.truncate(m);
    }
    Ok(e)
}
