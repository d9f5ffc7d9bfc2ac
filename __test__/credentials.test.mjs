// Credentials (docs/PROTOCOL.md §7): ~/.arkor/credentials.json read / write (atomic,
// 0600), anonymous bootstrap, corrupt vs unreadable files, base URL
// resolution. Every case runs in a child process with its own HOME so the
// addon sees a fresh environment.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { statSync, readFileSync, readdirSync, writeFileSync, mkdirSync, chmodSync, existsSync } from "node:fs";
import { join } from "node:path";

import {
  isolateEnv,
  startMockCloud,
  makeTempHome,
  makeProjectDir,
  runArkor,
  MODEL,
} from "./helpers/mock-cloud.mjs";

isolateEnv();

let mock;
before(async () => {
  mock = await startMockCloud();
});
after(() => mock.close());

const credFile = (home) => join(home, ".arkor", "credentials.json");
const anonFromMock = () =>
  mock.requests.filter((r) => r.method === "POST" && r.path === "/v1/auth/anonymous");
const fail = (r) => `${r.error?.message}\n${r.stderr ?? ""}`;

const ANON = {
  mode: "anon",
  token: "stored-tok",
  anonymousId: "stored-anon",
  arkorCloudApiUrl: "http://127.0.0.1:9",
  orgSlug: "stored-org",
};
const OAUTH = {
  mode: "oauth",
  accessToken: "at-123",
  refreshToken: "rt-456",
  expiresAt: 1893456000,
  auth0Domain: "arkor.eu.auth0.com",
  audience: "https://api.arkor.ai",
  clientId: "client-1",
  arkorCloudApiUrl: "https://staging.example.com",
};

function env(home, extra = {}) {
  return { HOME: home, USERPROFILE: home, ARKOR_HOME: join(home, "local"), ARKOR_CLOUD_API_URL: mock.url, ...extra };
}

test("credentialsPath() is $HOME/.arkor/credentials.json (read at call time)", async () => {
  const home = makeTempHome();
  const r = await runArkor(
    `const a = arkor.credentialsPath();
     process.env.HOME = ${JSON.stringify(join(home, "other"))};
     return [a, arkor.credentialsPath()];`,
    { env: env(home) },
  );
  assert.ok(r.ok, fail(r));
  assert.equal(r.value[0], credFile(home));
  assert.equal(r.value[1], credFile(join(home, "other")));
});

test("readCredentials() resolves null when the file (or ~/.arkor) is missing", async () => {
  const home = makeTempHome();
  const r = await runArkor(`return await arkor.readCredentials();`, { env: env(home) });
  assert.ok(r.ok, fail(r));
  assert.equal(r.value, null);
  assert.equal(existsSync(join(home, ".arkor", "credentials.json")), false, "reading creates nothing");
});

for (const [label, creds] of [["anonymous", ANON], ["oauth", OAUTH]]) {
  test(`writeCredentials() / readCredentials() round-trip ${label} credentials with mode 0600`, async () => {
    const home = makeTempHome();
    const r = await runArkor(
      `await arkor.writeCredentials(${JSON.stringify(creds)});
       return await arkor.readCredentials();`,
      { env: env(home, { ARKOR_CLOUD_API_URL: undefined }) },
    );
    assert.ok(r.ok, fail(r));
    assert.deepEqual(r.value, creds);
    const p = credFile(home);
    assert.deepEqual(JSON.parse(readFileSync(p, "utf8")), creds);
    assert.equal(statSync(p).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(join(home, ".arkor")), ["credentials.json"], "no temp file left behind");
  });
}

test("writeCredentials() replaces an existing file atomically (new inode, 0600 even if it was 0644)", async () => {
  const home = makeTempHome({ ...ANON, token: "old" });
  const p = credFile(home);
  chmodSync(p, 0o644);
  const inoBefore = statSync(p).ino;
  const r = await runArkor(`await arkor.writeCredentials(${JSON.stringify(ANON)});`, { env: env(home) });
  assert.ok(r.ok, fail(r));
  const st = statSync(p);
  assert.equal(st.mode & 0o777, 0o600);
  assert.notEqual(st.ino, inoBefore, "written via temp file + rename, not in place");
  assert.deepEqual(JSON.parse(readFileSync(p, "utf8")), ANON);
  assert.deepEqual(readdirSync(join(home, ".arkor")), ["credentials.json"]);
});

