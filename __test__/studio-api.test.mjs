// `arkor dev`'s server and its /api/* routes, over HTTP, against the real
// local backend with the tiny model: the token on every route, the Host
// guard, the path checks of /api/train, and upstream's shapes.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

import { cliEnv, scaffold, startArkor } from "./helpers/cli.mjs";
import { addEntry, openStream, request, startStudio } from "./helpers/studio.mjs";

// Every route, with a path that exists (ids need not).
const ROUTES = [
  ["GET", "/api/credentials"],
  ["GET", "/api/me"],
  ["GET", "/api/manifest"],
  ["GET", "/api/jobs"],
  ["GET", "/api/jobs/job_x"],
  ["GET", "/api/jobs/job_x/events"],
  ["POST", "/api/jobs/job_x/cancel"],
  ["POST", "/api/train"],
  ["POST", "/api/inference/chat"],
  ["GET", "/api/deployments"],
  ["POST", "/api/deployments"],
  ["GET", "/api/deployments/dep_x"],
  ["PATCH", "/api/deployments/dep_x"],
  ["DELETE", "/api/deployments/dep_x"],
  ["GET", "/api/deployments/dep_x/keys"],
  ["POST", "/api/deployments/dep_x/keys"],
  ["DELETE", "/api/deployments/dep_x/keys/key_x"],
];

