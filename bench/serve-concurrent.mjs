#!/usr/bin/env node
// Concurrent serving: N streamed chat requests at once against `arkor serve` on the
// real model, beside llama.cpp decoding the same N prompts together in one run; and
// how training and inference share the cores. See bench/README.md.
//
//   node bench/serve-concurrent.mjs [--n 1,2,4,8] [--tokens 128] [--rounds 2]
//        [--phases serve,share] [--llama /work/venv-llama/bin/python | none]
//        [--share-steps 20] [--share-tokens 48] [--llama-omp-wait passive | active]
//
// Needs the addon built (`npm run build`) and google/gemma-3-270m installed
// (`node bin/arkor.js models pull google/gemma-3-270m`); llama.cpp's side needs
// llama-cpp-python and numpy in the interpreter given with --llama.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const MODEL = "google/gemma-3-270m";
const MODELS = path.join(os.homedir(), ".arkor", "local", "models");
const GGUF = path.join(MODELS, "google--gemma-3-270m", "model.gguf");
const TOKEN = "bench-token";
// The eight prompts, shared with the engine's batch_bench so the two measure the same work.
const QUESTIONS = JSON.parse(readFileSync(path.join(ROOT, "bench", "questions.json"), "utf8"));

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
}
const NS = option("n", "1,2,4,8").split(",").map(Number);
const TOKENS = Number(option("tokens", 128));
const ROUNDS = Number(option("rounds", 2));
const PHASES = option("phases", "serve,share").split(",");
const LLAMA = option("llama", existsSync("/work/venv-llama/bin/python") ? "/work/venv-llama/bin/python" : "none");
const SHARE_STEPS = Number(option("share-steps", 20));
const SHARE_TOKENS = Number(option("share-tokens", 48));
// llama.cpp's OpenMP threads spin while they wait by default; on a machine with other
// load that collapses its speed (2 tok/s instead of 19 at load 5 here), so the
// default here lets them sleep. `--llama-omp-wait active` restores llama.cpp's default.
const OMP_WAIT = option("llama-omp-wait", "passive").toUpperCase();

const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const median = (xs) => quantile(xs, 0.5);
function quantile(xs, q) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : "-");

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** `arkor serve` on a fresh home whose models are the installed ones. */
async function startServer(dataDir) {
  const home = mkdtempSync(path.join(os.tmpdir(), "arkor-bench-home-"));
  symlinkSync(MODELS, path.join(home, "models"));
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(ROOT, "bin/arkor.js"), "serve", "--port", String(port), "--public", "--token", TOKEN, "--allow-path", dataDir], {
    env: { ...process.env, ARKOR_HOME: home },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("listening on")) resolve();
    });
    child.on("exit", (c) => reject(new Error(`arkor serve exited with ${c}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  await api(url, "POST", "/v1/projects?orgSlug=local", { name: "bench", slug: "bench" });
  return { url, child };
}

async function api(url, method, route, body) {
  const res = await fetch(url + route, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: body && JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`);
  return res;
}

/** SSE data payloads of a fetch body, as they arrive: calls `onData(json, at)`. */
async function readSse(res, onData) {
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    const at = performance.now();
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const frame = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = frame.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("");
      if (data && data !== "[DONE]") onData(JSON.parse(data), at);
    }
  }
}

/** One streamed chat request; token arrival times (one content chunk per token). */
async function chat(url, question, maxTokens) {
  const start = performance.now();
  const res = await api(url, "POST", "/v1/inference/chat?orgSlug=local&projectSlug=bench", {
    messages: [{ role: "user", content: question }],
    baseModel: MODEL,
    stream: true,
    maxTokens,
  });
  const times = [];
  await readSse(res, (chunk, at) => {
    if (chunk.error) throw new Error(`chat failed: ${JSON.stringify(chunk.error)}`);
    if (chunk.choices?.[0]?.delta?.content) times.push(at);
  });
  return { start, times };
}

