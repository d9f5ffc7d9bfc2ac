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
