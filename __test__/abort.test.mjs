// input.abortSignal: aborting mid-stream and mid-backoff rejects wait() with
// exactly `signal.reason`, promptly, closes the connection, and never sends
// a cancel request.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";

import {
  isolateEnv,
  setupCloud,
  baseInput,
  frame,
  ev,
  sleep,
  settle,
  within,
} from "./helpers/mock-cloud.mjs";

isolateEnv();
const require = createRequire(import.meta.url);
const { createTrainer } = require("../index.js");

const PROMPT_MS = 1000;

async function assertNoCancel(mock) {
  await sleep(80);
  assert.equal(
    mock.requests.filter((r) => r.path.endsWith("/cancel")).length,
    0,
    "abort must not send a cancel request",
  );
}

for (const [label, mkReason] of [
  ["default reason", () => undefined],
  ["custom reason object", () => ({ why: "user pressed ctrl-c" })],
  ["custom Error reason", () => new RangeError("stop now")],
]) {
  test(`abort mid-stream (${label}) rejects wait() with signal.reason`, async (t) => {
    const { mock, ctx } = await setupCloud(t);
    mock.streams.push([frame(1, ev("training.started")), frame(2, ev("training.log", { step: 1 })), { pingEvery: 20 }]);
    mock.streams.push([frame(3, ev("training.completed"))]); // must never be used
    const controller = new AbortController();
    let logged;
    const loggedP = new Promise((r) => (logged = r));
    const tr = createTrainer(
      baseInput({ abortSignal: controller.signal, callbacks: { onLog: () => logged() } }),
      ctx,
    );
    const waitP = settle(tr.wait(), 10_000);
    await within(loggedP, 5000, "first onLog");
    await sleep(30); // let a ping or two arrive
    const reason = mkReason();
    const t0 = performance.now();
    if (reason === undefined) controller.abort();
    else controller.abort(reason);
    const r = await waitP;
    const elapsed = performance.now() - t0;
    assert.equal(r.ok, false, "wait() must reject");
    assert.equal(r.error, controller.signal.reason, `expected signal.reason itself, got ${r.error?.stack ?? r.error}`);
    if (reason === undefined) {
      assert.equal(r.error.name, "AbortError");
    }
    assert.ok(elapsed < PROMPT_MS, `rejection took ${elapsed.toFixed(0)} ms`);
    const [s] = mock.streamRequests();
    await within(s.closedPromise, 3000, "stream connection closed");
    assert.equal(s.clientAborted, true, "the client closed the stream");
    await assertNoCancel(mock);
    assert.equal(mock.streamRequests().length, 1, "no reconnect after abort");
  });
}

test("abort on a silent (hanging) stream rejects promptly", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.streams.push([frame(1, ev("training.started")), { hang: true }]);
  const controller = new AbortController();
  const tr = createTrainer(baseInput({ abortSignal: controller.signal }), ctx);
  const waitP = settle(tr.wait(), 10_000);
  await mock.waitForRequest((q) => q.path.endsWith("/events/stream"), 5000);
  await sleep(50);
  const reason = { custom: true };
  const t0 = performance.now();
  controller.abort(reason);
  const r = await waitP;
  assert.equal(r.ok, false);
  assert.equal(r.error, reason);
  assert.ok(performance.now() - t0 < PROMPT_MS);
  await assertNoCancel(mock);
});

for (const [label, mkReason] of [
  ["default reason", () => undefined],
  ["custom reason", () => ({ stop: 1 })],
]) {
  test(`abort during the reconnect backoff (${label}) rejects wait() with signal.reason`, async (t) => {
    const { mock, ctx } = await setupCloud(t, { reconnectDelayMs: 5000, maxReconnectDelayMs: 5000 });
    mock.streams.push({ status: 503, json: { error: "down" } });
    mock.streams.push([frame(1, ev("training.completed"))]);
    const controller = new AbortController();
    const tr = createTrainer(baseInput({ abortSignal: controller.signal }), ctx);
    const waitP = settle(tr.wait(), 10_000);
    const first = await mock.waitForRequest((q) => q.path.endsWith("/events/stream"), 5000);
    await within(first.closedPromise, 3000, "503 delivered");
    await sleep(100); // now inside the ≥ 3.75 s backoff
    const reason = mkReason();
    const t0 = performance.now();
    if (reason === undefined) controller.abort();
    else controller.abort(reason);
    const r = await waitP;
    assert.equal(r.ok, false);
    assert.equal(r.error, controller.signal.reason, `got ${r.error?.stack ?? r.error}`);
    assert.ok(performance.now() - t0 < PROMPT_MS, "backoff timer must be cancelled");
    await assertNoCancel(mock);
    assert.equal(mock.streamRequests().length, 1);
  });
}

test("abort during the clean-EOF reconnect delay rejects with signal.reason", async (t) => {
  const { mock, ctx } = await setupCloud(t, { reconnectDelayMs: 5000, maxReconnectDelayMs: 5000 });
  mock.streams.push([frame(1, ev("training.started"))]); // clean EOF after progress
  const controller = new AbortController();
  let started;
  const startedP = new Promise((r) => (started = r));
  const tr = createTrainer(
    baseInput({ abortSignal: controller.signal, callbacks: { onStarted: () => started() } }),
    ctx,
  );
  const waitP = settle(tr.wait(), 10_000);
  await within(startedP, 5000, "onStarted");
  await sleep(100);
  const reason = new Error("bye");
  const t0 = performance.now();
  controller.abort(reason);
  const r = await waitP;
  assert.equal(r.ok, false);
  assert.equal(r.error, reason);
  assert.ok(performance.now() - t0 < PROMPT_MS);
  await assertNoCancel(mock);
  assert.equal(mock.streamRequests().length, 1);
});

test("a signal aborted before wait() rejects wait() with its reason", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.streams.push([frame(1, ev("training.completed"))]);
  const reason = new Error("aborted early");
  const tr = createTrainer(baseInput({ abortSignal: AbortSignal.abort(reason) }), ctx);
  const r = await settle(tr.wait(), 5000);
  assert.equal(r.ok, false, "wait() must reject");
  assert.equal(r.error, reason);
  await assertNoCancel(mock);
});

test("aborting after wait() resolved has no effect", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.streams.push([frame(1, ev("training.completed"))]);
  const controller = new AbortController();
  const tr = createTrainer(baseInput({ abortSignal: controller.signal }), ctx);
  const r = await settle(tr.wait());
  assert.ok(r.ok, String(r.error?.stack ?? r.error));
  controller.abort();
  await assertNoCancel(mock);
});

test("abort while an async callback is running rejects with signal.reason once it settles", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.streams.push([
    frame(1, ev("training.log", { step: 1 })),
    frame(2, ev("training.log", { step: 2 })),
    { pingEvery: 20 },
  ]);
  const controller = new AbortController();
  const reason = new Error("abort inside callback");
  const tr = createTrainer(
    baseInput({
      abortSignal: controller.signal,
      callbacks: {
        onLog: async (c) => {
          if (c.step === 1) {
            controller.abort(reason);
            await sleep(30);
          }
        },
      },
    }),
    ctx,
  );
  const r = await settle(tr.wait(), 5000);
  assert.equal(r.ok, false);
  assert.equal(r.error, reason);
  await assertNoCancel(mock);
  assert.equal(mock.streamRequests().length, 1);
});
