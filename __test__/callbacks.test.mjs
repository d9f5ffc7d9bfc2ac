// Trainer callbacks dispatched from the SSE event stream, wait() results,
// ordering / awaiting of async callbacks, and callback error propagation.
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
} from "./helpers/mock-cloud.mjs";

isolateEnv();
const require = createRequire(import.meta.url);
const { createTrainer } = require("../index.js");

const T0 = "2026-01-01T00:00:01.000Z";
const T1 = "2026-01-01T00:00:02.000Z";
const T2 = "2026-01-01T00:00:09.000Z";

function completedScript(extra = []) {
  return [
    frame(1, ev("training.started", { timestamp: T0 })),
    ...extra,
    frame(99, ev("training.completed", { timestamp: T2, metrics: { loss: 0.1 }, artifacts: [{ kind: "adapter", path: "final" }] })),
  ];
}

test("all five callbacks fire in order with the documented contexts", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.streams.push([
    frame(1, ev("training.started", { timestamp: T0 })),
    frame(2, ev("training.log", { timestamp: T1, step: 1, loss: 2.5, evalLoss: 2.7, learningRate: 1e-4, epoch: 0.5, samplesPerSecond: 12.5 })),
    frame(3, ev("checkpoint.saved", { step: 1, artifacts: [{ kind: "checkpoint", step: 1 }] })),
    frame(4, ev("training.completed", { timestamp: T2, metrics: { trainLoss: 1 }, artifacts: [{ kind: "adapter", path: "out" }] })),
  ]);
  const calls = [];
  const tr = createTrainer(
    baseInput({
      callbacks: {
        onStarted: (c) => calls.push(["started", c]),
        onLog: (c) => calls.push(["log", c]),
        onCheckpoint: (c) => calls.push(["checkpoint", c]),
        onCompleted: (c) => calls.push(["completed", c]),
        onFailed: (c) => calls.push(["failed", c]),
      },
    }),
    ctx,
  );
  const r = await settle(tr.wait());
  assert.ok(r.ok, String(r.error?.stack ?? r.error));
  assert.deepEqual(calls.map((c) => c[0]), ["started", "log", "checkpoint", "completed"]);

  const started = calls[0][1];
  assert.deepEqual(Object.keys(started).sort(), ["job"]);
  assert.equal(started.job.id, "job-1");
  assert.equal(started.job.status, "running");
  assert.equal(started.job.startedAt, T0);
  assert.equal(started.job.name, "run");

  const log = calls[1][1];
  assert.equal(log.step, 1);
  assert.equal(log.loss, 2.5);
  assert.equal(log.evalLoss, 2.7);
  assert.equal(log.learningRate, 1e-4);
  assert.equal(log.epoch, 0.5);
  assert.equal(log.samplesPerSecond, 12.5);
  assert.equal(log.job.id, "job-1");
  assert.equal(log.job.status, "running");

  const ck = calls[2][1];
  assert.equal(ck.step, 1);
  assert.deepEqual(ck.adapter, { kind: "checkpoint", jobId: "job-1", step: 1 });
  assert.equal(ck.job.id, "job-1");
  assert.equal(typeof ck.infer, "function");
  assert.deepEqual(ck.artifacts, [{ kind: "checkpoint", step: 1 }]);

  const done = calls[3][1];
  assert.equal(done.job.status, "completed");
  assert.equal(done.job.id, "job-1");
  assert.deepEqual(done.artifacts, [{ kind: "adapter", path: "out" }]);

  assert.equal(r.value.job.status, "completed");
  assert.equal(r.value.job.id, "job-1");
  assert.equal(r.value.job.startedAt, T0);
  assert.deepEqual(r.value.artifacts, [{ kind: "adapter", path: "out" }]);
  assert.equal(mock.streamRequests().length, 1);
});

