// createTrainer(): model validation, job-config mapping, start()/cancel()
// semantics, request shape. Drives the public API against the mock cloud.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";

import {
  isolateEnv,
  setupCloud,
  baseInput,
  frame,
  ev,
  sleep,
  settle,
  MODEL,
  ORG,
  PROJECT,
} from "./helpers/mock-cloud.mjs";

isolateEnv();
const require = createRequire(import.meta.url);
const { createTrainer, SUPPORTED_MODELS, CloudApiError } = require("../index.js");

test("SUPPORTED_MODELS lists the supported base models", () => {
  assert.deepEqual(
    [...SUPPORTED_MODELS],
    ["unsloth/gemma-4-E4B-it", "google/gemma-3-270m", "arkor/tiny-gemma3"],
  );
});

test("createTrainer throws synchronously for an unsupported model, listing the supported ones", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  let threw;
  try {
    createTrainer(baseInput({ model: "meta/llama-3-8b" }), ctx);
  } catch (err) {
    threw = err;
  }
  assert.ok(threw instanceof Error, "createTrainer must throw synchronously");
  assert.match(threw.message, /meta\/llama-3-8b/);
  for (const m of SUPPORTED_MODELS) {
    assert.ok(threw.message.includes(m), `message lists ${m}: ${threw.message}`);
  }
  await sleep(20);
  assert.equal(mock.requests.length, 0, "no request for an invalid trainer");
});

test("createTrainer accepts every supported model without any request", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  for (const model of SUPPORTED_MODELS) {
    const tr = createTrainer(baseInput({ model }), ctx);
    assert.equal(typeof tr.start, "function");
    assert.equal(typeof tr.wait, "function");
    assert.equal(typeof tr.cancel, "function");
  }
  await sleep(20);
  assert.equal(mock.requests.length, 0, "construction is lazy");
});

test("trainer.name is the input name", async (t) => {
  const { ctx } = await setupCloud(t);
  const tr = createTrainer(baseInput({ name: "my-run-42" }), ctx);
  assert.equal(tr.name, "my-run-42");
});

test("start() POSTs /v1/jobs with the scope query and {name, config} (every field mapped)", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  const dataset = { type: "blob", url: "https://example.com/d.jsonl", token: "dtok" };
  const tr = createTrainer(
    {
      name: "full",
      model: MODEL,
      dataset,
      lora: { r: 16, alpha: 32, maxLength: 2048, loadIn4bit: true },
      maxSteps: 100,
      numTrainEpochs: 2,
      learningRate: 2e-4,
      batchSize: 4,
      optim: "adamw_8bit",
      lrSchedulerType: "cosine",
      weightDecay: 0.01,
      warmupSteps: 5,
      loggingSteps: 1,
      saveSteps: 50,
      evalSteps: 25,
      trainOnResponsesOnly: true,
      datasetFormat: { type: "chatml" },
      datasetSplit: { train: "train", eval: "test" },
      dryRun: false,
    },
    ctx,
  );
  const res = await tr.start();
  assert.deepEqual(res, { jobId: "job-1" });
  const posts = mock.find("POST", "/v1/jobs");
  assert.equal(posts.length, 1);
  const req = posts[0];
  assert.deepEqual(req.query, { orgSlug: ORG, projectSlug: PROJECT });
  assert.match(String(req.headers["content-type"]), /application\/json/);
  assert.deepEqual(req.body, {
    name: "full",
    config: {
      model: MODEL,
      datasetSource: dataset,
      loraR: 16,
      loraAlpha: 32,
      maxLength: 2048,
      loadIn4bit: true,
      maxSteps: 100,
      numTrainEpochs: 2,
      learningRate: 2e-4,
      batchSize: 4,
      optim: "adamw_8bit",
      lrSchedulerType: "cosine",
      weightDecay: 0.01,
      warmupSteps: 5,
      loggingSteps: 1,
      saveSteps: 50,
      evalSteps: 25,
      trainOnResponsesOnly: true,
      datasetFormat: { type: "chatml" },
      datasetSplit: { train: "train", eval: "test" },
      dryRun: false,
    },
  });
  // no `lora` key leaks through
  assert.equal("lora" in req.body.config, false);
  assert.equal("dataset" in req.body.config, false);
});

test("undefined optional fields are absent from the job config", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  const dataset = { type: "huggingface", name: "org/ds", split: "train" };
  const tr = createTrainer(
    {
      name: "min",
      model: MODEL,
      dataset,
      lora: { r: 8, alpha: 16 },
      maxSteps: undefined,
      learningRate: undefined,
      optim: undefined,
      dryRun: undefined,
      callbacks: {},
    },
    ctx,
  );
  await tr.start();
  const [req] = mock.find("POST", "/v1/jobs");
  assert.deepEqual(req.body, {
    name: "min",
    config: { model: MODEL, datasetSource: dataset, loraR: 8, loraAlpha: 16 },
  });
  // and no explicit nulls in the raw JSON either
  assert.doesNotMatch(req.rawBody, /null/);
});

