// `arkor login --anonymous`, `whoami`, `logout`, and the backend rule of the
// CLI: with credentials stored (or ARKOR_CLOUD_API_URL set), commands talk
// to that backend (here an `arkor serve` of its own) through the normal
// credential + project flow; without, to the local store.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

import { arkor, assertExit, cliEnv, scaffold, STARTED } from "./helpers/cli.mjs";
import { freePort, isolated, startServe } from "./helpers/local-backend.mjs";

test("login --anonymous stores credentials for the named backend; jobs, logs and whoami then use it; logout removes them", async () => {
  const server = await startServe(await freePort(), isolated().env);
  try {
    const url = server.lines.find((l) => l.includes("listening on")).match(/(http:\/\/\S+)/)[1];
    const { env, home, arkorHome } = cliEnv();
    const creds = join(home, ".arkor", "credentials.json");

    const local = arkor(["whoami"], { env, cwd: home });
    assertExit(local, 0, "whoami without credentials");
    assert.match(local.stdout, new RegExp(`^Not signed in: using the local backend \\(data in ${arkorHome}\\)\\.$`, "m"));
    assert.match(local.stdout, /^Org: local, project here: arkor-home-/m);

    const noFlag = arkor(["login"], { env });
    assertExit(noFlag, 1, "login without --anonymous");
    assert.match(noFlag.stderr, /arkor login --anonymous/);
    assert.equal(existsSync(creds), false);

    const unsigned = arkor(["whoami"], { env: { ...env, ARKOR_CLOUD_API_URL: url } });
    assertExit(unsigned, 0, "whoami with a backend named but no credentials");
    assert.equal(unsigned.stdout, `Not signed in to ${url}. Run \`arkor login --anonymous\`.\n`);

    const login = arkor(["login", "--anonymous"], { env: { ...env, ARKOR_CLOUD_API_URL: url } });
    assertExit(login, 0, "login --anonymous");
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
  } finally {
    server.kill("SIGTERM");
    await server.done;
  }
});
