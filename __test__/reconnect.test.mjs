// SSE reconnect semantics (docs/PROTOCOL.md §4, "The event stream"):
// Last-Event-ID, pings, clean EOF vs failures, retryable / fatal statuses,
// maxReconnectAttempts accounting and exponential backoff.
//
// Attempt accounting follows upstream `handleFailure`: with
// maxReconnectAttempts = N, failures 1..N each schedule a retry and the
// (N+1)-th consecutive failure rejects wait(), i.e. N+1 connection attempts.
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
const { createTrainer, CloudApiError } = require("../index.js");

const fail = (r) => String(r.error?.stack ?? r.error);
const log = (id, step) => frame(id, ev("training.log", { step }));
const completed = (id) => frame(id, ev("training.completed", { artifacts: [{ kind: "adapter" }] }));
const ping = (id) => (id === undefined ? { event: "ping", data: "{}" } : { id: String(id), event: "ping", data: "{}" });

test("first connection sends Accept: text/event-stream and no Last-Event-ID; a reconnect sends the last id", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.streams.push([log(1, 1), log(2, 2)]); // clean EOF after parseable frames
  mock.streams.push([log(3, 3), completed(4)]);
  const steps = [];
  const tr = createTrainer(baseInput({ callbacks: { onLog: (c) => steps.push(c.step) } }), ctx);
  const r = await settle(tr.wait());
  assert.ok(r.ok, fail(r));
  const s = mock.streamRequests();
  assert.equal(s.length, 2);
  assert.match(String(s[0].headers.accept), /text\/event-stream/);
  assert.equal(s[0].headers["last-event-id"], undefined);
  assert.match(String(s[1].headers.accept), /text\/event-stream/);
  assert.equal(s[1].headers["last-event-id"], "2");
  assert.equal(s[1].headers.authorization, "Bearer tok");
  assert.deepEqual(steps, [1, 2, 3]);
  assert.deepEqual(r.value.artifacts, [{ kind: "adapter" }]);
});

test("Last-Event-ID is the id of the last frame seen, including ping and malformed frames", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.streams.push([log("a-1", 1), ping("a-2")]);
  mock.streams.push([log("b-1", 2), frame("b-2", "garbage, not json")]);
  mock.streams.push([log("c-1", 3), { data: JSON.stringify(ev("training.log", { step: 4 })) }]); // no id: keeps c-1
  mock.streams.push([completed("d-1")]);
  const tr = createTrainer(baseInput(), ctx);
  const r = await settle(tr.wait());
  assert.ok(r.ok, fail(r));
  const ids = mock.streamRequests().map((q) => q.headers["last-event-id"]);
  assert.deepEqual(ids, [undefined, "a-2", "b-2", "c-1"]);
});

test("clean EOF after a parseable frame reconnects after ~the base delay", async (t) => {
  const { mock, ctx } = await setupCloud(t, { reconnectDelayMs: 150, maxReconnectDelayMs: 5000 });
  mock.streams.push([log(1, 1)]);
  mock.streams.push([completed(2)]);
  const tr = createTrainer(baseInput(), ctx);
  const r = await settle(tr.wait());
  assert.ok(r.ok, fail(r));
  const [a, b] = mock.streamRequests();
  const gap = b.at - a.closedAt;
  assert.ok(gap >= 140, `reconnect came too early: ${gap.toFixed(1)} ms < 150 ms base delay`);
  assert.ok(gap < 1500, `reconnect came too late: ${gap.toFixed(1)} ms`);
});

test("clean EOFs after parseable frames never count toward maxReconnectAttempts", async (t) => {
  const { mock, ctx } = await setupCloud(t, { maxReconnectAttempts: 1 });
  for (let i = 1; i <= 4; i++) mock.streams.push([log(i, i)]);
  mock.streams.push([completed(9)]);
  const tr = createTrainer(baseInput(), ctx);
  const r = await settle(tr.wait());
  assert.ok(r.ok, `5 connections with progress must succeed: ${fail(r)}`);
  assert.equal(mock.streamRequests().length, 5);
});

