// infer() handed to onCheckpoint: request shape, raw WHATWG Response,
// true streaming (no buffering), AbortSignal, no memoisation, errors.
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
  within,
  ORG,
  PROJECT,
} from "./helpers/mock-cloud.mjs";

isolateEnv();
const require = createRequire(import.meta.url);
const { createTrainer, CloudApiError } = require("../index.js");

const MESSAGES = [
  { role: "system", content: "be brief" },
  { role: "user", content: "hi" },
];

function ckptScript(step = 10) {
  return [
    frame(1, ev("training.started")),
    frame(2, ev("checkpoint.saved", { step, artifacts: [] })),
    frame(3, ev("training.completed")),
  ];
}

/** Run a trainer whose onCheckpoint runs `body(ctx)`; returns wait()'s settle. */
async function withCheckpoint(ctx, mock, body, step = 10) {
  mock.streams.push(ckptScript(step));
  let ran = false;
  const tr = createTrainer(
    baseInput({
      callbacks: {
        onCheckpoint: async (c) => {
          ran = true;
          await body(c);
        },
      },
    }),
    ctx,
  );
  const r = await settle(tr.wait(), 15_000, "wait()");
  if (r.ok) assert.ok(ran, "onCheckpoint ran");
  return r;
}

const fail = (r) => String(r.error?.stack ?? r.error);

/**
 * `err` is an AbortError or the signal's own reason, and the mock server saw
 * the client drop its one inference request.
 */
async function assertAbortedRequest(err, controller, mock) {
  assert.ok(
    err.name === "AbortError" || err === controller.signal.reason,
    `expected an AbortError, got ${err?.name}: ${err?.message}`,
  );
  const [req] = mock.find("POST", "/v1/inference/chat");
  await within(req.closedPromise, 3000, "server-side close");
  assert.equal(req.clientAborted, true);
}

test("infer() POSTs /v1/inference/chat with the scope and the full body; resolves a Response", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  const tools = [{ type: "function", function: { name: "get_weather", description: "w", parameters: { type: "object", properties: { city: { type: "string" } } } } }];
  const responseFormat = { type: "json_schema", json_schema: { name: "x", schema: { type: "object" } } };
  const structuredOutputs = { choice: ["yes", "no"] };
  let res;
  let json;
  const r = await withCheckpoint(ctx, mock, async ({ infer }) => {
    res = await infer({
      messages: MESSAGES,
      temperature: 0.7,
      topP: 0.9,
      maxTokens: 64,
      stream: false,
      tools,
      toolChoice: "auto",
      responseFormat,
      structuredOutputs,
    });
    json = await res.json();
  }, 10);
  assert.ok(r.ok, fail(r));
  assert.ok(res instanceof Response, "infer() must resolve a real Response");
  assert.equal(res.status, 200);
  assert.equal(res.ok, true);
  assert.equal(json.choices[0].message.content, "hello");
  const reqs = mock.find("POST", "/v1/inference/chat");
  assert.equal(reqs.length, 1);
  const req = reqs[0];
  assert.deepEqual(req.query, { orgSlug: ORG, projectSlug: PROJECT });
  assert.equal(req.headers.authorization, "Bearer tok");
  assert.match(String(req.headers["content-type"]), /application\/json/);
  assert.match(String(req.headers["x-arkor-client"]), /^arkor\/\S+$/);
  assert.deepEqual(req.body, {
    messages: MESSAGES,
    adapter: { kind: "checkpoint", jobId: "job-1", step: 10 },
    temperature: 0.7,
    topP: 0.9,
    maxTokens: 64,
    stream: false,
    tools,
    toolChoice: "auto",
    responseFormat,
    structuredOutputs,
  });
});

test("infer() defaults stream to true and omits undefined fields", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  const r = await withCheckpoint(ctx, mock, async ({ infer }) => {
    const res = await infer({ messages: MESSAGES, temperature: undefined });
    await res.text();
  }, 3);
  assert.ok(r.ok, fail(r));
  const [req] = mock.find("POST", "/v1/inference/chat");
  assert.deepEqual(req.body, {
    messages: MESSAGES,
    adapter: { kind: "checkpoint", jobId: "job-1", step: 3 },
    stream: true,
  });
});

