//! The Q8_0 product (`kernels::q8`, AVX-512 VNNI) against the bf16 one (`kernels::bf16`)
//! on gemma-3-270m's inference shapes, for M rows at once (1: one decoding stream; 4 and
//! 16: streams decoding together; 25 and 292: the bench prompts' prefill):
//! `cargo run -p arkor-engine --example q8_gemm_bench [--portable] [SHAPE]` (SHAPE: a part of a
//! label, e.g. `head`, to time only those).
//!
//! Weights are read cold each call in the M = 1 figures that matter (the head alone is
//! 179 MB in Q8, 335 MB in bf16), so GB/s is the bytes of the weight copy per second.
//! Products are called from a pool thread, as generation does (`--off-pool`: from
//! the main thread, a hand-off to the pool per product). `--portable` also times the portable Q8 loop (CPUs without VNNI).
use std::time::Instant;

use arkor_engine::bf16::PackedBf16;
use arkor_engine::kernels::q8::{vnni, Q8Matrix};
use arkor_engine::rng::SplitMix64;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    median(
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn main() {
    // Generation runs each decode step on a pool thread (one hand-off per token, not one
    // per product): time the products the same way. `--off-pool` calls from main instead.
    if std::env::args().any(|a| a == "--off-pool") {
        run()
    } else {
        rayon::scope(|_| run())
    }
}

fn run() {
    let portable = std::env::args().any(|a| a == "--portable");
    let only = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_default();
    println!("VNNI: {}; {} rayon threads", vnni(), rayon::current_num_threads());
    let mut rng = SplitMix64::new(1);
    let mut rand = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.next_normal() as f32 * 0.05).collect() };
    // (label, n, k): out (m, n) = x (m, k) · W^T with W (n, k).
    let shapes = [
        ("q (1024x640)", 1024, 640),
        ("k/v (256x640)", 256, 640),
        ("o (640x1024)", 640, 1024),
        ("gate/up (2048x640)", 2048, 640),
        ("down (640x2048)", 640, 2048),
        ("head (262144x640)", 262144, 640),
    ];
    for (label, n, k) in shapes.into_iter().filter(|s| s.0.contains(&only)) {
        let w = rand(n * k);
        let t = Instant::now();
        let q = Q8Matrix::from_f32(&w, n, k);
        let q_pack = t.elapsed().as_secs_f64();
        let b = PackedBf16::new(&w, n, k, k, 1);
        drop(w);
        println!("{label}: Q8 {:.1} MB packed in {:.0} ms", q.bytes() as f64 / 1e6, q_pack * 1e3);
        for m in [1usize, 2, 4, 8, 16, 25, 292] {
            if n == 262144 && m > 16 {
                continue;
            }
            let x = rand(m * k);
            let mut out = vec![0f32; m * n];
            let reps = if n * m > 1 << 22 { 5 } else { 50 };
            let tq = time(reps, || q.matmul_t(&x, m, &mut out, false));
            let macs = (m * n * k) as f64;
            let mut line = format!(
                "  m={m:>3}: q8 {:>8.1} us ({:>5.1} GB/s, {:>5.0} GMAC/s)",
                tq * 1e6,
                q.bytes() as f64 / tq / 1e9,
                macs / tq / 1e9
            );
            if let Some(b) = &b {
                let tb = time(reps, || b.matmul_t(&x, m, &mut out, false));
                line += &format!(
                    "; bf16 {:>8.1} us ({:>5.1} GB/s, {:>5.0} GMAC/s); q8 x{:.2}",
                    tb * 1e6,
                    b.bytes() as f64 / tb / 1e9,
                    macs / tb / 1e9,
                    tb / tq
                );
            }
            if portable && m <= 4 {
                let tp = time(3, || q.matmul_t_portable(&x, m, &mut out, false));
                line += &format!("; portable {:.1} us", tp * 1e6);
            }
            println!("{line}");
        }
    }
}