test("readCredentials() resolves null on a corrupt file", async () => {
  const home = makeTempHome("{ this is not json");
  const r = await runArkor(`return await arkor.readCredentials();`, { env: env(home) });
  assert.ok(r.ok, fail(r));
  assert.equal(r.value, null);
});

test("readCredentials() rejects when credentials.json is unreadable (a directory: EISDIR)", async () => {
  const home = makeTempHome();
  mkdirSync(credFile(home), { recursive: true });
  const r = await runArkor(`return await arkor.readCredentials();`, { env: env(home) });
  assert.equal(r.ok, false, "must not resolve null for an unreadable file");
  assert.ok(statSync(credFile(home)).isDirectory());
});

test("ensureCredentials() without a file bootstraps an anonymous identity and stores it", async () => {
  const home = makeTempHome();
  const before = anonFromMock().length;
  const r = await runArkor(`return await arkor.ensureCredentials();`, { env: env(home) });
  assert.ok(r.ok, fail(r));
  const expected = {
    mode: "anon",
    token: "anon-tok",
    anonymousId: "anon-1",
    arkorCloudApiUrl: mock.url,
    orgSlug: "anon-org",
  };
  assert.deepEqual(r.value, expected);
  const reqs = anonFromMock().slice(before);
  assert.equal(reqs.length, 1);
  assert.deepEqual(reqs[0].body, { kind: "cli" });
  assert.match(String(reqs[0].headers["x-arkor-client"]), /^arkor\/\S+$/);
  assert.match(String(reqs[0].headers["content-type"]), /application\/json/);
  const p = credFile(home);
  assert.deepEqual(JSON.parse(readFileSync(p, "utf8")), expected);
  assert.equal(statSync(p).mode & 0o777, 0o600);
});

test("ensureCredentials() returns existing credentials without any request", async () => {
  const home = makeTempHome(OAUTH);
  const before = mock.requests.length;
  const r = await runArkor(`return await arkor.ensureCredentials();`, { env: env(home) });
  assert.ok(r.ok, fail(r));
  assert.deepEqual(r.value, OAUTH);
  assert.equal(mock.requests.length, before);
});

test("ensureCredentials() replaces a corrupt file with a fresh anonymous identity", async () => {
  const home = makeTempHome("garbage{{{");
  const before = anonFromMock().length;
  const r = await runArkor(`return await arkor.ensureCredentials();`, { env: env(home) });
  assert.ok(r.ok, fail(r));
  assert.equal(r.value.mode, "anon");
  assert.equal(r.value.token, "anon-tok");
  assert.equal(anonFromMock().length - before, 1);
  assert.deepEqual(JSON.parse(readFileSync(credFile(home), "utf8")), r.value);
});

test("ensureCredentials() fails on an unreadable credentials path and never overwrites it", async () => {
  const home = makeTempHome();
  mkdirSync(credFile(home), { recursive: true });
  writeFileSync(join(credFile(home), "keep"), "x");
  const before = anonFromMock().length;
  const r = await runArkor(`return await arkor.ensureCredentials();`, { env: env(home) });
  assert.equal(r.ok, false, "must reject");
  assert.ok(statSync(credFile(home)).isDirectory(), "left untouched");
  assert.equal(readFileSync(join(credFile(home), "keep"), "utf8"), "x");
  assert.equal(anonFromMock().length, before, "no anonymous bootstrap");
});

test("requestAnonymousToken(baseUrl) returns {token, anonymousId, kind, orgSlug}", async () => {
  const home = makeTempHome();
  const r = await runArkor(`return await arkor.requestAnonymousToken(${JSON.stringify(mock.url)});`, {
    env: env(home),
  });
  assert.ok(r.ok, fail(r));
  assert.deepEqual(r.value, { token: "anon-tok", anonymousId: "anon-1", kind: "cli", orgSlug: "anon-org" });
  assert.equal(existsSync(credFile(home)), false, "requesting a token stores nothing");
});

test("requestAnonymousToken(baseUrl, \"web\") sends {kind: \"web\"}", async () => {
  const home = makeTempHome();
  const before = anonFromMock().length;
  const r = await runArkor(`return await arkor.requestAnonymousToken(${JSON.stringify(mock.url)}, "web");`, {
    env: env(home),
  });
  assert.ok(r.ok, fail(r));
  const reqs = anonFromMock().slice(before);
  assert.equal(reqs.length, 1);
  assert.deepEqual(reqs[0].body, { kind: "web" });
});

