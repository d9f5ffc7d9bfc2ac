// Scope, credentials and project state cross into the addon as plain JS
// objects (no JSON text): they come back in upstream's shapes, field for
// field, and a malformed one is refused with the field and the fix.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";

import { isolateEnv, setupCloud, makeTempDir, anonCreds, settle } from "./helpers/mock-cloud.mjs";

isolateEnv();
const require = createRequire(import.meta.url);
const arkor = require("../index.js");

const OAUTH = {
  mode: "oauth",
  accessToken: "at",
  refreshToken: "rt",
  expiresAt: 1893456000123,
  auth0Domain: "d.auth0.com",
  audience: "aud",
  clientId: "cid",
};

test("credentials round-trip in upstream's shape, with no key for an absent arkorCloudApiUrl", async () => {
  await arkor.writeCredentials(OAUTH);
  const back = await arkor.readCredentials();
  assert.deepEqual(back, OAUTH);
  assert.deepEqual(Object.keys(back).sort(), Object.keys(OAUTH).sort());
  const anon = anonCreds("http://127.0.0.1:9");
  await arkor.writeCredentials(anon);
  assert.deepEqual(await arkor.readCredentials(), anon);
});

test("a credentials object missing a field of its mode is refused, naming the field", async () => {
  const r = await settle(arkor.writeCredentials({ mode: "anon", token: "t", anonymousId: "a", orgSlug: "o" }));
  assert.ok(r.error instanceof TypeError, `got ${r.error}`);
  assert.equal(r.error.message, 'credentials.arkorCloudApiUrl: required when mode is "anon"');
  assert.throws(
    () => new arkor.CloudApiClient({ baseUrl: "http://x", credentials: { ...OAUTH, mode: "sso" } }),
    { name: "TypeError", message: 'credentials.mode: must be "anon" or "oauth", not "sso"' },
  );
});

test("defaultArkorCloudApiUrl reads only arkorCloudApiUrl, so a partial object will do (as upstream)", () => {
  assert.equal(arkor.defaultArkorCloudApiUrl({ arkorCloudApiUrl: "https://x.example//" }), "https://x.example");
  assert.equal(arkor.defaultArkorCloudApiUrl(OAUTH), "https://api.arkor.ai");
  assert.equal(arkor.defaultArkorCloudApiUrl(null), "https://api.arkor.ai");
});

test("project state round-trips as { orgSlug, projectSlug, projectId }", async () => {
  const cwd = makeTempDir();
  const state = { orgSlug: "o", projectSlug: "p", projectId: "id" };
  await arkor.writeState(state, cwd);
  const back = await arkor.readState(cwd);
  assert.deepEqual(back, state);
  assert.deepEqual(Object.keys(back), ["orgSlug", "projectSlug", "projectId"]);
});

test("CloudApiClient sends the scope it is given as the query, and returns plain objects", async (t) => {
  const { mock } = await setupCloud(t);
  const c = new arkor.CloudApiClient({ baseUrl: mock.url, credentials: anonCreds(mock.url) });
  const { job } = await c.createJob({ orgSlug: "org a", projectSlug: "p/1", name: "n", config: { model: "m", n: [1, 2] } });
  assert.equal(job.id, "job-1");
  const [req] = mock.find("POST", "/v1/jobs");
  assert.deepEqual(req.query, { orgSlug: "org a", projectSlug: "p/1" });
  assert.deepEqual(req.body, { name: "n", config: { model: "m", n: [1, 2] } });
  const created = await c.createProject({ orgSlug: "o", name: "N", slug: "s" });
  assert.equal(created.project.slug, "s");
});

// TrainerInput is read by the native side field by field, as upstream's
// buildJobConfig reads it (`input.maxSteps`, `input.lora.r`, ...), and each
// value goes through JSON.stringify, upstream's rule for the request body.
// These are the values where that differs from a typed napi object.
async function sentConfig(t, input) {
  const { mock, ctx } = await setupCloud(t);
  await arkor.createTrainer(input, ctx).start();
  const [req] = mock.find("POST", "/v1/jobs");
  return { config: req.body.config, raw: req.rawBody };
}