for (const [label, script] of [
  ["EOF with no frame at all", []],
  ["only ping frames", [ping(1), ping(2)]],
  ["only malformed frames", [frame(1, "nope"), frame(2, "{broken")]],
  ["only comments", [{ comment: "hello" }]],
]) {
  test(`a stream with ${label} counts as a failure (N=2 → 3 attempts, then reject)`, async (t) => {
    const { mock, ctx } = await setupCloud(t, { maxReconnectAttempts: 2 });
    for (let i = 0; i < 6; i++) mock.streams.push(script);
    mock.streams.push([completed(9)]);
    const tr = createTrainer(baseInput(), ctx);
    const r = await settle(tr.wait());
    assert.equal(r.ok, false, "wait() must reject");
    assert.ok(r.error instanceof Error, `rejects with an Error, got ${r.error}`);
    await sleep(120);
    assert.equal(mock.streamRequests().length, 3, "exactly maxReconnectAttempts + 1 connection attempts");
  });
}

test("after maxReconnectAttempts consecutive 503s wait() rejects (N=3 → 4 attempts)", async (t) => {
  const { mock, ctx } = await setupCloud(t, { maxReconnectAttempts: 3 });
  // streams exhausted → mock answers 503 {error}
  const tr = createTrainer(baseInput(), ctx);
  const r = await settle(tr.wait());
  assert.equal(r.ok, false);
  assert.ok(r.error instanceof Error);
  await sleep(150);
  assert.equal(mock.streamRequests().length, 4);
});

test("maxReconnectAttempts: 0 rejects on the first failure", async (t) => {
  const { mock, ctx } = await setupCloud(t, { maxReconnectAttempts: 0 });
  const tr = createTrainer(baseInput(), ctx);
  const r = await settle(tr.wait());
  assert.equal(r.ok, false);
  await sleep(100);
  assert.equal(mock.streamRequests().length, 1);
});

test("retryable statuses (404, 408, 429, 500, 503) and a dropped connection are retried", async (t) => {
  const { mock, ctx } = await setupCloud(t, { maxReconnectAttempts: undefined });
  for (const status of [404, 408, 429, 500, 503]) {
    mock.streams.push({ status, json: { error: `transient ${status}` } });
  }
  mock.streams.push({ destroy: true }); // socket closed before any response
  mock.streams.push([completed(1)]);
  const tr = createTrainer(baseInput(), ctx);
  const r = await settle(tr.wait(), 15_000);
  assert.ok(r.ok, fail(r));
  assert.equal(mock.streamRequests().length, 7);
  assert.equal(r.value.job.status, "completed");
});

test("the failure counter resets on every parseable frame", async (t) => {
  const { mock, ctx } = await setupCloud(t, { maxReconnectAttempts: 2 });
  const err = { status: 500, json: { error: "boom" } };
  mock.streams.push(err, err, [log(1, 1)], err, err, [log(2, 2)], err, err, [completed(3)]);
  const steps = [];
  const tr = createTrainer(baseInput({ callbacks: { onLog: (c) => steps.push(c.step) } }), ctx);
  const r = await settle(tr.wait(), 15_000);
  assert.ok(r.ok, `counter must reset after progress: ${fail(r)}`);
  assert.equal(mock.streamRequests().length, 9);
  assert.deepEqual(steps, [1, 2]);
});

test("a ping does not reset the failure counter", async (t) => {
  const { mock, ctx } = await setupCloud(t, { maxReconnectAttempts: 2 });
  const err = { status: 500, json: { error: "boom" } };
  mock.streams.push(err, err, [ping(1)], [completed(2)]);
  const tr = createTrainer(baseInput(), ctx);
  const r = await settle(tr.wait());
  assert.equal(r.ok, false, "the 3rd consecutive failure (ping-only stream) must reject");
  await sleep(100);
  assert.equal(mock.streamRequests().length, 3);
});

test("a body error after a parseable frame is retried and resumes with Last-Event-ID", async (t) => {
  const { mock, ctx } = await setupCloud(t, { maxReconnectAttempts: 1 });
  mock.streams.push([log(7, 1), { delay: 10 }, { destroy: true }]);
  mock.streams.push([completed(8)]);
  const steps = [];
  const tr = createTrainer(baseInput({ callbacks: { onLog: (c) => steps.push(c.step) } }), ctx);
  const r = await settle(tr.wait());
  assert.ok(r.ok, fail(r));
  const s = mock.streamRequests();
  assert.equal(s.length, 2);
  assert.equal(s[1].headers["last-event-id"], "7");
  assert.deepEqual(steps, [1]);
});

