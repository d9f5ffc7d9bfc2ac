// Project scope (docs/PROTOCOL.md §2 and §7): readState / writeState / statePath and the
// anonymous project bootstrap done by trainer.start().
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { join } from "node:path";

import {
  isolateEnv,
  setupCloud,
  baseInput,
  makeTempDir,
  makeProjectDir,
  anonCreds,
  settle,
  ORG,
} from "./helpers/mock-cloud.mjs";

isolateEnv();
const require = createRequire(import.meta.url);
const { createTrainer, readState, writeState, statePath, CloudApiError } = require("../index.js");

const STATE = { orgSlug: "org-x", projectSlug: "proj-x", projectId: "pid-x" };

test("statePath(cwd) is <cwd>/.arkor/state.json", () => {
  const cwd = makeTempDir();
  assert.equal(statePath(cwd), join(cwd, ".arkor", "state.json"));
});

test("statePath() defaults to process.cwd()", () => {
  assert.equal(statePath(), join(process.cwd(), ".arkor", "state.json"));
});

test("readState(cwd) resolves null when the file is missing", async () => {
  assert.equal(await readState(makeTempDir()), null);
});

test("writeState(state, cwd) then readState(cwd) round-trips and creates .arkor/", async () => {
  const cwd = makeTempDir();
  await writeState(STATE, cwd);
  assert.deepEqual(JSON.parse(readFileSync(join(cwd, ".arkor", "state.json"), "utf8")), STATE);
  assert.deepEqual(await readState(cwd), STATE);
});

test("readState resolves null for malformed JSON or missing fields", async () => {
  const cwd = makeTempDir();
  mkdirSync(join(cwd, ".arkor"));
  writeFileSync(join(cwd, ".arkor", "state.json"), "{not json");
  assert.equal(await readState(cwd), null);
  writeFileSync(join(cwd, ".arkor", "state.json"), JSON.stringify({ orgSlug: "a", projectSlug: "b" }));
  assert.equal(await readState(cwd), null);
  writeFileSync(join(cwd, ".arkor", "state.json"), JSON.stringify({ orgSlug: "a", projectSlug: "b", projectId: 3 }));
  assert.equal(await readState(cwd), null);
});

async function bootstrapIn(t, name, setup) {
  const { mock, ctx } = await setupCloud(t);
  const cwd = makeProjectDir({ state: null, name });
  setup?.(mock);
  const tr = createTrainer(baseInput(), { ...ctx, cwd });
  const r = await settle(tr.start());
  return { mock, cwd, r };
}

test("no state + anonymous credentials: project created from the cwd basename, state written", async (t) => {
  const { mock, cwd, r } = await bootstrapIn(t, "My Cool_Project!!");
  assert.ok(r.ok, String(r.error?.stack ?? r.error));
  const creates = mock.find("POST", "/v1/projects");
  assert.equal(creates.length, 1);
  assert.deepEqual(creates[0].query, { orgSlug: ORG });
  assert.deepEqual(creates[0].body, { name: "My Cool_Project!!", slug: "my-cool-project" });
  assert.equal(creates[0].headers.authorization, "Bearer tok");
  const [job] = mock.find("POST", "/v1/jobs");
  assert.deepEqual(job.query, { orgSlug: ORG, projectSlug: "my-cool-project" });
  assert.deepEqual(JSON.parse(readFileSync(join(cwd, ".arkor", "state.json"), "utf8")), {
    orgSlug: ORG,
    projectSlug: "my-cool-project",
    projectId: "proj-id-1",
  });
});

for (const [name, slug] of [
  ["---Hello.World---", "hello-world"],
  ["___", "project"],
  ["a".repeat(60), "a".repeat(40)],
  ["ÜberProjekt 2", "berprojekt-2"],
  ["UPPER-case-42", "upper-case-42"],
]) {
  test(`slug for cwd "${name.length > 20 ? name.slice(0, 20) + "…" : name}" is "${slug}"`, async (t) => {
    const { mock, r } = await bootstrapIn(t, name);
    assert.ok(r.ok, String(r.error?.stack ?? r.error));
    const [create] = mock.find("POST", "/v1/projects");
    assert.equal(create.body.slug, slug);
    assert.equal(create.body.name, name);
  });
}

test("on 409 the existing project with the same slug is listed and reused", async (t) => {
  const { mock, cwd, r } = await bootstrapIn(t, "taken", (m) => {
    m.on("POST", "/v1/projects", { status: 409, json: { error: "slug taken" } });
    m.projects = [
      { id: "other-id", slug: "other", name: "other", orgId: "org-id" },
      { id: "existing-id", slug: "taken", name: "taken", orgId: "org-id" },
    ];
  });
  assert.ok(r.ok, String(r.error?.stack ?? r.error));
  const lists = mock.find("GET", "/v1/projects");
  assert.equal(lists.length, 1);
  assert.deepEqual(lists[0].query, { orgSlug: ORG });
  assert.deepEqual(JSON.parse(readFileSync(join(cwd, ".arkor", "state.json"), "utf8")), {
    orgSlug: ORG,
    projectSlug: "taken",
    projectId: "existing-id",
  });
  const [job] = mock.find("POST", "/v1/jobs");
  assert.deepEqual(job.query, { orgSlug: ORG, projectSlug: "taken" });
});

