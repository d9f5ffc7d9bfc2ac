// CloudApiClient methods (upstream core/client.ts), CloudApiError, common
// request headers, the 426 upgrade hint and deprecation reporting.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

import {
  isolateEnv,
  startMockCloud,
  setupCloud,
  baseInput,
  makeProjectDir,
  makeTempHome,
  anonCreds,
  frame,
  ev,
  settle,
  runArkor,
  runNode,
  ADDON_PATH,
  MODEL,
} from "./helpers/mock-cloud.mjs";

isolateEnv();
const require = createRequire(import.meta.url);
const { CloudApiClient, CloudApiError, createTrainer } = require("../index.js");
const PKG_VERSION = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version;

let mock;
let client;
before(async () => {
  mock = await startMockCloud();
  client = new CloudApiClient({ baseUrl: `${mock.url}/`, credentials: anonCreds(mock.url) });
});
after(() => mock.close());

const scope = { orgSlug: "org1", projectSlug: "proj" };
const last = (method, path) => mock.find(method, path).at(-1);

test("CloudApiError carries status, message and name, and is an Error", () => {
  const e = new CloudApiError(418, "teapot");
  assert.ok(e instanceof Error);
  assert.ok(e instanceof CloudApiError);
  assert.equal(e.status, 418);
  assert.equal(e.message, "teapot");
  assert.equal(e.name, "CloudApiError");
  assert.ok(typeof e.stack === "string");
});

test("listProjects(orgSlug) GETs /v1/projects?orgSlug and returns {org, projects}", async () => {
  mock.projects = [{ id: "p1", slug: "proj", name: "Proj", orgId: "o1" }];
  const res = await client.listProjects("org1");
  assert.equal(res.org.slug, "org1");
  assert.equal(res.projects.length, 1);
  assert.equal(res.projects[0].slug, "proj");
  assert.equal(res.projects[0].id, "p1");
  const req = last("GET", "/v1/projects");
  assert.deepEqual(req.query, { orgSlug: "org1" });
  assert.equal(req.url.startsWith("//"), false, "trailing slash of baseUrl stripped");
  mock.projects = [];
});

test("the deployment methods send upstream's eight requests, ids escaped, scope in the query", async () => {
  const dep = { id: "dep 1", slug: "s" };
  mock.on("GET", "/v1/endpoints", { json: { deployments: [dep] } });
  mock.on("POST", "/v1/endpoints", { status: 201, json: { deployment: dep } });
  mock.on("GET", "/v1/endpoints/dep%201", { json: { deployment: dep } });
  mock.on("PATCH", "/v1/endpoints/dep%201", { json: { deployment: { ...dep, enabled: false } } });
  mock.on("DELETE", "/v1/endpoints/dep%201", { status: 204 });
  mock.on("GET", "/v1/endpoints/dep%201/keys", { json: { keys: [] } });
  mock.on("POST", "/v1/endpoints/dep%201/keys", { status: 201, json: { key: { id: "k/1" }, plaintext: "sk-x" } });
  mock.on("DELETE", "/v1/endpoints/dep%201/keys/k%2F1", { status: 204 });
  const input = { slug: "s", target: { kind: "base_model", baseModel: MODEL }, authMode: "none" };
  assert.deepEqual(await client.listDeployments(scope), { deployments: [dep] });
  assert.deepEqual(await client.createDeployment(scope, input), { deployment: dep });
  assert.deepEqual(await client.getDeployment("dep 1", scope), { deployment: dep });
  assert.equal((await client.updateDeployment("dep 1", scope, { enabled: false })).deployment.enabled, false);
  assert.equal(await client.deleteDeployment("dep 1", scope), undefined);
  assert.deepEqual(await client.listDeploymentKeys("dep 1", scope), { keys: [] });
  assert.equal((await client.createDeploymentKey("dep 1", scope, { label: "ci" })).plaintext, "sk-x");
  assert.equal(await client.revokeDeploymentKey("dep 1", "k/1", scope), undefined);
  const sent = mock.requests.filter((r) => r.path.startsWith("/v1/endpoints")).slice(-8);
  assert.deepEqual(
    sent.map((r) => `${r.method} ${r.path}`),
    [
      "GET /v1/endpoints",
      "POST /v1/endpoints",
      "GET /v1/endpoints/dep%201",
      "PATCH /v1/endpoints/dep%201",
      "DELETE /v1/endpoints/dep%201",
      "GET /v1/endpoints/dep%201/keys",
      "POST /v1/endpoints/dep%201/keys",
      "DELETE /v1/endpoints/dep%201/keys/k%2F1",
    ],
  );
  for (const r of sent) assert.deepEqual(r.query, scope);
  assert.deepEqual(sent[1].body, input);
  assert.deepEqual(sent[3].body, { enabled: false });
  assert.deepEqual(sent[6].body, { label: "ci" });
});

