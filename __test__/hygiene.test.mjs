// Process hygiene: a Node process using the SDK exits by itself once its
// work is done (no lingering handles from the native runtime, open streams
// or timers), with the mock server still up and even when the server keeps
// the event stream open.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import {
  isolateEnv,
  startMockCloud,
  makeProjectDir,
  makeTempHome,
  runNode,
  frame,
  ev,
  ADDON_PATH,
  MODEL,
} from "./helpers/mock-cloud.mjs";

isolateEnv();

const EXIT_WITHIN_MS = 2000;

let mock;
before(async () => {
  mock = await startMockCloud();
});
after(() => mock.close());

function script(url, body) {
  return `
import { createRequire } from "node:module";
const arkor = createRequire(${JSON.stringify(ADDON_PATH)})(${JSON.stringify(ADDON_PATH)});
const creds = { mode: "anon", token: "tok", anonymousId: "a1", arkorCloudApiUrl: ${JSON.stringify(url)}, orgSlug: "org1" };
const ctx = { baseUrl: ${JSON.stringify(url)}, credentials: creds, cwd: process.cwd(), reconnectDelayMs: 20, maxReconnectDelayMs: 80 };
const input = { name: "h", model: ${JSON.stringify(MODEL)}, dataset: { type: "huggingface", name: "x" } };
${body}
`;
}

async function runAndMeasure(body) {
  const r = await runNode(script(mock.url, body), {
    env: { HOME: makeTempHome() },
    cwd: makeProjectDir(),
    marker: "done",
    timeoutMs: 20_000,
  });
  const detail = `exit=${r.code} signal=${r.signal} timedOut=${r.timedOut}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  assert.notEqual(r.markerAt, undefined, `child never printed "done"\n${detail}`);
  assert.equal(r.timedOut, false, `child did not exit on its own\n${detail}`);
  const lag = r.exitAt - r.markerAt;
  assert.ok(lag < EXIT_WITHIN_MS, `child exited ${lag.toFixed(0)} ms after "done"\n${detail}`);
  assert.equal(r.code, 0, detail);
  return r;
}

test("exits right after wait() resolves, even if the server keeps the stream open", async () => {
  mock.streams.push([
    frame(1, ev("training.started")),
    frame(2, ev("training.log", { step: 1, loss: 1 })),
    frame(3, ev("training.completed")),
    { pingEvery: 50 }, // the server never closes this stream
  ]);
  const before = mock.streamRequests().length;
  await runAndMeasure(`
const tr = arkor.createTrainer({ ...input, callbacks: { onLog: async () => {} } }, ctx);
const r = await tr.wait();
console.log("status=" + r.job.status);
console.log("done");`);
  const s = mock.streamRequests().slice(before);
  assert.equal(s.length, 1);
  assert.equal(s[0].closed, true, "the stream connection was closed");
});

test("exits after an aborted wait()", async () => {
  mock.streams.push([frame(1, ev("training.started")), { pingEvery: 30 }]);
  const r = await runAndMeasure(`
const ac = new AbortController();
const tr = arkor.createTrainer({ ...input, abortSignal: ac.signal, callbacks: { onStarted: () => setTimeout(() => ac.abort(), 50) } }, ctx);
try { await tr.wait(); console.log("unexpected resolve"); } catch (e) { console.log("rejected:" + (e === ac.signal.reason)); }
console.log("done");`);
  assert.match(r.stdout, /^rejected:true$/m, "wait() rejects with the signal's reason");
});

test("exits after an abort during the reconnect backoff", async () => {
  mock.streams.push({ status: 503, json: { error: "down" } });
  const r = await runAndMeasure(`
const ac = new AbortController();
const tr = arkor.createTrainer({ ...input, abortSignal: ac.signal }, { ...ctx, reconnectDelayMs: 10_000, maxReconnectDelayMs: 10_000 });
setTimeout(() => ac.abort(), 300);
try { await tr.wait(); console.log("unexpected resolve"); } catch (e) { console.log("rejected:" + (e === ac.signal.reason)); }
console.log("done");`);
  assert.match(r.stdout, /^rejected:true$/m, "wait() rejects with the signal's reason during the backoff");
});

test("exits after a callback throws, with the stream still open server-side", async () => {
  mock.streams.push([
    frame(1, ev("training.started")),
    frame(2, ev("training.log", { step: 1 })),
    { pingEvery: 30 },
  ]);
  const r = await runAndMeasure(`
const boom = new Error("boom");
const tr = arkor.createTrainer({ ...input, callbacks: { onLog: () => { throw boom; } } }, ctx);
try { await tr.wait(); } catch (e) { console.log("same:" + (e === boom)); }
console.log("done");`);
  assert.match(r.stdout, /same:true/);
});

test("exits after a rejected wait() (max reconnect attempts)", async () => {
  const r = await runAndMeasure(`
const tr = arkor.createTrainer(input, { ...ctx, maxReconnectAttempts: 1 });
try { await tr.wait(); console.log("unexpected resolve"); } catch (e) { console.log("rejected"); }
console.log("done");`);
  assert.match(r.stdout, /^rejected$/m, "wait() rejects once its reconnect attempts are spent");
});

test("exits when a trainer is only created, or only started", async () => {
  await runAndMeasure(`
arkor.createTrainer(input, ctx);
const tr = arkor.createTrainer(input, ctx);
await tr.start();
console.log("done");`);
});

test("exits after infer() streamed a response inside onCheckpoint", async () => {
  mock.streams.push([
    frame(1, ev("checkpoint.saved", { step: 1 })),
    frame(2, ev("training.completed")),
  ]);
  const r = await runAndMeasure(`
const tr = arkor.createTrainer({ ...input, callbacks: { onCheckpoint: async ({ infer }) => {
  const res = await infer({ messages: [{ role: "user", content: "hi" }], stream: false });
  console.log("answer=" + (await res.json()).content);
} } }, ctx);
await tr.wait();
console.log("done");`);
  assert.match(r.stdout, /^answer=hello$/m, "infer() answered inside onCheckpoint");
});

test("exits when a streaming infer() body is left unread", async () => {
  mock.on("POST", "/v1/inference/chat", async (req, res, rec) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write('data: {"choices":[{"delta":{"content":"a"}}]}\n\n');
    await rec.closedPromise; // never ends on its own
  });
  mock.streams.push([
    frame(1, ev("checkpoint.saved", { step: 1 })),
    frame(2, ev("training.completed")),
  ]);
  try {
    const r = await runAndMeasure(`
const ac = new AbortController();
const tr = arkor.createTrainer({ ...input, callbacks: { onCheckpoint: async ({ infer }) => {
  const res = await infer({ messages: [{ role: "user", content: "hi" }], signal: ac.signal });
  const reader = res.body.getReader();
  const first = await reader.read();
  console.log("first=" + new TextDecoder().decode(first.value).trim());
  ac.abort();
} } }, ctx);
await tr.wait();
console.log("done");`);
    assert.match(r.stdout, /^first=data: \{"choices"/m, "the streamed body's first chunk was read");
  } finally {
    mock.on("POST", "/v1/inference/chat", () => ({ status: 200, json: { content: "x", choices: [] } }));
  }
});