test("training.log metrics that are absent (or null) become null", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.streams.push(
    completedScript([
      frame(2, ev("training.log", { step: 3 })),
      frame(3, ev("training.log", { step: 4, loss: null, evalLoss: 0.5, learningRate: null })),
      frame(4, ev("training.log", { step: 5, loss: 0 })),
    ]),
  );
  const logs = [];
  const tr = createTrainer(baseInput({ callbacks: { onLog: (c) => logs.push(c) } }), ctx);
  const r = await settle(tr.wait());
  assert.ok(r.ok, String(r.error?.stack ?? r.error));
  assert.equal(logs.length, 3);
  const pick = ({ step, loss, evalLoss, learningRate, epoch, samplesPerSecond }) => ({
    step, loss, evalLoss, learningRate, epoch, samplesPerSecond,
  });
  assert.deepEqual(pick(logs[0]), { step: 3, loss: null, evalLoss: null, learningRate: null, epoch: null, samplesPerSecond: null });
  assert.deepEqual(pick(logs[1]), { step: 4, loss: null, evalLoss: 0.5, learningRate: null, epoch: null, samplesPerSecond: null });
  assert.deepEqual(pick(logs[2]), { step: 5, loss: 0, evalLoss: null, learningRate: null, epoch: null, samplesPerSecond: null });
  for (const l of logs) assert.equal(l.job.id, "job-1");
});

test("training.completed without artifacts yields artifacts: []", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.streams.push([frame(1, ev("training.completed"))]);
  let seen;
  const tr = createTrainer(baseInput({ callbacks: { onCompleted: (c) => (seen = c) } }), ctx);
  const r = await settle(tr.wait());
  assert.ok(r.ok, String(r.error?.stack ?? r.error));
  assert.deepEqual(seen.artifacts, []);
  assert.deepEqual(r.value.artifacts, []);
  assert.equal(r.value.job.status, "completed");
});

test("training.failed calls onFailed and wait() RESOLVES with status failed", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.streams.push([
    frame(1, ev("training.started")),
    frame(2, ev("training.failed", { error: "CUDA out of memory", step: 7, timestamp: T2 })),
  ]);
  const calls = [];
  const tr = createTrainer(
    baseInput({
      callbacks: {
        onFailed: (c) => calls.push(["failed", c]),
        onCompleted: (c) => calls.push(["completed", c]),
      },
    }),
    ctx,
  );
  const r = await settle(tr.wait());
  assert.ok(r.ok, `wait() must resolve on training.failed, got ${r.error}`);
  assert.deepEqual(calls.map((c) => c[0]), ["failed"]);
  const f = calls[0][1];
  assert.equal(f.error, "CUDA out of memory");
  assert.equal(f.job.status, "failed");
  assert.equal(f.job.error, "CUDA out of memory");
  assert.equal(r.value.job.status, "failed");
  assert.equal(r.value.job.error, "CUDA out of memory");
  assert.deepEqual(r.value.artifacts, []);
  assert.equal(mock.streamRequests().length, 1, "terminal event: no reconnect");
});

test("an `event: end` frame resolves wait() without further reconnects", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.streams.push([
    frame(1, ev("training.started")),
    { event: "end", data: "{}" },
    frame(3, ev("training.log", { step: 1 })),
  ]);
  const logs = [];
  const tr = createTrainer(baseInput({ callbacks: { onLog: (c) => logs.push(c) } }), ctx);
  const r = await settle(tr.wait());
  assert.ok(r.ok, String(r.error?.stack ?? r.error));
  assert.equal(r.value.job.id, "job-1");
  assert.deepEqual(r.value.artifacts, []);
  assert.equal(logs.length, 0, "nothing after `end` is dispatched");
  await sleep(60);
  assert.equal(mock.streamRequests().length, 1);
});

test("async callbacks are awaited before the next event (no overlap, order kept)", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.streams.push(
    completedScript([
      frame(2, ev("training.log", { step: 1 })),
      frame(3, ev("training.log", { step: 2 })),
      frame(4, ev("checkpoint.saved", { step: 2 })),
      frame(5, ev("training.log", { step: 3 })),
    ]),
  );
  const trace = [];
  let active = 0;
  let maxActive = 0;
  const slow = (name) => async (c) => {
    const label = c.step !== undefined ? `${name}${c.step}` : name;
    active++;
    maxActive = Math.max(maxActive, active);
    trace.push(`enter:${label}`);
    await sleep(25);
    trace.push(`exit:${label}`);
    active--;
  };
  const tr = createTrainer(
    baseInput({
      callbacks: {
        onStarted: slow("started"),
        onLog: slow("log"),
        onCheckpoint: slow("ckpt"),
        onCompleted: slow("completed"),
      },
    }),
    ctx,
  );
  const r = await settle(tr.wait());
  assert.ok(r.ok, String(r.error?.stack ?? r.error));
  assert.equal(maxActive, 1, `callbacks overlapped: ${trace.join(" ")}`);
  assert.deepEqual(trace, [
    "enter:started", "exit:started",
    "enter:log1", "exit:log1",
    "enter:log2", "exit:log2",
    "enter:ckpt2", "exit:ckpt2",
    "enter:log3", "exit:log3",
    "enter:completed", "exit:completed",
  ]);
});

