//! A SentencePiece-style BPE tokenizer (Gemma's): spaces become `▁`, pieces are merged
//! highest score first, anything outside the vocabulary falls back to `<0xNN>` byte
//! tokens, and control tokens written literally in the text (`<start_of_turn>`) are
//! recognised as themselves.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use crate::error::{Error, Result};

/// The role of a vocabulary entry (SentencePiece / GGUF `token_type` numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// An ordinary piece.
    Normal,
    /// `<unk>`.
    Unknown,
    /// Control tokens such as `<bos>` and `<start_of_turn>`: never produced by merging.
    Control,
    /// User-defined pieces, matched literally in the input before merging.
    UserDefined,
    /// Reserved, never produced.
    Unused,
    /// `<0xNN>` byte-fallback pieces.
    Byte,
}

impl TokenKind {
    /// From GGUF's `tokenizer.ggml.token_type` codes.
    pub fn from_gguf(code: i32) -> Self {
        match code {
            2 => TokenKind::Unknown,
            3 => TokenKind::Control,
            4 => TokenKind::UserDefined,
            5 => TokenKind::Unused,
            6 => TokenKind::Byte,
            _ => TokenKind::Normal,
        }
    }
}

/// Ids of the tokens the chat template and generation rely on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecialTokens {
    /// `<bos>`
    pub bos: u32,
    /// `<eos>`
    pub eos: u32,
    /// `<pad>`
    pub pad: u32,
    /// `<unk>`
    pub unk: u32,
    /// `<start_of_turn>`
    pub start_of_turn: u32,
    /// `<end_of_turn>`
    pub end_of_turn: u32,
}

const SPACE: char = '\u{2581}';

/// A Gemma-style tokenizer.
#[derive(Clone, Debug)]
pub struct Tokenizer {
    pieces: Vec<String>,
    scores: Vec<f32>,
    kinds: Vec<TokenKind>,
    piece_to_id: HashMap<String, u32>,
    byte_ids: Vec<Option<u32>>,
    specials: SpecialTokens,
    /// Pieces matched literally before merging, by text.
    literal: HashMap<String, u32>,
    literal_max_len: usize,
}

impl Tokenizer {
    /// Builds a tokenizer from a vocabulary. The special tokens are found by their text
    /// (`<bos>`, `<eos>`, `<pad>`, `<unk>`, `<start_of_turn>`, `<end_of_turn>`).
    pub fn from_vocab(pieces: Vec<String>, scores: Vec<f32>, kinds: Vec<TokenKind>) -> Result<Self> {
        if pieces.len() != scores.len() || pieces.len() != kinds.len() {
            return Err(Error::Tokenizer(format!(
                "{} pieces, {} scores, {} kinds",
                pieces.len(),
                scores.len(),
                kinds.len()
            )));
        }
        let mut piece_to_id = HashMap::with_capacity(pieces.len());
        let mut byte_ids = vec![None; 256];
        let mut literal = HashMap::new();
        for (i, p) in pieces.iter().enumerate() {
            let id = i as u32;
            piece_to_id.entry(p.clone()).or_insert(id);
            if kinds[i] == TokenKind::Byte {
                if let Some(b) = parse_byte_piece(p) {
                    byte_ids[b as usize] = Some(id);
                }
            }
            if matches!(kinds[i], TokenKind::Control | TokenKind::UserDefined) && !p.is_empty() {
                literal.insert(p.clone(), id);
            }
        }
        let find = |s: &str| -> Result<u32> {
            piece_to_id
                .get(s)
                .copied()
                .ok_or_else(|| Error::Tokenizer(format!("vocabulary has no {s} token")))
        };
        let specials = SpecialTokens {
            bos: find("<bos>")?,
            eos: find("<eos>")?,
            pad: find("<pad>")?,
            unk: find("<unk>")?,
            start_of_turn: find("<start_of_turn>")?,
            end_of_turn: find("<end_of_turn>")?,
        };
        let literal_max_len = literal.keys().map(|k| k.len()).max().unwrap_or(0);
        Ok(Self {
            pieces,
            scores,
            kinds,
            piece_to_id,
            byte_ids,
            specials,
            literal,
            literal_max_len,
        })
    }

    /// Vocabulary size.
    pub fn vocab_size(&self) -> usize {
        self.pieces.len()
    }

    /// Ids of the special tokens.
    pub fn specials(&self) -> SpecialTokens {
        self.specials
    }

    /// The piece text of a token.
    pub fn piece(&self, id: u32) -> Option<&str> {
        self.pieces.get(id as usize).map(|s| s.as_str())
    }

    /// The id of a piece, if it is in the vocabulary.
    pub fn token_id(&self, piece: &str) -> Option<u32> {
        self.piece_to_id.get(piece).copied()
    }

    /// The kind of a token.
    pub fn kind(&self, id: u32) -> Option<TokenKind> {
        self.kinds.get(id as usize).copied()
    }

