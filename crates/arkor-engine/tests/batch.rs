//! Continuous batching on the tiny model: every sequence of a batch produces exactly
//! the tokens it produces alone, whoever shares its steps, joins or leaves.
mod common;

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arkor_engine::chat::encode_chat_prompt;
use arkor_engine::{
    generate, Batch, ChatMessage, Precision, FinishReason, Generation, GrammarSpec, LoraAdapter, LoraConfig, Model, SamplingParams,
    SeqId, Sequence, Target, TrainConfig, Trainer,
};
use common::{dataset, tiny};

fn prompt(model: &Model, text: &str) -> Vec<u32> {
    encode_chat_prompt(model.tokenizer(), &[ChatMessage::new("user", text)]).unwrap()
}

/// An adapter trained for a few steps with `seed`, as the server loads them (a snapshot).
fn adapter(model: &Arc<Model>, steps: usize, seed: u64) -> Arc<LoraAdapter> {
    let mut t = Trainer::new(
        model.clone(),
        &dataset(),
        TrainConfig {
            lora: LoraConfig { r: 8, alpha: 16.0, targets: Target::ALL.to_vec() },
            learning_rate: 1e-2,
            max_steps: Some(steps),
            seed,
            train_on_responses_only: true,
            ..TrainConfig::default()
        },
    )
    .unwrap();
    t.run(&mut (), &AtomicBool::new(false)).unwrap();
    Arc::new(t.adapter().snapshot().unwrap())
}

/// One request of the scenario: when it joins (step number), and what it asks.
struct Req {
    joins_at: usize,
    adapter: Option<Arc<LoraAdapter>>,
    prompt: Vec<u32>,
    params: SamplingParams,
    grammar: Option<GrammarSpec>,
    /// The caller takes it out after this many tokens, unfinished (a client that left).
    leaves_after: Option<usize>,
}

fn alone(model: &Arc<Model>, r: &Req) -> Generation {
    match &r.grammar {
        None => generate(model, r.adapter.as_ref(), &r.prompt, &r.params).unwrap(),
        Some(g) => {
            let g = model.constraints().unwrap().compile(g).unwrap();
            arkor_engine::Generator::new(model.clone(), r.adapter.clone(), &r.prompt, r.params.clone())
                .unwrap()
                .with_constraint(&g)
                .run(|_| true)
                .unwrap()
        }
    }
}

/// A request's generated ids and its finish reason.
type Outcome = (Vec<u32>, Option<FinishReason>);

/// Runs the scenario through one batch, feeding prompts in chunks of `chunk` tokens
/// while others decode (the default when None); returns each request's ids and finish
/// reason (None for those the caller took out), and the most sequences any step decoded.
fn batched(model: &Arc<Model>, reqs: &[Req], chunk: Option<usize>) -> (Vec<Outcome>, usize) {
    let mut batch = Batch::new(model.clone());
    if let Some(c) = chunk {
        batch.set_prefill_chunk(c);
    }
    let mut ids: HashMap<SeqId, usize> = HashMap::new();
    let mut out: Vec<Option<Outcome>> = reqs.iter().map(|_| None).collect();
    let mut widest = 0;
    let mut step = 0;
    while out.iter().any(Option::is_none) {
        for (i, r) in reqs.iter().enumerate() {
            if r.joins_at == step {
                let mut seq = Sequence::new(model.clone(), r.adapter.clone(), &r.prompt, r.params.clone()).unwrap();
                if let Some(g) = &r.grammar {
                    seq = seq.with_constraint(&model.constraints().unwrap().compile(g).unwrap());
                }
                ids.insert(batch.join(seq).unwrap(), i);
            }
        }
        widest = widest.max(batch.active());
        for u in batch.step() {
            u.token.unwrap();
            let i = ids[&u.id];
            let seq = batch.get(u.id).unwrap();
            let cut = reqs[i].leaves_after.is_some_and(|n| seq.generated().len() >= n);
            if u.done || cut {
                let seq = batch.leave(u.id).unwrap();
                let finish = if u.done { seq.finish_reason() } else { None };
                out[i] = Some((seq.generated().to_vec(), finish));
            }
        }
        step += 1;
        assert!(step < 10_000, "the batch never drained");
    }
    assert!(batch.is_empty());
    (out.into_iter().map(Option::unwrap).collect(), widest)
}

