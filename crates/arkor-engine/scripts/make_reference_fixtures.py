#!/usr/bin/env python3
"""Reference fixtures from Hugging Face transformers on the same GGUF the engine loads.

Not run in CI. Needs: pip install torch transformers gguf tokenizers sentencepiece protobuf
Usage: python make_reference_fixtures.py path/to/gemma-3-270m-q4_k_m.gguf ../tests/fixtures

Writes
  tokenizer_ids.json: {"strings": [...], "ids": [[...], ...]}  (add_special_tokens=False)
  logits.json: per prompt, ids and, for every position, the top-10 (id, logit) pairs
               and logits of 16 fixed ids, from the float32 dequantized model.
"""
import json
import os
import sys

gguf_path, out_dir = sys.argv[1], sys.argv[2]
d, f = os.path.split(os.path.abspath(gguf_path))
os.makedirs(out_dir, exist_ok=True)

from transformers import AutoTokenizer  # noqa: E402

tok = AutoTokenizer.from_pretrained(d, gguf_file=f)

base = [
    "Hello world", "hello, World!", "  leading spaces", "trailing spaces   ", "a  b   c    d",
    "tabs\tand\ttabs", "new\nline", "two\n\nnewlines", "\n\n\n", "CRLF\r\nline",
    "The quick brown fox jumps over the lazy dog.", "It's 3:45pm — time for tea.",
    "def f(x):\n    return x * 2\n", "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "SELECT * FROM users WHERE id = 42;", "<div class=\"x\">hi</div>",
    "{\"name\": \"arkor\", \"ok\": true, \"n\": [1, 2.5, -3e10]}", "[{\"role\":\"user\"}]",
    "émoji 🎉🚀 and ❤️", "👨‍👩‍👧‍👦 family", "日本語のテキスト", "中文文本测试", "한국어 문장",
    "Ünïcödé façade naïve", "Привет, мир", "مرحبا بالعالم", "नमस्ते दुनिया", "ℵ₀ ≤ ∞ ∑∫",
    "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n", "<bos>text<eos>",
    "1234567890", "3.14159265358979", "0x7fffffff", "user@example.com", "https://example.com/a?b=c&d=e",
    "", " ", "  ", "\t", "a", "I", "I'm", "don't", "ALL CAPS SENTENCE", "snake_case_name camelCaseName",
]
words = ["model", "training", "LoRA", "gradient", "tokenizer", "Gemma", "weights", "adapter", "loss", "step"]
strings = list(base)
i = 0
while len(strings) < 240:
    w = words[i % len(words)]
    strings.append(f"{w}{' ' * (i % 5)}{i}\n{words[(i * 7) % len(words)]} {'!?.,;'[i % 5]}" + (" 🎉" if i % 9 == 0 else ""))
    i += 1
ids = [tok.encode(s, add_special_tokens=False) for s in strings]
with open(os.path.join(out_dir, "tokenizer_ids.json"), "w") as fh:
    json.dump({"source": "transformers AutoTokenizer on " + f, "strings": strings, "ids": ids}, fh, ensure_ascii=False)

import torch  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, torch_dtype=torch.float32)
model.eval()
prompts = [
    "The capital of France is",
    "<start_of_turn>user\nWrite a haiku about the sea.<end_of_turn>\n<start_of_turn>model\n",
    "def fibonacci(n):\n    if n < 2:\n        return n\n",
]
# A prompt longer than the 512-token sliding window so local and global layers differ.
prompts.append(" ".join(f"word{i}" for i in range(400)))
fixed = [0, 1, 2, 106, 107, 818, 1000, 5279, 10000, 50000, 100000, 150000, 200000, 236881, 262000, 262143]
out = []
with torch.no_grad():
    for p in prompts:
        x = tok(p, return_tensors="pt")
        logits = model(**x).logits[0]
        top = torch.topk(logits, 10, dim=-1)
        out.append({
            "prompt": p,
            "ids": x["input_ids"][0].tolist(),
            "top_ids": top.indices.tolist(),
            "top_logits": top.values.tolist(),
            "fixed_ids": fixed,
            "fixed_logits": logits[:, fixed].tolist(),
        })
with open(os.path.join(out_dir, "logits.json"), "w") as fh:
    json.dump({"source": "transformers float32 on " + f, "prompts": out}, fh)
print("wrote", out_dir)
