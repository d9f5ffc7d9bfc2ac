// Control requests (project bootstrap, anonymous sign-up, job creation,
// cancel, job reads) are retried as the OpenAI Node SDK retries: connection
// errors, 408, 429 and 5xx, at most twice, honouring Retry-After; never other
// 4xx, never infer. POST /v1/jobs carries one Idempotency-Key per trainer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

import {
  isolateEnv,
  setupCloud,
  startMockCloud,
  baseInput,
  makeProjectDir,
  anonCreds,
  frame,
  ev,
  settle,
  MODEL,
} from "./helpers/mock-cloud.mjs";

isolateEnv();
const require = createRequire(import.meta.url);
const { createTrainer, CloudApiClient, CloudApiError, requestAnonymousToken } = require("../index.js");

const scope = { orgSlug: "org1", projectSlug: "proj" };
const completed = () => [frame(1, ev("training.completed", { artifacts: [] }))];
// Keeps the computed backoff out of the way; Retry-After is still honoured.
const FAST = { maxRetries: 2, retryDelayMs: 5, maxRetryDelayMs: 20 };
const fastClient = (m, extra = {}) => new CloudApiClient({ baseUrl: m.url, credentials: anonCreds(m.url), ...FAST, ...extra });
const keysOf = (reqs) => reqs.map((r) => r.headers["idempotency-key"]);

test("a 503 and then a 201 on job creation give one job, and wait() completes", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.on("POST", "/v1/jobs", [{ status: 503, json: { error: "busy" } }, (_req, _res, rec) => mock.createJob(rec)]);
  mock.streams.push(completed());
  const result = await createTrainer(baseInput(), ctx).wait();
  assert.equal(result.job.status, "completed");
  const posts = mock.find("POST", "/v1/jobs");
  assert.equal(posts.length, 2);
  const [a, b] = keysOf(posts);
  assert.match(a, /^[0-9a-f]{32}$/, "a 128-bit hex Idempotency-Key");
  assert.equal(a, b, "the retry reuses the key");
  assert.equal(mock.createdJobs.length, 1);
});

test("an answer lost after the job was created gives one job, thanks to the Idempotency-Key", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  mock.on("POST", "/v1/jobs", (req, _res, rec, idx) => {
    const spec = mock.createJob(rec);
    if (idx > 0) return spec;
    req.socket.destroy(); // the job exists, the client never hears of it
    return undefined;
  });
  mock.streams.push(completed());
  const tr = createTrainer(baseInput(), ctx);
  const { jobId } = await tr.start();
  assert.equal(jobId, "job-1");
  const result = await tr.wait();
  assert.equal(result.job.status, "completed");
  assert.equal(mock.find("POST", "/v1/jobs").length, 2, "the lost request was sent again");
  assert.equal(mock.createdJobs.length, 1, "and it did not make a second job");
});

test("each trainer has its own Idempotency-Key (the mock makes one job per key)", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  await createTrainer(baseInput(), ctx).start();
  await createTrainer(baseInput(), ctx).start();
  const [a, b] = keysOf(mock.find("POST", "/v1/jobs"));
  assert.notEqual(a, b);
  assert.equal(mock.createdJobs.length, 2);
});

test("429 with Retry-After (seconds) waits that long before the retry", async (t) => {
  const { mock } = await setupCloud(t);
  mock.on("GET", "/v1/jobs", [{ status: 429, headers: { "retry-after": "1" }, json: { error: "slow down" } }, { status: 200, json: { jobs: [] } }]);
  assert.deepEqual(await fastClient(mock).listJobs(scope), { jobs: [] });
  const [first, second] = mock.find("GET", "/v1/jobs");
  const gap = second.at - first.at;
  assert.ok(gap >= 950, `retried after ${gap.toFixed(0)} ms, Retry-After said 1 s`);
  assert.ok(gap < 3000, `retried after ${gap.toFixed(0)} ms`);
});

test("retry-after-ms is honoured and preferred over Retry-After", async (t) => {
  const { mock } = await setupCloud(t);
  const busy = { status: 503, headers: { "retry-after-ms": "400", "retry-after": "30" }, json: { error: "busy" } };
  mock.on("GET", "/v1/jobs/:id", [busy, { status: 200, json: { job: { id: "j" } } }]);
  assert.deepEqual(await fastClient(mock).getJob("j", scope), { job: { id: "j" } });
  const [first, second] = mock.find("GET", "/v1/jobs/j");
  const gap = second.at - first.at;
  assert.ok(gap >= 390 && gap < 2000, `retried after ${gap.toFixed(0)} ms, retry-after-ms said 400`);
});

test("408 and 5xx are retried at most twice, then the last answer rejects as CloudApiError", async (t) => {
  for (const status of [408, 500, 502]) {
    const { mock } = await setupCloud(t);
    mock.on("POST", "/v1/jobs/:id/cancel", { status, json: { error: `down ${status}` } });
    const r = await settle(fastClient(mock).cancelJob("j", scope));
    assert.equal(r.ok, false);
    assert.ok(r.error instanceof CloudApiError, `got ${r.error}`);
    assert.equal(r.error.status, status);
    assert.equal(r.error.message, `down ${status}`);
    assert.equal(mock.find("POST", "/v1/jobs/j/cancel").length, 3, `${status}: 1 attempt + 2 retries`);
  }
});