/** N requests at once; aggregate tokens/s, time to first token, inter-token gaps. */
async function arkorRound(url, n) {
  const t0 = performance.now();
  const runs = await Promise.all(QUESTIONS.slice(0, n).map((q) => chat(url, q, TOKENS)));
  const wall = (performance.now() - t0) / 1e3;
  const tokens = runs.reduce((a, r) => a + r.times.length, 0);
  return {
    tokens,
    wall,
    ttft: runs.map((r) => r.times[0] - r.start),
    itl: runs.flatMap((r) => r.times.slice(1).map((t, i) => t - r.times[i])),
  };
}

async function llamaRound(n, promptsFile) {
  const out = await new Promise((resolve, reject) => {
    const p = spawn(LLAMA, [path.join(ROOT, "bench/llama_batch.py"), GGUF, String(n), String(TOKENS), promptsFile], {
      stdio: ["ignore", "pipe", "ignore"],
      env: { ...process.env, OMP_WAIT_POLICY: OMP_WAIT },
    });
    let s = "";
    p.stdout.on("data", (d) => (s += d));
    p.on("exit", (c) => (c === 0 ? resolve(s) : reject(new Error(`llama_batch.py exited with ${c}`))));
  });
  const r = JSON.parse(out.trim().split("\n").pop());
  return { tokens: r.tokens.reduce((a, b) => a + b, 0), wall: r.wall_s, ttft: r.ttft_ms, itl: r.itl_ms };
}

function summarize(rounds) {
  return {
    tps: median(rounds.map((r) => r.tokens / r.wall)),
    ttft: rounds.flatMap((r) => r.ttft),
    itl: rounds.flatMap((r) => r.itl),
  };
}

async function serve(url) {
  const promptsFile = path.join(ROOT, "bench", "questions.json");
  console.log(`\n## Concurrent streamed chat requests, ${TOKENS} new tokens each, greedy, ${ROUNDS} rounds per N (median aggregate)\n`);
  console.log("| N | who | load at start | aggregate tok/s | vs its N=1 | TTFT p50 / p99 (ms) | inter-token p50 / p99 (ms) |");
  console.log("|---|---|---|---|---|---|---|");
  const single = {};
  for (const n of NS) {
    for (const who of LLAMA === "none" ? ["arkor"] : ["arkor", "llama.cpp"]) {
      const l = load();
      const rounds = [];
      for (let r = 0; r < ROUNDS; r++) rounds.push(who === "arkor" ? await arkorRound(url, n) : await llamaRound(n, promptsFile));
      const s = summarize(rounds);
      single[who] ??= s.tps;
      console.log(
        `| ${n} | ${who} | ${l} | ${f1(s.tps)} | ${(s.tps / single[who]).toFixed(2)}x | ${f1(median(s.ttft))} / ${f1(quantile(s.ttft, 0.99))} | ${f1(median(s.itl))} / ${f1(quantile(s.itl, 0.99))} |`,
      );
    }
  }
}

/** Decode tokens/s of one request: tokens after the first over the time after it. */
const decodeRate = (r) => (r.times.length - 1) / ((r.times.at(-1) - r.times[0]) / 1e3);

/**
 * Training and inference on the same cores. A LoRA job trains gemma-3-270m (batch 4 of
 * the demo's triage rows) while, in alternate windows of `WINDOW` steps, one streamed
 * request follows another (the mid-run eval's pattern, made continuous). Alternating
 * in one run keeps the machine's other load alike on both sides. A step counts as
 * "together" when requests ran through all of it, "alone" when none overlapped it;
 * inference "idle" is the same requests before the job starts and after it ends.
 */
