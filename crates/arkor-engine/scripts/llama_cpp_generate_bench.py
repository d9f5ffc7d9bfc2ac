#!/usr/bin/env python3
"""llama.cpp side of `examples/generate_bench.rs`: greedy generation on the same prompts.

Not run in CI. Needs llama-cpp-python built from its PyPI sdist (it compiles llama.cpp
with cmake; about 6 minutes on 2 cores), in a virtual environment of its own:
    python3 -m venv /work/venv-llama
    CMAKE_BUILD_PARALLEL_LEVEL=2 /work/venv-llama/bin/pip install --no-binary llama-cpp-python llama-cpp-python==0.3.36

`generate_bench --llama /work/venv-llama/bin/python` runs this script itself, in the same
run as the engine. By hand:
    python crates/arkor-engine/scripts/llama_cpp_generate_bench.py MODEL.gguf PROMPTS.json [--out RESULTS.json]

PROMPTS.json is a list of {"name", "prompt_ids", "max_tokens"} (or, as `generate_bench
--dump` writes it, {"name", "prompt_ids", "ids"}: then as many tokens as "ids" holds, and
the first tokens that differ from them are reported).

Runs the Q4_K_M GGUF as llama.cpp does, on its quantized tensors, with 2 threads, greedy
(top_k=1, no repetition penalty), without stopping at end-of-turn (as the engine's
bench). The first yielded token marks the end of the prefill (prompt evaluation + first
token); the rest are decode steps. Each prompt is evaluated once untimed first.
With --out, writes per prompt: name, prompt_ids, prompt_tokens, prefill_s, decode_s, ids,
llama_cpp_python (the version); `tests/fixtures/llama_cpp_greedy.json` is such a file
(`tests/reference.rs` checks the engine's Q8 greedy tokens against it).
"""
import json
import os
import sys
import time

import llama_cpp


def main():
    args = sys.argv[1:]
    out = None
    if "--out" in args:
        i = args.index("--out")
        out = args[i + 1]
        del args[i:i + 2]
    if len(args) < 2:
        sys.exit(__doc__)
    gguf, prompts = os.path.abspath(args[0]), json.load(open(args[1]))
    threads = 2
    t0 = time.perf_counter()
    llm = llama_cpp.Llama(model_path=gguf, n_ctx=2048, n_batch=512, n_threads=threads,
                          n_threads_batch=threads, verbose=False)
    print(f"llama-cpp-python {llama_cpp.__version__}, {threads} threads; "
          f"model loaded in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    results, summary = [], []
    for row in prompts:
        prompt, want = row["prompt_ids"], row.get("ids")
        limit = row.get("max_tokens", len(want) if want is not None else 128)
        # Warm-up on the same prompt (first-call allocations), then the measured run.
        for measured in (False, True):
            llm.reset()
            got, stamps = [], []
            start = time.perf_counter()
            for tok in llm.generate(prompt, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0, reset=True):
                stamps.append(time.perf_counter())
                got.append(tok)
                if len(got) >= limit or not measured:
                    break
        prefill, decode = stamps[0] - start, stamps[-1] - stamps[0]
        p_tps = len(prompt) / prefill
        d_tps = (len(got) - 1) / decode if decode > 0 else float("nan")
        line = (f"llama.cpp {row['name']}: prompt {len(prompt)} tok, prefill {p_tps:.0f} tok/s, "
                f"decode {d_tps:.1f} tok/s ({len(got)} new)")
        if want is not None:
            same = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            line += f", first {same} equal to the engine's"
        print(line, file=sys.stderr)
        summary.append(line)
        results.append({"name": row["name"], "prompt_ids": prompt, "prompt_tokens": len(prompt),
                        "prefill_s": prefill, "decode_s": decode, "ids": got,
                        "llama_cpp_python": llama_cpp.__version__})
    if out:
        with open(out, "w") as f:
            json.dump(results, f)
    else:
        for s in summary:
            print(s)


if __name__ == "__main__":
    main()