describe("arkor dev", () => {
  let s;
  let jobId;
  const api = (method, path, opts = {}) => request(s.port, method, path, { ...opts, headers: { "x-arkor-studio-token": s.token, ...opts.headers } });

  before(async () => {
    s = await startStudio({ steps: 8 });
  });
  after(async () => {
    if (s) await s.stop();
  });

  test("serves the SPA with this launch's token in its <meta>, written to ~/.arkor/studio-token (0600)", async () => {
    assert.match(s.token, /^[A-Za-z0-9_-]{43}$/, "32 random bytes, base64url");
    const file = join(s.home, ".arkor", "studio-token");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const page = await request(s.port, "GET", "/");
    assert.equal(page.status, 200);
    assert.match(page.headers["content-type"], /text\/html/);
    assert.ok(page.text.includes(`<meta name="arkor-studio-token" content="${s.token}">`), page.text);
    assert.match(page.headers["content-security-policy"], /default-src 'self'/);
    // Hash routes and unknown extensionless paths get the SPA too; a missing asset does not.
    assert.equal((await request(s.port, "GET", "/jobs/whatever")).status, 200);
    assert.equal((await request(s.port, "GET", "/assets/nope.js")).status, 404);
    assert.equal((await request(s.port, "GET", "/assets/../../../package.json")).status, 404);
    const js = await request(s.port, "GET", "/assets/main.js");
    assert.equal(js.status, 200);
    assert.match(js.headers["content-type"], /javascript/);
    assert.ok(!/https?:\/\/(cdn|fonts|unpkg)/.test(js.text), "nothing comes from a CDN");
  });

  test("every /api route refuses a missing or wrong token with 403", async () => {
    for (const [method, path] of ROUTES) {
      for (const headers of [{}, { "x-arkor-studio-token": "x".repeat(43) }, { "x-arkor-studio-token": s.token.slice(1) }]) {
        const r = await request(s.port, method, path, { headers, body: method === "GET" || method === "DELETE" ? undefined : {} });
        assert.equal(r.status, 403, `${method} ${path} ${JSON.stringify(headers)}: ${r.text}`);
        assert.deepEqual(r.json(), { error: "Missing or invalid studio token" });
      }
    }
  });

  test("only the events stream takes the token from the query string", async () => {
    const q = `?studioToken=${encodeURIComponent(s.token)}`;
    for (const [method, path] of ROUTES.filter(([, p]) => !p.endsWith("/events"))) {
      const r = await request(s.port, method, path + q, { body: method === "GET" || method === "DELETE" ? undefined : {} });
      assert.equal(r.status, 403, `${method} ${path}`);
    }
    const events = await request(s.port, "GET", `/api/jobs/job_nope/events${q}`);
    assert.notEqual(events.status, 403, events.text);
  });

  test("the Host guard refuses other names (403), for the page and the API, token or not", async () => {
    for (const host of ["evil.example", `evil.example:${s.port}`, "localhost.evil.example", "10.0.0.5"]) {
      const page = await request(s.port, "GET", "/", { headers: { host } });
      assert.equal(page.status, 403, host);
      assert.equal(page.text, "Studio is loopback-only");
      assert.ok(!page.text.includes(s.token));
      const r = await api("GET", "/api/credentials", { headers: { host } });
      assert.equal(r.status, 403, host);
      assert.deepEqual(r.json(), { error: "Studio API is loopback-only" });
    }
    for (const host of [`localhost:${s.port}`, `127.0.0.1:${s.port}`]) {
      assert.equal((await api("GET", "/api/credentials", { headers: { host } })).status, 200, host);
    }
    // A page of another site posting to Studio: refused by its Origin.
    const cross = await api("POST", "/api/train", { headers: { origin: "https://evil.example" }, body: {} });
    assert.equal(cross.status, 403);
    const same = await api("GET", "/api/credentials", { headers: { origin: `http://localhost:${s.port}` } });
    assert.equal(same.status, 200);
    assert.equal(same.headers["access-control-allow-origin"], undefined, "no CORS");
  });

  test("credentials, me, manifest and an empty job list have upstream's shapes", async () => {
    const c = (await api("GET", "/api/credentials")).json();
    assert.equal(c.mode, "anon");
    assert.equal(typeof c.token, "string");
    assert.match(c.baseUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(c.orgSlug, "local");
    assert.equal(c.projectSlug, "proj");
    assert.equal(c.local, true);
    const me = await api("GET", "/api/me");
    assert.equal(me.status, 200, me.text);
    assert.ok(Array.isArray(me.json().orgs));
    assert.deepEqual((await api("GET", "/api/manifest")).json(), { trainer: { name: "triage-v1" } });
    assert.deepEqual((await api("GET", "/api/jobs")).json(), { jobs: [] });
    // The local project exists only once something made it: lists are empty, a create makes it.
    assert.deepEqual((await api("GET", "/api/deployments")).json(), { deployments: [] });
    const early = await api("POST", "/api/deployments", { body: { slug: "early-bot", target: { kind: "base_model", baseModel: "arkor/tiny-gemma3" }, authMode: "none" } });
    assert.equal(early.status, 200, early.text);
    assert.deepEqual((await api("DELETE", `/api/deployments/${early.json().deployment.id}`)).json(), {});
    assert.ok(!existsSync(join(s.dir, ".arkor", "state.json")), "the local backend needs no state file");
  });

  test("unknown routes are 404, wrong methods 405, bad JSON 400", async () => {
    assert.equal((await api("GET", "/api/nope")).status, 404);
    assert.equal((await api("DELETE", "/api/jobs")).status, 405);
    const bad = await api("POST", "/api/train", { body: "{nope" });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.json(), { error: "Invalid JSON body" });
  });

  test("malformed percent-encoding in a path is the client's 400, not a server error", async () => {
    const page = await request(s.port, "GET", "/%E0%A4%A");
    assert.equal(page.status, 400);
    assert.equal(page.text, "Bad request: the path /%E0%A4%A is not valid percent-encoding");
    assert.equal((await request(s.port, "GET", "/assets/%zz.js")).status, 400);
    for (const [path, segment, name] of [["/api/jobs/%zz", "%zz", "id"], ["/api/jobs/%zz/events", "%zz", "id"], ["/api/deployments/dep_x/keys/%E0", "%E0", "keyId"]]) {
      const r = await api(path.endsWith("%E0") ? "DELETE" : "GET", path);
      assert.equal(r.status, 400, path);
      assert.deepEqual(r.json(), { error: `:${name} in ${path} is not valid percent-encoding (${segment}); encode it with encodeURIComponent` });
    }
    // The token is still checked first.
    assert.equal((await request(s.port, "GET", "/api/jobs/%zz")).status, 403);
  });

  test("train refuses files outside the project (after resolving symlinks) with 400", async () => {
    writeFileSync(join(s.dir, "..", "outside.ts"), "export const x = 1;\n");
    symlinkSync(join(s.dir, "..", "outside.ts"), join(s.dir, "src", "link.ts"));
    const cases = [
      ["../outside.ts", "file must be inside the project directory"],
      ["/etc/hostname", "file must be inside the project directory"],
      ["src/link.ts", "file must be inside the project directory"],
      ["src/arkor/missing.ts", "file does not exist or is not accessible"],
    ];
    for (const [file, error] of cases) {
      const r = await api("POST", "/api/train", { body: { file } });
      assert.equal(r.status, 400, `${file}: ${r.text}`);
      assert.deepEqual(r.json(), { error }, file);
    }
    const typed = await api("POST", "/api/train", { body: { file: 42 } });
    assert.equal(typed.status, 400);
    assert.match(typed.json().error, /`file`/);
  });

  test("train runs `arkor start`, streams its output and ends with the exit code", async () => {
    const r = await api("POST", "/api/train", { body: {} });
    assert.equal(r.status, 200);
    assert.match(r.headers["content-type"], /text\/plain/);
    jobId = r.text.match(/Started job (\S+)/)?.[1];
    assert.ok(jobId, r.text);
    assert.match(r.text, /finished with status=completed/);
    assert.ok(r.text.endsWith("\n---\nexit=0\n"), JSON.stringify(r.text.slice(-80)));
    const { jobs } = (await api("GET", "/api/jobs")).json();
    const job = jobs.find((j) => j.id === jobId);
    assert.equal(job.status, "completed");
    assert.equal(job.config.model, "arkor/tiny-gemma3");
    const detail = (await api("GET", `/api/jobs/${jobId}`)).json();
    assert.equal(detail.job.id, jobId);
    assert.ok(detail.events.some((e) => e.type === "checkpoint.saved"));
  });

  test("the events stream is SSE from the backend, resumed after Last-Event-ID", async () => {
    const q = `?studioToken=${encodeURIComponent(s.token)}`;
    const all = await request(s.port, "GET", `/api/jobs/${jobId}/events${q}`);
    assert.equal(all.status, 200);
    assert.match(all.headers["content-type"], /text\/event-stream/);
    const ids = [...all.text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    assert.ok(ids.length > 8, all.text);
    assert.match(all.text, /"type":"training\.started"/);
    assert.match(all.text, /event: end\n/);
    const resumed = await request(s.port, "GET", `/api/jobs/${jobId}/events${q}`, { headers: { "last-event-id": String(ids[4]) } });
    const later = [...resumed.text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    assert.deepEqual(later, ids.slice(5));
    // An empty Last-Event-ID is no Last-Event-ID.
    const empty = await request(s.port, "GET", `/api/jobs/${jobId}/events${q}`, { headers: { "last-event-id": "" } });
    assert.equal([...empty.text.matchAll(/^id: /gm)].length, ids.length);
    const missing = await request(s.port, "GET", `/api/jobs/job_nope/events${q}`);
    assert.equal(missing.status, 404);
    assert.equal(typeof missing.json().error, "string");
  });

  test("inference/chat streams a checkpoint's answer; the backend's refusals keep their status", async () => {
    const { events } = (await api("GET", `/api/jobs/${jobId}`)).json();
    const step = events.find((e) => e.type === "checkpoint.saved").step;
    const r = await api("POST", "/api/inference/chat", {
      body: { messages: [{ role: "user", content: "hi" }], adapter: { kind: "checkpoint", jobId, step }, maxTokens: 4, stream: true },
    });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers["content-type"], /text\/event-stream/);
    assert.match(r.text, /"object":"chat\.completion\.chunk"/);
    assert.ok(r.text.includes(`"model":"${jobId}:checkpoint-${step}"`), r.text.slice(0, 400));
    assert.match(r.text, /data: \[DONE\]/);
    const refused = await api("POST", "/api/inference/chat", {
      body: { messages: [{ role: "user", content: "hi" }], adapter: { kind: "checkpoint", jobId, step: 999 }, stream: true },
    });
    assert.ok(refused.status >= 400 && refused.status < 500, `${refused.status} ${refused.text}`);
    assert.equal(typeof refused.json().error, "string");
    const notObject = await api("POST", "/api/inference/chat", { body: [] });
    assert.equal(notObject.status, 400);
  });

  test("deployments and keys go through to the backend, with upstream's shapes and the endpoint's URL", async () => {
    assert.deepEqual((await api("GET", "/api/deployments")).json(), { deployments: [] });
    const target = { kind: "adapter", adapter: { kind: "final", jobId } };
    const created = await api("POST", "/api/deployments", { body: { slug: "api-bot", target, authMode: "fixed_api_key" } });
    assert.equal(created.status, 200, created.text);
    const d = created.json().deployment;
    assert.equal(d.slug, "api-bot");
    assert.deepEqual(d.target, target);
    assert.equal(d.enabled, true);
    const { baseUrl } = (await api("GET", "/api/credentials")).json();
    assert.equal(d.url, `${baseUrl}/deployments/api-bot/v1`);
    const list = (await api("GET", "/api/deployments")).json();
    assert.deepEqual(list.deployments.map((x) => [x.id, x.url]), [[d.id, d.url]]);
    assert.equal((await api("GET", `/api/deployments/${d.id}`)).json().deployment.id, d.id);
    const patched = (await api("PATCH", `/api/deployments/${d.id}`, { body: { enabled: false } })).json();
    assert.equal(patched.deployment.enabled, false);
    const key = (await api("POST", `/api/deployments/${d.id}/keys`, { body: { label: "ci" } })).json().key;
    assert.equal(key.label, "ci");
    assert.ok(key.plaintext.startsWith(key.prefix), JSON.stringify(key));
    const keys = (await api("GET", `/api/deployments/${d.id}/keys`)).json().keys;
    assert.deepEqual(keys.map((k) => [k.id, k.enabled]), [[key.id, true]]);
    assert.ok(!("plaintext" in keys[0]), "the plaintext is shown once");
    assert.deepEqual((await api("DELETE", `/api/deployments/${d.id}/keys/${key.id}`)).json(), {});
    assert.equal((await api("GET", `/api/deployments/${d.id}/keys`)).json().keys[0].enabled, false);

    // Refusals: Studio's own shape checks, and the backend's, with its status and message.
    for (const [method, path] of [["POST", "/api/deployments"], ["PATCH", `/api/deployments/${d.id}`], ["POST", `/api/deployments/${d.id}/keys`]]) {
      const r = await api(method, path, { body: [] });
      assert.equal(r.status, 400, `${method} ${path}`);
      assert.match(r.json().error, /body must be a JSON object/);
    }
    const taken = await api("POST", "/api/deployments", { body: { slug: "api-bot", target, authMode: "none" } });
    assert.equal(taken.status, 409, taken.text);
    const badSlug = await api("POST", "/api/deployments", { body: { slug: "A", target, authMode: "none" } });
    assert.equal(badSlug.status, 400, badSlug.text);
    assert.match(badSlug.json().error, /slug/);
    assert.equal((await api("GET", "/api/deployments/dep_nope")).status, 404);
    assert.deepEqual((await api("DELETE", `/api/deployments/${d.id}`)).json(), {});
    assert.deepEqual((await api("GET", "/api/deployments")).json(), { deployments: [] });
  });

  test("cancel stops a running job; closing the train stream stops its `arkor start`, cancelling the job", async () => {
    const file = addEntry(s.dir, "long", 100000);
    const run = await openStream(s.port, "POST", "/api/train", { headers: { "x-arkor-studio-token": s.token }, body: { file } });
    const [, id] = await run.waitFor(/Started job (\S+)/, 90_000);
    await run.waitFor(/step [1-9]\d*\/100000/, 90_000);
    const c = await api("POST", `/api/jobs/${id}/cancel`);
    assert.equal(c.status, 200, c.text);
    assert.equal(c.json().job.status, "cancelled");
    const text = await run.ended;
    assert.match(text, /\n---\nexit=\d+\n$/);

    // A second long run, whose client goes away: its child must go too.
    const again = await openStream(s.port, "POST", "/api/train", { headers: { "x-arkor-studio-token": s.token }, body: { file } });
    const [, id2] = await again.waitFor(/Started job (\S+)/, 90_000);
    const pids = childPids(s.dev.child.pid);
    assert.ok(pids.length > 0, "arkor start runs as a child of arkor dev");
    again.req.destroy();
    await waitUntil(() => childPids(s.dev.child.pid).length === 0, 20_000, "the training child exits after the client left");
    // It was stopped as Ctrl-C stops it: its job cancelled, not left running.
    assert.equal((await api("GET", `/api/jobs/${id2}`)).json().job.status, "cancelled");
  });
});

/** Pids of the `arkor start` processes whose parent is `pid` (Linux /proc). */
function childPids(pid) {
  const out = [];
  for (const name of readdirSafe("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
      const argv = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
      if (ppid === pid && state !== "Z" && argv.includes("start")) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function readdirSafe(dir) {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

async function waitUntil(check, ms, what) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`timed out: ${what}`);
}

describe("arkor dev's ports and token file", () => {
  test("an explicit busy --port fails at once with upstream's message and leaves the token file alone", async () => {
    const { env, home } = cliEnv();
    const dir = scaffold(env, { steps: 2 });
    const blocker = createServer().listen(0, "127.0.0.1");
    await new Promise((r) => blocker.once("listening", r));
    const port = blocker.address().port;
    try {
      const h = startArkor(["dev", "--port", String(port)], { cwd: dir, env });
      const r = await h.done;
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`Port ${port} is already in use\\. Another \`arkor dev\` may be running; pass --port to choose a different one\\.`));
      assert.ok(!existsSync(join(home, ".arkor", "studio-token")));
    } finally {
      blocker.close();
    }
    const bad = await startArkor(["dev", "--port", "70000"], { cwd: dir, env }).done;
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--port must be a whole number from 1 to 65535, got "70000"/);
  });

  test("without --port a busy 4000 moves to the next port, warning; the token file goes on exit", async () => {
    const { env, home } = cliEnv();
    const dir = scaffold(env, { steps: 2 });
    const blocker = createServer();
    // Something else may hold 4000 already: either way it is busy.
    await new Promise((r) => blocker.once("error", r).listen(4000, "127.0.0.1", r));
    try {
      const h = startArkor(["dev"], { cwd: dir, env });
      try {
        const [, port] = await h.waitFor("stdout", /Arkor Studio running on http:\/\/localhost:(\d+)/, 60_000);
        assert.ok(Number(port) > 4000 && Number(port) <= 4009, port);
        assert.match(h.out.stderr, /Port 4000 is in use, trying 4001 instead\. Pass --port to pin a specific one\./);
        const file = join(home, ".arkor", "studio-token");
        const token = readFileSync(file, "utf8");
        const page = await request(Number(port), "GET", "/");
        assert.ok(page.text.includes(token));
      } finally {
        h.child.kill("SIGTERM");
      }
      await h.done;
      assert.ok(!existsSync(join(home, ".arkor", "studio-token")), "removed on exit");
    } finally {
      blocker.close();
    }
  });
});

