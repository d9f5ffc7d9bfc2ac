#!/usr/bin/env python3
"""transformers side of `examples/generate_bench.rs`: greedy generation on the same prompts.

Not run in CI. Needs, from PyPI: pip install torch transformers peft gguf sentencepiece
Usage (from the repository root):
    cargo run -p arkor-engine --example generate_bench -- MODEL.gguf --dump /tmp/gen.json
    python crates/arkor-engine/scripts/torch_generate_bench.py MODEL.gguf /tmp/gen.json

Loads the GGUF with transformers (dequantized to float32, eager attention) and runs
`model.generate(do_sample=False, max_new_tokens=N)` on each dumped prompt (N = the
engine's token count, so both stop at the same place), on the base model and with an
unmerged PEFT LoRA (r=16, alpha=16, all seven projections; B = 0 as initialised, so
tokens are unchanged but the adapter's compute is paid, as in the engine's bench).
A logits processor records when each step's logits arrive: the first arrival is the
prefill (prompt forward + first token), the gaps after it are decode steps.
Also reports how many leading greedy tokens equal the engine's.
"""
import json
import os
import sys
import time

import torch
import transformers
import peft
from transformers import AutoModelForCausalLM, LogitsProcessor, LogitsProcessorList


class Clock(LogitsProcessor):
    def __init__(self):
        self.stamps = []

    def __call__(self, input_ids, scores):
        self.stamps.append(time.perf_counter())
        return scores


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    gguf, dump = os.path.abspath(sys.argv[1]), sys.argv[2]
    rows = json.load(open(dump))
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"transformers {transformers.__version__}, peft {peft.__version__}", file=sys.stderr)
    d, f = os.path.split(gguf)
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32,
                                                 attn_implementation="eager")
    model.eval()
    print(f"model loaded in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    cfg = peft.LoraConfig(r=16, lora_alpha=16, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                          target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                          "gate_proj", "up_proj", "down_proj"])
    variants = [("base", model)]
    summary = []
    for variant_index in range(2):
        if variant_index == 1:
            variants.append(("lora", peft.get_peft_model(model, cfg)))
        variant, m = variants[-1]
        m.eval()
        for r in rows:
            ids = torch.tensor([r["prompt_ids"]])
            n = max(1, len(r["ids"]))
            clock = Clock()
            start = time.perf_counter()
            with torch.no_grad():
                out = m.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                 max_new_tokens=n, min_new_tokens=n, logits_processor=LogitsProcessorList([clock]),
                                 pad_token_id=0)
            new = out[0, ids.shape[1]:].tolist()
            prefill = clock.stamps[0] - start
            decode = clock.stamps[-1] - clock.stamps[0]
            rest = len(clock.stamps) - 1
            same = 0
            for a, b in zip(new, r["ids"]):
                if a != b:
                    break
                same += 1
            p_tps, d_tps = ids.shape[1] / prefill, rest / max(decode, 1e-9)
            print(f"{variant:>4} {r['name']:>5}: prompt {ids.shape[1]} tokens, prefill {prefill:.3f}s "
                  f"({p_tps:.0f} tok/s); {len(new)} new tokens, decode {decode:.2f}s ({d_tps:.1f} tok/s); "
                  f"first {same}/{len(r['ids'])} tokens equal the engine's", file=sys.stderr)
            summary.append(f"{variant} {r['name']}: prompt {ids.shape[1]} tok, prefill {p_tps:.0f} tok/s, "
                           f"decode {d_tps:.1f} tok/s ({len(new)} new, {same} equal to the engine's)")
    for s in summary:
        print(s)


if __name__ == "__main__":
    main()