fn scenario(model: &Arc<Model>, precision: Precision) -> Vec<Req> {
    let a = adapter(model, 40, 1);
    let b = adapter(model, 25, 2);
    let p = |max_tokens: usize| SamplingParams { max_tokens, stop_at_end_of_turn: false, precision, ..Default::default() };
    let req = |joins_at, adapter: Option<&Arc<LoraAdapter>>, text: &str, params| Req {
        joins_at,
        adapter: adapter.cloned(),
        prompt: prompt(model, text),
        params,
        grammar: None,
        leaves_after: None,
    };
    let mut reqs = vec![
        // Base and adapted rows side by side from the first step.
        req(0, None, "What is the capital of France?", p(24)),
        req(0, Some(&a), "Say hello.", p(30)),
        // Two rows share adapter `a` (one group), another has `b`; they join mid-way.
        req(3, Some(&a), "Name a color.", p(12)),
        req(5, Some(&b), "Tell me a joke about a long journey home.", p(20)),
        // Sampled, not greedy: its own random stream must not notice its batch-mates.
        req(2, Some(&b), "Who are you?", SamplingParams { temperature: 0.9, top_p: 0.95, seed: 7, ..p(18) }),
        // A short one that ends early, and a late joiner after others have left.
        req(1, None, "Hi", p(3)),
        req(26, Some(&a), "What is two plus two?", p(10)),
        // Stops at <end_of_turn> like a chat request.
        req(4, Some(&a), "Say hello.", SamplingParams { stop_at_end_of_turn: true, ..p(40) }),
    ];
    // Under a grammar, and one the caller takes out after 5 tokens.
    reqs.push(Req { grammar: Some(GrammarSpec::Regex("[a-z]{2,6}( [a-z]{2,6}){1,4}".into())), ..req(6, None, "Name a color.", p(25)) });
    reqs.push(Req { leaves_after: Some(5), ..req(1, Some(&b), "Translate thank you into French.", p(30)) });
    reqs
}

fn check(precision: Precision) {
    let model = tiny();
    let reqs = scenario(&model, precision);
    let wants: Vec<Generation> = reqs.iter().map(|r| alone(&model, r)).collect();
    // The default chunk feeds these short prompts whole; chunks of 2 and 5 tokens spread
    // each over several steps, beside the sequences that decode.
    for chunk in [None, Some(2), Some(5)] {
        compare(&model, &reqs, &wants, chunk);
    }
}

fn compare(model: &Arc<Model>, reqs: &[Req], wants: &[Generation], chunk: Option<usize>) {
    let (got, widest) = batched(model, reqs, chunk);
    assert!(widest >= 5, "the scenario should overlap most requests, got {widest} at most");
    for (i, (r, (ids, finish))) in reqs.iter().zip(&got).enumerate() {
        let want = &wants[i];
        match r.leaves_after {
            Some(n) => {
                assert_eq!(ids.len(), n, "request {i} left after {n} tokens");
                assert_eq!(ids[..], want.ids[..n], "request {i}, chunk {chunk:?}: batched tokens before it left differ from alone");
            }
            None => {
                assert_eq!(*ids, want.ids, "request {i}, chunk {chunk:?}: batched tokens differ from alone");
                assert_eq!(*finish, Some(want.finish_reason), "request {i}'s finish reason, chunk {chunk:?}");
            }
        }
    }
    // The scenario means something: lengths differ, the adapters change the answer.
    assert!(got.iter().map(|g| g.0.len()).collect::<std::collections::HashSet<_>>().len() >= 4);
    assert_ne!(got[2].0, generate(model, None, &reqs[2].prompt, &reqs[2].params).unwrap().ids);
}

#[test]
fn batched_outputs_equal_alone_in_f32() {
    check(Precision::F32);
}

#[test]
fn batched_outputs_equal_alone_in_bf16() {
    // Without AVX512_BF16 this runs the f32 products, and the claim is the same.
    check(Precision::Bf16);
}

#[test]
fn batched_outputs_equal_alone_in_q8() {
    check(Precision::Q8);
}

#[test]
fn a_sequence_that_fails_fails_alone() {
    let model = tiny();
    // An adapter for another architecture: its products cannot run on this model.
    let mut other = model.config().clone();
    other.hidden_size *= 2;
    other.head_dim *= 2;
    let (bad, _) = LoraAdapter::init_trainable(&other, LoraConfig::default(), "x", 1, model.device()).unwrap();
    let good = adapter(&model, 20, 3);
    let p = SamplingParams { max_tokens: 12, stop_at_end_of_turn: false, ..Default::default() };
    let text = prompt(&model, "Say hello.");
    let mut batch = Batch::new(model.clone());
    let ok = batch.join(Sequence::new(model.clone(), Some(good.clone()), &text, p.clone()).unwrap()).unwrap();
    let broken = batch.join(Sequence::new(model.clone(), Some(Arc::new(bad)), &text, p.clone()).unwrap()).unwrap();
    let base = batch.join(Sequence::new(model.clone(), None, &text, p.clone()).unwrap()).unwrap();
    let mut failures = 0;
    while batch.active() > 0 {
        for u in batch.step() {
            if u.token.is_err() {
                assert_eq!(u.id, broken);
                assert!(u.done);
                failures += 1;
            }
        }
    }
    assert_eq!(failures, 1);
    assert_eq!(batch.get(ok).unwrap().generated(), generate(&model, Some(&good), &text, &p).unwrap().ids);
    assert_eq!(batch.get(base).unwrap().generated(), generate(&model, None, &text, &p).unwrap().ids);
    // A sequence of another model is refused.
    let other_model = Arc::new(Model::tiny(5).unwrap());
    assert!(batch.join(Sequence::new(other_model, None, &text, p).unwrap()).is_err());
}
