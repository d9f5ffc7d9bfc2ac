// The CLI around a project: `arkor init`, then `npx arkor start` on the
// scaffold, then `jobs`, `logs`, `chat`, `cancel` against the jobs that run
// left in the local store; `models`; `--help` everywhere. Each test runs the
// real CLI as a subprocess in its own HOME and ARKOR_HOME.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

import { arkor, assertExit, cliEnv, scaffold, makeTempDir, REPO_ROOT, STARTED } from "./helpers/cli.mjs";

const { version } = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8"));
const TEMPLATES_DIR = join(REPO_ROOT, "lib", "cli", "templates");
const lines = (s) => s.split("\n").filter(Boolean);

test("--version, and --help on every command", () => {
  const { env } = cliEnv();
  const v = arkor(["--version"], { env });
  assertExit(v, 0, "--version");
  assert.equal(v.stdout.trim(), version);
  const top = arkor(["--help"], { env });
  assertExit(top, 0, "--help");
  const commands = ["init", "build", "start", "jobs", "logs", "cancel", "chat", "models", "serve", "endpoints", "whoami", "login", "logout"];
  for (const c of commands) assert.match(top.stdout, new RegExp(`^  ${c}\\b`, "m"), `top-level help lists ${c}`);
  for (const c of commands) {
    const r = arkor([c, "--help"], { env });
    assertExit(r, 0, `${c} --help`);
    assert.match(r.stdout, new RegExp(`^Usage: arkor ${c}\\b`, "m"));
  }
  assert.match(arkor(["chat", "--help"], { env }).stdout, /--step <n>[\s\S]*--final[\s\S]*--base[\s\S]*--prompt <text>/);
  assert.match(arkor(["init", "--help"], { env }).stdout, /--template <template>[\s\S]*triage \| translate \| redaction[\s\S]*--yes/);
});

test("the template datasets are what make-datasets.mjs generates", async () => {
  const { DATASETS, ROWS } = await import(pathToFileURL(join(TEMPLATES_DIR, "make-datasets.mjs")).href);
  assert.deepEqual(Object.keys(DATASETS).sort(), ["redaction", "translate", "triage"]);
  for (const [name, make] of Object.entries(DATASETS)) {
    const rows = make();
    assert.ok(rows.length >= 30 && rows.length <= ROWS, `${name}: ${rows.length} rows`);
    const text = rows.map((messages) => JSON.stringify({ messages })).join("\n") + "\n";
    assert.equal(readFileSync(join(TEMPLATES_DIR, `${name}.jsonl`), "utf8"), text, `${name}.jsonl is stale: rerun make-datasets.mjs`);
    for (const messages of rows) {
      // no system turn: `arkor chat --prompt` sends the bare text
      assert.deepEqual(messages.map((m) => m.role), ["user", "assistant"]);
      for (const m of messages) assert.ok(typeof m.content === "string" && m.content.length > 0);
    }
    assert.equal(new Set(rows.map((r) => r[0].content)).size, rows.length, `${name}: prompts are unique`);
  }
});

