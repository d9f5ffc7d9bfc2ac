//! An incremental parser for `text/event-stream` bodies.
//!
//! Frames are handed to a visitor as slices of the parser's own buffer, so a
//! frame costs no allocation unless it has several `data:` lines or invalid
//! UTF-8. `bench/README.md` ("Why not `eventsource-stream`") compares it
//! with the `eventsource-stream` crate, alone and end to end: that crate
//! copies the rest of its buffer once per line, which is quadratic in the
//! size of a socket read, and halved the SDK's events/s. Two further reasons
//! to own it: a frame that names an event but has no `data:` line
//! (`event: end` from older local backends) must still be delivered, which
//! the WHATWG algorithm drops; and an invalid UTF-8 byte must cost only its
//! own frame (it is replaced), where that crate stops delivering frames.

use std::borrow::Cow;
use std::ops::Range;

/// One dispatched server-sent event, borrowed from the parser's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The `id:` of this frame, if it carried one.
    pub id: Option<&'a str>,
    /// The `event:` field; `None` means the default type, `message`.
    pub event: Option<&'a str>,
    /// The `data:` lines joined with `\n` (empty when there were none).
    pub data: &'a str,
}

/// Where the pending frame's data lives until its blank line.
#[derive(Debug, Default)]
enum Data {
    #[default]
    None,
    /// One `data:` line: a range of the buffer.
    Line(Range<usize>),
    /// Several lines, joined into `SseParser::joined`.
    Joined,
}

/// Turns arbitrary byte chunks into frames.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    /// Start of the next line not yet read.
    pos: usize,
    /// Where the search for the next line ending resumes (`>= pos`).
    scan: usize,
    /// Earliest byte the pending frame refers to; `pos` when none is pending.
    frame_start: usize,
    id: Option<Range<usize>>,
    event: Option<Range<usize>>,
    data: Data,
    joined: String,
    started: bool,
}