test("wait() does not resolve before an async onCompleted settles", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.streams.push([frame(1, ev("training.completed"))]);
  let finished = false;
  const tr = createTrainer(
    baseInput({
      callbacks: {
        onCompleted: async () => {
          await sleep(60);
          finished = true;
        },
      },
    }),
    ctx,
  );
  const r = await settle(tr.wait());
  assert.ok(r.ok, String(r.error?.stack ?? r.error));
  assert.equal(finished, true);
});

for (const [label, mk] of [
  ["a throwing sync onLog", (err) => ({ onLog: () => { throw err; } })],
  ["a rejecting async onLog", (err) => ({ onLog: async () => { await sleep(5); throw err; } })],
]) {
  test(`${label} rejects wait() with that very error, no reconnect, onFailed not called`, async (t) => {
    const { mock, ctx } = await setupCloud(t);
    mock.streams.push(
      completedScript([
        frame(2, ev("training.log", { step: 1 })),
        frame(3, ev("training.log", { step: 2 })),
      ]),
    );
    // if the client (wrongly) reconnects it gets a stream that would complete
    mock.streams.push(completedScript());
    const thrown = new Error("user callback exploded");
    const after = [];
    const tr = createTrainer(
      baseInput({
        callbacks: {
          ...mk(thrown),
          onFailed: () => after.push("failed"),
          onCompleted: () => after.push("completed"),
        },
      }),
      ctx,
    );
    const r = await settle(tr.wait());
    assert.equal(r.ok, false, "wait() must reject");
    assert.equal(r.error, thrown, `expected the thrown object itself, got ${r.error?.stack ?? r.error}`);
    await sleep(100); // several reconnect delays (20 ms)
    assert.equal(mock.streamRequests().length, 1, "no reconnect after a callback error");
    assert.deepEqual(after, [], "no further callbacks after the error");
  });
}

test("a throwing onCheckpoint / onCompleted / onStarted rejects wait() with the same object", async (t) => {
  for (const which of ["onStarted", "onCheckpoint", "onCompleted"]) {
    const { mock, ctx } = await setupCloud(t);
    mock.streams.push(completedScript([frame(2, ev("checkpoint.saved", { step: 1 }))]));
    mock.streams.push(completedScript());
    const thrown = new TypeError(`${which} failed`);
    const tr = createTrainer(
      baseInput({ callbacks: { [which]: async () => { throw thrown; } } }),
      ctx,
    );
    const r = await settle(tr.wait());
    assert.equal(r.ok, false, `${which}: wait() must reject`);
    assert.equal(r.error, thrown, `${which}: got ${r.error?.stack ?? r.error}`);
    await sleep(60);
    assert.equal(mock.streamRequests().length, 1, `${which}: no reconnect`);
  }
});

test("a non-Error thrown value is propagated as-is", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.streams.push(completedScript([frame(2, ev("training.log", { step: 1 }))]));
  const thrown = { code: "CUSTOM", detail: [1, 2, 3] };
  const tr = createTrainer(
    baseInput({ callbacks: { onLog: () => { throw thrown; } } }),
    ctx,
  );
  const r = await settle(tr.wait());
  assert.equal(r.ok, false);
  assert.equal(r.error, thrown);
});

test("a throwing onFailed rejects wait() with that error", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.streams.push([frame(1, ev("training.failed", { error: "x" }))]);
  const thrown = new Error("onFailed blew up");
  const tr = createTrainer(
    baseInput({ callbacks: { onFailed: () => { throw thrown; } } }),
    ctx,
  );
  const r = await settle(tr.wait());
  assert.equal(r.ok, false);
  assert.equal(r.error, thrown);
});

