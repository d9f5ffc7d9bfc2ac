// Deployments end to end: created through the SDK's CloudApiClient against
// a real `arkor serve` (tiny model), then called with the official `openai`
// package (non-streaming and streaming), with plain fetch and by Host; key
// auth and revocation enforced; and `arkor endpoints create` printing a
// URL and a curl line that work.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import http from "node:http";

import OpenAI from "openai";

import { freePort, isolated, makeTempDir, startServe, TINY_MODEL } from "./helpers/local-backend.mjs";
import { arkor, assertExit } from "./helpers/cli.mjs";

const require = createRequire(import.meta.url);
const { CloudApiClient, CloudApiError } = require("../index.js");

const messages = [{ role: "user", content: "my login fails" }];

/** An anonymous identity on the server at `port`, with project `p`: `{ client, scope, credentials }`. */
async function signUp(port) {
  const baseUrl = `http://127.0.0.1:${port}`;
  const signup = await fetch(`${baseUrl}/v1/auth/anonymous`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ kind: "cli" }),
  }).then((r) => r.json());
  const credentials = { mode: "anon", token: signup.token, anonymousId: signup.anonymousId, arkorCloudApiUrl: baseUrl, orgSlug: signup.personalOrg.slug };
  const client = new CloudApiClient({ baseUrl, credentials });
  const scope = { orgSlug: signup.personalOrg.slug, projectSlug: "p" };
  await client.createProject({ orgSlug: scope.orgSlug, name: "P", slug: "p" });
  return { client, scope, credentials };
}

