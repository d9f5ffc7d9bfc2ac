// `arkor login --anonymous`, `whoami`, `logout`, and the backend rule of the
// CLI: with credentials stored (or ARKOR_CLOUD_API_URL set), commands talk
// to that backend (here an `arkor serve` of its own) through the normal
// credential + project flow; without, to the local store.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

import { arkor, assertExit, cliEnv, scaffold, STARTED } from "./helpers/cli.mjs";
import { BIN, freePort, isolated, spawnNode, startServe } from "./helpers/local-backend.mjs";

test("login (anonymous: the backend offers no OAuth) stores credentials for the named backend; jobs, logs and whoami then use it; logout removes them", async () => {
  const server = await startServe(await freePort(), isolated().env);
  try {
    const url = server.lines.find((l) => l.includes("listening on")).match(/(http:\/\/\S+)/)[1];
    const { env, home, arkorHome } = cliEnv();
    const creds = join(home, ".arkor", "credentials.json");

    const local = arkor(["whoami"], { env, cwd: home });
    assertExit(local, 0, "whoami without credentials");
    assert.match(local.stdout, new RegExp(`^Not signed in: using the local backend \\(data in ${arkorHome}\\)\\.$`, "m"));
    assert.match(local.stdout, /^Org: local, project here: arkor-home-/m);

    // The backend's /v1/auth/cli/config offers no OAuth: --oauth is refused
    // with upstream's message, and a plain login goes anonymous.
    const oauth = arkor(["login", "--oauth"], { env: { ...env, ARKOR_CLOUD_API_URL: url } });
    assertExit(oauth, 1, "login --oauth");
    assert.equal(oauth.stderr, "arkor: OAuth is not configured for this deployment. Re-run without --oauth or pass --anonymous.\n");
    assert.equal(existsSync(creds), false);

    const unsigned = arkor(["whoami"], { env: { ...env, ARKOR_CLOUD_API_URL: url } });
    assertExit(unsigned, 0, "whoami with a backend named but no credentials");
    assert.equal(unsigned.stdout, `Not signed in to ${url}. Run \`arkor login --anonymous\`.\n`);

    const login = arkor(["login"], { env: { ...env, ARKOR_CLOUD_API_URL: url } });
    assertExit(login, 0, "login");
    assert.match(login.stdout, /^OAuth is not configured\. Continuing with an anonymous session\.$/m);
    const stored = JSON.parse(readFileSync(creds, "utf8"));
    assert.equal(stored.mode, "anon");
    assert.equal(stored.arkorCloudApiUrl, url);
    assert.match(stored.orgSlug, /^anon-/);
    assert.equal(statSync(creds).mode & 0o777, 0o600);
    assert.match(login.stdout, new RegExp(`^Anonymous id: ${stored.anonymousId}$`, "m"));
    assert.match(login.stdout, new RegExp(`Signed in anonymously \\(personal org: ${stored.orgSlug}\\)\\.`));

    // From here on no ARKOR_CLOUD_API_URL: the stored credentials name the backend.
    const who = arkor(["whoami"], { env });
    assertExit(who, 0, "whoami signed in");
    assert.match(who.stdout, new RegExp(`^Backend: ${url}$`, "m"));
    assert.match(who.stdout, new RegExp(`^Orgs: ${stored.orgSlug}$`, "m"));

    const dir = scaffold(env, { steps: 4 });
    const none = arkor(["jobs"], { cwd: dir, env });
    assertExit(none, 0, "jobs before any run");
    assert.match(none.stdout, /^No jobs yet in project proj\./);
    const run = arkor(["start"], { cwd: dir, env, timeout: 180_000 });
    assertExit(run, 0, "start on the remote backend");
    const jobId = run.stdout.match(STARTED)[1];
    const state = JSON.parse(readFileSync(join(dir, ".arkor", "state.json"), "utf8"));
    assert.equal(state.orgSlug, stored.orgSlug, "the normal project flow wrote the state");
    const jobs = arkor(["jobs", "--json"], { cwd: dir, env });
    assertExit(jobs, 0, "jobs on the remote backend");
    assert.deepEqual(JSON.parse(jobs.stdout).map((j) => [j.id, j.status]), [[jobId, "completed"]]);
    // Without the credentials (another HOME) the same project dir is the
    // local store's, which never saw the job.
    const localJobs = arkor(["jobs", "--json"], { cwd: dir, env: { ...env, HOME: join(home, "elsewhere") } });
    assertExit(localJobs, 0, "jobs on the local store");
    assert.deepEqual(JSON.parse(localJobs.stdout), []);
    const logs = arkor(["logs", jobId], { cwd: dir, env });
    assertExit(logs, 0, "logs on the remote backend");
    assert.match(logs.stdout, /completed \(4 steps, final loss/);
    const missing = arkor(["logs", "job_nope"], { cwd: dir, env });
    assertExit(missing, 1, "logs of an unknown job on the remote backend");
    assert.equal(missing.stderr, `arkor: job job_nope not found on ${url}\n`);

    // logout: never without a yes; --force deletes (warning that an
    // anonymous identity cannot come back).
    const ask = arkor(["logout"], { env });
    assertExit(ask, 0, "logout without a terminal");
    assert.match(ask.stdout, /Aborted: pass --force/);
    assert.ok(existsSync(creds));
    const out = arkor(["logout", "--force"], { env });
    assertExit(out, 0, "logout --force");
    assert.equal(out.stdout, `Removed ${creds}.\n`);
    assert.match(out.stderr, /cannot be restored/);
    assert.equal(existsSync(creds), false);
    assert.equal(arkor(["logout"], { env }).stdout, "No credentials on file.\n");

    // --anonymous goes straight to a token, without asking for the CLI config.
    const anon = arkor(["login", "--anonymous"], { env: { ...env, ARKOR_CLOUD_API_URL: url } });
    assertExit(anon, 0, "login --anonymous");
    assert.doesNotMatch(anon.stdout, /OAuth is not configured/);
    assert.equal(JSON.parse(readFileSync(creds, "utf8")).arkorCloudApiUrl, url);
    const both = arkor(["login", "--anonymous", "--oauth"], { env });
    assertExit(both, 1, "both flags");
    assert.equal(both.stderr, "arkor: Pick one of --oauth / --anonymous, not both.\n");
  } finally {
    server.kill("SIGTERM");
    await server.done;
  }
});

test("whoami exits as upstream's does: 1 only when the backend wants a newer SDK (426)", async () => {
  const { startMockCloud, anonCreds } = await import("./helpers/mock-cloud.mjs");
  const { mkdirSync, writeFileSync } = await import("node:fs");
  const { spawn } = await import("node:child_process");
  const { BIN } = await import("./helpers/cli.mjs");
  // The mock answers from this process, so the CLI must not block it (no spawnSync).
  const arkorAsync = (args, { env }) =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], { env });
      const out = { stdout: "", stderr: "" };
      child.stdout.on("data", (d) => (out.stdout += d));
      child.stderr.on("data", (d) => (out.stderr += d));
      child.on("error", reject);
      child.on("close", (status, signal) => resolve({ status, signal, ...out }));
    });
  const mock = await startMockCloud();
  try {
    const { env, home } = cliEnv();
    mkdirSync(join(home, ".arkor"), { recursive: true });
    writeFileSync(join(home, ".arkor", "credentials.json"), JSON.stringify(anonCreds(mock.url)), { mode: 0o600 });

    mock.on("GET", "/v1/me", { status: 401, json: { error: "token expired" } });
    const expired = await arkorAsync(["whoami"], { env });
    assertExit(expired, 0, "whoami with a rejected token");
    assert.equal(expired.stdout, "Failed to fetch /v1/me (401). Token may be expired.\n");

    mock.on("GET", "/v1/me", { status: 426, json: { error: "sdk_too_old", minVersion: "9.9.9", message: "Please upgrade" } });
    const old = await arkorAsync(["whoami"], { env });
    assertExit(old, 1, "whoami against a backend that wants a newer SDK");
    assert.match(old.stderr, /arkor/);
    assert.match(old.stderr, /upgrade|install|update/i);
    assert.equal(old.stdout, "");
  } finally {
    await mock.close();
  }
});

