// The embedded local backend, end to end: with no backend configured (no
// ARKOR_CLOUD_API_URL, no context.baseUrl/credentials, no credentials file),
// a trainer starts arkor-server inside its own process and really trains the
// tiny model. Each test runs in a child process with its own temp HOME and
// ARKOR_HOME, so nothing here touches the developer's ~/.arkor.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ARKOR_ESM, TINY_MODEL, isolated, jsonLines, makeTempDir, runScript, writeDataset } from "./helpers/local-backend.mjs";

/** A temp project dir (the child's cwd) with a 16-row chatml dataset. */
function project() {
  const cwd = makeTempDir("arkor-embedded-");
  return { cwd, dataUrl: writeDataset(cwd) };
}

const PRELUDE = `
import { createTrainer, CloudApiError, SUPPORTED_MODELS } from ${JSON.stringify(ARKOR_ESM)};
const emit = (v) => process.stdout.write("@@" + JSON.stringify(v) + "\\n");
`;

test("a trainer with no backend configured trains the tiny model end to end in-process", async () => {
  const { cwd, dataUrl } = project();
  const { home, arkorHome, env } = isolated();
  // maxSteps 8 and no saveSteps: the local backend checkpoints every tenth
  // of the run, rounded up to a whole step, i.e. at every step.
  const h = runScript(
    cwd,
    "run.mjs",
    `${PRELUDE}
const decoder = new TextDecoder();
const trainer = createTrainer({
  name: "embedded-e2e",
  model: ${JSON.stringify(TINY_MODEL)},
  dataset: { type: "blob", url: ${JSON.stringify(dataUrl)} },
  maxSteps: 8,
  callbacks: {
    onStarted: ({ job }) => emit({ cb: "onStarted", status: job.status, startedAt: job.startedAt, id: job.id }),
    onLog: ({ step, loss, learningRate, epoch, job }) =>
      emit({ cb: "onLog", step, loss, learningRate, epoch, status: job.status }),
    onCheckpoint: async ({ step, adapter, infer, job }) => {
      const messages = [{ role: "user", content: "I can't log in to my account." }];
      // stream: true (the default), read chunk by chunk through res.body
      const res = await infer({ messages, maxTokens: 6 });
      let chunks = 0;
      let text = "";
      for await (const chunk of res.body) {
        chunks++;
        text += decoder.decode(chunk, { stream: true });
      }
      const frames = text.split("\\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6));
      const deltas = frames
        .filter((f) => f !== "[DONE]")
        .map((f) => JSON.parse(f).choices[0].delta.content ?? "")
        .join("");
      // stream: false, parsed with .json()
      const res2 = await infer({ messages, maxTokens: 6, stream: false });
      const body = await res2.json();
      emit({
        cb: "onCheckpoint", step, adapter, jobId: job.id,
        stream: { ok: res.ok, type: res.headers.get("content-type"), chunks, last: frames.at(-1), nFrames: frames.length, deltas,
                  isResponse: res instanceof Response },
        json: { ok: res2.ok, object: body.object, content: body.content, message: body.choices?.[0]?.message,
                finish: body.choices?.[0]?.finish_reason, usage: body.usage },
      });
    },
    onCompleted: ({ job, artifacts }) => emit({ cb: "onCompleted", status: job.status, artifacts }),
    onFailed: ({ error }) => emit({ cb: "onFailed", error }),
  },
});
const result = await trainer.wait();
emit({ cb: "result", status: result.job.status, id: result.job.id, error: result.job.error ?? null, artifacts: result.artifacts });
process.stdout.write("@@END\\n");
`,
    { env, timeoutMs: 60_000 },
  );
  const endSeen = h.waitForLine((l) => l === "@@END", 60_000);
  const r = await h.done;
  await endSeen;
  assert.equal(r.code, 0, r.stderr);
  // The child exits by itself right after wait() resolved: the embedded
  // server holds no handle that keeps the event loop alive.
  const endAt = h.lineAt[h.lines.indexOf("@@END")];
  assert.ok(r.exitAt - endAt < 2000, `child took ${Math.round(r.exitAt - endAt)} ms to exit after wait()`);

  const out = jsonLines(r.stdout.replace("@@END\n", ""));
  const cbs = out.map((e) => e.cb);
  // Order: started first, completed last, result after the callbacks.
  assert.equal(cbs[0], "onStarted", cbs.join(","));
  assert.equal(cbs.at(-2), "onCompleted", cbs.join(","));
  assert.equal(cbs.at(-1), "result");
  assert.ok(!cbs.includes("onFailed"));
  assert.equal(out[0].status, "running");
  assert.match(out[0].startedAt, /^\d{4}-\d\d-\d\dT/);

  const logs = out.filter((e) => e.cb === "onLog");
  assert.deepEqual(logs.map((l) => l.step), [1, 2, 3, 4, 5, 6, 7, 8]);
  for (const l of logs) {
    assert.equal(typeof l.loss, "number");
    assert.ok(Number.isFinite(l.loss) && l.loss > 0, `loss ${l.loss}`);
    assert.equal(typeof l.learningRate, "number");
    assert.equal(typeof l.epoch, "number");
  }

  const ckpts = out.filter((e) => e.cb === "onCheckpoint");
  assert.deepEqual(ckpts.map((c) => c.step), [1, 2, 3, 4, 5, 6, 7, 8]);
  const jobId = out[0].id;
  for (const c of ckpts) {
    const logIdx = out.findIndex((e) => e.cb === "onLog" && e.step === c.step);
    assert.ok(logIdx >= 0 && logIdx < out.indexOf(c), `checkpoint ${c.step} before its log`);
    assert.deepEqual(c.adapter, { kind: "checkpoint", jobId, step: c.step });
    // stream: true → SSE chunks, OpenAI-style deltas, then data: [DONE]
    assert.equal(c.stream.ok, true);
    assert.equal(c.stream.isResponse, true);
    assert.match(c.stream.type, /^text\/event-stream/);
    assert.ok(c.stream.chunks >= 1);
    assert.ok(c.stream.nFrames >= 2, `only ${c.stream.nFrames} frames`);
    assert.equal(c.stream.last, "[DONE]");
    // stream: false → chat.completion JSON plus top-level content
    assert.equal(c.json.ok, true);
    assert.equal(c.json.object, "chat.completion");
    assert.equal(c.json.message.role, "assistant");
    assert.equal(typeof c.json.message.content, "string");
    assert.equal(c.json.content, c.json.message.content);
    assert.ok(["stop", "length"].includes(c.json.finish), c.json.finish);
    assert.ok(c.json.usage.completion_tokens >= 1 && c.json.usage.completion_tokens <= 6);
  }
  const last = out.at(-1);
  assert.equal(last.status, "completed");
  assert.equal(last.id, jobId);
  assert.equal(last.error, null);
  assert.ok(last.artifacts.length >= 1);
  assert.equal(out.at(-2).status, "completed");

  // The embedded backend touched neither credentials nor project state.
  assert.ok(!existsSync(join(home, ".arkor", "credentials.json")), "credentials.json was written");
  assert.ok(!existsSync(join(cwd, ".arkor", "state.json")), ".arkor/state.json was written");
  // Its data lives under ARKOR_HOME: the SQLite store and PEFT checkpoints.
  const sqlite = readdirSync(arkorHome).filter((f) => {
    const p = join(arkorHome, f);
    return statSync(p).isFile() && readFileSync(p).subarray(0, 16).toString("latin1") === "SQLite format 3\0";
  });
  assert.ok(sqlite.length >= 1, `no SQLite database in ${arkorHome}: ${readdirSync(arkorHome)}`);
  const jobDir = join(arkorHome, "jobs", jobId);
  const ckptDirs = readdirSync(jobDir).filter((d) => d.startsWith("checkpoint-")).sort();
  assert.deepEqual(ckptDirs, [1, 2, 3, 4, 5, 6, 7, 8].map((s) => `checkpoint-${s}`));
  for (const d of ckptDirs) {
    const st = statSync(join(jobDir, d, "adapter_model.safetensors"));
    assert.ok(st.size > 0);
    const cfg = JSON.parse(readFileSync(join(jobDir, d, "adapter_config.json"), "utf8"));
    assert.equal(cfg.peft_type, "LORA");
  }
});

