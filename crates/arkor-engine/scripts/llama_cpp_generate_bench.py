#!/usr/bin/env python3
"""llama.cpp side of `examples/generate_bench.rs`: greedy generation on the same prompts.

Not run in CI. Needs, from PyPI: pip install llama-cpp-python (builds llama.cpp from the
sdist with cmake; about 6 minutes on 2 cores).
Usage (from the repository root):
    cargo run -p arkor-engine --example generate_bench -- MODEL.gguf --dump /tmp/gen.json
    python crates/arkor-engine/scripts/llama_cpp_generate_bench.py MODEL.gguf /tmp/gen.json

Runs the Q4_K_M GGUF as llama.cpp does, on its quantized tensors (the engine dequantizes
them), with 2 threads, greedy (top_k=1, no repetition penalty), for as many new tokens as
the engine produced on each dumped prompt (base model only: an adapter would have to be
converted to llama.cpp's own LoRA format first). The first yielded token marks the end of
the prefill (prompt evaluation + first token); the rest are decode steps. Also reports how
many leading tokens equal the engine's (they part ways where quantization flips a near
tie).
"""
import json
import os
import sys
import time

import llama_cpp


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    gguf, dump = os.path.abspath(sys.argv[1]), sys.argv[2]
    rows = json.load(open(dump))
    threads = 2
    t0 = time.perf_counter()
    llm = llama_cpp.Llama(model_path=gguf, n_ctx=2048, n_batch=512, n_threads=threads,
                          n_threads_batch=threads, verbose=False)
    print(f"llama-cpp-python {llama_cpp.__version__}, {threads} threads; "
          f"model loaded in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    summary = []
    for row in rows:
        prompt, want = row["prompt_ids"], row["ids"]
        # Warm-up on the same prompt (first-call allocations), then the measured run.
        for measured in (False, True):
            llm.reset()
            got, stamps = [], []
            start = time.perf_counter()
            for tok in llm.generate(prompt, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0, reset=True):
                stamps.append(time.perf_counter())
                got.append(tok)
                if len(got) >= len(want) or not measured:
                    break
        prefill = stamps[0] - start
        decode = stamps[-1] - stamps[0]
        same = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        p_tps = len(prompt) / prefill
        d_tps = (len(got) - 1) / decode if decode > 0 else float("nan")
        line = (f"base {row['name']}: prompt {len(prompt)} tok, prefill {p_tps:.0f} tok/s, "
                f"decode {d_tps:.1f} tok/s ({len(got)} new, first {same} equal to the engine's)")
        print(line, file=sys.stderr)
        summary.append(line)
    for s in summary:
        print(s)


if __name__ == "__main__":
    main()