test("infer() Response supports .text() and headers", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.on("POST", "/v1/inference/chat", {
    status: 200,
    headers: { "content-type": "text/plain; charset=utf-8", "x-custom": "yes" },
    text: "plain answer ✓",
  });
  let text;
  let res;
  const r = await withCheckpoint(ctx, mock, async ({ infer }) => {
    res = await infer({ messages: MESSAGES, stream: false });
    text = await res.text();
  });
  assert.ok(r.ok, fail(r));
  assert.equal(text, "plain answer ✓");
  assert.equal(res.headers.get("x-custom"), "yes");
  assert.match(res.headers.get("content-type"), /text\/plain/);
});

test("infer() streams: chunk 1 is readable before the server sends chunk 2", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  let release;
  const gate = new Promise((r) => (release = r));
  t.after(() => release());
  const chunk1 = `data: ${JSON.stringify({ choices: [{ delta: { content: "Hel" } }] })}\n\n`;
  const chunk2 = `data: ${JSON.stringify({ choices: [{ delta: { content: "lo" } }] })}\n\ndata: [DONE]\n\n`;
  let chunk2Sent = false;
  mock.on("POST", "/v1/inference/chat", async (req, res, rec) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write(chunk1);
    await Promise.race([gate, rec.closedPromise]);
    if (rec.closed) return;
    chunk2Sent = true;
    res.end(chunk2);
  });
  let first = "";
  let rest = "";
  let sentBeforeFirstRead;
  const r = await withCheckpoint(ctx, mock, async ({ infer }) => {
    try {
      const res = await within(infer({ messages: MESSAGES }), 5000, "infer() (buffering the whole body?)");
      assert.ok(res instanceof Response);
      assert.ok(res.body, "res.body is a ReadableStream");
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      while (!first.includes("\n\n")) {
        const { value, done } = await within(reader.read(), 5000, "first chunk read");
        if (done) break;
        first += dec.decode(value, { stream: true });
      }
      sentBeforeFirstRead = chunk2Sent;
      release();
      for (;;) {
        const { value, done } = await within(reader.read(), 5000, "later chunk read");
        if (done) break;
        rest += dec.decode(value, { stream: true });
      }
    } finally {
      release();
    }
  });
  assert.ok(r.ok, fail(r));
  assert.equal(sentBeforeFirstRead, false, "chunk 2 was only sent after chunk 1 was read");
  assert.equal(first, chunk1);
  assert.equal(rest, chunk2);
});

test("infer() body can be iterated with for await", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.on("POST", "/v1/inference/chat", async (req, res) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    for (const piece of ["a", "b", "c"]) {
      res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: piece } }] })}\n\n`);
      await sleep(10);
    }
    res.end("data: [DONE]\n\n");
  });
  let all = "";
  const r = await withCheckpoint(ctx, mock, async ({ infer }) => {
    const res = await infer({ messages: MESSAGES });
    const dec = new TextDecoder();
    for await (const chunk of res.body) all += dec.decode(chunk, { stream: true });
  });
  assert.ok(r.ok, fail(r));
  const contents = all
    .split("\n\n")
    .filter((l) => l.startsWith("data: ") && !l.includes("[DONE]"))
    .map((l) => JSON.parse(l.slice(6)).choices[0].delta.content);
  assert.deepEqual(contents, ["a", "b", "c"]);
  assert.ok(all.includes("data: [DONE]"));
});

test("args.signal aborts a streaming body mid-way; the server sees the connection closed", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.on("POST", "/v1/inference/chat", async (req, res, rec) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: "x" } }] })}\n\n`);
    await rec.closedPromise; // never finishes on its own
  });
  let readErr;
  const controller = new AbortController();
  const r = await withCheckpoint(ctx, mock, async ({ infer }) => {
    const res = await within(infer({ messages: MESSAGES, signal: controller.signal }), 5000, "infer()");
    const reader = res.body.getReader();
    const first = await within(reader.read(), 5000, "first read");
    assert.equal(first.done, false);
    controller.abort();
    try {
      for (;;) {
        const { done } = await within(reader.read(), 3000, "read after abort");
        if (done) break;
      }
    } catch (e) {
      readErr = e;
    }
  });
  assert.ok(r.ok, fail(r));
  assert.ok(readErr, "reading after abort must reject");
  await assertAbortedRequest(readErr, controller, mock);
});