test("a malformed dataset line: wait() resolves status failed with an error naming the line", async () => {
  const { cwd } = project();
  const good = JSON.stringify({ messages: [{ role: "user", content: "a" }, { role: "assistant", content: "b" }] });
  const dataUrl = writeDataset(cwd, "bad.jsonl", [good, good, '{"messages": [oops', good].join("\n") + "\n");
  const { env } = isolated();
  const h = runScript(
    cwd,
    "run.mjs",
    `${PRELUDE}
const failed = [];
const logs = [];
const result = await createTrainer({
  name: "bad-data",
  model: ${JSON.stringify(TINY_MODEL)},
  dataset: { type: "blob", url: ${JSON.stringify(dataUrl)} },
  maxSteps: 4,
  callbacks: {
    onLog: ({ step }) => logs.push(step),
    onFailed: ({ job, error }) => failed.push({ status: job.status, error }),
    onCompleted: () => emit({ cb: "onCompleted" }),
  },
}).wait();
emit({ status: result.job.status, error: result.job.error, failed, logs });
`,
    { env, timeoutMs: 30_000 },
  );
  const r = await h.done;
  assert.equal(r.code, 0, r.stderr);
  const [res] = jsonLines(r.stdout);
  assert.equal(res.status, "failed");
  assert.match(res.error, /\b(row|line) 3\b/, res.error);
  assert.match(res.error, /bad\.jsonl/);
  assert.deepEqual(res.logs, []);
  assert.equal(res.failed.length, 1);
  assert.equal(res.failed[0].error, res.error);
  assert.equal(res.failed[0].status, "failed");
});

