#!/usr/bin/env python3
"""Loads an adapter written by arkor-engine with Hugging Face PEFT and compares logits.

Not run in CI. Needs, from PyPI: pip install torch transformers peft gguf sentencepiece
Usage (from the repository root):
    python crates/arkor-engine/scripts/peft_compare.py [MODEL.gguf] [WORK_DIR]

For each mode (`random`: B ~ N(0, 0.02^2), a large change to the logits; `train:3`:
three real LoRA steps with our trainer) it runs
    cargo run -p arkor-engine --example peft_export -- MODEL WORK/MODE MODE
which saves `adapter/` (PEFT layout) and our float32 logits with and without it, then
loads the GGUF with transformers (dequantized to float32), attaches the adapter with
`peft.PeftModel.from_pretrained`, and reports max |ours - PEFT| over all positions and
the whole vocabulary, plus how far the adapter moved the logits (so the match is not
trivially the base model's).
"""
import json
import os
import subprocess
import sys

import numpy as np
import torch
import transformers
import peft
from transformers import AutoModelForCausalLM

home = os.environ.get("ARKOR_HOME", os.path.expanduser("~/.arkor/local"))
gguf = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else f"{home}/models/google--gemma-3-270m/model.gguf")
work = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "/tmp/arkor-peft-compare")
modes = ["random", "train:3"]
print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}")

for mode in modes:
    out = os.path.join(work, mode.replace(":", "-"))
    subprocess.run(["cargo", "run", "-q", "-p", "arkor-engine", "--example", "peft_export", "--",
                    gguf, out, mode], check=True)

d, f = os.path.split(gguf)
rows = []
for mode in modes:
    out = os.path.join(work, mode.replace(":", "-"))
    meta = json.load(open(os.path.join(out, "meta.json")))
    shape = (len(meta["ids"]), meta["vocab"])
    ours_lora = np.fromfile(os.path.join(out, "logits_lora.f32"), dtype="<f4").reshape(shape)
    ours_base = np.fromfile(os.path.join(out, "logits_base.f32"), dtype="<f4").reshape(shape)
    base = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32, attn_implementation="eager")
    base.eval()
    ids = torch.tensor([meta["ids"]])
    with torch.no_grad():
        hf_base = base(input_ids=ids).logits[0].numpy()
        model = peft.PeftModel.from_pretrained(base, os.path.join(out, "adapter"))
        model.eval()
        n_lora = sum(1 for n, _ in model.named_parameters() if "lora_" in n)
        hf_lora = model(input_ids=ids).logits[0].numpy()
    r = {
        "mode": mode,
        "tokens": shape[0],
        "lora_tensors_loaded": n_lora,
        "max_abs_diff_lora": float(np.abs(ours_lora - hf_lora).max()),
        "max_abs_diff_base": float(np.abs(ours_base - hf_base).max()),
        "adapter_effect_max_abs": float(np.abs(hf_lora - hf_base).max()),
        "max_abs_logit": float(np.abs(hf_lora).max()),
        "argmax_agree": f"{int((ours_lora.argmax(-1) == hf_lora.argmax(-1)).sum())}/{shape[0]}",
    }
    rows.append(r)
    print(json.dumps(r))

ok = all(r["max_abs_diff_lora"] < 5e-3 and r["lora_tensors_loaded"] == 18 * 7 * 2 for r in rows)
print("PEFT comparison:", "OK" if ok else "MISMATCH")
sys.exit(0 if ok else 1)