const WINDOW = 3;
async function share(url, dataDir) {
  const copy = path.join(dataDir, "triage.jsonl");
  writeFileSync(copy, readFileSync(path.join(ROOT, "examples/data/triage.jsonl")));
  const idle = [];
  const l0 = load();
  for (let i = 0; i < 3; i++) idle.push(await chat(url, QUESTIONS[i], SHARE_TOKENS));
  const res = await api(url, "POST", "/v1/jobs?orgSlug=local&projectSlug=bench", {
    name: "share",
    config: { model: MODEL, datasetSource: { type: "blob", url: `file://${copy}` }, maxSteps: SHARE_STEPS, batchSize: 4, loggingSteps: 1, saveSteps: SHARE_STEPS },
  });
  const { job } = await res.json();
  const l1 = load();
  const steps = []; // [step, arrival time]
  let done = false;
  const follow = (async () => {
    const r = await api(url, "GET", `/v1/jobs/${job.id}/events/stream?orgSlug=local&projectSlug=bench`);
    await readSse(r, (ev, at) => {
      if (ev.type === "training.log") steps.push([ev.step, at]);
    });
    done = true;
  })();
  const wait = async (n) => {
    while (!done && steps.length < n) await new Promise((r) => setTimeout(r, 20));
  };
  // Step 1 pays for packing the weights; from step 2 on, alternate.
  const busy = [];
  let q = 0;
  for (let w = 2; !done; w += 2 * WINDOW) {
    await wait(w);
    while (!done && steps.length < w + WINDOW) {
      const r = await chat(url, QUESTIONS[q++ % QUESTIONS.length], SHARE_TOKENS);
      r.end = performance.now();
      busy.push(r);
    }
    await wait(w + 2 * WINDOW);
  }
  await follow;
  for (let i = 0; i < 3; i++) idle.push(await chat(url, QUESTIONS[i], SHARE_TOKENS));
  const trainedFrom = steps[0][1];
  const trainedTo = steps.at(-1)[1];
  const spans = busy.map((r) => [r.start, r.end]);
  const covered = (a, b) => {
    // Requests run back to back inside a window: covered when the union of their spans holds [a, b].
    let t = a;
    for (const [s, e] of spans) if (s <= t + 50 && e > t) t = Math.max(t, e);
    return t >= b;
  };
  const touched = (a, b) => spans.some(([s, e]) => s < b && e > a);
  const durations = steps.slice(1).map(([s, at], i) => ({ step: s, from: steps[i][1], to: at, ms: at - steps[i][1] }));
  const alone = durations.filter((d) => !touched(d.from, d.to)).map((d) => d.ms);
  const together = durations.filter((d) => covered(d.from, d.to)).map((d) => d.ms);
  const inTraining = busy.filter((r) => r.start >= trainedFrom && r.end <= trainedTo);
  const rate = (rs) => median(rs.map(decodeRate));
  console.log(`\n## Training and inference together (load ${l0} before the idle requests, ${l1} when the job started, ${load()} at the end)\n`);
  console.log("| | alone | together | ratio |");
  console.log("|---|---|---|---|");
  console.log(`| inference decode tok/s, one request at a time (median over ${idle.length} / ${inTraining.length} requests) | ${f1(rate(idle))} | ${f1(rate(inTraining))} | ${(rate(inTraining) / rate(idle)).toFixed(2)} |`);
  console.log(`| training step (ms, median over ${alone.length} / ${together.length} steps) | ${f1(median(alone))} | ${f1(median(together))} | ${(median(together) / median(alone)).toFixed(2)} |`);
  const gaps = (rs) => rs.flatMap((r) => r.times.slice(1).map((t, i) => t - r.times[i]));
  const [gi, gt] = [gaps(idle), gaps(inTraining)];
  console.log(`| inter-token latency p50 / p99 (ms) | ${f1(median(gi))} / ${f1(quantile(gi, 0.99))} | ${f1(median(gt))} / ${f1(quantile(gt, 0.99))} | |`);
}

async function main() {
  if (!existsSync(GGUF)) throw new Error(`${GGUF} is missing: node bin/arkor.js models pull ${MODEL}`);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "arkor-bench-data-"));
  mkdirSync(dataDir, { recursive: true });
  const { url, child } = await startServer(dataDir);
  try {
    console.log(`# arkor serve (this checkout) and llama.cpp (${LLAMA === "none" ? "skipped" : `${LLAMA}, OMP_WAIT_POLICY=${OMP_WAIT}`}), ${os.cpus().length} CPUs, load ${load()}`);
    // Loads the model and packs its bf16 weights before anything is timed.
    await chat(url, "Hello", 4);
    if (PHASES.includes("serve")) await serve(url);
    if (PHASES.includes("share")) await share(url, dataDir);
  } finally {
    child.kill("SIGTERM");
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