// Upstream's `arkor init` templates (packages/cli-internal/src/templates.ts)
// write their trainer with `datasetFormat: { type: "chatml" }`, `evalSteps`,
// `lora: { r, alpha, loadIn4bit: false }` and an onCheckpoint that asks for
// JSON-schema output and reads it with res.json(). Such a trainer, with only
// its model and dataset changed (and fewer steps, to stay quick), must
// train here: the local backend once refused the `{ type }` form with a 400.
test("a trainer shaped like upstream's init templates trains with only its model and dataset changed", async () => {
  const { cwd, dataUrl } = project();
  const { env } = isolated();
  const h = runScript(
    cwd,
    "run.mjs",
    `${PRELUDE}
const logs = [];
const checks = [];
const trainer = createTrainer({
  name: "triage-run",
  model: ${JSON.stringify(TINY_MODEL)},
  dataset: { type: "blob", url: ${JSON.stringify(dataUrl)} },
  datasetFormat: { type: "chatml" },
  maxSteps: 4,
  evalSteps: 2,
  lora: { r: 16, alpha: 16, loadIn4bit: false },
  callbacks: {
    onLog: ({ step, loss, evalLoss }) => logs.push({ step, loss, evalLoss }),
    onCheckpoint: async ({ step, infer }) => {
      const res = await infer({
        messages: [{ role: "user", content: "I can't log in to my account." }],
        stream: false,
        maxTokens: 16,
        responseFormat: {
          type: "json_schema",
          json_schema: { name: "triage", schema: { type: "object", properties: { category: { type: "string" } }, required: ["category"] }, strict: true },
        },
      });
      const data = await res.json();
      checks.push({ step, ok: res.ok, content: typeof data.choices?.[0]?.message?.content });
    },
  },
});
const result = await trainer.wait();
emit({ status: result.job.status, error: result.job.error ?? null, datasetFormat: result.job.config?.datasetFormat, logs, checks });
`,
    { env, timeoutMs: 60_000 },
  );
  const r = await h.done;
  assert.equal(r.code, 0, r.stderr);
  const [res] = jsonLines(r.stdout);
  assert.equal(res.status, "completed", res.error);
  assert.deepEqual(res.datasetFormat, { type: "chatml" });
  assert.deepEqual(res.logs.map((l) => l.step), [1, 2, 3, 4]);
  // evalSteps: 2 was honoured: an eval loss at steps 2 and 4 only.
  assert.deepEqual(res.logs.filter((l) => l.evalLoss !== null).map((l) => l.step), [2, 4]);
  assert.ok(res.checks.length >= 1);
  for (const c of res.checks) assert.deepEqual({ ok: c.ok, content: c.content }, { ok: true, content: "string" });
});

