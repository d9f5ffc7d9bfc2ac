//! SSE parsing alone: this crate's parser against `eventsource-stream` on
//! the same bytes (100,000 `training.log` frames of ~200 bytes, fed in
//! socket-sized chunks), single-threaded, no I/O.
//!
//! `cargo run --release -p arkor-client --example sse_parse_bench`
//!
//! `eventsource-stream` is also fed the same chunks cut into smaller pieces,
//! since it copies the rest of its buffer once per line and so its cost grows
//! with the chunk size.

use std::time::Instant;

use arkor_client::sse::SseParser;
use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::StreamExt;

fn frames(n: usize) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "id: {i}\ndata: {{\"type\":\"training.log\",\"jobId\":\"job_4499e8773a5e5c215c285233\",\"timestamp\":\"2026-12-01T20:00:00.000Z\",\"step\":{i},\"loss\":1.2345,\"learningRate\":0.0002,\"epoch\":0.5,\"samplesPerSecond\":3.87}}\n\n"
        ));
    }
    s.into_bytes()
}

fn main() {
    let n = 100_000;
    let body = frames(n);
    for chunk in [16 * 1024, 64 * 1024] {
        let chunks: Vec<Bytes> = body.chunks(chunk).map(Bytes::copy_from_slice).collect();
        let best = |f: &dyn Fn() -> usize| {
            (0..5)
                .map(|_| {
                    let t = Instant::now();
                    assert_eq!(f(), n);
                    t.elapsed().as_secs_f64() * 1e9 / n as f64
                })
                .fold(f64::INFINITY, f64::min)
        };
        let ours = best(&|| {
            let mut p = SseParser::new();
            let mut count = 0;
            for c in &chunks {
                p.feed(c, |_| count += 1);
            }
            count
        });
        println!("chunks of {:>2} KiB  arkor-client SseParser       {ours:>7.0} ns/frame", chunk / 1024);
        for piece in [0, 4096, 1024] {
            let es = best(&|| {
                let pieces = chunks.iter().flat_map(|c| {
                    let size = if piece == 0 { c.len() } else { piece };
                    (0..c.len()).step_by(size).map(move |o| c.slice(o..(o + size).min(c.len())))
                });
                let s = futures::stream::iter(pieces.map(Ok::<_, std::convert::Infallible>)).eventsource();
                futures::executor::block_on(s.fold(0, |a, e| async move {
                    e.expect("valid stream");
                    a + 1
                }))
            });
            let how = if piece == 0 { "whole chunks".to_owned() } else { format!("cut to {piece} B") };
            println!("chunks of {:>2} KiB  eventsource-stream, {how:<13} {es:>6.0} ns/frame", chunk / 1024);
        }
    }
}
