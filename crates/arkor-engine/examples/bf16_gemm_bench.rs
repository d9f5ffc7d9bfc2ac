//! f32 (candle's matmul, the gemm crate) against the engine's AVX512_BF16 GEMM on the
//! training shapes of gemma-3-270m: `cargo run -p arkor-engine --example bf16_gemm_bench`.
use std::time::Instant;

use arkor_engine::bf16::PackedBf16;
use arkor_engine::rng::SplitMix64;
use candle_core::{Device, Tensor};

fn main() -> candle_core::Result<()> {
    let mut rng = SplitMix64::new(1);
    let mut rand = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.next_normal() as f32 * 0.05).collect() };
    // (label, m, n, k): out (m, n) = x (m, k) · W^T with W (n, k).
    let shapes = [
        ("MLP up fwd (480x640)·(640x2048)", 480, 2048, 640),
        ("MLP down fwd / up dx (480x2048)·(2048x640)", 480, 640, 2048),
        ("head fwd chunk (64x640)·(640x262144)", 64, 262144, 640),
        ("head dx chunk (64x262144)·(262144x640)", 64, 640, 262144),
    ];
    for (label, m, n, k) in shapes {
        let x = rand(m * k);
        let w = rand(n * k);
        let xt = Tensor::from_vec(x.clone(), (m, k), &Device::Cpu)?;
        let wt = Tensor::from_vec(w.clone(), (n, k), &Device::Cpu)?.t()?;
        let flop = 2.0 * (m * n * k) as f64;
        let reps = 5;
        let _ = xt.matmul(&wt)?;
        let t = Instant::now();
        let mut f32_out = None;
        for _ in 0..reps {
            f32_out = Some(xt.matmul(&wt)?);
        }
        let f32_s = t.elapsed().as_secs_f64() / reps as f64;
        let t = Instant::now();
        let p = PackedBf16::new(&w, n, k, k, 1).expect("AVX512_BF16 needed");
        let pack_s = t.elapsed().as_secs_f64();
        let mut out = vec![0f32; m * n];
        p.matmul_t(&x, m, &mut out, false);
        let t = Instant::now();
        for _ in 0..reps {
            p.matmul_t(&x, m, &mut out, false);
        }
        let bf_s = t.elapsed().as_secs_f64() / reps as f64;
        let want = f32_out.unwrap().flatten_all()?.to_vec1::<f32>()?;
        let err = want.iter().zip(&out).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        let scale = want.iter().map(|a| a.abs()).fold(0f32, f32::max);
        println!(
            "{label}: f32 {:.1} ms ({:.0} GFLOP/s), bf16 {:.1} ms ({:.0} GFLOP/s), x{:.2}; pack {:.0} ms; max|diff| {err:.2e} of {scale:.2e}",
            f32_s * 1e3,
            flop / f32_s / 1e9,
            bf_s * 1e3,
            flop / bf_s / 1e9,
            f32_s / bf_s,
            pack_s * 1e3
        );
    }
    Ok(())
}