test("without lora the config holds only model and datasetSource", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  const tr = createTrainer(baseInput({ name: "bare" }), ctx);
  await tr.start();
  const [req] = mock.find("POST", "/v1/jobs");
  assert.deepEqual(req.body, {
    name: "bare",
    config: { model: MODEL, datasetSource: { type: "huggingface", name: "org/ds" } },
  });
});

test("falsy values (0, false, empty string) are kept, not dropped", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  const tr = createTrainer(
    baseInput({ warmupSteps: 0, weightDecay: 0, dryRun: false, trainOnResponsesOnly: false, optim: "" }),
    ctx,
  );
  await tr.start();
  const [req] = mock.find("POST", "/v1/jobs");
  assert.equal(req.body.config.warmupSteps, 0);
  assert.equal(req.body.config.weightDecay, 0);
  assert.equal(req.body.config.dryRun, false);
  assert.equal(req.body.config.trainOnResponsesOnly, false);
  assert.equal(req.body.config.optim, "");
});

test("start() is idempotent: same id, one request, no stream, no callbacks", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  const called = [];
  const cb = (n) => () => called.push(n);
  const tr = createTrainer(
    baseInput({
      callbacks: {
        onStarted: cb("started"),
        onLog: cb("log"),
        onCheckpoint: cb("ckpt"),
        onCompleted: cb("completed"),
        onFailed: cb("failed"),
      },
    }),
    ctx,
  );
  const a = await tr.start();
  const b = await tr.start();
  assert.deepEqual(a, { jobId: "job-1" });
  assert.deepEqual(b, { jobId: "job-1" });
  await sleep(50);
  assert.equal(mock.find("POST", "/v1/jobs").length, 1);
  assert.equal(mock.streamRequests().length, 0, "start() must not open the event stream");
  assert.deepEqual(called, []);
});

test("start() returns the job id the backend assigned", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.job = { ...mock.job, id: "job-xyz-123" };
  const tr = createTrainer(baseInput(), ctx);
  assert.deepEqual(await tr.start(), { jobId: "job-xyz-123" });
});

test("start() rejects with CloudApiError when job creation fails", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.on("POST", "/v1/jobs", { status: 400, json: { error: "invalid config: maxSteps" } });
  const tr = createTrainer(baseInput(), ctx);
  const r = await settle(tr.start());
  assert.equal(r.ok, false);
  assert.ok(r.error instanceof CloudApiError, `got ${r.error}`);
  assert.equal(r.error.status, 400);
  assert.equal(r.error.message, "invalid config: maxSteps");
});

test("wait() calls start() when needed and uses the created job's stream", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.job = { ...mock.job, id: "job-w" };
  mock.streams.push([frame(1, ev("training.completed", { jobId: "job-w", artifacts: [] }))]);
  const tr = createTrainer(baseInput(), ctx);
  const result = await settle(tr.wait());
  assert.ok(result.ok, String(result.error?.stack ?? result.error));
  assert.equal(mock.find("POST", "/v1/jobs").length, 1);
  const streams = mock.streamRequests();
  assert.equal(streams.length, 1);
  assert.equal(streams[0].path, "/v1/jobs/job-w/events/stream");
  assert.deepEqual(streams[0].query, { orgSlug: ORG, projectSlug: PROJECT });
  // start() after wait() still does not create another job
  assert.deepEqual(await tr.start(), { jobId: "job-w" });
  assert.equal(mock.find("POST", "/v1/jobs").length, 1);
});

test("cancel() before start() is a no-op without any request", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  const tr = createTrainer(baseInput(), ctx);
  assert.equal(await tr.cancel(), undefined);
  await sleep(30);
  assert.equal(mock.requests.length, 0);
});

test("cancel() after start() POSTs /v1/jobs/:id/cancel with the scope", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  const tr = createTrainer(baseInput(), ctx);
  await tr.start();
  await tr.cancel();
  const cancels = mock.find("POST", "/v1/jobs/job-1/cancel");
  assert.equal(cancels.length, 1);
  assert.deepEqual(cancels[0].query, { orgSlug: ORG, projectSlug: PROJECT });
  assert.equal(cancels[0].headers.authorization, "Bearer tok");
});

test("cancel() rejects with CloudApiError on a non-2xx answer", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.on("POST", "/v1/jobs/:id/cancel", { status: 409, json: { error: "job already finished" } });
  const tr = createTrainer(baseInput(), ctx);
  await tr.start();
  const r = await settle(tr.cancel());
  assert.equal(r.ok, false);
  assert.ok(r.error instanceof CloudApiError, `expected CloudApiError, got ${r.error}`);
  assert.ok(r.error instanceof Error);
  assert.equal(r.error.status, 409);
  assert.equal(r.error.message, "job already finished");
});