/** `GET path` on 127.0.0.1:port with `Host: host` (Node's resolver does not map *.localhost to loopback). */
function getWithHost(port, path, host, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, headers: { host, ...headers } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, body: JSON.parse(body) }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("a deployment made with CloudApiClient answers the openai package, fetch and its Host; keys are enforced and revoked at once", async (t) => {
  const { env } = isolated();
  const port = await freePort();
  const serve = await startServe(port, env);
  t.after(() => serve.kill());
  const { client, scope } = await signUp(port);

  const { deployment } = await client.createDeployment(scope, {
    slug: "node-bot",
    target: { kind: "base_model", baseModel: TINY_MODEL },
    authMode: "fixed_api_key",
  });
  assert.equal(deployment.slug, "node-bot");
  assert.equal(deployment.urlFormat, "openai_compat");
  assert.deepEqual(deployment.target, { kind: "base_model", baseModel: TINY_MODEL });
  const { deployments } = await client.listDeployments(scope);
  assert.deepEqual(deployments.map((d) => d.id), [deployment.id]);
  await assert.rejects(
    client.createDeployment(scope, { slug: "node-bot", target: { kind: "base_model", baseModel: TINY_MODEL }, authMode: "none" }),
    (err) => err instanceof CloudApiError && err.status === 409,
  );

  const { key } = await client.createDeploymentKey(deployment.id, scope, { label: "test" });
  assert.match(key.plaintext, /^ark_live_/);
  const baseURL = `http://127.0.0.1:${port}/deployments/node-bot/v1`;
  const openai = new OpenAI({ apiKey: key.plaintext, baseURL, maxRetries: 0 });

  const completion = await openai.chat.completions.create({ model: "node-bot", messages, max_tokens: 6 });
  assert.equal(completion.object, "chat.completion");
  const answer = completion.choices[0].message.content;
  assert.equal(typeof answer, "string");
  assert.ok(["stop", "length"].includes(completion.choices[0].finish_reason));
  assert.ok(completion.usage.prompt_tokens > 0);
  assert.equal(completion.usage.total_tokens, completion.usage.prompt_tokens + completion.usage.completion_tokens);

  const stream = await openai.chat.completions.create({ model: "node-bot", messages, max_tokens: 6, stream: true, stream_options: { include_usage: true } });
  let streamed = "";
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    if (choice) {
      streamed += choice.delta.content ?? "";
      finish = choice.finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(streamed, answer, "greedy decoding streams the same answer");
  assert.equal(finish, completion.choices[0].finish_reason);
  assert.deepEqual(usage, completion.usage);

  const models = await openai.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ["node-bot"]);

  // Plain fetch, by path; and the same deployment by its Host.
  const res = await fetch(`${baseURL}/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key.plaintext}`, "content-type": "application/json" },
    body: JSON.stringify({ messages, max_tokens: 6 }),
  });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).choices[0].message.content, answer);
  const byHost = await getWithHost(port, "/v1/models", `node-bot.localhost:${port}`, { authorization: `Bearer ${key.plaintext}` });
  assert.equal(byHost.status, 200);
  assert.equal(byHost.body.data[0].id, "node-bot");

  // No key, a wrong key: 401 in OpenAI's error shape, which the package reads.
  const res401 = await fetch(`${baseURL}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ messages }) });
  assert.equal(res401.status, 401);
  const body401 = await res401.json();
  assert.equal(body401.error.type, "authentication_error");
  const wrong = new OpenAI({ apiKey: "ark_live_not-a-key", baseURL, maxRetries: 0 });
  await assert.rejects(wrong.chat.completions.create({ model: "x", messages }), (err) => err instanceof OpenAI.AuthenticationError && err.code === "invalid_api_key");

  // Revoked: the very next call is refused.
  await client.revokeDeploymentKey(deployment.id, key.id, scope);
  await assert.rejects(openai.chat.completions.create({ model: "node-bot", messages, max_tokens: 2 }), (err) => err instanceof OpenAI.AuthenticationError);
  const { keys } = await client.listDeploymentKeys(deployment.id, scope);
  assert.deepEqual(keys.map((k) => [k.id, k.enabled]), [[key.id, false]]);
  assert.equal(typeof keys[0].lastUsedAt, "string", "the key's use was noted");

  // Disabled: 404, as upstream documents; deleted: gone.
  const { deployment: off } = await client.updateDeployment(deployment.id, scope, { enabled: false, authMode: "none" });
  assert.equal(off.enabled, false);
  await assert.rejects(openai.chat.completions.create({ model: "node-bot", messages }), (err) => err instanceof OpenAI.NotFoundError);
  await client.deleteDeployment(deployment.id, scope);
  await assert.rejects(client.getDeployment(deployment.id, scope), (err) => err instanceof CloudApiError && err.status === 404);
});

test("arkor endpoints create prints a URL and a curl line that work, and keys revoke stops the key", async (t) => {
  const { env } = isolated();
  const port = await freePort();
  const serve = await startServe(port, env);
  t.after(() => serve.kill());
  const cliEnv = { ...env, ARKOR_CLOUD_API_URL: `http://127.0.0.1:${port}` };
  const cwd = makeTempDir("arkor-endpoints-");

  const r = arkor(["endpoints", "create", "cli-bot", "--base", TINY_MODEL, "--auth", "key"], { cwd, env: cliEnv });
  assertExit(r, 0, "arkor endpoints create");
  assert.ok(r.stdout.includes(`http://cli-bot.localhost:${port}/v1/chat/completions`), r.stdout);
  const plaintext = /(ark_live_\w+)/.exec(r.stdout)?.[1];
  assert.ok(plaintext, r.stdout);
  const curl = r.stdout.slice(r.stdout.indexOf("curl "));
  const url = /curl (\S+)/.exec(curl)[1];
  assert.equal(url, `http://127.0.0.1:${port}/deployments/cli-bot/v1/chat/completions`);
  assert.ok(curl.includes(`Authorization: Bearer ${plaintext}`), curl);
  const body = /-d '([^']*)'/.exec(curl)[1];
  const res = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${plaintext}`, "content-type": "application/json" }, body });
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal((await res.json()).object, "chat.completion");

  const listed = arkor(["endpoints", "list"], { cwd, env: cliEnv });
  assertExit(listed, 0, "arkor endpoints list");
  assert.match(listed.stdout, /cli-bot\s+base model arkor\/tiny-gemma3\s+fixed_api_key\s+enabled/);
  const keys = arkor(["endpoints", "keys", "cli-bot", "--json"], { cwd, env: cliEnv });
  assertExit(keys, 0, "arkor endpoints keys");
  const [k] = JSON.parse(keys.stdout);
  assert.ok(plaintext.startsWith(k.prefix) && !keys.stdout.includes(plaintext), keys.stdout);
  assertExit(arkor(["endpoints", "keys", "cli-bot", "revoke", k.id], { cwd, env: cliEnv }), 0, "arkor endpoints keys revoke");
  const after = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${plaintext}`, "content-type": "application/json" }, body });
  assert.equal(after.status, 401);

  // The one call that got through is a recorded run; refused calls are not.
  const runs = arkor(["endpoints", "runs", "cli-bot", "--json"], { cwd, env: cliEnv });
  assertExit(runs, 0, "arkor endpoints runs");
  const recorded = JSON.parse(runs.stdout);
  assert.equal(recorded.length, 1, runs.stdout);
  assert.equal(recorded[0].status, 200);
  assert.ok(recorded[0].completionTokens > 0, runs.stdout);
  const table = arkor(["endpoints", "runs", "cli-bot"], { cwd, env: cliEnv });
  assertExit(table, 0, "arkor endpoints runs (table)");
  assert.match(table.stdout, /^TIME +STATUS +FINISH +TOKENS +LATENCY/m);
  assert.match(table.stdout, /\(runs kept( \d+ days)?\)/);

  const bad = arkor(["endpoints", "create", "Bad_Slug", "--base", TINY_MODEL], { cwd, env: cliEnv });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /`slug`.*\(HTTP 400\)/);
  const none = arkor(["endpoints", "create", "x-bot"], { cwd, env: cliEnv });
  assert.equal(none.status, 1);
  assert.match(none.stderr, /--job <jobId>.*--base <model>/);
});
