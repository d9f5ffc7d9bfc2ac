// Event-stream faults the native SDK survives where upstream hangs or gives
// a bare error: a silent connection (open, no bytes, no pings) is dropped
// after `streamIdleTimeoutMs` and resumed with Last-Event-ID; giving up after
// `maxReconnectAttempts` rejects with upstream's message and the last
// failure as `cause`, built as upstream builds it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import net from "node:net";

import { isolateEnv, setupCloud, baseInput, frame, ev, settle } from "./helpers/mock-cloud.mjs";

isolateEnv();
const require = createRequire(import.meta.url);
const { createTrainer, CloudApiError } = require("../index.js");

const fail = (r) => String(r.error?.stack ?? r.error);
const log = (id, step) => frame(id, ev("training.log", { step }));
const completed = (id) => frame(id, ev("training.completed", { artifacts: [] }));

test("a silent connection is dropped after streamIdleTimeoutMs and the run completes", async (t) => {
  const { mock, ctx } = await setupCloud(t, { streamIdleTimeoutMs: 300 });
  mock.streams.push([log(1, 1), { hang: true }]); // open, then not a byte
  mock.streams.push([log(2, 2), completed(3)]);
  const steps = [];
  const tr = createTrainer(baseInput({ callbacks: { onLog: (c) => steps.push(c.step) } }), ctx);
  const started = Date.now();
  const r = await settle(tr.wait(), 10_000);
  assert.ok(r.ok, fail(r));
  assert.deepEqual(steps, [1, 2]);
  const s = mock.streamRequests();
  assert.equal(s.length, 2);
  assert.equal(s[1].headers["last-event-id"], "1");
  assert.ok(Date.now() - started >= 290, "not dropped before the idle timeout");
  assert.equal(r.value.job.status, "completed");
});

test("pings keep a quiet connection alive: no reconnect while they come", async (t) => {
  const { mock, ctx } = await setupCloud(t, { streamIdleTimeoutMs: 400 });
  const pings = Array.from({ length: 6 }, (_, i) => [{ delay: 150 }, { event: "ping", data: "{}" }]).flat();
  mock.streams.push([log(1, 1), ...pings, completed(2)]);
  const tr = createTrainer(baseInput(), ctx);
  const r = await settle(tr.wait(), 10_000);
  assert.ok(r.ok, fail(r));
  assert.equal(mock.streamRequests().length, 1);
});

test("a silent connection counts as a failure toward maxReconnectAttempts", async (t) => {
  const { mock, ctx } = await setupCloud(t, { streamIdleTimeoutMs: 150, maxReconnectAttempts: 1 });
  mock.streams.push([{ hang: true }], [{ hang: true }], [completed(1)]);
  const tr = createTrainer(baseInput(), ctx);
  const r = await settle(tr.wait(), 10_000);
  assert.equal(r.ok, false);
  assert.equal(r.error.message, "Trainer SSE stream failed 2 consecutive times; giving up.");
  assert.ok(r.error.cause instanceof Error);
  assert.match(r.error.cause.message, /no data .* for 0\.15s/);
  assert.equal(mock.streamRequests().length, 2);
});

test("giving up after non-2xx answers: cause is the last CloudApiError", async (t) => {
  const { mock, ctx } = await setupCloud(t, { maxReconnectAttempts: 2 });
  mock.streams.push({ status: 503, json: { error: "first" } }, { status: 502, json: { error: "second" } }, { status: 500, json: { error: "third" } });
  const tr = createTrainer(baseInput(), ctx);
  const r = await settle(tr.wait());
  assert.equal(r.ok, false);
  assert.equal(r.error.constructor, Error);
  assert.equal(r.error.message, "Trainer SSE stream failed 3 consecutive times; giving up.");
  assert.ok(r.error.cause instanceof CloudApiError, `cause: ${r.error.cause}`);
  assert.equal(r.error.cause.status, 500);
  assert.equal(r.error.cause.message, "third");
});

test("giving up after a stream that made no progress: upstream's error as cause", async (t) => {
  const { mock, ctx } = await setupCloud(t, { maxReconnectAttempts: 1 });
  mock.streams.push([{ event: "ping", data: "{}" }], [frame(1, "not json")]);
  const tr = createTrainer(baseInput(), ctx);
  const r = await settle(tr.wait());
  assert.equal(r.ok, false);
  assert.equal(r.error.message, "Trainer SSE stream failed 2 consecutive times; giving up.");
  assert.equal(r.error.cause.constructor, Error);
  assert.equal(r.error.cause.message, "SSE stream closed without emitting any frame");
});

test("giving up after connect failures: cause is a TypeError('fetch failed') with the transport error beneath", async (t) => {
  // A port that refuses: bind, read the port, close.
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  const { mock, ctx } = await setupCloud(t, { maxReconnectAttempts: 1 });
  // The job is created on the mock; its stream lives on the dead port.
  const tr = createTrainer(baseInput(), ctx);
  await tr.start();
  mock.streamFallback = { status: 307, headers: { location: `http://127.0.0.1:${port}/gone` } };
  const r = await settle(tr.wait());
  assert.equal(r.ok, false);
  assert.equal(r.error.message, "Trainer SSE stream failed 2 consecutive times; giving up.");
  assert.ok(r.error.cause instanceof TypeError, `cause: ${r.error.cause?.stack}`);
  assert.equal(r.error.cause.message, "fetch failed");
  assert.ok(r.error.cause.cause instanceof Error);
  assert.match(r.error.cause.cause.message, /Connection refused/);
});

test("frames whose data is JSON but not an object are skipped, and count as progress", async (t) => {
  const { mock, ctx } = await setupCloud(t, { maxReconnectAttempts: 0 });
  mock.streams.push([frame(1, "null"), frame(2, "42"), frame(3, '"s"'), log(4, 4)]);
  mock.streams.push([completed(5)]);
  const steps = [];
  const tr = createTrainer(baseInput({ callbacks: { onLog: (c) => steps.push(c.step) } }), ctx);
  const r = await settle(tr.wait());
  assert.ok(r.ok, fail(r));
  assert.deepEqual(steps, [4]);
});