test("baseUrl falls back to the credentials' arkorCloudApiUrl", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  const { baseUrl, ...rest } = ctx;
  assert.ok(baseUrl);
  const tr = createTrainer(baseInput(), rest);
  assert.deepEqual(await tr.start(), { jobId: "job-1" });
  assert.equal(mock.find("POST", "/v1/jobs").length, 1);
});

test("context.baseUrl wins over the credentials' URL", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  const tr = createTrainer(baseInput(), {
    ...ctx,
    credentials: { ...ctx.credentials, arkorCloudApiUrl: "http://127.0.0.1:9" },
  });
  assert.deepEqual(await tr.start(), { jobId: "job-1" });
  assert.equal(mock.find("POST", "/v1/jobs").length, 1);
});

test("two trainers are independent", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  let n = 0;
  mock.on("POST", "/v1/jobs", (req, res, rec) => ({
    status: 201,
    json: { job: { ...mock.job, id: `job-${++n}`, name: rec.body.name } },
  }));
  const a = createTrainer(baseInput({ name: "a" }), ctx);
  const b = createTrainer(baseInput({ name: "b" }), ctx);
  const [ra, rb] = [await a.start(), await b.start()];
  assert.notEqual(ra.jobId, rb.jobId);
  assert.deepEqual(
    mock.find("POST", "/v1/jobs").map((r) => r.body.name),
    ["a", "b"],
  );
});

test("SUPPORTED_MODELS is frozen", () => {
  assert.ok(Object.isFrozen(SUPPORTED_MODELS));
});

test("the job row from the backend is passed through (unknown fields kept)", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.job = { ...mock.job, orgId: "org-77", projectId: "proj-77", extraField: { nested: [1, 2] }, queuePosition: 3 };
  mock.streams.push([frame(1, ev("training.started", { timestamp: "2026-02-02T00:00:00.000Z" })), frame(2, ev("training.completed"))]);
  let startedJob;
  const tr = createTrainer(baseInput({ name: "keep", callbacks: { onStarted: ({ job }) => (startedJob = job) } }), ctx);
  const r = await settle(tr.wait());
  assert.ok(r.ok, String(r.error?.stack ?? r.error));
  for (const job of [startedJob, r.value.job]) {
    assert.equal(job.orgId, "org-77");
    assert.equal(job.projectId, "proj-77");
    assert.equal(job.name, "keep");
    assert.equal(job.createdAt, "2026-01-01T00:00:00.000Z");
    assert.deepEqual(job.config, { model: MODEL, datasetSource: { type: "huggingface", name: "org/ds" } });
    assert.deepEqual(job.extraField, { nested: [1, 2] });
    assert.equal(job.queuePosition, 3);
  }
  assert.equal(startedJob.status, "running");
  assert.equal(r.value.job.status, "completed");
});

test("start() rejects (does not hang) when the backend is unreachable", async (t) => {
  const { ctx } = await setupCloud(t);
  const dead = "http://127.0.0.1:9";
  const tr = createTrainer(baseInput(), { ...ctx, baseUrl: dead, credentials: { ...ctx.credentials, arkorCloudApiUrl: dead } });
  const r = await settle(tr.start(), 10_000);
  assert.equal(r.ok, false);
  assert.ok(r.error instanceof Error, `got ${r.error}`);
  assert.doesNotMatch(String(r.error.message), /did not settle/);
});

test("start() rejects when the job answer is not JSON", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.on("POST", "/v1/jobs", { status: 201, text: "<html>proxy page</html>" });
  const tr = createTrainer(baseInput(), ctx);
  const r = await settle(tr.start());
  assert.equal(r.ok, false);
  assert.ok(r.error instanceof Error);
});

test("cancel() and start() work while wait() is streaming (no lock held across wait)", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  let release;
  const gate = new Promise((r) => (release = r));
  t.after(() => release());
  mock.streams.push([
    frame(1, ev("training.started")),
    { until: gate },
    frame(2, ev("training.failed", { error: "cancelled by user" })),
  ]);
  let started;
  const startedP = new Promise((r) => (started = r));
  const tr = createTrainer(baseInput({ callbacks: { onStarted: () => started() } }), ctx);
  const waitP = settle(tr.wait(), 10_000);
  await startedP;
  const s = await settle(tr.start(), 3000, "start() during wait()");
  assert.ok(s.ok, String(s.error));
  assert.deepEqual(s.value, { jobId: "job-1" });
  const c = await settle(tr.cancel(), 3000, "cancel() during wait()");
  assert.ok(c.ok, String(c.error));
  assert.equal(mock.find("POST", "/v1/jobs/job-1/cancel").length, 1);
  release();
  const r = await waitP;
  assert.ok(r.ok, String(r.error?.stack ?? r.error));
  assert.equal(r.value.job.status, "failed");
  assert.equal(mock.find("POST", "/v1/jobs").length, 1);
});