    /// Encodes text; control tokens written literally (for example `<start_of_turn>`)
    /// become their ids. `add_bos` prepends `<bos>`.
    pub fn encode(&self, text: &str, add_bos: bool) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        if add_bos {
            out.push(self.specials.bos);
        }
        let mut start = 0;
        let mut i = 0;
        let bytes = text.as_bytes();
        while i < bytes.len() {
            if let Some((len, id)) = self.literal_at(&text[i..]) {
                self.encode_segment(&text[start..i], &mut out);
                out.push(id);
                i += len;
                start = i;
            } else {
                i += utf8_len(bytes[i]);
            }
        }
        self.encode_segment(&text[start..], &mut out);
        out
    }

    fn literal_at(&self, s: &str) -> Option<(usize, u32)> {
        if self.literal.is_empty() {
            return None;
        }
        let max = self.literal_max_len.min(s.len());
        // Longest match wins, as in a trie walk.
        (1..=max).rev().filter(|&l| s.is_char_boundary(l)).find_map(|l| {
            self.literal.get(&s[..l]).map(|&id| (l, id))
        })
    }

    fn encode_segment(&self, text: &str, out: &mut Vec<u32>) {
        if text.is_empty() {
            return;
        }
        let norm: String = text.chars().map(|c| if c == ' ' { SPACE } else { c }).collect();
        // Symbols are byte ranges of `norm` in a doubly linked list.
        struct Sym {
            start: usize,
            len: usize,
            prev: Option<usize>,
            next: Option<usize>,
        }
        let mut syms: Vec<Sym> = Vec::new();
        for (i, (pos, c)) in norm.char_indices().enumerate() {
            syms.push(Sym {
                start: pos,
                len: c.len_utf8(),
                prev: i.checked_sub(1),
                next: None,
            });
            if i > 0 {
                syms[i - 1].next = Some(i);
            }
        }
        #[derive(PartialEq)]
        struct Bigram {
            score: f32,
            left: usize,
            right: usize,
            len: usize,
        }
        impl Eq for Bigram {}
        impl PartialOrd for Bigram {
            fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
                Some(self.cmp(o))
            }
        }
        impl Ord for Bigram {
            fn cmp(&self, o: &Self) -> Ordering {
                // Highest score first; on ties the leftmost pair.
                self.score
                    .partial_cmp(&o.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| o.left.cmp(&self.left))
            }
        }
        let mut heap = BinaryHeap::new();
        let try_add = |heap: &mut BinaryHeap<Bigram>, syms: &[Sym], l: usize, r: usize| {
            let (s, e) = (syms[l].start, syms[r].start + syms[r].len);
            if let Some(&id) = self.piece_to_id.get(&norm[s..e]) {
                if matches!(self.kinds[id as usize], TokenKind::Normal | TokenKind::UserDefined) {
                    heap.push(Bigram { score: self.scores[id as usize], left: l, right: r, len: e - s });
                }
            }
        };
        for i in 1..syms.len() {
            try_add(&mut heap, &syms, i - 1, i);
        }
        while let Some(b) = heap.pop() {
            let (l, r) = (b.left, b.right);
            // Stale entries: one side was merged away or changed since it was queued.
            if syms[l].len == 0 || syms[r].len == 0 || syms[l].next != Some(r) {
                continue;
            }
            if syms[l].len + syms[r].len != b.len {
                continue;
            }
            syms[l].len += syms[r].len;
            syms[r].len = 0;
            syms[l].next = syms[r].next;
            if let Some(n) = syms[r].next {
                syms[n].prev = Some(l);
            }
            if let Some(p) = syms[l].prev {
                try_add(&mut heap, &syms, p, l);
            }
            if let Some(n) = syms[l].next {
                try_add(&mut heap, &syms, l, n);
            }
        }
        let mut i = if syms.is_empty() { None } else { Some(0) };
        while let Some(k) = i {
            let s = &syms[k];
            let piece = &norm[s.start..s.start + s.len];
            match self.piece_to_id.get(piece) {
                Some(&id) => out.push(id),
                None => {
                    for b in piece.bytes() {
                        out.push(self.byte_ids[b as usize].unwrap_or(self.specials.unk));
                    }
                }
            }
            i = s.next;
        }
    }

    /// The raw bytes a token stands for (control tokens yield their text unless `skip_special`).
    pub fn token_bytes(&self, id: u32, skip_special: bool) -> Vec<u8> {
        let Some(p) = self.pieces.get(id as usize) else { return vec![] };
        match self.kinds[id as usize] {
            TokenKind::Byte => parse_byte_piece(p).map(|b| vec![b]).unwrap_or_default(),
            TokenKind::Control | TokenKind::Unknown | TokenKind::Unused if skip_special => vec![],
            _ => p.replace(SPACE, " ").into_bytes(),
        }
    }

    /// Decodes ids to text; invalid UTF-8 from stray byte tokens becomes U+FFFD.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|&i| self.token_bytes(i, skip_special)).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

fn utf8_len(b: u8) -> usize {
    match b {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

fn parse_byte_piece(p: &str) -> Option<u8> {
    let hex = p.strip_prefix("<0x")?.strip_suffix('>')?;
    u8::from_str_radix(hex, 16).ok()
}

/// Turns a stream of token ids into text deltas, holding back the bytes of a UTF-8
/// character split across byte-fallback tokens until it is complete.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    pending: Vec<u8>,
}

impl StreamDecoder {
    /// A decoder with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one token; returns the text that became complete (maybe empty).
    pub fn push(&mut self, tok: &Tokenizer, id: u32) -> String {
        self.pending.extend(tok.token_bytes(id, true));
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let ok = e.valid_up_to();
                    out.push_str(std::str::from_utf8(&self.pending[..ok]).unwrap());
                    match e.error_len() {
                        // Incomplete character at the end: wait for more bytes.
                        None => {
                            self.pending.drain(..ok);
                            return out;
                        }
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            self.pending.drain(..ok + bad);
                        }
                    }
                }
            }
        }
    }

    /// Whatever is still pending, lossily (call at the end of a stream).
    pub fn finish(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
    }
}
