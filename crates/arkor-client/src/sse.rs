//! An incremental parser for `text/event-stream` bodies.
//!
//! Written here rather than taken from a crate for two reasons: the trainer
//! needs every frame that is already buffered in one go (so one JS round trip
//! carries a whole batch of events), and a frame that names an event but has
//! no `data:` line (`event: end`) must still be delivered, which the WHATWG
//! algorithm, and parsers that follow it to the letter, drop.

/// One dispatched server-sent event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseFrame {
    /// The `id:` of this frame, if it carried one.
    pub id: Option<String>,
    /// The `event:` field; `None` means the default type, `message`.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Turns arbitrary byte chunks into [`SseFrame`]s.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    /// Where scanning for the next line ending resumes inside `buf`.
    scanned: usize,
    pending: SseFrame,
    has_data: bool,
    started: bool,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one chunk and appends every frame it completes to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseFrame>) {
        self.buf.extend_from_slice(chunk);
        let mut line_start = 0;
        let mut i = self.scanned;
        while i < self.buf.len() {
            let b = self.buf[i];
            if b == b'\n' || b == b'\r' {
                // A lone `\r` at the very end may be the first half of `\r\n`:
                // wait for the next chunk before deciding.
                if b == b'\r' && i + 1 == self.buf.len() {
                    break;
                }
                let line_end = i;
                i += if b == b'\r' && self.buf[i + 1] == b'\n' { 2 } else { 1 };
                let line = std::mem::take(&mut self.buf);
                self.line(&line[line_start..line_end], out);
                self.buf = line;
                line_start = i;
            } else {
                i += 1;
            }
        }
        self.buf.drain(..line_start);
        self.scanned = i - line_start;
    }

    fn line(&mut self, mut line: &[u8], out: &mut Vec<SseFrame>) {
        if !self.started {
            self.started = true;
            line = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
        }
        if line.is_empty() {
            if self.has_data || self.pending.event.is_some() {
                out.push(std::mem::take(&mut self.pending));
            } else {
                self.pending = SseFrame::default();
            }
            self.has_data = false;
            return;
        }
        if line[0] == b':' {
            return; // comment
        }
        let (field, value) = match line.iter().position(|&c| c == b':') {
            Some(p) => {
                let v = &line[p + 1..];
                (&line[..p], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"data" => {
                if self.has_data {
                    self.pending.data.push('\n');
                }
                self.pending.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.pending.event = Some(value.into_owned()),
            b"id" if !value.contains('\0') => self.pending.id = Some(value.into_owned()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&str]) -> Vec<SseFrame> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c.as_bytes(), &mut out);
        }
        out
    }

    #[test]
    fn frames_split_across_chunks_and_line_endings() {
        let frames = parse_chunks(&["id: 1\r", "\ndata: {\"a\"", ":1}\r\n\r", "\nid:2\rdata:x\rdata: y\r\r\n"]);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].id.as_deref(), Some("1"));
        assert_eq!(frames[0].data, "{\"a\":1}");
        assert_eq!(frames[1].id.as_deref(), Some("2"));
        assert_eq!(frames[1].data, "x\ny");
    }

    #[test]
    fn event_without_data_is_delivered_and_comments_ignored() {
        let frames = parse_chunks(&[": hello\n\nevent: ping\n\nevent: end\ndata\n\n"]);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].event.as_deref(), Some("ping"));
        assert_eq!(frames[1].event.as_deref(), Some("end"));
        assert_eq!(frames[1].data, "");
    }

    #[test]
    fn incomplete_trailing_frame_is_not_emitted() {
        let frames = parse_chunks(&["data: 1\n\ndata: 2\n"]);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].data, "1");
    }

    #[test]
    fn leading_bom_is_skipped() {
        let frames = parse_chunks(&["\u{feff}data: z\n\n"]);
        assert_eq!(frames[0].data, "z");
    }
}