test("createProject({orgSlug, name, slug}) POSTs {name, slug} and returns {project}", async () => {
  const res = await client.createProject({ orgSlug: "org1", name: "My Proj", slug: "my-proj" });
  assert.equal(res.project.slug, "my-proj");
  assert.equal(res.project.id, "proj-id-1");
  const req = last("POST", "/v1/projects");
  assert.deepEqual(req.query, { orgSlug: "org1" });
  assert.deepEqual(req.body, { name: "My Proj", slug: "my-proj" });
});

test("createJob({orgSlug, projectSlug, name, config}) sends config verbatim and returns {job}", async () => {
  const config = { model: "some/unlisted-model", datasetSource: { type: "blob", url: "https://x/y.jsonl" }, extraKnob: 3 };
  const res = await client.createJob({ orgSlug: "org1", projectSlug: "proj", name: "raw", config });
  assert.equal(res.job.id, "job-1");
  assert.equal(res.job.name, "raw");
  assert.equal(res.job.status, "queued");
  assert.deepEqual(res.job.config, config);
  const req = last("POST", "/v1/jobs");
  assert.deepEqual(req.query, scope);
  assert.deepEqual(req.body, { name: "raw", config });
});

test("getJob(id, scope) GETs /v1/jobs/:id with the scope", async () => {
  const res = await client.getJob("job-77", scope);
  assert.equal(res.job.id, "job-77");
  assert.equal(res.job.orgId, "o1");
  assert.equal(res.job.createdAt, "2026-01-01T00:00:00.000Z");
  assert.deepEqual(last("GET", "/v1/jobs/job-77").query, scope);
});

test("getJob rejects with CloudApiError on 404", async (t) => {
  const { mock: m } = await setupCloud(t);
  m.on("GET", "/v1/jobs/:id", { status: 404, json: { error: "job not found" } });
  const c = new CloudApiClient({ baseUrl: m.url, credentials: anonCreds(m.url) });
  const r = await settle(c.getJob("nope", scope));
  assert.equal(r.ok, false);
  assert.ok(r.error instanceof CloudApiError);
  assert.equal(r.error.status, 404);
  assert.equal(r.error.message, "job not found");
});

test("cancelJob(id, scope) POSTs /v1/jobs/:id/cancel and resolves undefined", async () => {
  assert.equal(await client.cancelJob("job-5", scope), undefined);
  assert.deepEqual(last("POST", "/v1/jobs/job-5/cancel").query, scope);
});

for (const [label, spec, message] of [
  ["{error} body", { status: 409, json: { error: "already cancelled" } }, "already cancelled"],
  ["text body", { status: 500, text: "internal oops" }, "internal oops"],
  ["empty body", { status: 502 }, "cloud-api 502"],
]) {
  test(`cancelJob non-2xx → CloudApiError (${label})`, async (t) => {
    const { mock: m } = await setupCloud(t);
    m.on("POST", "/v1/jobs/:id/cancel", spec);
    const c = new CloudApiClient({ baseUrl: m.url, credentials: anonCreds(m.url) });
    const r = await settle(c.cancelJob("j", scope));
    assert.equal(r.ok, false);
    assert.ok(r.error instanceof CloudApiError, `got ${r.error?.stack ?? r.error}`);
    assert.equal(r.error.status, spec.status);
    assert.equal(r.error.message, message);
  });
}

test("openEventStream(jobId, scope, {lastEventId}) returns the raw SSE Response with Last-Event-ID", async () => {
  mock.streams.push([frame(1, ev("training.started"))]);
  const res = await client.openEventStream("job-1", scope, { lastEventId: "41" });
  assert.ok(res instanceof Response);
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.match(text, /^id: 1\ndata: .*training\.started/);
  const req = mock.streamRequests().at(-1);
  assert.equal(req.headers["last-event-id"], "41");
  assert.match(String(req.headers.accept), /text\/event-stream/);
  assert.deepEqual(req.query, scope);
});