test("400, 404 and 409 are not retried", async (t) => {
  for (const status of [400, 404, 409]) {
    const { mock, ctx } = await setupCloud(t);
    mock.on("POST", "/v1/jobs", { status, json: { error: `no ${status}` } });
    const r = await settle(createTrainer(baseInput(), ctx).start());
    assert.equal(r.ok, false);
    assert.ok(r.error instanceof CloudApiError);
    assert.equal(r.error.status, status);
    assert.equal(mock.find("POST", "/v1/jobs").length, 1, `${status} was sent once`);
    mock.on("GET", "/v1/jobs/:id", { status, json: { error: `no ${status}` } });
    const g = await settle(fastClient(mock).getJob("j", scope));
    assert.equal(g.error?.status, status);
    assert.equal(mock.find("GET", "/v1/jobs/j").length, 1);
  }
});

test("a server's x-should-retry: false is obeyed", async (t) => {
  const { mock } = await setupCloud(t);
  mock.on("GET", "/v1/jobs", { status: 503, headers: { "x-should-retry": "false" }, json: { error: "no" } });
  const r = await settle(fastClient(mock).listJobs(scope));
  assert.equal(r.error?.status, 503);
  assert.equal(mock.find("GET", "/v1/jobs").length, 1);
});

test("maxRetries: 0 sends once", async (t) => {
  const { mock } = await setupCloud(t);
  mock.on("GET", "/v1/jobs", { status: 503, json: { error: "down" } });
  const r = await settle(fastClient(mock, { maxRetries: 0 }).listJobs(scope));
  assert.equal(r.error?.status, 503);
  assert.equal(mock.find("GET", "/v1/jobs").length, 1);
});

test("project bootstrap survives one dropped connection", async (t) => {
  const cwd = makeProjectDir({ state: null, name: "dropped-once" });
  const { mock, ctx } = await setupCloud(t, { cwd });
  mock.on("POST", "/v1/projects", (_req, _res, rec, idx) =>
    idx === 0 ? { destroy: true } : { status: 201, json: { project: { id: "pid-9", slug: rec.body.slug, name: rec.body.name } } },
  );
  mock.streams.push(completed());
  const result = await createTrainer(baseInput(), ctx).wait();
  assert.equal(result.job.status, "completed");
  assert.equal(mock.find("POST", "/v1/projects").length, 2);
  const state = JSON.parse(readFileSync(join(cwd, ".arkor", "state.json"), "utf8"));
  assert.deepEqual(state, { orgSlug: ctx.credentials.orgSlug, projectSlug: "dropped-once", projectId: "pid-9" });
  assert.equal(mock.createdJobs.length, 1);
});

test("a project created by a request whose answer was lost is found through the 409 path", async (t) => {
  const cwd = makeProjectDir({ state: null, name: "lost-project" });
  const { mock, ctx } = await setupCloud(t, { cwd });
  mock.on("POST", "/v1/projects", (req, _res, rec, idx) => {
    if (idx === 0) {
      mock.projects.push({ id: "pid-lost", slug: rec.body.slug, name: rec.body.name, orgId: "org-id" });
      req.socket.destroy();
      return undefined;
    }
    return { status: 409, json: { error: "slug taken" } };
  });
  await createTrainer(baseInput(), ctx).start();
  assert.equal(existsSync(join(cwd, ".arkor", "state.json")), true);
  assert.equal(JSON.parse(readFileSync(join(cwd, ".arkor", "state.json"), "utf8")).projectId, "pid-lost");
});

test("anonymous sign-up is retried after a 503", async (t) => {
  const m = await startMockCloud();
  t.after(() => m.close());
  m.on("POST", "/v1/auth/anonymous", [{ status: 503, text: "warming up" }, { status: 200, json: m.anon }]);
  const tok = await requestAnonymousToken(m.url);
  assert.deepEqual(tok, { token: "anon-tok", anonymousId: "anon-1", kind: "cli", orgSlug: "anon-org" });
  assert.equal(m.find("POST", "/v1/auth/anonymous").length, 2);
});

test("infer / chat is sent once, even on a 503", async (t) => {
  const { mock } = await setupCloud(t);
  mock.on("POST", "/v1/inference/chat", { status: 503, json: { error: "busy" } });
  const r = await settle(fastClient(mock).chat({ scope, body: { messages: [], baseModel: MODEL, stream: false } }));
  assert.equal(r.error?.status, 503);
  assert.equal(mock.find("POST", "/v1/inference/chat").length, 1);
});

test("the generic deployment routes are sent once (no key to make a retry safe)", async (t) => {
  const { mock } = await setupCloud(t);
  mock.on("POST", "/v1/endpoints", { status: 503, json: { error: "busy" } });
  const r = await settle(fastClient(mock).createDeployment(scope, { name: "d" }));
  assert.equal(r.error?.status, 503);
  assert.equal(mock.find("POST", "/v1/endpoints").length, 1);
});
