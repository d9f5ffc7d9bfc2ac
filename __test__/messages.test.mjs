// The errors upstream's core throws, pinned to upstream's text and shape
// (packages/arkor/src/core/{trainer,projectState,credentials,client,
// upgrade-hint,runner}.ts), so a drop-in user sees the same words.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import {
  isolateEnv,
  setupCloud,
  startMockCloud,
  baseInput,
  makeProjectDir,
  makeTempHome,
  anonCreds,
  runArkor,
  settle,
} from "./helpers/mock-cloud.mjs";

isolateEnv();
const require = createRequire(import.meta.url);
const { createTrainer, CloudApiClient, CloudApiError, requestAnonymousToken, SUPPORTED_MODELS } = require("../index.js");

const OAUTH_MISSING_STATE_MESSAGE =
  "No .arkor/state.json found. Create it by hand with { orgSlug, projectSlug, projectId } pointing at the project you want to use.";
const ANON_STATE_MISMATCH_MESSAGE =
  "This workspace's .arkor/state.json is scoped to a different organization than your current anonymous session. Delete .arkor/state.json to start a fresh anonymous project, or run `arkor login` with the account that owns that project.";

const oauth = (url) => ({
  mode: "oauth",
  accessToken: "at",
  refreshToken: "rt",
  expiresAt: 4102444800,
  auth0Domain: "x.auth0.com",
  audience: "aud",
  clientId: "cid",
  arkorCloudApiUrl: url,
});

test("OAuth credentials and no .arkor/state.json: upstream's OAUTH_MISSING_STATE_MESSAGE", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  const tr = createTrainer(baseInput(), { ...ctx, cwd: makeProjectDir({ state: null }), credentials: oauth(mock.url) });
  const r = await settle(tr.start());
  assert.equal(r.ok, false);
  assert.equal(r.error.constructor, Error);
  assert.equal(r.error.name, "Error");
  assert.equal(r.error.message, OAUTH_MISSING_STATE_MESSAGE);
  assert.equal(mock.requests.length, 0);
});

test("a state file of another org under anonymous credentials: ProjectStateMismatchError, upstream's text", async (t) => {
  const { mock, ctx } = await setupCloud(t);
  const cwd = makeProjectDir({ state: { orgSlug: "not-mine", projectSlug: "p", projectId: "x" } });
  const r = await settle(createTrainer(baseInput(), { ...ctx, cwd }).start());
  assert.equal(r.ok, false);
  assert.ok(r.error instanceof Error);
  assert.ok(!(r.error instanceof CloudApiError));
  assert.equal(r.error.name, "ProjectStateMismatchError");
  assert.equal(r.error.message, ANON_STATE_MISMATCH_MESSAGE);
  assert.equal(mock.requests.length, 0);
});

test("an unsupported model: upstream's message, listing this release's models", () => {
  assert.throws(
    () => createTrainer(baseInput({ model: "meta/llama-3-8b" })),
    (err) => {
      assert.equal(err.constructor, Error);
      assert.equal(
        err.message,
        `Unsupported model "meta/llama-3-8b". This arkor release supports: ${SUPPORTED_MODELS.join(", ")}. ` +
          "If the backend already accepts this model, upgrade arkor or submit through CloudApiClient.createJob.",
      );
      return true;
    },
  );
  // Upstream quotes whatever it was given, as JS prints it.
  assert.throws(() => createTrainer(baseInput({ model: undefined })), /^Error: Unsupported model "undefined"\. /);
});

test("a refused anonymous sign-up: AnonymousTokenRejectedError with status and the body's first 500 characters", async (t) => {
  const m = await startMockCloud();
  t.after(() => m.close());
  m.on("POST", "/v1/auth/anonymous", { status: 403, text: `anonymous disabled ${"x".repeat(600)}` });
  const r = await settle(requestAnonymousToken(m.url));
  assert.equal(r.ok, false);
  assert.ok(!(r.error instanceof CloudApiError));
  assert.equal(r.error.name, "AnonymousTokenRejectedError");
  assert.equal(r.error.status, 403);
  assert.equal(r.error.message, `Failed to acquire anonymous token (403): ${`anonymous disabled ${"x".repeat(600)}`.slice(0, 500)}`);
  assert.equal(m.find("POST", "/v1/auth/anonymous").length, 1, "a 403 is not retried");
});

for (const [agent, command] of [
  ["pnpm/9.0.0 npm/? node/v22.0.0 linux x64", "pnpm add -g arkor@latest"],
  ["yarn/1.22.0 npm/? node/v22.0.0", "yarn global add arkor@latest"],
  ["bun/1.1.0", "bun add -g arkor@latest"],
  ["npm/10.0.0 node/v22.0.0", "npm install -g arkor@latest"],
]) {
  test(`426 with a body it cannot read: upstream's fallback naming \`${command}\``, async (t) => {
    const { mock } = await setupCloud(t);
    mock.on("GET", "/v1/jobs", { status: 426, text: "<html>upgrade required</html>" });
    const saved = process.env.npm_config_user_agent;
    process.env.npm_config_user_agent = agent;
    t.after(() => {
      if (saved === undefined) delete process.env.npm_config_user_agent;
      else process.env.npm_config_user_agent = saved;
    });
    const c = new CloudApiClient({ baseUrl: mock.url, credentials: anonCreds(mock.url) });
    const r = await settle(c.listJobs({ orgSlug: "o", projectSlug: "p" }));
    assert.ok(r.error instanceof CloudApiError);
    assert.equal(r.error.status, 426);
    assert.equal(r.error.message, `Arkor SDK is no longer supported by the cloud API. Run \`${command}\`.`);
  });
}