test("trainer.cancel() from inside onLog: wait() ends with status cancelled, training stops within a step or two", async () => {
  const { cwd, dataUrl } = project();
  const { env } = isolated();
  const h = runScript(
    cwd,
    "run.mjs",
    `${PRELUDE}
const steps = [];
const seen = [];
let cancelledAt = null;
const trainer = createTrainer({
  name: "cancel-me",
  model: ${JSON.stringify(TINY_MODEL)},
  dataset: { type: "blob", url: ${JSON.stringify(dataUrl)} },
  maxSteps: 100000,
  callbacks: {
    onLog: async ({ step }) => {
      steps.push(step);
      if (cancelledAt === null && step === 2) {
        await trainer.cancel();
        cancelledAt = steps.length;
      }
    },
    onCheckpoint: () => seen.push("onCheckpoint"),
    onCompleted: () => seen.push("onCompleted"),
    onFailed: () => seen.push("onFailed"),
  },
});
const result = await trainer.wait();
emit({ status: result.job.status, steps, cancelledAt, seen });
`,
    { env, timeoutMs: 30_000 },
  );
  const r = await h.done;
  assert.equal(r.code, 0, r.stderr);
  const [res] = jsonLines(r.stdout);
  assert.equal(res.status, "cancelled");
  assert.equal(res.cancelledAt, 2);
  // Steps the worker finished while the cancel request was on its way are
  // still delivered, in order (upstream dispatches them too); training then
  // stops within a step or two instead of running on to maxSteps.
  assert.deepEqual(res.steps, res.steps.map((_, i) => i + 1), "every step once, in order");
  assert.ok(res.steps.length <= res.cancelledAt + 3, `training stopped soon after cancel(): onLog saw steps ${res.steps}`);
  assert.deepEqual(res.seen, []);
});

test("a SUPPORTED_MODELS model the local backend cannot serve: start() rejects with CloudApiError 400 naming config.model", async () => {
  const { cwd, dataUrl } = project();
  const { home, env } = isolated();
  const h = runScript(
    cwd,
    "run.mjs",
    `${PRELUDE}
// Models outside SUPPORTED_MODELS never reach a backend: createTrainer throws.
let sdkCheck = null;
try {
  createTrainer({ name: "x", model: "not/a-model", dataset: { type: "blob", url: ${JSON.stringify(dataUrl)} } });
} catch (e) {
  sdkCheck = e.message;
}
const trainer = createTrainer({
  name: "gemma4",
  model: "unsloth/gemma-4-E4B-it",
  dataset: { type: "blob", url: ${JSON.stringify(dataUrl)} },
});
try {
  await trainer.start();
  emit({ ok: true });
} catch (e) {
  emit({ ok: false, isCloudApiError: e instanceof CloudApiError, status: e.status, message: e.message,
         supported: SUPPORTED_MODELS.includes("unsloth/gemma-4-E4B-it"), sdkCheck });
}
`,
    { env, timeoutMs: 30_000 },
  );
  const r = await h.done;
  assert.equal(r.code, 0, r.stderr);
  const [res] = jsonLines(r.stdout);
  assert.equal(res.supported, true);
  assert.ok(res.sdkCheck && res.sdkCheck.includes("arkor/tiny-gemma3"), `createTrainer did not list the models: ${res.sdkCheck}`);
  assert.equal(res.ok, false, "start() resolved for a model the local backend cannot serve");
  assert.equal(res.isCloudApiError, true);
  assert.equal(res.status, 400);
  assert.match(res.message, /config\.model/);
  assert.match(res.message, /unsloth\/gemma-4-E4B-it/);
  assert.ok(!existsSync(join(home, ".arkor", "credentials.json")));
});
