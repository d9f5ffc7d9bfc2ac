//! The answer side of one chat request while its sequence decodes in a batch: token
//! text through the stop texts and the tool-call reader into [`Piece`]s, queued for
//! the request's channel without ever blocking the batch (a reader that falls behind
//! holds only its own sequence back, see [`Reply::backlogged`]).

use std::collections::VecDeque;

use arkor_engine::{FinishReason, ToolCallStream, ToolStreamEvent};
use futures::channel::mpsc;

use super::run::Piece;

/// What one request's answer has become so far, and what its channel has not yet taken.
pub(crate) struct Reply {
    tx: mpsc::Sender<Piece>,
    outbox: VecDeque<Piece>,
    stops: StopScanner,
    /// Calls are read out of the text only when the model may make them.
    calls: Option<ToolCallStream>,
    ended: bool,
}

impl Reply {
    /// An answer sent to `tx`, cut at the first of `stops`, with tool calls read out
    /// of its text when `calls`.
    pub(crate) fn new(tx: mpsc::Sender<Piece>, stops: Vec<String>, calls: bool) -> Self {
        Self { tx, outbox: VecDeque::new(), stops: StopScanner::new(stops), calls: calls.then(ToolCallStream::new), ended: false }
    }

    /// A new token's text; false when a stop text ended the answer.
    pub(crate) fn text(&mut self, text: &str) -> bool {
        let (shown, stopped) = self.stops.push(text);
        self.emit(shown);
        !stopped
    }

    fn emit(&mut self, text: String) {
        match self.calls.as_mut() {
            None if text.is_empty() => {}
            None => self.outbox.push_back(Piece::Text(text)),
            Some(calls) => {
                let pieces: Vec<Piece> = calls.push(&text).into_iter().map(call_piece).collect();
                self.outbox.extend(pieces);
            }
        }
    }

    /// The sequence ended (`engine` is why, unless a stop text ended it first): the
    /// held-back text, the last calls and the usage.
    pub(crate) fn finish(&mut self, engine: FinishReason, tail: &str, prompt_tokens: usize, completion_tokens: usize) {
        if self.ended {
            return;
        }
        if !self.stops.stopped && !tail.is_empty() {
            self.text(tail);
        }
        let mut finish = if self.stops.stopped {
            "stop"
        } else {
            let rest = self.stops.finish();
            self.emit(rest);
            engine.as_openai()
        };
        if let Some(mut c) = self.calls.take() {
            self.outbox.extend(c.finish().into_iter().map(call_piece));
            if c.is_calls() && finish == "stop" {
                finish = "tool_calls";
            }
        }
        self.outbox.push_back(Piece::Done { finish, prompt_tokens, completion_tokens });
        self.ended = true;
    }

    /// The request failed: what was already queued goes out, then the error.
    pub(crate) fn fail(&mut self, message: String) {
        if !self.ended {
            self.outbox.push_back(Piece::Failed(message));
            self.ended = true;
        }
    }

    /// Moves queued pieces into the channel while it has room; false once the client
    /// has gone (the receiver was dropped).
    pub(crate) fn flush(&mut self) -> bool {
        while let Some(p) = self.outbox.pop_front() {
            match self.tx.try_send(p) {
                Ok(()) => {}
                Err(e) if e.is_full() => {
                    self.outbox.push_front(e.into_inner());
                    break;
                }
                Err(_) => return false,
            }
        }
        !self.tx.is_closed()
    }

    /// Whether pieces wait for room in the channel: its sequence then sits out steps
    /// until the reader catches up.
    pub(crate) fn backlogged(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Whether the client has gone.
    pub(crate) fn gone(&self) -> bool {
        self.tx.is_closed()
    }
}

/// A tool-call stream event as a piece of the answer; each call gets its id here.
fn call_piece(e: ToolStreamEvent) -> Piece {
    match e {
        ToolStreamEvent::Text(t) => Piece::Text(t),
        ToolStreamEvent::CallStart { index, name } => Piece::ToolCall { index, id: crate::store::new_id("call"), name },
        ToolStreamEvent::Arguments { index, delta } => Piece::ToolArguments { index, delta },
    }
}

/// Cuts the answer at the first stop text. Text that could still become a
/// stop text is held back until the next token decides.
struct StopScanner {
    stops: Vec<String>,
    pending: String,
    stopped: bool,
}

impl StopScanner {
    fn new(stops: Vec<String>) -> Self {
        Self { stops, pending: String::new(), stopped: false }
    }

    /// Adds a token's text; returns what may be shown now, and whether a stop text was hit.
    fn push(&mut self, text: &str) -> (String, bool) {
        if self.stops.is_empty() {
            return (text.to_owned(), false);
        }
        self.pending.push_str(text);
        if let Some(at) = self.stops.iter().filter_map(|s| self.pending.find(s.as_str())).min() {
            self.stopped = true;
            self.pending.truncate(at);
            return (std::mem::take(&mut self.pending), true);
        }
        // Hold back the longest tail that begins some stop text.
        let hold = (1..=self.pending.len())
            .rev()
            .filter(|&n| self.pending.is_char_boundary(self.pending.len() - n))
            .find(|&n| {
                let tail = &self.pending[self.pending.len() - n..];
                self.stops.iter().any(|s| s.starts_with(tail))
            })
            .unwrap_or(0);
        let keep = self.pending.split_off(self.pending.len() - hold);
        (std::mem::replace(&mut self.pending, keep), false)
    }

    /// What was held back when the answer ends without a stop text.
    fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], tokens: &[&str]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut sc = StopScanner::new(stops);
        let mut out = String::new();
        for t in tokens {
            let (text, stopped) = sc.push(t);
            out.push_str(&text);
            if stopped {
                return (out, true);
            }
        }
        out.push_str(&sc.finish());
        (out, false)
    }

    #[test]
    fn cuts_at_a_stop_text_split_over_tokens() {
        assert_eq!(run(&["END"], &["hello E", "N", "D more"]), ("hello ".to_owned(), true));
    }

    #[test]
    fn releases_a_false_start() {
        assert_eq!(run(&["END"], &["a E", "Nx", " b"]), ("a ENx b".to_owned(), false));
    }

    #[test]
    fn the_earliest_of_several_stops_wins() {
        assert_eq!(run(&["b", "a"], &["xxab"]), ("xx".to_owned(), true));
    }

    #[test]
    fn no_stops_passes_text_through() {
        assert_eq!(run(&[], &["é", "x"]), ("éx".to_owned(), false));
    }

    #[test]
    fn multibyte_text_is_held_on_char_boundaries() {
        assert_eq!(run(&["éé"], &["aé", "b"]), ("aéb".to_owned(), false));
        assert_eq!(run(&["éé"], &["aé", "é"]), ("a".to_owned(), true));
    }
}
