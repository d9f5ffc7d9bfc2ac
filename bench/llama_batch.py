"""llama.cpp's side of bench/serve-concurrent.mjs: N chat prompts decoded together in
one llama.cpp context, as llama.cpp's own server does with N parallel slots
(continuous batching): one llama_decode for all the prompts, then one llama_decode of
N tokens (one per sequence) per step, greedy, until each has `tokens` new tokens or an
end-of-generation token. In-process through llama-cpp-python's low-level API (its
OpenAI server answers one request at a time, so it would only measure one stream).

usage: python bench/llama_batch.py MODEL.gguf N TOKENS PROMPTS.json
prints one JSON object: {"n", "tokens": [...per sequence], "ttft_ms": [...],
"itl_ms": [...every gap between two tokens of a sequence], "wall_s"}.
"""

import ctypes
import json
import sys
import time

import llama_cpp as L
import numpy as np


def main():
    path, n, tokens, prompts_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    questions = json.load(open(prompts_file))[:n]
    L.llama_backend_init()
    L.llama_log_set(ctypes.cast(None, L.llama_log_callback), ctypes.c_void_p())
    model = L.llama_model_load_from_file(path.encode(), L.llama_model_default_params())
    vocab = L.llama_model_get_vocab(model)
    nv = L.llama_vocab_n_tokens(vocab)

    def tokenize(text):
        b = text.encode()
        buf = (L.llama_token * (len(b) + 16))()
        k = L.llama_tokenize(vocab, b, len(b), buf, len(buf), True, True)
        return list(buf[:k])

    # Gemma's chat turn, as arkor renders it (bos added by the tokenizer).
    prompts = [tokenize(f"<start_of_turn>user\n{q.strip()}<end_of_turn>\n<start_of_turn>model\n") for q in questions]
    cp = L.llama_context_default_params()
    total = sum(len(p) for p in prompts)
    cp.n_ctx = n * (max(len(p) for p in prompts) + tokens + 16)
    cp.n_batch = max(512, total)
    cp.n_ubatch = cp.n_batch
    cp.n_seq_max = n
    cp.n_threads = cp.n_threads_batch = 2
    cp.kv_unified = True
    ctx = L.llama_init_from_model(model, cp)
    batch = L.llama_batch_init(cp.n_batch, 0, n)

    def add(tok, pos, seq, want_logits):
        i = batch.n_tokens
        batch.token[i] = tok
        batch.pos[i] = pos
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = seq
        batch.logits[i] = want_logits
        batch.n_tokens = i + 1

    def argmax(i):
        z = np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, i), shape=(nv,))
        return int(np.argmax(z))

    times = [[] for _ in range(n)]
    pos = [len(p) for p in prompts]
    t0 = time.perf_counter()
    batch.n_tokens = 0
    rows = []
    for s, p in enumerate(prompts):
        for j, t in enumerate(p):
            add(t, j, s, j == len(p) - 1)
        rows.append(batch.n_tokens - 1)
    assert L.llama_decode(ctx, batch) == 0
    live = {}
    now = time.perf_counter()
    for s, r in enumerate(rows):
        tok = argmax(r)
        if not L.llama_vocab_is_eog(vocab, tok):
            times[s].append(now)
            live[s] = tok
    while live:
        batch.n_tokens = 0
        order = [s for s in live if len(times[s]) < tokens]
        if not order:
            break
        for s in order:
            add(live[s], pos[s], s, True)
            pos[s] += 1
        assert L.llama_decode(ctx, batch) == 0
        now = time.perf_counter()
        for i, s in enumerate(order):
            tok = argmax(i)
            if L.llama_vocab_is_eog(vocab, tok):
                del live[s]
            else:
                times[s].append(now)
                live[s] = tok
    wall = time.perf_counter() - t0
    L.llama_batch_free(batch)
    L.llama_free(ctx)
    L.llama_model_free(model)
    print(json.dumps({
        "n": n,
        "tokens": [len(t) for t in times],
        "ttft_ms": [1e3 * (t[0] - t0) for t in times if t],
        "itl_ms": [1e3 * (b - a) for t in times for a, b in zip(t, t[1:])],
        "wall_s": wall,
    }))


if __name__ == "__main__":
    main()
