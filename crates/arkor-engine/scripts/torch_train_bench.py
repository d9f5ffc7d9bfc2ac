#!/usr/bin/env python3
"""PyTorch + PEFT side of `examples/train_bench.rs`: the same training step on the same tokens.

Not run in CI. Needs, from PyPI: pip install torch transformers peft gguf sentencepiece
Usage (from the repository root):
    cargo run -p arkor-engine --example train_bench -- MODEL.gguf 6 --dump /tmp/bench.json
    python crates/arkor-engine/scripts/torch_train_bench.py MODEL.gguf /tmp/bench.json 6 [--head-on-targets] [--batch=N]

What it does, matching the engine's bench:
- loads the GGUF with transformers (dequantized to float32, eager attention);
- PEFT LoRA r=16, alpha=16, no dropout, on q,k,v,o,gate,up,down (B starts at zero, so
  step 1's loss is the base model's and must equal the engine's);
- AdamW lr 2e-4 (betas 0.9/0.999, eps 1e-8, no weight decay), linear decay to zero over
  the run, gradient-norm clipping at 1.0: transformers.Trainer's defaults;
- batches of 4 (`--batch=N` to match train_bench's `--batch N`) in the engine's order (its SplitMix64 shuffle with seed 42 is replayed
  here), right-padded, labels = the dumped target mask (loss on responses only),
  the loss averaged over the supervised tokens of the step.
By default the model computes logits at every position, as `model(labels=...)` does for
any PEFT user; `--head-on-targets` applies the tied head only at supervised positions
(what the engine does), to separate the head's cost from the rest.

Prints per-step seconds, then the median s/step after the first, real and padded
tokens per second and the peak RSS (VmHWM, model loading included), in train_bench's
shape.
"""
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import transformers
import peft
from transformers import AutoModelForCausalLM

MASK64 = (1 << 64) - 1


class SplitMix64:
    """crates/arkor-engine/src/rng.rs, bit for bit."""

    def __init__(self, seed):
        self.s = (seed ^ 0x9E3779B97F4A7C15) & MASK64

    def next_u64(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def next_f64(self):
        return (self.next_u64() >> 11) * (1.0 / (1 << 53))

    def below(self, n):
        return int(self.next_f64() * n) % max(n, 1)

    def shuffle(self, v):
        for i in range(len(v) - 1, 0, -1):
            j = self.below(i + 1)
            v[i], v[j] = v[j], v[i]


def peak_rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    head_on_targets = "--head-on-targets" in sys.argv
    if len(args) < 2:
        sys.exit(__doc__)
    gguf, dump = os.path.abspath(args[0]), args[1]
    steps = int(args[2]) if len(args) > 2 else 6
    batch = int(next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--batch=")), 4))
    lr, seed = 2e-4, 42
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"transformers {transformers.__version__}, peft {peft.__version__}", file=sys.stderr)

    rows = json.load(open(dump))
    t0 = time.perf_counter()
    d, f = os.path.split(gguf)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32,
                                                 attn_implementation="eager")
    cfg = peft.LoraConfig(r=16, lora_alpha=16, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                          target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                          "gate_proj", "up_proj", "down_proj"])
    model = peft.get_peft_model(model, cfg)
    model.train()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"model loaded in {time.perf_counter() - t0:.1f}s; {trainable} trainable parameters", file=sys.stderr)

    lens = [len(r["ids"]) for r in rows]
    sup = [sum(r["targets"][1:]) for r in rows]
    mean_len = sum(lens) / len(lens)
    print(f"{len(rows)} examples: {min(lens)}-{max(lens)} tokens (mean {mean_len:.1f}), "
          f"{min(sup)}-{max(sup)} supervised", file=sys.stderr)

    order = list(range(len(rows)))
    rng = SplitMix64(seed)
    rng.shuffle(order)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, (steps - s) / max(1, steps)))
    inner = model.get_base_model()  # Gemma3ForCausalLM with LoRA layers injected
    softcap = getattr(inner.config, "final_logit_softcapping", None)

    secs, padded, losses = [], [], []
    cursor = 0
    for step in range(1, steps + 1):
        if cursor >= len(order):
            rng.shuffle(order)
            cursor = 0
        idx = order[cursor:cursor + batch]
        cursor += batch
        t = max(lens[i] for i in idx)
        ids = torch.zeros((len(idx), t), dtype=torch.long)
        mask = torch.zeros((len(idx), t), dtype=torch.long)
        labels = torch.full((len(idx), t), -100, dtype=torch.long)
        for k, i in enumerate(idx):
            r = rows[i]
            n = len(r["ids"])
            ids[k, :n] = torch.tensor(r["ids"])
            mask[k, :n] = 1
            tgt = torch.tensor(r["targets"], dtype=torch.bool)
            tgt[0] = False
            labels[k, :n] = torch.where(tgt, torch.tensor(r["ids"]), torch.tensor(-100))
        start = time.perf_counter()
        if head_on_targets:
            h = inner.model(input_ids=ids, attention_mask=mask).last_hidden_state
            sel = labels[:, 1:] != -100
            logits = inner.lm_head(h[:, :-1][sel])
            if softcap:
                logits = torch.tanh(logits / softcap) * softcap
            loss = F.cross_entropy(logits, labels[:, 1:][sel])
        else:
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        dt = time.perf_counter() - start
        secs.append(dt)
        padded.append(len(idx) * t)
        losses.append(loss.item())
        print(f"step {step} loss {loss.item():.4f} {dt:.2f}s ({len(idx) * t} padded tokens) "
              f"grad_norm {gnorm.item():.3f} rss {peak_rss_mib():.0f} MiB", file=sys.stderr)

    timed = secs[1:] if len(secs) > 1 else secs
    med = statistics.median(timed)
    real = batch * mean_len
    pad = sum(padded) / len(padded)
    variant = "head on supervised positions" if head_on_targets else "logits at every position"
    print(f"median {med:.2f} s/step over steps 2..{steps}: {real / med:.1f} real tokens/s ({real:.0f} per step), "
          f"{pad / med:.1f} padded tokens/s ({pad:.0f} per step); peak RSS {peak_rss_mib():.0f} MiB "
          f"[PyTorch float32 + PEFT, {variant}]")
    print("losses: " + " ".join(f"{x:.4f}" for x in losses))


if __name__ == "__main__":
    main()