// A backend that refuses anonymous sign-up (public mode without
// --allow-anonymous): the commands print its reason without a stack, and
// `arkor dev` stops with a fix this build can follow, not upstream's
// `arkor login --oauth`, which it does not do.
test("a backend that refuses anonymous sign-up: login and jobs print its reason, dev names fixes this build has", async () => {
  const { env: serveEnv } = isolated();
  const server = spawnNode([BIN, "serve", "--public", "--port", String(await freePort())], { env: serveEnv, timeoutMs: 120_000 });
  try {
    const line = await server.waitForLine((l) => l.includes("listening on"), 30_000);
    const url = line.match(/(http:\/\/\S+)/)[1];
    const { env, home } = cliEnv({ ARKOR_CLOUD_API_URL: url });
    for (const args of [["login", "--anonymous"], ["jobs"]]) {
      const refused = arkor(args, { env, cwd: home });
      assertExit(refused, 1, `arkor ${args.join(" ")}`);
      assert.match(refused.stderr, /^arkor: Failed to acquire anonymous token \(403\): .*anonymous sign-up is off.*--allow-anonymous/);
      assert.doesNotMatch(refused.stderr, /\n\s+at /, "a refusal, not a crash: no stack");
    }
    const r = arkor(["dev", "--port", String(await freePort())], { env, cwd: home, timeout: 60_000 });
    assertExit(r, 1, "arkor dev");
    assert.ok(r.stderr.includes(`arkor: Failed to bootstrap an anonymous session on ${url}: Failed to acquire anonymous token (403): `), r.stderr);
    assert.match(r.stderr, /anonymous sign-up is off/, "the backend's own reason");
    assert.match(r.stderr, /unset ARKOR_CLOUD_API_URL to use the local backend/);
    assert.match(r.stderr, /`arkor serve --allow-anonymous`/);
    assert.doesNotMatch(r.stdout + r.stderr, /login --oauth/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "a refusal, not a crash: no stack");
  } finally {
    server.kill();
    await server.done;
  }
});

test("an ARKOR_CLOUD_API_URL that is no http(s) URL is named before any request, without a stack", () => {
  for (const url of ["not-a-url", "ftp://example.com", "http://", "http://exa mple.com"]) {
    const { env, home } = cliEnv({ ARKOR_CLOUD_API_URL: url });
    for (const args of [["jobs"], ["login", "--anonymous"], ["chat", "job_x", "-p", "x"]]) {
      const r = arkor(args, { env, cwd: home });
      assertExit(r, 1, `ARKOR_CLOUD_API_URL=${url} arkor ${args.join(" ")}`);
      assert.equal(
        r.stderr,
        `arkor: ARKOR_CLOUD_API_URL=${JSON.stringify(url)} is not a valid http(s) URL: set it to a backend's address (such as https://api.arkor.ai), or unset it to use the local backend\n`,
      );
    }
  }
});