test("unknown event types and non-JSON data frames are skipped", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.streams.push([
    frame(1, ev("training.started")),
    frame(2, ev("training.something_new", { foo: 1 })),
    frame(3, "this is not json"),
    frame(4, "{\"type\": \"training.log\", broken"),
    { comment: "just a comment" },
    frame(5, ev("training.log", { step: 9, loss: 1.5 })),
    frame(6, ev("training.completed")),
  ]);
  const calls = [];
  const tr = createTrainer(
    baseInput({
      callbacks: {
        onStarted: () => calls.push("started"),
        onLog: (c) => calls.push(`log${c.step}`),
        onCheckpoint: () => calls.push("ckpt"),
        onCompleted: () => calls.push("completed"),
        onFailed: () => calls.push("failed"),
      },
    }),
    ctx,
  );
  const r = await settle(tr.wait());
  assert.ok(r.ok, String(r.error?.stack ?? r.error));
  assert.deepEqual(calls, ["started", "log9", "completed"]);
  assert.equal(mock.streamRequests().length, 1, "skipping must not cause a reconnect");
});

test("wait() works with no callbacks at all", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.streams.push(
    completedScript([
      frame(2, ev("training.log", { step: 1 })),
      frame(3, ev("checkpoint.saved", { step: 1 })),
    ]),
  );
  const tr = createTrainer(baseInput(), ctx);
  const r = await settle(tr.wait());
  assert.ok(r.ok, String(r.error?.stack ?? r.error));
  assert.equal(r.value.job.status, "completed");
  assert.deepEqual(r.value.artifacts, [{ kind: "adapter", path: "final" }]);
});

test("wait() works with a partial callbacks object", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.streams.push(completedScript([frame(2, ev("training.log", { step: 1 }))]));
  const steps = [];
  const tr = createTrainer(baseInput({ callbacks: { onLog: (c) => steps.push(c.step) } }), ctx);
  const r = await settle(tr.wait());
  assert.ok(r.ok, String(r.error?.stack ?? r.error));
  assert.deepEqual(steps, [1]);
});

test("callbacks run on the JS thread in event order even when frames arrive in one chunk", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  const frames = [];
  for (let i = 1; i <= 50; i++) frames.push(`id: ${i}\ndata: ${JSON.stringify(ev("training.log", { step: i }))}\n\n`);
  frames.push(`id: 51\ndata: ${JSON.stringify(ev("training.completed"))}\n\n`);
  mock.streams.push([{ raw: frames.join("") }]);
  const steps = [];
  const tr = createTrainer(baseInput({ callbacks: { onLog: (c) => steps.push(c.step) } }), ctx);
  const r = await settle(tr.wait());
  assert.ok(r.ok, String(r.error?.stack ?? r.error));
  assert.deepEqual(steps, Array.from({ length: 50 }, (_, i) => i + 1));
});

test("frames split across TCP writes and CRLF line endings are parsed", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  const log = JSON.stringify(ev("training.log", { step: 4, loss: 0.25 }));
  const done = JSON.stringify(ev("training.completed"));
  mock.streams.push([
    { raw: `id: 1\r\ndata: ${log.slice(0, 10)}` },
    { delay: 20 },
    { raw: `${log.slice(10)}\r\n\r\n` },
    { raw: `id: 2\ndata: ${done}\n\n` },
  ]);
  const logs = [];
  const tr = createTrainer(baseInput({ callbacks: { onLog: (c) => logs.push(c) } }), ctx);
  const r = await settle(tr.wait());
  assert.ok(r.ok, String(r.error?.stack ?? r.error));
  assert.equal(logs.length, 1);
  assert.equal(logs[0].step, 4);
  assert.equal(logs[0].loss, 0.25);
});

test("the job passed to onCompleted carries completedAt from the event", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.streams.push([frame(1, ev("training.started", { timestamp: T0 })), frame(2, ev("training.completed", { timestamp: T2 }))]);
  let job;
  const tr = createTrainer(baseInput({ callbacks: { onCompleted: (c) => (job = c.job) } }), ctx);
  const r = await settle(tr.wait());
  assert.ok(r.ok, String(r.error?.stack ?? r.error));
  assert.equal(job.completedAt, T2);
  assert.equal(job.startedAt, T0);
});

