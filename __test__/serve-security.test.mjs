// `arkor serve`'s security flags, end to end through the CLI on 127.0.0.1:
// the Host guard and --allow-host, and --public (a generated token printed
// once and kept 0600 under $ARKOR_HOME, anonymous sign-up refused unless
// --allow-anonymous, local datasets only under --allow-path).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";

import { BIN, freePort, isolated, makeTempDir, spawnNode, writeDataset, TINY_MODEL } from "./helpers/local-backend.mjs";

/** `arkor serve --port <free> ...args`; resolves { h, url } once it listens. */
async function serve(env, args = []) {
  const port = await freePort();
  const h = spawnNode([BIN, "serve", "--port", String(port), ...args], { env, timeoutMs: 120_000 });
  const line = await h.waitForLine((l) => l.includes("listening on"), 60_000);
  return { h, port, url: line.match(/(http:\/\/\S+)/)[1] };
}

/** One HTTP request with full control of the headers (fetch forbids Host). */
function call(port, { method = "GET", path, headers = {}, body }) {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, json: text ? JSON.parse(text) : null }));
    });
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function stop(h) {
  h.kill("SIGTERM");
  await h.done;
}

test("serve answers only loopback names and --allow-host ones; others get 403 naming the flag", async () => {
  const { env } = isolated();
  const { h, port } = await serve(env, ["--allow-host", "box.lan"]);
  try {
    const evil = await call(port, { method: "POST", path: "/v1/auth/anonymous", headers: { host: "evil.example" } });
    assert.equal(evil.status, 403);
    assert.match(evil.json.error, /--allow-host/);
    assert.equal((await call(port, { method: "POST", path: "/v1/auth/anonymous", headers: { host: `localhost:${port}` } })).status, 201);
    assert.equal((await call(port, { method: "POST", path: "/v1/auth/anonymous", headers: { host: "box.lan" } })).status, 201);
    const origin = await call(port, { method: "POST", path: "/v1/auth/anonymous", headers: { host: `127.0.0.1:${port}`, origin: "https://evil.example" } });
    assert.equal(origin.status, 403);
  } finally {
    await stop(h);
  }
});

test("serve --public: the token is printed once and kept 0600, sign-up is off, files only under --allow-path", async () => {
  const { env, arkorHome } = isolated({ ARKOR_SERVE_TOKEN: undefined });
  const data = makeTempDir("arkor-public-data-");
  const allowed = join(data, "allowed");
  const inside = writeDataset(allowed);
  const outside = writeDataset(data);
  const first = await serve(env, ["--public", "--allow-path", allowed]);
  let token;
  try {
    await first.h.waitForLine((l) => l.startsWith("  arkor_serve_"), 10_000);
    token = first.h.lines.find((l) => l.startsWith("  arkor_serve_")).trim();
    assert.match(first.h.stdout, /\(public mode\)/);
    const file = join(arkorHome, "serve-token");
    assert.equal(readFileSync(file, "utf8").trim(), token);
    assert.equal(statSync(file).mode & 0o777, 0o600);

    const anon = await call(first.port, { method: "POST", path: "/v1/auth/anonymous" });
    assert.equal(anon.status, 403);
    assert.match(anon.json.error, /--allow-anonymous/);
    const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    assert.equal((await call(first.port, { path: "/v1/me", headers: auth })).status, 200);
    const proj = await call(first.port, { method: "POST", path: "/v1/projects?orgSlug=local", headers: auth, body: { name: "p", slug: "p" } });
    assert.equal(proj.status, 201);
    const job = (url) => ({ name: "r", config: { model: TINY_MODEL, datasetSource: { type: "blob", url }, maxSteps: 1 } });
    const refused = await call(first.port, { method: "POST", path: "/v1/jobs?orgSlug=local&projectSlug=p", headers: auth, body: job(outside) });
    assert.equal(refused.status, 400);
    assert.match(refused.json.error, /config\.datasetSource\.url.*--allow-path/);
    const ok = await call(first.port, { method: "POST", path: "/v1/jobs?orgSlug=local&projectSlug=p", headers: auth, body: job(inside) });
    assert.equal(ok.status, 201, JSON.stringify(ok.json));
  } finally {
    await stop(first.h);
  }
  // A restart keeps the stored token and does not print it again.
  const again = await serve(env, ["--public"]);
  try {
    // The note follows the "listening on" line the start waited for.
    await again.h.waitForLine((l) => /Its token is in .*serve-token/.test(l), 10_000);
    assert.doesNotMatch(again.h.stdout, /arkor_serve_/);
    assert.equal((await call(again.port, { path: "/v1/me", headers: { authorization: `Bearer ${token}` } })).status, 200);
  } finally {
    await stop(again.h);
  }
  // --token replaces it; --allow-anonymous reopens sign-up.
  const chosen = await serve(env, ["--public", "--token", "chosen-token-0123456789", "--allow-anonymous"]);
  try {
    assert.equal((await call(chosen.port, { path: "/v1/me", headers: { authorization: `Bearer ${token}` } })).status, 401);
    assert.equal((await call(chosen.port, { path: "/v1/me", headers: { authorization: "Bearer chosen-token-0123456789" } })).status, 200);
    assert.equal((await call(chosen.port, { method: "POST", path: "/v1/auth/anonymous" })).status, 201);
  } finally {
    await stop(chosen.h);
  }
});