test("requestAnonymousToken rejects on a non-2xx answer with the status in the message", async (t) => {
  const m2 = await startMockCloud();
  t.after(() => m2.close());
  m2.on("POST", "/v1/auth/anonymous", { status: 403, text: "anonymous disabled" });
  const home = makeTempHome();
  const r = await runArkor(`return await arkor.requestAnonymousToken(${JSON.stringify(m2.url)});`, {
    env: env(home),
  });
  assert.equal(r.ok, false);
  assert.match(r.error.message, /403/);
});

test("defaultArkorCloudApiUrl: env wins, then the credentials' URL (trailing slashes stripped)", async () => {
  const home = makeTempHome();
  const r = await runArkor(
    `const c = { ...${JSON.stringify(ANON)}, arkorCloudApiUrl: "https://creds.example.com//" };
     const withEnv = [arkor.defaultArkorCloudApiUrl(c), arkor.defaultArkorCloudApiUrl()];
     delete process.env.ARKOR_CLOUD_API_URL;
     return [...withEnv, arkor.defaultArkorCloudApiUrl(c)];`,
    { env: env(home, { ARKOR_CLOUD_API_URL: "https://env.example.com/" }) },
  );
  assert.ok(r.ok, fail(r));
  assert.deepEqual(r.value, ["https://env.example.com", "https://env.example.com", "https://creds.example.com"]);
});

test("ARKOR_CLOUD_API_URL wins over the URL stored in the credentials for a trainer", async () => {
  // stored credentials point at a dead port; the env var points at the mock
  const home = makeTempHome(ANON);
  const cwd = makeProjectDir({ state: { orgSlug: "stored-org", projectSlug: "proj", projectId: "p1" } });
  const before = mock.requests.length;
  const r = await runArkor(
    `const tr = arkor.createTrainer({ name: "envwins", model: ${JSON.stringify(MODEL)}, dataset: { type: "huggingface", name: "d" } });
     return await tr.start();`,
    { env: env(home), cwd },
  );
  assert.ok(r.ok, fail(r));
  assert.deepEqual(r.value, { jobId: "job-1" });
  const reqs = mock.requests.slice(before);
  const job = reqs.find((q) => q.method === "POST" && q.path === "/v1/jobs");
  assert.ok(job, "job created on the env URL");
  assert.equal(job.headers.authorization, "Bearer stored-tok");
  assert.deepEqual(job.query, { orgSlug: "stored-org", projectSlug: "proj" });
  assert.equal(job.body.name, "envwins");
});

test("a trainer with no credentials file bootstraps anonymous credentials and uses them", async () => {
  const home = makeTempHome();
  const cwd = makeProjectDir({ state: null, name: "Fresh Project" });
  const before = mock.requests.length;
  const r = await runArkor(
    `const tr = arkor.createTrainer({ name: "boot", model: ${JSON.stringify(MODEL)}, dataset: { type: "huggingface", name: "d" } });
     return await tr.start();`,
    { env: env(home), cwd },
  );
  assert.ok(r.ok, fail(r));
  const reqs = mock.requests.slice(before);
  assert.deepEqual(
    reqs.map((q) => `${q.method} ${q.path}`),
    ["POST /v1/auth/anonymous", "POST /v1/projects", "POST /v1/jobs"],
  );
  assert.deepEqual(reqs[1].query, { orgSlug: "anon-org" });
  assert.deepEqual(reqs[1].body, { name: "Fresh Project", slug: "fresh-project" });
  assert.equal(reqs[1].headers.authorization, "Bearer anon-tok");
  assert.equal(reqs[2].headers.authorization, "Bearer anon-tok");
  assert.deepEqual(reqs[2].query, { orgSlug: "anon-org", projectSlug: "fresh-project" });
  assert.equal(JSON.parse(readFileSync(credFile(home), "utf8")).token, "anon-tok");
  assert.deepEqual(JSON.parse(readFileSync(join(cwd, ".arkor", "state.json"), "utf8")), {
    orgSlug: "anon-org",
    projectSlug: "fresh-project",
    projectId: "proj-id-1",
  });
});