test("Studio's web app type-checks (TypeScript, strict) and builds with esbuild", async () => {
  const { spawnSync } = await import("node:child_process");
  const { REPO_ROOT, makeTempDir } = await import("./helpers/local-backend.mjs");
  const tsc = spawnSync(process.execPath, [join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(REPO_ROOT, "lib", "studio", "app", "tsconfig.json")], { encoding: "utf8" });
  assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
  const { buildStudioApp } = await import("../lib/studio/build-app.js");
  const out = await buildStudioApp({ outDir: makeTempDir("arkor-studio-dist-") });
  const html = readFileSync(join(out, "index.html"), "utf8");
  assert.match(html, /<script type="module" src="\/assets\/main\.js">/);
  assert.ok(statSync(join(out, "assets", "main.js")).size > 10_000);
  assert.ok(readFileSync(join(out, "assets", "main.css"), "utf8").includes(".u-legend"), "uPlot's stylesheet is bundled");
});

test("with ARKOR_CLOUD_API_URL, Studio signs in to that backend and bootstraps the project on first chat", async () => {
  const { freePort: free, isolated, startServe } = await import("./helpers/local-backend.mjs");
  const servePort = await free();
  const serve = await startServe(servePort, isolated().env);
  const remote = `http://127.0.0.1:${servePort}`;
  let s;
  try {
    s = await startStudio({ steps: 2, env: { ARKOR_CLOUD_API_URL: remote } });
    assert.match(s.dev.out.stdout, /No credentials on file\. Requesting an anonymous token\./);
    assert.match(s.dev.out.stdout, /Anonymous id: \S+\. Arkor Cloud uses this id/);
    const api = (method, path, body) => request(s.port, method, path, { headers: { "x-arkor-studio-token": s.token }, body });
    const before = (await api("GET", "/api/credentials")).json();
    assert.equal(before.local, false);
    assert.equal(before.baseUrl, remote);
    assert.equal(before.projectSlug, null, "no .arkor/state.json yet");
    assert.deepEqual((await api("GET", "/api/jobs")).json(), { jobs: [] });
    assert.deepEqual((await api("GET", "/api/deployments")).json(), { deployments: [], scopeMissing: true });
    const chat = await api("POST", "/api/inference/chat", { messages: [{ role: "user", content: "hi" }], baseModel: "arkor/tiny-gemma3", maxTokens: 2, stream: true });
    assert.equal(chat.status, 200, chat.text);
    assert.match(chat.text, /data: \[DONE\]/);
    const state = JSON.parse(readFileSync(join(s.dir, ".arkor", "state.json"), "utf8"));
    assert.equal(state.orgSlug, before.orgSlug);
    assert.equal(state.projectSlug, "proj");
    assert.equal((await api("GET", "/api/credentials")).json().projectSlug, "proj");
  } finally {
    if (s) await s.stop();
    serve.child.kill("SIGTERM");
  }
});