test("init scaffolds each template non-interactively; existing files are kept, package.json and .gitignore completed", () => {
  const parent = makeTempDir("arkor-init-");
  // CI=1 alone is enough to skip the question (default template: triage).
  const ci = cliEnv({ CI: "1" });
  const r = arkor(["init", "a"], { cwd: parent, env: ci.env });
  assertExit(r, 0, "init under CI=1");
  const a = join(parent, "a");
  for (const f of ["src/arkor/index.ts", "src/arkor/trainer.ts", "package.json", ".gitignore", "data/triage.jsonl", "README.md"]) {
    assert.ok(existsSync(join(a, f)), `${f} written`);
  }
  assert.equal(readFileSync(join(a, "data/triage.jsonl"), "utf8"), readFileSync(join(TEMPLATES_DIR, "triage.jsonl"), "utf8"));
  const pkg = JSON.parse(readFileSync(join(a, "package.json"), "utf8"));
  assert.equal(pkg.name, "a");
  assert.equal(pkg.devDependencies.arkor, `file:${REPO_ROOT}`, "run from a checkout, init links the project to it");
  assert.equal(pkg.scripts.start, "arkor start");
  assert.deepEqual(lines(readFileSync(join(a, ".gitignore"), "utf8")), ["node_modules/", ".arkor/"]);
  const trainer = readFileSync(join(a, "src/arkor/trainer.ts"), "utf8");
  assert.match(trainer, /model: "google\/gemma-3-270m"/);
  assert.match(trainer, /data\/triage\.jsonl/);
  assert.match(readFileSync(join(a, "src/arkor/index.ts"), "utf8"), /createArkor\(\{ trainer \}\)/);
  assert.match(r.stdout, /created +src\/arkor\/trainer\.ts/);
  assert.match(r.stdout, /npx arkor start/);

  // --yes and an explicit template, in a directory that already has some files.
  const { env } = cliEnv();
  const b = join(parent, "b");
  mkdirSync(join(b, "src", "arkor"), { recursive: true });
  writeFileSync(join(b, "src", "arkor", "trainer.ts"), "// mine\n");
  writeFileSync(join(b, "package.json"), JSON.stringify({ name: "mine", dependencies: { zod: "^3" } }));
  writeFileSync(join(b, ".gitignore"), "dist\nnode_modules\n");
  for (const template of ["translate", "redaction"]) {
    const rb = arkor(["init", "b", "--template", template, "--yes", "--skip-git"], { cwd: parent, env });
    assertExit(rb, 0, `init --template ${template}`);
    assert.equal(readFileSync(join(b, `data/${template}.jsonl`), "utf8"), readFileSync(join(TEMPLATES_DIR, `${template}.jsonl`), "utf8"));
  }
  assert.equal(readFileSync(join(b, "src/arkor/trainer.ts"), "utf8"), "// mine\n", "an existing trainer is never overwritten");
  const pb = JSON.parse(readFileSync(join(b, "package.json"), "utf8"));
  assert.equal(pb.name, "mine");
  assert.deepEqual(pb.dependencies, { zod: "^3" });
  assert.deepEqual(pb.devDependencies, { arkor: `file:${REPO_ROOT}` });
  assert.deepEqual(lines(readFileSync(join(b, ".gitignore"), "utf8")), ["dist", "node_modules", ".arkor/"]);

  const bad = arkor(["init", "c", "--template", "poetry", "--yes"], { cwd: parent, env });
  assertExit(bad, 1, "unknown template");
  assert.match(bad.stderr, /Unknown template "poetry"\. Available: triage, translate, redaction/);
  assert.equal(existsSync(join(parent, "c")), false, "nothing written for a bad template");
});