test("multi-line data fields are joined and multi-byte UTF-8 split across writes is decoded", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  const pretty = JSON.stringify(ev("training.started"), null, 2); // several `data:` lines
  const log = Buffer.from(`id: 2\ndata: ${JSON.stringify(ev("training.log", { step: 1, note: "ünïcödé ✓ 🚀" }))}\n\n`);
  const cut = log.indexOf(Buffer.from("🚀")) + 2; // in the middle of the 4-byte emoji
  mock.streams.push([
    { id: "1", data: pretty },
    { raw: log.subarray(0, cut) },
    { delay: 20 },
    { raw: log.subarray(cut) },
    frame(3, ev("training.completed")),
  ]);
  const seen = [];
  const tr = createTrainer(
    baseInput({ callbacks: { onStarted: () => seen.push("started"), onLog: (c) => seen.push(`log${c.step}`) } }),
    ctx,
  );
  const r = await settle(tr.wait());
  assert.ok(r.ok, String(r.error?.stack ?? r.error));
  assert.deepEqual(seen, ["started", "log1"]);
});

test("a very large frame is handled", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.streams.push([
    frame(1, ev("training.log", { step: 1, blob: "x".repeat(300_000) })),
    frame(2, ev("training.completed", { artifacts: [{ big: "y".repeat(100_000) }] })),
  ]);
  const steps = [];
  const tr = createTrainer(baseInput({ callbacks: { onLog: (c) => steps.push(c.step) } }), ctx);
  const r = await settle(tr.wait());
  assert.ok(r.ok, String(r.error?.stack ?? r.error));
  assert.deepEqual(steps, [1]);
  assert.equal(r.value.artifacts[0].big.length, 100_000);
});

test("two trainers can wait() concurrently with their own callbacks", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  let n = 0;
  mock.on("POST", "/v1/jobs", (req, res, rec) => ({
    status: 201,
    json: { job: { ...mock.job, id: `job-${String.fromCharCode(97 + n++)}`, name: rec.body.name } },
  }));
  mock.on("GET", "/v1/jobs/:id/events/stream", (req, res, rec) => ({
    sse: [
      frame(1, ev("training.log", { jobId: rec.params.id, step: 1 })),
      { delay: 30 },
      frame(2, ev("training.log", { jobId: rec.params.id, step: 2 })),
      frame(3, ev("training.completed", { jobId: rec.params.id, artifacts: [rec.params.id] })),
    ],
  }));
  const logs = { a: [], b: [] };
  const mk = (k) =>
    createTrainer(
      baseInput({
        name: k,
        callbacks: {
          onLog: async (c) => {
            await sleep(5);
            logs[k].push(`${c.job.id}:${c.step}`);
          },
        },
      }),
      ctx,
    );
  const a = mk("a");
  const b = mk("b");
  await a.start(); // job-a
  await b.start(); // job-b
  const [ra, rb] = await Promise.all([settle(a.wait()), settle(b.wait())]);
  assert.ok(ra.ok && rb.ok, String(ra.error ?? rb.error));
  assert.deepEqual(ra.value.artifacts, ["job-a"]);
  assert.deepEqual(rb.value.artifacts, ["job-b"]);
  assert.deepEqual(logs.a, ["job-a:1", "job-a:2"]);
  assert.deepEqual(logs.b, ["job-b:1", "job-b:2"]);
});

test("infer() kept from onCheckpoint still works after wait() resolved", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.streams.push([frame(1, ev("checkpoint.saved", { step: 4 })), frame(2, ev("training.completed"))]);
  let kept;
  const tr = createTrainer(baseInput({ callbacks: { onCheckpoint: ({ infer }) => { kept = infer; } } }), ctx);
  const r = await settle(tr.wait());
  assert.ok(r.ok, String(r.error?.stack ?? r.error));
  const res = await kept({ messages: [{ role: "user", content: "later" }], stream: false });
  assert.ok(res instanceof Response);
  assert.equal((await res.json()).choices[0].message.content, "hello");
  const [req] = mock.find("POST", "/v1/inference/chat");
  assert.deepEqual(req.body.adapter, { kind: "checkpoint", jobId: "job-1", step: 4 });
});