const BOM: &[u8] = b"\xef\xbb\xbf";

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one chunk and calls `visit` with every frame it completes, in
    /// order.
    pub fn feed(&mut self, chunk: &[u8], mut visit: impl FnMut(Frame<'_>)) {
        self.buf.extend_from_slice(chunk);
        if !self.started {
            if self.buf.len() < BOM.len() && BOM.starts_with(&self.buf) {
                return; // perhaps a BOM split across chunks
            }
            self.started = true;
            if self.buf.starts_with(BOM) {
                self.buf.drain(..BOM.len());
            }
        }
        while let Some(off) = memchr::memchr2(b'\n', b'\r', &self.buf[self.scan..]) {
            let end = self.scan + off;
            let cr = self.buf[end] == b'\r';
            if cr && end + 1 == self.buf.len() {
                // Maybe the first half of `\r\n`: decide on the next chunk.
                self.scan = end;
                break;
            }
            let next = if cr && self.buf[end + 1] == b'\n' { end + 2 } else { end + 1 };
            self.line(self.pos..end, &mut visit);
            self.pos = next;
            self.scan = next;
            if self.is_idle() {
                self.frame_start = next;
            }
        }
        if self.scan < self.buf.len() && self.buf[self.scan] != b'\r' {
            self.scan = self.buf.len();
        }
        self.compact();
    }

    fn is_idle(&self) -> bool {
        self.id.is_none() && self.event.is_none() && matches!(self.data, Data::None)
    }

    /// Drops the bytes no pending frame refers to and rebases the ranges.
    fn compact(&mut self) {
        let cut = self.frame_start;
        if cut == 0 {
            return;
        }
        self.buf.drain(..cut);
        let shift = |r: &mut Range<usize>| *r = r.start - cut..r.end - cut;
        if let Some(r) = self.id.as_mut() {
            shift(r);
        }
        if let Some(r) = self.event.as_mut() {
            shift(r);
        }
        if let Data::Line(r) = &mut self.data {
            shift(r);
        }
        self.pos -= cut;
        self.scan -= cut;
        self.frame_start = 0;
    }

    fn line(&mut self, line: Range<usize>, visit: &mut impl FnMut(Frame<'_>)) {
        if line.is_empty() {
            if !self.is_idle() {
                self.dispatch(visit);
            }
            return;
        }
        if self.buf[line.start] == b':' {
            return; // comment
        }
        let colon = memchr::memchr(b':', &self.buf[line.clone()]);
        let (field, value) = match colon {
            Some(p) => {
                let mut v = line.start + p + 1;
                if self.buf.get(v) == Some(&b' ') && v < line.end {
                    v += 1;
                }
                (line.start..line.start + p, v..line.end)
            }
            None => (line.clone(), line.end..line.end),
        };
        match &self.buf[field] {
            b"data" => match std::mem::take(&mut self.data) {
                Data::None => self.data = Data::Line(value),
                Data::Line(first) => {
                    self.joined.clear();
                    self.joined.push_str(&lossy(&self.buf[first]));
                    self.push_joined(value);
                }
                Data::Joined => self.push_joined(value),
            },
            b"event" => self.event = Some(value),
            b"id" if !self.buf[value.clone()].contains(&0) => self.id = Some(value),
            _ => {}
        }
    }

    fn push_joined(&mut self, value: Range<usize>) {
        self.joined.push('\n');
        self.joined.push_str(&lossy(&self.buf[value]));
        self.data = Data::Joined;
    }

    fn dispatch(&mut self, visit: &mut impl FnMut(Frame<'_>)) {
        let id = self.id.take().map(|r| lossy(&self.buf[r]));
        let event = self.event.take().map(|r| lossy(&self.buf[r]));
        let data = match std::mem::take(&mut self.data) {
            Data::None => Cow::Borrowed(""),
            Data::Line(r) => lossy(&self.buf[r]),
            Data::Joined => Cow::Borrowed(self.joined.as_str()),
        };
        visit(Frame { id: id.as_deref(), event: event.as_deref(), data: &data });
    }
}

fn lossy(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An owned [`Frame`], to compare frames in tests.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    struct SseFrame {
        id: Option<String>,
        event: Option<String>,
        data: String,
    }

    impl From<Frame<'_>> for SseFrame {
        fn from(f: Frame<'_>) -> Self {
            Self { id: f.id.map(str::to_owned), event: f.event.map(str::to_owned), data: f.data.to_owned() }
        }
    }

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<SseFrame> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, |f| out.push(f.into()));
        }
        out
    }

    fn parse_str(chunks: &[&str]) -> Vec<SseFrame> {
        parse_chunks(&chunks.iter().map(|c| c.as_bytes()).collect::<Vec<_>>())
    }

    #[test]
    fn frames_split_across_chunks_and_line_endings() {
        let frames = parse_str(&["id: 1\r", "\ndata: {\"a\"", ":1}\r\n\r", "\nid:2\rdata:x\rdata: y\r\r\n"]);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].id.as_deref(), Some("1"));
        assert_eq!(frames[0].data, "{\"a\":1}");
        assert_eq!(frames[1].id.as_deref(), Some("2"));
        assert_eq!(frames[1].data, "x\ny");
    }

    #[test]
    fn event_without_data_is_delivered_and_comments_ignored() {
        let frames = parse_str(&[": hello\n\nevent: ping\n\nevent: end\ndata\n\n"]);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].event.as_deref(), Some("ping"));
        assert_eq!(frames[1].event.as_deref(), Some("end"));
        assert_eq!(frames[1].data, "");
    }

    #[test]
    fn end_with_a_data_line_as_the_cloud_sends_it() {
        let frames = parse_str(&["event: end\ndata: {}\n\n"]);
        assert_eq!(frames, vec![SseFrame { id: None, event: Some("end".into()), data: "{}".into() }]);
    }

    #[test]
    fn incomplete_trailing_frame_is_not_emitted() {
        let frames = parse_str(&["data: 1\n\ndata: 2\n"]);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].data, "1");
    }

    #[test]
    fn leading_bom_is_skipped_even_when_split() {
        assert_eq!(parse_str(&["\u{feff}data: z\n\n"])[0].data, "z");
        let bom = "\u{feff}data: w\n\n".as_bytes();
        assert_eq!(parse_chunks(&[&bom[..1], &bom[1..2], &bom[2..]])[0].data, "w");
        // Only at the very start: later, it is part of the field name.
        assert_eq!(parse_str(&["data: a\n\n\u{feff}data: b\n\n"]).len(), 1);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let frames = parse_chunks(&[b"data: a\xffb\n\n"]);
        assert_eq!(frames[0].data, "a\u{fffd}b");
    }

    #[test]
    fn ids_with_nul_are_ignored_and_fields_without_colon_are_empty() {
        let frames = parse_chunks(&[b"id: a\0b\ndata\n\n"]);
        assert_eq!(frames, vec![SseFrame { id: None, event: None, data: String::new() }]);
    }

    #[test]
    fn any_split_of_a_stream_gives_the_same_frames() {
        let stream = "id: 1\ndata: {\"type\":\"training.log\"}\n\n:c\r\nevent: ping\r\n\r\nid: 2\rdata: a\rdata: b\r\r\
                      event: end\ndata: {}\n\n";
        let whole = parse_str(&[stream]);
        assert_eq!(whole.len(), 4);
        let bytes = stream.as_bytes();
        for size in 1..=bytes.len() {
            let chunks: Vec<&[u8]> = bytes.chunks(size).collect();
            assert_eq!(parse_chunks(&chunks), whole, "chunk size {size}");
        }
        for cut in 0..=bytes.len() {
            assert_eq!(parse_chunks(&[&bytes[..cut], &bytes[cut..]]), whole, "cut at {cut}");
        }
    }

    #[test]
    fn buffer_does_not_grow_with_the_stream() {
        let mut p = SseParser::new();
        let mut n = 0;
        for i in 0..10_000 {
            p.feed(format!("id: {i}\ndata: {{\"step\":{i}}}\n\n").as_bytes(), |_| n += 1);
        }
        assert_eq!(n, 10_000);
        assert!(p.buf.capacity() < 4096, "{}", p.buf.capacity());
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        /// Pieces SSE streams are made of, so random streams hit real
        /// fields, line endings and frame boundaries often.
        fn piece() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                Just(b"data: ".to_vec()),
                Just(b"data:".to_vec()),
                Just(b"id: ".to_vec()),
                Just(b"event: ping".to_vec()),
                Just(b"event: end".to_vec()),
                Just(b": comment".to_vec()),
                Just(b"\n".to_vec()),
                Just(b"\r".to_vec()),
                Just(b"\r\n".to_vec()),
                Just(b"\n\n".to_vec()),
                Just(b"\xef\xbb\xbf".to_vec()),
                Just(b"{\"type\":\"training.log\",\"step\":1}".to_vec()),
                proptest::collection::vec(any::<u8>(), 0..12),
            ]
        }

        fn stream() -> impl Strategy<Value = Vec<u8>> {
            proptest::collection::vec(piece(), 0..40).prop_map(|p| p.concat())
        }

        fn parse_split(bytes: &[u8], cuts: &[usize]) -> Vec<SseFrame> {
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
            points.sort_unstable();
            let mut p = SseParser::new();
            let mut out = Vec::new();
            let mut at = 0;
            for c in points.into_iter().chain([bytes.len()]) {
                p.feed(&bytes[at..c], |f| out.push(f.into()));
                at = c;
            }
            out
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

            /// Any bytes, cut anywhere: no panic, and the frames do not
            /// depend on where the socket reads fell.
            #[test]
            fn frames_do_not_depend_on_chunking(bytes in stream(), cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
                let whole = parse_split(&bytes, &[]);
                prop_assert_eq!(parse_split(&bytes, &cuts), whole.clone());
                let bytewise: Vec<usize> = (0..bytes.len()).collect();
                prop_assert_eq!(parse_split(&bytes, &bytewise), whole);
            }
        }
    }
}