test("serve --help lists the security flags", async () => {
  const r = await spawnNode([BIN, "serve", "--help"], { env: isolated().env }).done;
  for (const flag of ["--allow-host", "--public", "--token", "--allow-anonymous", "--allow-path", "--allow-private-urls"]) {
    assert.match(r.stdout, new RegExp(flag), flag);
  }
});

test("serve --public takes its token from ARKOR_SERVE_TOKEN when --token is not given", async () => {
  const { env } = isolated({ ARKOR_SERVE_TOKEN: "from-the-environment-0123456789" });
  const s = await serve(env, ["--public"]);
  try {
    const ok = await call(s.port, { path: "/v1/me", headers: { authorization: "Bearer from-the-environment-0123456789" } });
    assert.equal(ok.status, 200);
    const other = await call(s.port, { path: "/v1/me", headers: { authorization: "Bearer something-else" } });
    assert.equal(other.status, 401);
    assert.ok(!s.h.stdout.includes("from-the-environment-0123456789"), "a token the operator set is not printed");
  } finally {
    await stop(s.h);
  }
});

test("serve refuses an unusable ARKOR_MAX_BATCH or ARKOR_BF16, naming the variable and what it takes", async () => {
  for (const [name, value, takes] of [
    ["ARKOR_MAX_BATCH", "lots", "a whole number of at least 1"],
    ["ARKOR_BF16", "bf16", "0 \\(or false, off, no\\)"],
  ]) {
    const { env } = isolated({ [name]: value });
    const r = await spawnNode([BIN, "serve", "--port", String(await freePort())], { env, timeoutMs: 60_000 }).done;
    assert.notEqual(r.code, 0, `${name}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, new RegExp(`${name}="${value}" is not usable: it takes ${takes}`), name);
  }
});

test("serve --public refuses a token too short to stand guessing, saying the minimum", async () => {
  const { env } = isolated();
  const r = await spawnNode([BIN, "serve", "--public", "--port", String(await freePort()), "--token", "a"], { env, timeoutMs: 20_000 }).done;
  assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /^arkor: the server token \(--token or ARKOR_SERVE_TOKEN\) has 1 characters; a public server needs at least 16: /);
  assert.doesNotMatch(r.stderr, /\n    at /, "no stack for a user's mistake");
});

test("serve refuses a blank --token; a blank ARKOR_SERVE_TOKEN is unset, so the generated token names its file", async () => {
  for (const token of ["", "   "]) {
    const { env } = isolated();
    const r = await spawnNode([BIN, "serve", "--public", "--port", String(await freePort()), "--token", token], { env, timeoutMs: 20_000 }).done;
    assert.equal(r.code, 1, `--token ${JSON.stringify(token)}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    assert.equal(r.stderr, "arkor: --token is empty; give the token clients are to send, or leave --token out to have one generated\n");
    assert.equal(r.stdout, "");
  }
  const { env, arkorHome } = isolated({ ARKOR_SERVE_TOKEN: "  " });
  const s = await serve(env, ["--public"]);
  try {
    const line = await s.h.waitForLine((l) => l.startsWith("Generated this server's token"), 10_000);
    assert.equal(line, `Generated this server's token (shown once; kept in ${join(arkorHome, "serve-token")}):`);
  } finally {
    await stop(s.h);
  }
});