test("openEventStream without lastEventId sends no Last-Event-ID and URL-encodes ids", async () => {
  mock.streams.push([frame(1, ev("training.started"))]);
  const res = await client.openEventStream("job/with space", { orgSlug: "o&g", projectSlug: "p=1" });
  await res.text();
  const req = mock.streamRequests().at(-1);
  assert.equal(req.headers["last-event-id"], undefined);
  assert.equal(req.path, "/v1/jobs/job%2Fwith%20space/events/stream");
  assert.deepEqual(req.query, { orgSlug: "o&g", projectSlug: "p=1" });
});

test("openEventStream rejects with CloudApiError on non-2xx", async () => {
  mock.streams.push({ status: 403, json: { error: "forbidden" } });
  const r = await settle(client.openEventStream("job-1", scope));
  assert.equal(r.ok, false);
  assert.ok(r.error instanceof CloudApiError);
  assert.equal(r.error.status, 403);
  assert.equal(r.error.message, "forbidden");
});

test("chat({scope, body}) POSTs the body verbatim and returns a Response", async () => {
  const body = {
    messages: [
      { role: "user", content: "hi" },
      { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }] },
      { role: "tool", content: "42", tool_call_id: "c1" },
    ],
    baseModel: MODEL,
    stream: false,
    maxTokens: 8,
  };
  const res = await client.chat({ scope, body });
  assert.ok(res instanceof Response);
  assert.equal((await res.json()).choices[0].message.content, "hello");
  const req = last("POST", "/v1/inference/chat");
  assert.deepEqual(req.query, scope);
  assert.deepEqual(req.body, body);
});

test("chat() with a final adapter and an AbortSignal", async () => {
  const controller = new AbortController();
  const body = { messages: [{ role: "user", content: "x" }], adapter: { kind: "final", jobId: "job-1" } };
  const res = await client.chat({ scope, body, signal: controller.signal });
  await res.text();
  assert.deepEqual(last("POST", "/v1/inference/chat").body, body);
});

test("every request carries Authorization: Bearer <token> and X-Arkor-Client: arkor/<version>", async () => {
  const since = mock.requests.length;
  await client.listProjects("org1");
  await client.getJob("job-1", scope);
  await client.cancelJob("job-1", scope);
  await (await client.chat({ scope, body: { messages: [], baseModel: MODEL, stream: false } })).text();
  mock.streams.push([frame(1, ev("training.started"))]);
  await (await client.openEventStream("job-1", scope)).text();
  const reqs = mock.requests.slice(since);
  assert.equal(reqs.length, 5);
  for (const r of reqs) {
    assert.equal(r.headers.authorization, "Bearer tok", `${r.method} ${r.path}`);
    assert.equal(r.headers["x-arkor-client"], `arkor/${PKG_VERSION}`, `${r.method} ${r.path}`);
  }
});

test("oauth credentials send the access token", async (t) => {
  const { mock: m } = await setupCloud(t);
  const c = new CloudApiClient({
    baseUrl: m.url,
    credentials: {
      mode: "oauth",
      accessToken: "oauth-access",
      refreshToken: "r",
      expiresAt: 4102444800,
      auth0Domain: "d",
      audience: "a",
      clientId: "c",
    },
  });
  await c.listProjects("o");
  assert.equal(m.requests[0].headers.authorization, "Bearer oauth-access");
});

for (const [label, spec] of [
  ["structured JSON body", { status: 426, json: { error: "sdk_too_old", minVersion: "9.9.9", message: "Please upgrade" } }],
  ["non-JSON body", { status: 426, text: "<html>upgrade required</html>" }],
  ["empty body", { status: 426 }],
]) {
  test(`426 answers reject with an upgrade hint naming the arkor package (${label})`, async (t) => {
    const { mock: m } = await setupCloud(t);
    m.on("POST", "/v1/jobs", spec);
    const c = new CloudApiClient({ baseUrl: m.url, credentials: anonCreds(m.url) });
    const r = await settle(c.createJob({ orgSlug: "o", projectSlug: "p", name: "n", config: { model: MODEL } }));
    assert.equal(r.ok, false);
    assert.ok(r.error instanceof CloudApiError);
    assert.equal(r.error.status, 426);
    assert.match(r.error.message, /arkor/);
    assert.match(r.error.message, /upgrade|install|update/i);
  });
}