for (const status of [401, 403, 410, 426]) {
  test(`${status} on connect rejects wait() at once with CloudApiError (one stream request)`, async (t) => {
    const { mock, ctx } = await setupCloud(t);
    mock.streams.push({ status, json: { error: `status ${status}` } });
    mock.streams.push([completed(1)]); // would succeed if (wrongly) retried
    const tr = createTrainer(baseInput(), ctx);
    const r = await settle(tr.wait());
    assert.equal(r.ok, false, "wait() must reject");
    assert.ok(r.error instanceof CloudApiError, `expected CloudApiError, got ${r.error?.stack ?? r.error}`);
    assert.equal(r.error.status, status);
    if (status === 426) {
      assert.match(r.error.message, /arkor/i);
      assert.match(r.error.message, /upgrade|install|update/i);
    } else {
      assert.equal(r.error.message, `status ${status}`);
    }
    await sleep(100);
    assert.equal(mock.streamRequests().length, 1);
  });
}

test("reconnect delays grow exponentially and are capped at maxReconnectDelayMs", async (t) => {
  const { mock, ctx } = await setupCloud(t, {
    reconnectDelayMs: 20,
    maxReconnectDelayMs: 80,
    maxReconnectAttempts: 7,
  });
  const tr = createTrainer(baseInput(), ctx);
  const r = await settle(tr.wait(), 15_000);
  assert.equal(r.ok, false);
  const s = mock.streamRequests();
  assert.equal(s.length, 8);
  // gap i = time from the end of attempt i to the start of attempt i+1
  const gaps = [];
  for (let i = 1; i < s.length; i++) gaps.push(s[i].at - s[i - 1].closedAt);
  const shown = gaps.map((g) => g.toFixed(0)).join(", ");
  // expected delays: 20, 40, 80, 80(160 capped), 80(320), 80(640), 80(1280); ±25% jitter
  const expected = [20, 40, 80, 80, 80, 80, 80];
  for (let i = 0; i < gaps.length; i++) {
    // timers never fire early; allow 2 ms for clock granularity
    assert.ok(gaps[i] >= expected[i] * 0.75 - 2, `gap ${i} too short (${shown})`);
  }
  // growth: the third gap is at least 60 ms where a constant 20 ms backoff would give ~20
  assert.ok(gaps[2] >= 58, `no exponential growth (${shown})`);
  // cap: uncapped gaps 4..6 would be ≥ 240, 480, 960 ms
  for (const i of [4, 5, 6]) {
    assert.ok(gaps[i] < 350, `gap ${i} not capped at ~80 ms (${shown})`);
  }
  const total = gaps.reduce((a, b) => a + b, 0);
  assert.ok(total < 2500, `total backoff too long (${shown})`);
});

test("with defaults (no maxReconnectAttempts) failures keep retrying", async (t) => {
  const { mock, ctx } = await setupCloud(t, { reconnectDelayMs: 5, maxReconnectDelayMs: 10, maxReconnectAttempts: undefined });
  const err = { status: 503, json: { error: "down" } };
  for (let i = 0; i < 12; i++) mock.streams.push(err);
  mock.streams.push([completed(1)]);
  const tr = createTrainer(baseInput(), ctx);
  const r = await settle(tr.wait(), 15_000);
  assert.ok(r.ok, fail(r));
  assert.equal(mock.streamRequests().length, 13);
});

test("the default base reconnect delay is ~1 s", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  const { reconnectDelayMs, maxReconnectDelayMs, ...defaults } = ctx;
  mock.streams.push([log(1, 1)]); // clean EOF after progress → base delay
  mock.streams.push([completed(2)]);
  const tr = createTrainer(baseInput(), defaults);
  const r = await settle(tr.wait(), 10_000);
  assert.ok(r.ok, fail(r));
  const [a, b] = mock.streamRequests();
  const gap = b.at - a.closedAt;
  assert.ok(gap >= 950 && gap < 3000, `expected ~1000 ms, got ${gap.toFixed(0)} ms`);
});
