// The CLI beside a running job: `arkor start`'s live progress line on a
// pseudo-terminal (util-linux `script`), Ctrl-C cancelling the job, and
// `jobs` / `logs --follow` / `cancel` from other processes on a job that an
// `arkor start` process owns. Also the interactive template question of
// `arkor init` on a terminal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { arkor, assertExit, cliEnv, scaffold, start, startArkor, makeTempDir, BIN, REPO_ROOT, STARTED } from "./helpers/cli.mjs";

const sh = (s) => `'${s.replace(/'/g, `'\\''`)}'`;

/** `script -qfec CMD /dev/null`: runs CMD with a pseudo-terminal as its stdio. */
function underPty(argv, opts) {
  return start("script", ["-qfec", argv.map(sh).join(" "), "/dev/null"], opts);
}

// A trainer that reports the keys of its onLog context once, so the test
// sees what user callbacks get while the CLI's progress hook is installed.
const printLogKeys = (src) =>
  src.replace(
    "callbacks: {",
    `callbacks: {
    onLog: (ctx) => {
      if (ctx.step === 1) console.log("LOGKEYS " + Object.keys(ctx).sort().join(","));
    },`,
  );

test("on a terminal, start draws one live progress line (step/max, loss, lr, tok/s, ETA)", async () => {
  const { env } = cliEnv({ TERM: "xterm" });
  const dir = scaffold(env, { template: "redaction", steps: 10, trainerEdit: printLogKeys });
  const h = underPty([process.execPath, BIN, "start"], { cwd: dir, env });
  const r = await h.done;
  assertExit(r, 0, "arkor start under a pty");
  const out = r.stdout; // the pty merges stdout and stderr
  assert.match(out, /Job \S+ finished with status=completed/);
  // Each update rewrites the line in place: carriage return + erase line,
  // never a newline between two updates.
  const updates = [...out.matchAll(/\r\x1b\[2K(step \d+\/10 [^\r\n]*)/g)].map((m) => m[1]);
  assert.ok(updates.length >= 10, `live updates:\n${JSON.stringify(out)}`);
  for (const u of updates) {
    assert.match(u, /^step (\d+)\/10 · loss \d+\.\d{4} · lr \d\.\d\de-\d+ · [\d.]+k? tok\/s · [\d.]+ samples\/s · ETA \d+s$/);
  }
  assert.ok(updates.some((u) => u.startsWith("step 10/10 ")));
  // The trainer's own output goes above the line, which is then drawn again.
  assert.match(out, /\r\x1b\[2KLOGKEYS [^\r\n]*\r?\nstep 1\/10 [^\r\n]*\r\x1b\[2K/);
  assert.ok(!/^step \d+\/10 [^\r\n]*\r?\n/m.test(out), `no progress line is left behind as its own line:\n${JSON.stringify(out)}`);
  // User callbacks get the upstream onLog context, without the CLI's extra.
  assert.match(out, /LOGKEYS epoch,evalLoss,job,learningRate,loss,samplesPerSecond,step\r?\n/);
});

test("Ctrl-C during start cancels the job, says so and exits 130", async () => {
  const { env } = cliEnv();
  const dir = scaffold(env, { template: "triage", steps: 100000 });
  const h = startArkor(["start"], { cwd: dir, env });
  const [, jobId] = await h.waitFor("stdout", STARTED);
  await h.waitFor("stderr", /step 2\/100000 /);
  h.child.kill("SIGINT");
  const r = await h.done;
  assert.equal(r.status, 130, r.stderr);
  assert.match(r.stderr, /Interrupted: cancelling the job/);
  assert.match(r.stderr, /Job cancelled\.\n/);
  const jobs = arkor(["jobs", "--json"], { cwd: dir, env });
  assertExit(jobs, 0, "jobs after Ctrl-C");
  assert.deepEqual(JSON.parse(jobs.stdout).map((j) => [j.id, j.status]), [[jobId, "cancelled"]]);
});

test("jobs, logs --follow and cancel from other processes reach a job another live process is training", async () => {
  const { env } = cliEnv();
  const dir = scaffold(env, { template: "translate", steps: 100000 });
  const owner = startArkor(["start"], { cwd: dir, env });
  const [, jobId] = await owner.waitFor("stdout", STARTED);
  await owner.waitFor("stderr", /step 1\/100000 /);

  const listed = arkor(["jobs", "--json"], { cwd: dir, env });
  assertExit(listed, 0, "jobs while running");
  assert.deepEqual(JSON.parse(listed.stdout).map((j) => [j.id, j.status]), [[jobId, "running"]]);

  const follower = startArkor(["logs", jobId, "--follow"], { cwd: dir, env });
  await follower.waitFor("stdout", /^Job \S+ \(translate-v1\): running$/m);
  // New steps keep arriving from the other process's training thread.
  const seen = Number((await follower.waitFor("stdout", / step (\d+)\/100000 /))[1]);
  await follower.waitFor("stdout", new RegExp(` step ${seen + 3}/100000 `), 30_000);

  const cancel = arkor(["cancel", jobId], { cwd: dir, env });
  assertExit(cancel, 0, "cancel from another process");
  assert.equal(cancel.stdout, `Cancelled job ${jobId}.\n`);

  const r = await owner.done;
  assertExit(r, 0, "the owner's start");
  assert.match(r.stdout, new RegExp(`Job ${jobId} finished with status=cancelled`));
  const f = await follower.done;
  assertExit(f, 0, "logs --follow ends with the job");
  assert.match(f.stdout, /\d\d:\d\d:\d\d cancelled\n$/);
});

test("init on a terminal asks for the template (and not under CI)", async () => {
  const parent = makeTempDir("arkor-init-tty-");
  const { env } = cliEnv({ TERM: "xterm" });
  const h = underPty([process.execPath, BIN, "init", "asked"], { cwd: parent, env });
  await h.waitFor("stdout", /Starter template\?[\s\S]*Support ticket triage[\s\S]*English to French[\s\S]*Personal data redaction/);
  h.child.stdin.write("\x1b[B"); // down: translate
  await h.waitFor("stdout", /❯ English to French|> English to French/);
  h.child.stdin.write("\r");
  const r = await h.done;
  assertExit(r, 0, "interactive init");
  assert.ok(existsSync(join(parent, "asked", "data", "translate.jsonl")), r.stdout);
  assert.match(readFileSync(join(parent, "asked", "src", "arkor", "trainer.ts"), "utf8"), /data\/translate\.jsonl/);

  // The same terminal with CI set: no question, the default template.
  const ci = cliEnv({ TERM: "xterm", CI: "true" });
  const q = underPty([process.execPath, BIN, "init", "quiet"], { cwd: parent, env: ci.env });
  const rq = await q.done;
  assertExit(rq, 0, "init under CI on a terminal");
  assert.ok(!rq.stdout.includes("Starter template?"));
  assert.ok(existsSync(join(parent, "quiet", "data", "triage.jsonl")));
  void REPO_ROOT;
});
