//! The eval loss of a run, on the tiny model.
mod common;

use std::sync::atomic::AtomicBool;

use arkor_engine::{LoraConfig, Target, TrainConfig, TrainLog, TrainObserver, Trainer};
use common::{chat, dataset, tiny};

fn cfg() -> TrainConfig {
    TrainConfig {
        lora: LoraConfig { r: 8, alpha: 16.0, targets: Target::ALL.to_vec() },
        learning_rate: 1e-2,
        batch_size: 4,
        max_steps: Some(7),
        train_on_responses_only: true,
        ..TrainConfig::default()
    }
}

/// Rows the training set does not hold.
fn held_out() -> Vec<arkor_engine::Example> {
    vec![
        chat("What is the capital of Italy?", "Rome."),
        chat("What is three plus one?", "Four."),
        chat("Name a fruit.", "An apple."),
    ]
}

#[derive(Default)]
struct Logs(Vec<TrainLog>);

impl TrainObserver for Logs {
    fn on_log(&mut self, log: &TrainLog) {
        self.0.push(log.clone());
    }
}

#[test]
fn eval_loss_comes_every_eval_steps_and_at_the_end() {
    let c = TrainConfig { eval_steps: Some(3), logging_steps: 2, ..cfg() };
    let mut t = Trainer::new(tiny(), &dataset(), c).unwrap().with_eval(&held_out()).unwrap();
    assert_eq!(t.num_eval_examples(), 3);
    let mut logs = Logs::default();
    let s = t.run(&mut logs, &AtomicBool::new(false)).unwrap();
    let steps: Vec<(usize, bool)> = logs.0.iter().map(|l| (l.step, l.eval_loss.is_some())).collect();
    // Logs at every second step, plus the eval steps 3, 6 and the last one, 7.
    assert_eq!(steps, vec![(2, false), (3, true), (4, false), (6, true), (7, true)]);
    assert!(logs.0.iter().filter_map(|l| l.eval_loss).all(|e| e.is_finite() && e > 0.0), "{:?}", logs.0);
    assert_eq!(s.eval_loss, logs.0.last().unwrap().eval_loss);
    assert!(s.eval_seconds > 0.0 && s.eval_seconds < s.seconds);
}

#[test]
fn eval_loss_is_none_when_eval_steps_is_unset() {
    // Eval rows alone do not make a run evaluate.
    let mut t = Trainer::new(tiny(), &dataset(), cfg()).unwrap().with_eval(&held_out()).unwrap();
    let mut logs = Logs::default();
    let s = t.run(&mut logs, &AtomicBool::new(false)).unwrap();
    assert_eq!(logs.0.len(), 7);
    assert!(logs.0.iter().all(|l| l.eval_loss.is_none()));
    assert_eq!(s.eval_loss, None);
    assert_eq!(s.eval_seconds, 0.0);
}

/// The eval loss is the training loss's own quantity: scored on the rows of a
/// full-batch step, before that step's update, both are the same number.
#[test]
fn eval_loss_equals_the_training_loss_on_the_same_rows() {
    let c = TrainConfig { batch_size: 8, max_steps: Some(20), ..cfg() };
    let mut t = Trainer::new(tiny(), &dataset(), c).unwrap().with_eval(&dataset()).unwrap();
    let before = t.evaluate().unwrap().unwrap();
    assert_eq!(before.rows, 8);
    let first = t.step().unwrap().loss;
    assert!((before.loss - first).abs() < 1e-4 * first, "eval {} vs step {first}", before.loss);
    while !t.is_finished() {
        t.step().unwrap();
    }
    let after = t.evaluate().unwrap().unwrap().loss;
    assert!(after < 0.5 * before.loss, "memorised rows: eval loss {} -> {after}", before.loss);
}

#[test]
fn eval_needs_rows_and_a_positive_interval() {
    let mut t = Trainer::new(tiny(), &dataset(), TrainConfig { eval_steps: Some(2), ..cfg() }).unwrap();
    let e = t.run(&mut (), &AtomicBool::new(false)).unwrap_err().to_string();
    assert!(e.contains("evalSteps") && e.contains("no eval rows"), "{e}");
    let e = Trainer::new(tiny(), &dataset(), TrainConfig { eval_steps: Some(0), ..cfg() }).err().unwrap().to_string();
    assert!(e.contains("evalSteps must be at least 1"), "{e}");
    let t = Trainer::new(tiny(), &dataset(), cfg()).unwrap();
    assert!(t.evaluate().unwrap().is_none());
    assert!(t.with_eval(&[]).is_err());
}

/// With the frozen products in bf16 (as training runs them), the eval loss stays
/// close to the f32 one (equal to it on CPUs without AVX512_BF16, where the option is
/// ignored).
#[test]
fn bf16_eval_tracks_f32() {
    let score = |bf16_matmul: bool| {
        let t = Trainer::new(tiny(), &dataset(), TrainConfig { bf16_matmul, ..cfg() }).unwrap().with_eval(&held_out()).unwrap();
        t.evaluate().unwrap().unwrap().loss
    };
    let (f, b) = (score(false), score(true));
    if !common::has_bf16() {
        assert_eq!(f, b, "without AVX512_BF16 the bf16 option must run f32");
        return;
    }
    assert!((f - b).abs() < 1e-2 * f, "f32 {f} vs bf16 {b}");
}