test("409 without a matching project in the listing rejects (no state written, no job)", async (t) => {
  const { mock, cwd, r } = await bootstrapIn(t, "ghost", (m) => {
    m.on("POST", "/v1/projects", { status: 409, json: { error: "slug taken" } });
    m.projects = [{ id: "x", slug: "someone-else", name: "x", orgId: "org-id" }];
  });
  assert.equal(r.ok, false);
  assert.ok(r.error instanceof CloudApiError, `got ${r.error}`);
  assert.equal(r.error.status, 409);
  assert.equal(existsSync(join(cwd, ".arkor", "state.json")), false);
  assert.equal(mock.find("POST", "/v1/jobs").length, 0);
});

test("a non-409 project creation error rejects without listing", async (t) => {
  const { mock, cwd, r } = await bootstrapIn(t, "broken", (m) => {
    m.on("POST", "/v1/projects", { status: 500, json: { error: "db down" } });
  });
  assert.equal(r.ok, false);
  assert.ok(r.error instanceof CloudApiError);
  assert.equal(r.error.status, 500);
  assert.equal(r.error.message, "db down");
  assert.equal(mock.find("GET", "/v1/projects").length, 0);
  assert.equal(existsSync(join(cwd, ".arkor", "state.json")), false);
});

test("an existing state for the same org is used as-is (no project requests)", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  const tr = createTrainer(baseInput(), ctx);
  const r = await settle(tr.start());
  assert.ok(r.ok, String(r.error?.stack ?? r.error));
  assert.equal(mock.find(undefined, "/v1/projects").length, 0);
});

test("a state file for another org under anonymous credentials is an error; the file is untouched", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  const cwd = makeProjectDir({ state: null });
  mkdirSync(join(cwd, ".arkor"), { recursive: true });
  const original = JSON.stringify({ orgSlug: "someone-elses-org", projectSlug: "p", projectId: "x" }, null, 4);
  writeFileSync(join(cwd, ".arkor", "state.json"), original);
  const tr = createTrainer(baseInput(), { ...ctx, cwd });
  const r = await settle(tr.start());
  assert.equal(r.ok, false, "start() must reject");
  assert.ok(r.error instanceof Error);
  assert.equal(readFileSync(join(cwd, ".arkor", "state.json"), "utf8"), original, "file untouched");
  assert.equal(mock.find("POST", "/v1/projects").length, 0);
  assert.equal(mock.find("POST", "/v1/jobs").length, 0);
});

test("oauth credentials honour a state file for any org", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  const cwd = makeProjectDir({ state: { orgSlug: "team-org", projectSlug: "team-proj", projectId: "tp" } });
  const credentials = {
    mode: "oauth",
    accessToken: "oauth-at",
    refreshToken: "rt",
    expiresAt: 4102444800,
    auth0Domain: "x.auth0.com",
    audience: "aud",
    clientId: "cid",
    arkorCloudApiUrl: mock.url,
  };
  const tr = createTrainer(baseInput(), { ...ctx, cwd, credentials });
  const r = await settle(tr.start());
  assert.ok(r.ok, String(r.error?.stack ?? r.error));
  const [job] = mock.find("POST", "/v1/jobs");
  assert.deepEqual(job.query, { orgSlug: "team-org", projectSlug: "team-proj" });
  assert.equal(job.headers.authorization, "Bearer oauth-at");
});

test("oauth credentials without a state file are an error (no bootstrap)", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  const cwd = makeProjectDir({ state: null });
  const credentials = {
    mode: "oauth",
    accessToken: "oauth-at",
    refreshToken: "rt",
    expiresAt: 4102444800,
    auth0Domain: "x.auth0.com",
    audience: "aud",
    clientId: "cid",
    arkorCloudApiUrl: mock.url,
  };
  const tr = createTrainer(baseInput(), { ...ctx, cwd, credentials });
  const r = await settle(tr.start());
  assert.equal(r.ok, false);
  assert.match(String(r.error?.message), /state\.json/);
  assert.equal(mock.find("POST", "/v1/projects").length, 0);
  assert.equal(mock.find("POST", "/v1/jobs").length, 0);
});

test("the bootstrap runs once even when start() is called twice", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  const cwd = makeProjectDir({ state: null, name: "twice" });
  const tr = createTrainer(baseInput(), { ...ctx, cwd, credentials: anonCreds(mock.url) });
  await tr.start();
  await tr.start();
  assert.equal(mock.find("POST", "/v1/projects").length, 1);
  assert.equal(mock.find("POST", "/v1/jobs").length, 1);
});

test("readState resolves null when state.json is a directory", async () => {
  const cwd = makeTempDir();
  mkdirSync(join(cwd, ".arkor", "state.json"), { recursive: true });
  assert.equal(await readState(cwd), null);
});