test("a scaffolded project trains with `npx arkor start`; jobs, logs, chat and cancel find the job afterwards", () => {
  const { env, arkorHome } = cliEnv();
  const dir = scaffold(env, { template: "triage", steps: 12 });

  const run = spawnSync("npx", ["--no", "arkor", "start"], { cwd: dir, env, encoding: "utf8", timeout: 180_000 });
  assertExit(run, 0, "npx arkor start");
  const jobId = run.stdout.match(STARTED)?.[1];
  assert.ok(jobId, run.stdout);
  assert.match(run.stdout, new RegExp(`Job ${jobId} finished with status=completed`));
  // Not a terminal: plain progress lines, no cursor control, with tokens/s.
  assert.ok(!run.stderr.includes("\x1b["), "no escape codes when stderr is a pipe");
  const progress = lines(run.stderr).filter((l) => l.startsWith("step "));
  assert.equal(progress.length, 12, run.stderr);
  for (const l of progress) assert.match(l, /^step \d+\/12 · loss \d+\.\d{4} · lr \d\.\d\de-\d+ · [\d.]+k? tok\/s · [\d.]+ samples\/s · ETA /);
  assert.ok(statSync(join(arkorHome, "arkor.sqlite")).size > 0, "the run used ARKOR_HOME");

  // jobs: this project's jobs from the earlier run, as a table and as JSON.
  const table = arkor(["jobs"], { cwd: dir, env });
  assertExit(table, 0, "jobs");
  assert.match(table.stdout, /^ID +STATUS +NAME +MODEL +CREATED$/m);
  assert.match(table.stdout, new RegExp(`^${jobId} +completed +triage-v1 +arkor/tiny-gemma3 `, "m"));
  const json = arkor(["jobs", "--json"], { cwd: dir, env });
  assertExit(json, 0, "jobs --json");
  const jobs = JSON.parse(json.stdout);
  assert.equal(jobs.length, 1);
  assert.equal(jobs[0].id, jobId);
  assert.equal(jobs[0].status, "completed");
  // Another directory is another project.
  const elsewhere = arkor(["jobs"], { cwd: makeTempDir("arkor-other-"), env });
  assertExit(elsewhere, 0, "jobs elsewhere");
  assert.match(elsewhere.stdout, /^No jobs yet in project arkor-other-/);

  // logs: every event of the finished run.
  const logs = arkor(["logs", jobId], { cwd: dir, env });
  assertExit(logs, 0, "logs");
  const l = lines(logs.stdout);
  assert.equal(l[0], `Job ${jobId} (triage-v1): completed`);
  assert.match(l[1], /^\d\d:\d\d:\d\d started \(model arkor\/tiny-gemma3\)$/);
  assert.equal(l.filter((x) => / step \d+\/12 · loss .* tok\/s/.test(x)).length, 12);
  assert.ok(l.some((x) => / checkpoint saved at step 12$/.test(x)), logs.stdout);
  assert.match(l.at(-1), /^\d\d:\d\d:\d\d completed \(12 steps, final loss \d+\.\d{4}\)$/);
  const follow = arkor(["logs", jobId, "--follow"], { cwd: dir, env, timeout: 30_000 });
  assertExit(follow, 0, "logs --follow on a finished job returns at once");
  assert.equal(follow.stdout, logs.stdout);

  // chat --prompt: the streamed answer is exactly what the backend answers
  // in one piece for the same greedy request.
  const prompt = "Hi, my parcel never arrived.";
  const streamed = arkor(["chat", jobId, "--prompt", prompt, "--temperature", "0", "--max-tokens", "12"], { cwd: dir, env });
  assertExit(streamed, 0, "chat --prompt");
  const oneShot = spawnSync(
    process.execPath,
    [
      "-e",
      `const native = require(${JSON.stringify(join(REPO_ROOT, "native.cjs"))});
       const { CloudApiClient } = require(${JSON.stringify(join(REPO_ROOT, "index.js"))});
       (async () => {
         const s = await native.connectBackend(process.cwd());
         const c = new CloudApiClient({ baseUrl: s.baseUrl, credentials: s.credentials });
         const res = await c.chat({ scope: { orgSlug: s.orgSlug, projectSlug: s.projectSlug }, body: {
           messages: [{ role: "user", content: ${JSON.stringify(prompt)} }],
           adapter: { kind: "final", jobId: ${JSON.stringify(jobId)} }, stream: false, temperature: 0, maxTokens: 12 } });
         const body = await res.json();
         process.stdout.write(JSON.stringify({ content: body.choices[0].message.content, tokens: body.usage.completion_tokens }));
         process.exit(0);
       })();`,
    ],
    { cwd: dir, env, encoding: "utf8", timeout: 60_000 },
  );
  assertExit(oneShot, 0, "reference chat request");
  const reference = JSON.parse(oneShot.stdout);
  assert.ok(reference.tokens > 0 && reference.tokens <= 12, oneShot.stdout);
  assert.equal(streamed.stdout, `${reference.content}\n`, "chat prints the final adapter's answer, streamed");

  // The other targets, and the errors that name what exists (the
  // checkpoints the server chose to save, as logs listed them).
  const saved = l.map((x) => x.match(/ checkpoint saved at step (\d+)$/)?.[1]).filter(Boolean).map(Number);
  assert.ok(saved.length >= 2 && saved.at(-1) === 12, logs.stdout);
  const absent = [1, 2, 3, 4, 5].find((n) => !saved.includes(n));
  for (const args of [["--step", String(saved[0])], ["--final"], ["--base"]]) {
    const r = arkor(["chat", jobId, ...args, "-p", "hello", "--max-tokens", "4"], { cwd: dir, env });
    assertExit(r, 0, `chat ${args.join(" ")}`);
    assert.ok(r.stdout.endsWith("\n"));
  }
  const noCkpt = arkor(["chat", jobId, "--step", String(absent), "-p", "x"], { cwd: dir, env });
  assertExit(noCkpt, 1, "chat --step with no such checkpoint");
  assert.equal(noCkpt.stderr, `arkor: job ${jobId} has no checkpoint at step ${absent}; saved: ${saved.join(", ")}\n`);
  const both = arkor(["chat", jobId, "--final", "--base", "-p", "x"], { cwd: dir, env });
  assertExit(both, 1, "chat --final --base");
  assert.match(both.stderr, /pick one of --step, --final or --base/);

  // The backend's refusal is shown as its message, without a stack: the bounds
  // of the chat body are the backend's to check.
  const refused = arkor(["chat", jobId, "-p", "x", "--max-tokens", "0"], { cwd: dir, env });
  assertExit(refused, 1, "chat refused by the backend");
  assert.equal(refused.stderr, "arkor: `maxTokens` must be a whole number >= 1 (HTTP 400)\n");
  const cold = arkor(["chat", jobId, "-p", "x", "--temperature", "-1"], { cwd: dir, env });
  assertExit(cold, 1, "chat --temperature -1");
  assert.equal(cold.stderr, "arkor: `temperature` must be >= 0 (HTTP 400)\n");
  // Piped into a reader that stops early: a quiet, successful end.
  const piped = spawnSync("sh", ["-c", `"${process.execPath}" "${join(REPO_ROOT, "bin", "arkor.js")}" chat ${jobId} -p x --max-tokens 4000 | head -c 3 >/dev/null`], { cwd: dir, env, encoding: "utf8", timeout: 60_000 });
  assertExit(piped, 0, "chat | head");
  assert.equal(piped.stderr, "", "no EPIPE trace");

  // chat without --prompt reads one message a line until EOF.
  const convo = arkor(["chat", jobId, "--max-tokens", "3", "--temperature", "0"], { cwd: dir, env, input: "hello\n\nhow are you?\n" });
  assertExit(convo, 0, "chat conversation from stdin");
  assert.equal(convo.stdout.split("\n").length - 1 >= 2, true, "one answer per non-empty line");

  // cancel: a finished job is left alone; an unknown id is an error.
  const c1 = arkor(["cancel", jobId], { cwd: dir, env });
  assertExit(c1, 0, "cancel finished job");
  assert.equal(c1.stdout, `Job ${jobId} already completed; nothing to cancel.\n`);
  for (const cmd of [["cancel"], ["logs"], ["chat"]]) {
    const r = arkor([...cmd, "job_nope", ...(cmd[0] === "chat" ? ["-p", "x"] : [])], { cwd: dir, env });
    assertExit(r, 1, `${cmd[0]} unknown job`);
    assert.equal(r.stderr, "arkor: job job_nope not found in the local store\n");
  }
});

