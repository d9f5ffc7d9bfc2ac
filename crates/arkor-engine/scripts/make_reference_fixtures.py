#!/usr/bin/env python3
"""Reference fixtures from Hugging Face transformers on the same GGUF the engine loads.

Not run in CI (the fixtures it writes are committed). Needs, from PyPI:
    pip install torch transformers gguf sentencepiece protobuf
Usage:
    python make_reference_fixtures.py \
        ~/.arkor/local/models/google--gemma-3-270m/model.gguf ../tests/fixtures

Made with torch 2.15, transformers 5.23, gguf (PyPI) on CPU; transformers
dequantizes every GGUF tensor to float32 and the model runs in float32 (eager
attention), as the engine does.

Writes
  tokenizer_ids.json: {"strings": [...], "ids": [[...], ...]}  (add_special_tokens=False)
  logits.json: per prompt, its ids (with <bos>) and, at a handful of positions
               (first, last, and around/after the 512-token sliding window for the long
               prompt), the top-50 (id, logit) pairs, the logits of 16 fixed ids, and
               the sum, L2 norm, max and argmax of the whole 262144-wide logit vector.
               Full logits would be ~1 GB; these are enough to assert a match.
"""
import json
import os
import sys

gguf_path, out_dir = sys.argv[1], sys.argv[2]
d, f = os.path.split(os.path.abspath(os.path.expanduser(gguf_path)))
os.makedirs(out_dir, exist_ok=True)

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

torch.manual_seed(0)
versions = f"torch {torch.__version__}, transformers {transformers.__version__}"
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
    # Whitespace runs, mixed scripts, rare characters and byte fallback.
    "        eight spaces", "\t\t\ttabs", "x" + " " * 31 + "y", "\n \n \n", "   \n\t  \r\n",
    "{\n  \"a\": {\n    \"b\": [\n      1\n    ]\n  }\n}",
    "fn main() {\n    println!(\"{}\", 1 + 2);\n}\n", "#include <stdio.h>\nint main(void) { return 0; }",
    "const f = async (x) => { await g(x?.y ?? 0); };", "import numpy as np\nnp.zeros((3, 4), dtype=np.float32)",
    "    if x:\n        pass\n    else:\n        raise ValueError('no')", "$ ls -la | grep '^d' && echo ok",
    "<?xml version=\"1.0\"?><a b='c'/>", "| col1 | col2 |\n|------|------|\n| 1    | 2    |",
    "E = mc² and a² + b² = c²", "½ ¼ ¾ ⅓", "©®™ §¶ †‡", "\u00a0non-breaking\u00a0spaces", "zero\u200bwidth",
    "🙂🙃😉😊😇🥰😍🤩", "🏳️‍🌈 flags 🇯🇵🇺🇸", "👍🏽 skin tone", "𝕳𝖊𝖑𝖑𝖔 math letters", "𓀀 hieroglyph",
    "東京は日本の首都です。", "我爱自然语言处理。", "こんにちは、世界！", "안녕하세요 세계", "ภาษาไทย",
    "Ελληνικά γράμματα", "עברית", "Tiếng Việt có dấu", "Ça va? Très bien, merci.", "Größenordnung straße",
    "\x00\x01\x02 control", "\x7f delete", "tab\tin\tmiddle\t", "emoji🎉inside🎉words", "a\u0301 combining",
    "UPPER lower MiXeD", "...!!!???", "---===___", "((()))[[[]]]{{{}}}", "a,b;c:d.e!f?g",
    "The year 2024 had 366 days.", "Version 1.2.3-beta+build.45", "$1,234.56 and €99", "50% off!!!", "#hashtag @mention",
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
    json.dump({"source": f"transformers AutoTokenizer on {f} ({versions})", "strings": strings, "ids": ids},
              fh, ensure_ascii=False)
print("tokenizer:", type(tok).__name__, len(strings), "strings")

model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32, attn_implementation="eager")
model.eval()
cfg = model.config
print(type(model).__name__, cfg)

prompts = [
    "The capital of France is",
    "<start_of_turn>user\nWrite a haiku about the sea.<end_of_turn>\n<start_of_turn>model\n",
    "def fibonacci(n):\n    if n < 2:\n        return n\n",
    # Longer than the 512-token sliding window, so local and global layers differ.
    " ".join(f"word{i}" for i in range(240)),
]
fixed = [0, 1, 2, 106, 107, 818, 1000, 5279, 10000, 50000, 100000, 150000, 200000, 236881, 262000, 262143]
out = []
with torch.no_grad():
    for p in prompts:
        x = tok(p, return_tensors="pt")
        n = x["input_ids"].shape[1]
        logits = model(**x).logits[0].float()
        positions = sorted({0, 1, n // 2, n - 2, n - 1} | ({511, 512, 513, 600, 700} & set(range(n))))
        rows = []
        for pos in positions:
            z = logits[pos]
            top = torch.topk(z, 50)
            rows.append({
                "pos": pos,
                "top_ids": top.indices.tolist(),
                "top_logits": top.values.tolist(),
                "fixed_logits": z[fixed].tolist(),
                "sum": z.double().sum().item(),
                "l2": z.double().norm().item(),
                "max": z.max().item(),
                "argmax": int(z.argmax().item()),
            })
        out.append({"prompt": p, "ids": x["input_ids"][0].tolist(), "positions": rows})
        print(repr(p[:40]), n, "tokens, argmax at last:", rows[-1]["argmax"], repr(tok.decode([rows[-1]["argmax"]])))
with open(os.path.join(out_dir, "logits.json"), "w") as fh:
    json.dump({"source": f"transformers float32 (eager) on {f} ({versions})", "fixed_ids": fixed, "prompts": out}, fh)
print("wrote", out_dir)