test("args.signal aborts a request whose response has not arrived yet", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.on("POST", "/v1/inference/chat", async (req, res, rec) => {
    await rec.closedPromise; // never answers
  });
  const controller = new AbortController();
  let err;
  const r = await withCheckpoint(ctx, mock, async ({ infer }) => {
    const p = infer({ messages: MESSAGES, signal: controller.signal });
    await mock.waitForRequest((q) => q.path === "/v1/inference/chat", 5000);
    const t0 = Date.now();
    controller.abort();
    try {
      await within(p, 3000, "infer() after abort");
    } catch (e) {
      err = e;
    }
    assert.ok(Date.now() - t0 < 2000, "abort is prompt");
  });
  assert.ok(r.ok, fail(r));
  assert.ok(err, "infer() must reject when aborted");
  await assertAbortedRequest(err, controller, mock);
});

test("an already-aborted signal rejects infer() without a usable response", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  const reason = new Error("already cancelled");
  let err;
  const r = await withCheckpoint(ctx, mock, async ({ infer }) => {
    try {
      await within(infer({ messages: MESSAGES, signal: AbortSignal.abort(reason) }), 3000, "infer()");
    } catch (e) {
      err = e;
    }
  });
  assert.ok(r.ok, fail(r));
  assert.ok(err, "must reject");
  assert.ok(err === reason || err.name === "AbortError", `got ${err?.name}: ${err?.message}`);
});

test("infer() is not memoised: two identical calls are two requests", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  let n = 0;
  mock.on("POST", "/v1/inference/chat", () => ({ status: 200, json: { n: ++n } }));
  const got = [];
  const r = await withCheckpoint(ctx, mock, async ({ infer }) => {
    const args = { messages: MESSAGES, stream: false };
    got.push(await (await infer(args)).json());
    got.push(await (await infer(args)).json());
  });
  assert.ok(r.ok, fail(r));
  assert.deepEqual(got, [{ n: 1 }, { n: 2 }]);
  assert.equal(mock.find("POST", "/v1/inference/chat").length, 2);
});

test("infer() is bound to each checkpoint's own step", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.streams.push([
    frame(1, ev("checkpoint.saved", { step: 5 })),
    frame(2, ev("checkpoint.saved", { step: 10 })),
    frame(3, ev("training.completed")),
  ]);
  const tr = createTrainer(
    baseInput({
      callbacks: {
        onCheckpoint: async ({ infer }) => {
          await (await infer({ messages: MESSAGES, stream: false })).text();
        },
      },
    }),
    ctx,
  );
  const r = await settle(tr.wait());
  assert.ok(r.ok, fail(r));
  assert.deepEqual(
    mock.find("POST", "/v1/inference/chat").map((q) => q.body.adapter),
    [
      { kind: "checkpoint", jobId: "job-1", step: 5 },
      { kind: "checkpoint", jobId: "job-1", step: 10 },
    ],
  );
});

for (const [label, spec, status, message] of [
  ["{error} body", { status: 400, json: { error: "tool_calling_not_configured" } }, 400, "tool_calling_not_configured"],
  ["plain-text body", { status: 502, text: "bad gateway upstream" }, 502, "bad gateway upstream"],
  ["empty body", { status: 503 }, 503, "cloud-api 503"],
  ["JSON without error field", { status: 500, json: { detail: "x" } }, 500, '{"detail":"x"}'],
]) {
  test(`infer() non-2xx rejects with CloudApiError (${label})`, async (t) => {
    const { mock, ctx } = await setupCloud(t);
    mock.on("POST", "/v1/inference/chat", spec);
    let err;
    const r = await withCheckpoint(ctx, mock, async ({ infer }) => {
      try {
        await infer({ messages: MESSAGES, stream: false });
      } catch (e) {
        err = e;
      }
    });
    assert.ok(r.ok, fail(r));
    assert.ok(err instanceof CloudApiError, `expected CloudApiError, got ${err?.stack ?? err}`);
    assert.ok(err instanceof Error);
    assert.equal(err.name, "CloudApiError");
    assert.equal(err.status, status);
    assert.equal(err.message, message);
  });
}

test("an infer() error escaping onCheckpoint rejects wait() with it", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.on("POST", "/v1/inference/chat", { status: 404, json: { error: "checkpoint not found" } });
  const r = await withCheckpoint(ctx, mock, async ({ infer }) => {
    await infer({ messages: MESSAGES });
  });
  assert.equal(r.ok, false);
  assert.ok(r.error instanceof CloudApiError, `got ${r.error?.stack ?? r.error}`);
  assert.equal(r.error.status, 404);
  assert.equal(mock.streamRequests().length, 1, "no reconnect");
});