test("chat refuses --temperature and --max-tokens values that are no number before any request", () => {
  const { env } = cliEnv();
  const cases = [
    [["--temperature", "warm"], '--temperature must be a number, got "warm"'],
    [["--temperature="], '--temperature must be a number, got ""'],
    [["--max-tokens", "1.5"], '--max-tokens must be a whole number, got "1.5"'],
    [["--max-tokens", "many"], '--max-tokens must be a whole number, got "many"'],
  ];
  for (const [args, message] of cases) {
    const r = arkor(["chat", "job_nope", "-p", "x", ...args], { env });
    assertExit(r, 1, `chat ${args.join(" ")}`);
    assert.equal(r.stderr, `arkor: ${message}\n`);
  }
});

test("models: list, rm an installed model, rm refuses unknown names", () => {
  const { env, arkorHome } = cliEnv();
  const list = arkor(["models"], { env });
  assertExit(list, 0, "models");
  assert.match(list.stdout, /^google\/gemma-3-270m\tnot installed$/m);
  assert.match(list.stdout, /^arkor\/tiny-gemma3\tbuilt in$/m);
  // An installed model is a file under ARKOR_HOME/models: stand one in.
  const file = join(arkorHome, "models", "google--gemma-3-270m", "model.gguf");
  mkdirSync(join(file, ".."), { recursive: true });
  writeFileSync(file, "GGUF");
  assert.match(arkor(["models", "list"], { env }).stdout, new RegExp(`^google/gemma-3-270m\\t${file}$`, "m"));
  const rm = arkor(["models", "rm", "google/gemma-3-270m"], { env });
  assertExit(rm, 0, "models rm");
  assert.equal(rm.stdout, `Removed google/gemma-3-270m (${file})\n`);
  assert.equal(existsSync(join(file, "..")), false);
  assert.match(arkor(["models", "list"], { env }).stdout, /^google\/gemma-3-270m\tnot installed$/m);
  const again = arkor(["models", "rm", "google/gemma-3-270m"], { env });
  assertExit(again, 0, "models rm when not installed");
  assert.match(again.stdout, /not installed; nothing to remove/);
  const tiny = arkor(["models", "rm", "arkor/tiny-gemma3"], { env });
  assert.match(tiny.stdout, /built in/);
  const bad = arkor(["models", "rm", "nope/model"], { env });
  assertExit(bad, 1, "models rm unknown");
  assert.match(bad.stderr, /unknown model "nope\/model"/);
  const noName = arkor(["models", "rm"], { env });
  assertExit(noName, 1, "models rm without a name");
  // pull: the built-in model needs nothing; an unknown name is refused before pip runs.
  const pullTiny = arkor(["models", "pull", "arkor/tiny-gemma3"], { env });
  assertExit(pullTiny, 0, "models pull of the built-in model");
  assert.match(pullTiny.stdout, /built in \(made from a seed\); nothing to install/);
  const pullBad = arkor(["models", "pull", "nope/model"], { env });
  assertExit(pullBad, 1, "models pull unknown");
  assert.match(pullBad.stderr, /unknown model "nope\/model"; the local backend serves: google\/gemma-3-270m, arkor\/tiny-gemma3/);
  assert.ok(!pullBad.stdout.includes("Installing"), pullBad.stdout);
});

test("the CLI derives a directory's project slug exactly as the SDK core does", () => {
  const { env } = cliEnv();
  // The CLI and the SDK share one slug rule, the native core's: each name
  // gives what upstream's regex gives (one dash per UTF-16 unit).
  const expected = {
    proj: "proj",
    "My Project!": "my-project",
    "--a__b--": "a--b",
    "日本語": "project",
    "emoji 🙂 dir": "emoji----dir",
    ["x".repeat(60)]: "x".repeat(40),
    "UPPER-case-9": "upper-case-9",
    "...": "project",
  };
  const r = spawnSync(
    process.execPath,
    [
      "-e",
      `const { projectSlugFor } = require(${JSON.stringify(join(REPO_ROOT, "lib", "cli", "backend.js"))});
       process.stdout.write(JSON.stringify(${JSON.stringify(Object.keys(expected))}.map((n) => [n, projectSlugFor("/tmp/base/" + n)])));`,
    ],
    { env, encoding: "utf8", timeout: 60_000 },
  );
  assertExit(r, 0, "slugs");
  const rows = JSON.parse(r.stdout);
  for (const [name, slug] of rows) assert.equal(slug, expected[name], `slug of ${JSON.stringify(name)}`);
});