test("426 with the gate's structured body names the versions and the command", async (t) => {
  const { mock } = await setupCloud(t);
  mock.on("GET", "/v1/jobs", {
    status: 426,
    json: { error: "sdk_version_unsupported", currentVersion: "1.3.5", supportedRange: "^1.4.0 || >=2.1.0", upgrade: "npm install -g arkor@latest" },
  });
  process.env.npm_config_user_agent = "pnpm/9.0.0";
  t.after(() => delete process.env.npm_config_user_agent);
  const c = new CloudApiClient({ baseUrl: mock.url, credentials: anonCreds(mock.url) });
  const r = await settle(c.listJobs({ orgSlug: "o", projectSlug: "p" }));
  assert.match(r.error.message, /1\.3\.5 is no longer supported/);
  assert.match(r.error.message, /\^1\.4\.0 \|\| >=2\.1\.0/);
  assert.ok(r.error.message.includes("pnpm add -g arkor@latest"), "the detected package manager wins over body.upgrade");
});

test("no answer at all: a TypeError('fetch failed') whose cause says what happened", async (t) => {
  const m = await startMockCloud();
  const url = m.url;
  await m.close();
  const c = new CloudApiClient({ baseUrl: url, credentials: anonCreds(url), maxRetries: 0 });
  const r = await settle(c.listJobs({ orgSlug: "o", projectSlug: "p" }));
  assert.ok(r.error instanceof TypeError, `got ${r.error}`);
  assert.equal(r.error.message, "fetch failed");
  assert.ok(r.error.cause instanceof Error);
  assert.equal(r.error.cause.code, "ECONNREFUSED");
  assert.ok(r.error.cause.message.includes(url), r.error.cause.message);
});

test("a body that breaks off mid-answer: reading it rejects with TypeError('terminated'), as fetch's does", async (t) => {
  const { mock } = await setupCloud(t);
  mock.on("POST", "/v1/inference/chat", (req, res) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write('data: {"choices":[{"delta":{"content":"he"}}]}\n\n');
    setTimeout(() => req.socket.destroy(), 50);
    return undefined;
  });
  const c = new CloudApiClient({ baseUrl: mock.url, credentials: anonCreds(mock.url) });
  const res = await c.chat({ scope: { orgSlug: "o", projectSlug: "p" }, body: { messages: [], stream: true } });
  assert.equal(res.status, 200);
  const r = await settle(res.text());
  assert.ok(r.error instanceof TypeError, `got ${r.error}`);
  assert.equal(r.error.message, "terminated");
  assert.ok(r.error.cause instanceof Error);
});

// The give-up error's own text is the trainer's; its `cause` is the last
// failure, built as upstream builds it.
for (const [label, script, check] of [
  ["a non-2xx answer: the CloudApiError", { status: 503, json: { error: "down" } }, (c) => {
    assert.ok(c instanceof CloudApiError, `cause ${c}`);
    assert.equal(c.status, 503);
    assert.equal(c.message, "down");
  }],
  ["no answer: fetch's TypeError", { destroy: true }, (c) => {
    assert.ok(c instanceof TypeError, `cause ${c}`);
    assert.equal(c.message, "fetch failed");
    assert.ok(c.cause instanceof Error);
  }],
  ["a stream that closed with nothing in it: an Error", [], (c) => {
    assert.ok(c instanceof Error && !(c instanceof CloudApiError) && !(c instanceof TypeError), `cause ${c}`);
  }],
]) {
  test(`maxReconnectAttempts exhausted after ${label} as cause`, async (t) => {
    const { mock, ctx } = await setupCloud(t, { maxReconnectAttempts: 1, reconnectDelayMs: 5, maxReconnectDelayMs: 10 });
    mock.streamFallback = script;
    const r = await settle(createTrainer(baseInput(), ctx).wait());
    assert.equal(r.ok, false);
    assert.equal(r.error.constructor, Error);
    assert.equal(mock.streamRequests().length, 2);
    check(r.error.cause);
  });
}

test("a corrupt credentials file is replaced with upstream's warning on stderr", async (t) => {
  const m = await startMockCloud();
  t.after(() => m.close());
  const home = makeTempHome("garbage{{{");
  const path = join(home, ".arkor", "credentials.json");
  const r = await runArkor(`return (await arkor.ensureCredentials()).mode;`, {
    env: { HOME: home, USERPROFILE: home, ARKOR_CLOUD_API_URL: m.url },
  });
  assert.ok(r.ok, r.error?.message);
  assert.ok(
    r.stderr.includes(`arkor: warning: ${path} could not be parsed and is being replaced. Run \`arkor login\` to sign in again.\n`),
    r.stderr,
  );
});

test("runTrainer's messages are upstream's", async () => {
  const cwd = makeProjectDir({ state: null });
  mkdirSync(join(cwd, "src", "arkor"), { recursive: true });
  writeFileSync(join(cwd, "src", "arkor", "index.mjs"), "export const nothing = 1;\n");
  const missing = await runArkor(`await arkor.runTrainer();`, { cwd });
  assert.equal(
    missing.error.message,
    `Training entry not found: ${join(cwd, "src/arkor/index.ts")}. Provide a path or create src/arkor/index.ts.`,
  );
  const empty = await runArkor(`await arkor.runTrainer("src/arkor/index.mjs");`, { cwd });
  assert.equal(
    empty.error.message,
    "Training entry must export `arkor` (from createArkor({...})) or `trainer` (from createTrainer({...})), or default-export one of them.",
  );
});