test("a trainer's requests carry the same headers", async (t) => {
  const { mock: m, ctx } = await setupCloud(t);
  m.streams.push([frame(1, ev("training.completed"))]);
  const tr = createTrainer(baseInput(), ctx);
  await tr.wait();
  await tr.cancel();
  assert.equal(m.requests.length, 3);
  for (const r of m.requests) {
    assert.equal(r.headers.authorization, "Bearer tok");
    assert.equal(r.headers["x-arkor-client"], `arkor/${PKG_VERSION}`);
  }
});

// -- Deprecation ------------------------------------------------------------

const SUNSET = "Wed, 01 Jul 2026 00:00:00 GMT";

function deprecationScript(url) {
  return `
const creds = { mode: "anon", token: "tok", anonymousId: "a", arkorCloudApiUrl: ${JSON.stringify(url)}, orgSlug: "org1" };
const c = new arkor.CloudApiClient({ baseUrl: ${JSON.stringify(url)}, credentials: creds });
const scope = { orgSlug: "org1", projectSlug: "proj" };
await c.listProjects("org1");
await c.listProjects("org1");
await c.getJob("job-1", scope);
await (await c.chat({ scope, body: { messages: [], baseModel: ${JSON.stringify(MODEL)}, stream: false } })).text();
const tr = arkor.createTrainer({ name: "d", model: ${JSON.stringify(MODEL)}, dataset: { type: "huggingface", name: "x" } },
  { baseUrl: ${JSON.stringify(url)}, credentials: creds, cwd: process.cwd(), reconnectDelayMs: 10 });
await tr.wait();
return "ok";`;
}

test("a Deprecation: true answer is reported once on stderr (with the Sunset date)", async (t) => {
  const m = await startMockCloud();
  t.after(() => m.close());
  m.extraHeaders = { Deprecation: "true", Sunset: SUNSET, Warning: '299 - "arkor 0.x is deprecated"' };
  m.streams.push([frame(1, ev("training.completed"))]);
  const r = await runArkor(deprecationScript(m.url), {
    env: { HOME: makeTempHome() },
    cwd: makeProjectDir(),
  });
  assert.ok(r.ok, `${r.error?.message}\n${r.stderr}`);
  assert.equal(m.requests.length, 6, "all requests were answered with Deprecation: true");
  const occurrences = r.stderr.split(SUNSET).length - 1;
  assert.equal(occurrences, 1, `Sunset date reported exactly once, stderr was:\n${r.stderr}`);
  assert.match(r.stderr, /deprecat/i);
});

test("no Deprecation header → no deprecation report", async (t) => {
  const m = await startMockCloud();
  t.after(() => m.close());
  m.streams.push([frame(1, ev("training.completed"))]);
  const r = await runArkor(deprecationScript(m.url), {
    env: { HOME: makeTempHome() },
    cwd: makeProjectDir(),
  });
  assert.ok(r.ok, `${r.error?.message}\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /deprecat/i);
});

test("the ESM entry exposes the same API", async () => {
  const r = await runNode(
    `import * as esm from ${JSON.stringify(new URL("../index.mjs", import.meta.url).href)};
     import { createRequire } from "node:module";
     const cjs = createRequire(import.meta.url)(${JSON.stringify(ADDON_PATH)});
     const names = ["createTrainer","createArkor","isArkor","runTrainer","SUPPORTED_MODELS","CloudApiError","CloudApiClient","readCredentials","writeCredentials","credentialsPath","defaultArkorCloudApiUrl","requestAnonymousToken","ensureCredentials","readState","writeState","statePath"];
     const missing = names.filter((n) => esm[n] === undefined || cjs[n] === undefined);
     const same = names.filter((n) => esm[n] !== cjs[n]);
     console.log(JSON.stringify({ missing, same }));`,
    { timeoutMs: 15_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split("\n").at(-1));
  assert.deepEqual(out.missing, []);
  assert.deepEqual(out.same, [], "ESM and CJS share the same objects (CloudApiError identity)");
});