const MODEL = "google/gemma-3-270m";
const DATASET = { type: "huggingface", name: "org/ds" };

test("TrainerInput values reach the backend as JSON.stringify writes them", async (t) => {
  const { config } = await sentConfig(t, {
    name: "odd",
    model: MODEL,
    // toJSON: a URL object is sent as its href, a Date as its ISO string
    dataset: { type: "blob", url: new URL("file:///tmp/d.jsonl"), skip: undefined, fn() {} },
    datasetSplit: { at: new Date(0), list: [undefined, () => 1, Symbol("s"), 2], nan: NaN },
    maxSteps: NaN,
    learningRate: Infinity,
    weightDecay: -0,
    warmupSteps: null,
    evalSteps: () => 5,
    lrSchedulerType: Symbol("cosine"),
    lora: { r: 8, alpha: 16, maxLength: undefined },
  });
  assert.deepEqual(config, {
    model: MODEL,
    datasetSource: { type: "blob", url: "file:///tmp/d.jsonl" },
    loraR: 8,
    loraAlpha: 16,
    maxSteps: null,
    learningRate: null,
    weightDecay: 0,
    warmupSteps: null,
    datasetSplit: { at: "1970-01-01T00:00:00.000Z", list: [null, null, null, 2], nan: null },
  });
});

test("a mistyped TrainerInput value is sent as given, for the backend to name", async (t) => {
  const { config } = await sentConfig(t, { name: "typo", model: MODEL, dataset: DATASET, maxSteps: "10", dryRun: "yes", lora: { r: "8" } });
  assert.deepEqual(config, { model: MODEL, datasetSource: DATASET, loraR: "8", maxSteps: "10", dryRun: "yes" });
});

test("TrainerInput fields are read by property access, inherited ones included, and nothing else is read", async (t) => {
  const defaults = { maxSteps: 7, lora: Object.create({ r: 4 }, { alpha: { value: 8, enumerable: false } }) };
  const input = Object.assign(Object.create(defaults), { name: "proto", model: MODEL, dataset: DATASET });
  // Keys the job config does not take are never serialised: a BigInt or a
  // cycle there is no error, as upstream never looks at them.
  input.meta = { big: 10n };
  input.self = input;
  const { config } = await sentConfig(t, input);
  assert.deepEqual(config, { model: MODEL, datasetSource: DATASET, loraR: 4, loraAlpha: 8, maxSteps: 7 });
});

test("lora that is not an object adds no LoRA fields, as upstream's `if (input.lora)` reads it", async (t) => {
  for (const lora of [null, 0, "", "r", true, [8, 16]]) {
    const { config } = await sentConfig(t, { name: "l", model: MODEL, dataset: DATASET, lora });
    assert.deepEqual(config, { model: MODEL, datasetSource: DATASET }, `lora: ${String(lora)}`);
  }
});

test("a BigInt in a field the job config takes throws JSON.stringify's TypeError from createTrainer", () => {
  // Upstream throws the same TypeError when start() serialises the body; it is raised here, earlier.
  assert.throws(() => arkor.createTrainer({ name: "b", model: MODEL, dataset: DATASET, maxSteps: 10n }, { baseUrl: "http://127.0.0.1:9" }), (e) => {
    assert.equal(e.name, "TypeError");
    assert.match(e.message, /BigInt/);
    return true;
  });
});

test("CloudApiClient.createJob sends its config as JSON.stringify writes it, as upstream's client does", async (t) => {
  const { mock } = await setupCloud(t);
  const c = new arkor.CloudApiClient({ baseUrl: mock.url, credentials: anonCreds(mock.url) });
  const config = { model: "m", datasetSource: DATASET, maxSteps: NaN, at: new Date(0), fn() {}, skip: undefined, list: [undefined, 1] };
  await c.createJob({ orgSlug: "o", projectSlug: "p", name: "n", config });
  const [req] = mock.find("POST", "/v1/jobs");
  assert.deepEqual(req.body.config, { model: "m", datasetSource: DATASET, maxSteps: null, at: "1970-01-01T00:00:00.000Z", list: [null, 1] });
});
