// Runs every recipe in examples/ against the embedded local backend with the
// tiny model.
//
// For each recipe: a temp project gets a copy of the recipe file(s) in which
// ONLY these lines differ from examples/ (checked line by line below):
//   - `model: ...`    → `model: "arkor/tiny-gemma3",`
//   - `dataset: ...`  → `dataset: { type: "blob", url: "file://<16-row chatml JSONL>" },`
//   - `maxSteps: 100` → `maxSteps: 4` (keeps the runtime low; the recipes
//     without maxSteps train one epoch of the 16 rows at the default batch
//     size 4, i.e. 4 steps too, and the default checkpoint interval (a
//     quarter of the run) puts a checkpoint on every step).
//   - `saveSteps: N` / `evalSteps: N` above 4 → 1, so a recipe that sets
//     them still checkpoints (and evaluates) within those 4 steps.
// The copy is bundled with `node bin/arkor.js build <entry>` (the project's
// node_modules/arkor is a symlink to this repository) and run. What "running
// it" means depends on the recipe and is said above each test: `arkor start`
// for files the CLI can run (an `arkor`/`trainer` export), `node` on the
// bundle for scripts, or a small driver that imports the bundle and calls
// start/wait on its exported trainers (and its exported functions).
//
// Each test has its own temp HOME and ARKOR_HOME and runs its processes in
// sequence; two tests run at a time.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync, existsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import {
  BIN, REPO_ROOT, TINY_MODEL, isolated, jsonLines, linkArkor, makeTempDir, runNodeArgs, sqliteEvents, sqliteJobs, writeDataset,
} from "./helpers/local-backend.mjs";

const EXAMPLES = join(REPO_ROOT, "examples");
const SMALL_MAX_STEPS = 4;

/** Every .ts file under examples/ (relative paths), to check none is forgotten. */
function allRecipes(dir = EXAMPLES, rel = "") {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...allRecipes(join(dir, e.name), join(rel, e.name)));
    else if (e.name.endsWith(".ts")) out.push(join(rel, e.name));
  }
  return out.sort();
}

/** The recipe text with only its model / dataset / maxSteps (and save/eval interval) values replaced. */
function adapt(source, dataUrl) {
  const text = source
    .replace(/^(\s*)model: .*,$/gm, `$1model: ${JSON.stringify(TINY_MODEL)},`)
    .replace(/^(\s*)dataset: .*,$/gm, `$1dataset: { type: "blob", url: ${JSON.stringify(dataUrl)} },`)
    .replace(/^(\s*)maxSteps: (\d+),$/gm, (m, ws, n) => (Number(n) > SMALL_MAX_STEPS ? `${ws}maxSteps: ${SMALL_MAX_STEPS},` : m))
    .replace(/^(\s*)(saveSteps|evalSteps): (\d+),$/gm, (m, ws, k, n) => (Number(n) > SMALL_MAX_STEPS ? `${ws}${k}: 1,` : m));
  // Nothing else may differ.
  const a = source.split("\n");
  const b = text.split("\n");
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) assert.match(a[i], /^\s*(model|dataset|maxSteps|saveSteps|evalSteps): /, `unexpected change on line ${i + 1}`);
  }
  return text;
}

/**
 * A temp project: node_modules/arkor → repo, data.jsonl, and the adapted
 * copies of `files` ({ [destRelPath]: examplesRelPath }). Extra literal files
 * go in `extra`. Returns { dir, env, home, arkorHome, dataUrl }.
 */
function makeProject(files, { extra = {}, env: extraEnv = {} } = {}) {
  const dir = makeTempDir("arkor-example-");
  linkArkor(dir);
  const dataUrl = writeDataset(dir);
  let models = 0;
  for (const [dest, src] of Object.entries(files)) {
    const source = readFileSync(join(EXAMPLES, src), "utf8");
    const text = adapt(source, dataUrl);
    models += (text.match(/model: "arkor\/tiny-gemma3"/g) || []).length;
    mkdirSync(dirname(join(dir, dest)), { recursive: true });
    writeFileSync(join(dir, dest), text);
  }
  for (const [dest, text] of Object.entries(extra)) {
    mkdirSync(dirname(join(dir, dest)), { recursive: true });
    writeFileSync(join(dir, dest), text);
  }
  const iso = isolated(extraEnv);
  return { dir, dataUrl, models, ...iso };
}

/** `arkor build <entry>`, the bundle then moved to `<dir>/.arkor/<name>.mjs`. */
async function build(p, entry, name = basename(entry).replace(/\.ts$/, "")) {
  const r = await runNodeArgs([BIN, "build", entry], { cwd: p.dir, env: p.env, timeoutMs: 60_000 });
  assert.equal(r.code, 0, `arkor build ${entry} failed:\n${r.stderr}`);
  const to = join(p.dir, ".arkor", `${name}.mjs`);
  renameSync(join(p.dir, ".arkor", "build", "index.mjs"), to);
  return to;
}

/** `arkor start <entry>` (builds, then runs the exported trainer). */
async function start(p, entry, extraEnv = {}) {
  const r = await runNodeArgs([BIN, "start", entry], { cwd: p.dir, env: { ...p.env, ...extraEnv }, timeoutMs: 60_000 });
  assert.equal(r.code, 0, `arkor start ${entry} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** `node <file>` in the project. */
function node(p, file, extraEnv = {}) {
  return runNodeArgs([file], { cwd: p.dir, env: { ...p.env, ...extraEnv }, timeoutMs: 60_000 });
}

// Prelude of the driver scripts: `emit` reports JSON lines, `outcome` turns
// a wait()/promise into a plain record.
const DRIVER = `
import { CloudApiError } from "arkor";
const emit = (v) => process.stdout.write("@@" + JSON.stringify(v) + "\\n");
async function outcome(label, p) {
  try {
    const r = await p;
    const rec = { label, ok: true };
    if (r && r.job) Object.assign(rec, { status: r.job.status, error: r.job.error ?? null, jobId: r.job.id, artifacts: r.artifacts.length });
    else rec.value = r === undefined ? null : r;
    emit(rec);
  } catch (e) {
    emit({ label, ok: false, cloudApiError: e instanceof CloudApiError, status: e?.status ?? null, name: e?.name, message: String(e?.message ?? e) });
  }
}
`;

/** Writes and runs a driver; returns { r, out: {label → record} }. */
async function drive(p, code, extraEnv = {}) {
  writeFileSync(join(p.dir, "driver.mjs"), DRIVER + code);
  const r = await node(p, join(p.dir, "driver.mjs"), extraEnv);
  assert.equal(r.code, 0, `driver exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  const out = {};
  for (const rec of jsonLines(r.stdout)) out[rec.label] = rec;
  return { r, out };
}

function assertCompleted(rec, what) {
  assert.ok(rec, `${what}: no outcome`);
  assert.equal(rec.ok, true, `${what} rejected: ${rec.message}`);
  assert.equal(rec.status, "completed", `${what}: ${rec.status} ${rec.error}`);
}

/** Lines of `text` matching `re`, with their first capture as a number. */
const stepsIn = (text, re) => [...text.matchAll(re)].map((m) => Number(m[1]));

const COVERED = new Set();
const covers = (...files) => files.forEach((f) => COVERED.add(f));

describe("examples/ recipes on the embedded backend (tiny model)", { concurrency: 2 }, () => {
  // callbacks.ts: a script whose top level starts and waits on its first
  // trainer; it also exports `annotated`. Running it = importing the bundle
  // (runs the top-level trainer), then wait() on `annotated`.
  covers("callbacks.ts");
  test("callbacks.ts: every callback logs, infer text per checkpoint; `annotated` completes", async () => {
    const p = makeProject({ "callbacks.ts": "callbacks.ts" });
    assert.equal(p.models, 2);
    await build(p, "callbacks.ts");
    const { r, out } = await drive(p, `
const m = await import("./.arkor/callbacks.mjs");
await outcome("annotated", m.annotated.wait());
`);
    const accepted = /run (\S+) accepted/.exec(r.stdout);
    assert.ok(accepted, r.stdout);
    assert.match(r.stdout, new RegExp(`run ${accepted[1]} done`));
    assert.deepEqual(stepsIn(r.stdout, /^step=(\d+) loss=\d+\.\d{4}$/gm), [1, 2, 3, 4]);
    // `await res.text()` of the default streaming response: SSE frames.
    assert.deepEqual(stepsIn(r.stdout, /^ckpt @ (\d+): data: \{/gm), [1, 2, 3, 4]);
    assert.equal((r.stdout.match(/^data: \[DONE\]$/gm) || []).length, 4);
    assert.doesNotMatch(r.stderr, /failed:/);
    assertCompleted(out.annotated, "annotated");
  });

  // create-trainer.ts + create-arkor.ts (which imports ./create-trainer):
  // `arkor start create-arkor.ts` runs the manifest's trainer; a driver then
  // waits on the dryRun `smoke` trainer and checks `trainerOf`.
  covers("create-trainer.ts", "create-arkor.ts");
  test("create-arkor.ts via arkor start; create-trainer.ts's dryRun `smoke`; trainerOf/isArkor", async () => {
    const p = makeProject({ "create-trainer.ts": "create-trainer.ts", "create-arkor.ts": "create-arkor.ts" });
    const s = await start(p, "create-arkor.ts");
    const id = /Started job (\S+)/.exec(s.stdout)?.[1];
    assert.ok(id, s.stdout);
    assert.match(s.stdout, new RegExp(`Job ${id} finished with status=completed`));
    await build(p, "create-arkor.ts");
    await build(p, "create-trainer.ts");
    const { out } = await drive(p, `
const ct = await import("./.arkor/create-trainer.mjs");
const ca = await import("./.arkor/create-arkor.mjs");
emit({ label: "trainerOf", ok: true, value: [ca.trainerOf(ca.arkor) === ca.arkor.trainer, ca.trainerOf({ trainer: 1 }) === undefined, ca.arkor.trainer.name] });
await outcome("smoke", ct.smoke.wait());
`);
    assert.deepEqual(out.trainerOf.value, [true, true, "support-bot-v1"]);
    assertCompleted(out.smoke, "smoke");
    // a dry run trains only a few steps
    const logs = sqliteEvents(p.arkorHome).filter((e) => e.jobId === out.smoke.jobId && e.type === "training.log");
    assert.ok(logs.length >= 1 && logs.length <= 3, `dry run trained ${logs.length} steps`);
  });

  // dataset.ts: two exported trainers (their datasets are the `fromHub` /
  // `fromBlob` constants; only the `dataset:` values are replaced).
  covers("dataset.ts");
  test("dataset.ts: hubTrainer and blobTrainer complete", async () => {
    const p = makeProject({ "dataset.ts": "dataset.ts" });
    await build(p, "dataset.ts");
    const { out } = await drive(p, `
const m = await import("./.arkor/dataset.mjs");
await outcome("hub", m.hubTrainer.wait());
await outcome("blob", m.blobTrainer.wait());
`);
    assertCompleted(out.hub, "hubTrainer");
    assertCompleted(out.blob, "blobTrainer");
  });

  // infer.ts: two exported trainers plus helpers that take `infer`. The
  // helpers only make sense inside onCheckpoint, so the driver calls each of
  // them from the onCheckpoint of a one-step trainer of its own.
  covers("infer.ts");
  test("infer.ts: `basic` samples per checkpoint; tools, responseFormat and structuredOutputs run under their constraints", async () => {
    const p = makeProject({ "infer.ts": "infer.ts" });
    await build(p, "infer.ts");
    const { r, out } = await drive(p, `
import { createTrainer } from "arkor";
const m = await import("./.arkor/infer.mjs");
await outcome("basic", m.basic.wait());
await outcome("toolCalling", m.toolCalling.wait());
const messages = [{ role: "user", content: "I can't log in." }];
await outcome("helpers", createTrainer({
  name: "infer-helpers",
  model: ${JSON.stringify(TINY_MODEL)},
  dataset: { type: "blob", url: ${JSON.stringify("DATA_URL")} },
  maxSteps: 1,
  callbacks: {
    onCheckpoint: async ({ infer }) => {
      await outcome("consume", m.consume(infer, messages));
      const g = await m.guarded(infer, messages);
      emit({ label: "guarded", ok: true, value: { status: g?.status, object: (await g?.json())?.object } });
      await outcome("structured", m.structured(infer));
      await outcome("roundTrip", m.roundTrip(infer));
    },
  },
}).wait());
`.replace('"DATA_URL"', JSON.stringify(p.dataUrl)));
    assertCompleted(out.basic, "basic");
    assert.deepEqual(stepsIn(r.stdout, /^step=(\d+) sample= data: \{/gm), [1, 2, 3, 4]);
    // toolCalling's onCheckpoint does not catch: a 400 would reject wait() itself.
    assertCompleted(out.toolCalling, "toolCalling");
    assertCompleted(out.helpers, "helper trainer");
    assert.equal(out.consume.ok, true, out.consume.message);
    assert.deepEqual(out.guarded.value, { status: 200, object: "chat.completion" });
    // structured() sends the json_schema, choice, regex, GBNF grammar and
    // json_object requests; any 400 would reject it.
    assert.equal(out.structured.ok, true, out.structured.message);
    // The tiny model's tool call may run out of tokens inside its arguments (then
    // JSON.parse throws in the recipe); it is never refused.
    assert.ok(out.roundTrip.ok || !out.roundTrip.cloudApiError, out.roundTrip.message);
  });

  // mid-run-eval.ts: `arkor start` runs the exported `trainer` (which prints
  // a sample per checkpoint); the driver then waits on `reviewed`.
  covers("mid-run-eval.ts");
  test("mid-run-eval.ts: `step=N sample=...` for each checkpoint; `reviewed` completes", async () => {
    const p = makeProject({ "mid-run-eval.ts": "mid-run-eval.ts" });
    const s = await start(p, "mid-run-eval.ts");
    assert.deepEqual(stepsIn(s.stdout, /^step=(\d+) sample=".*"$/gm), [1, 2, 3, 4], s.stdout);
    assert.match(s.stdout, /finished with status=completed/);
    assert.doesNotMatch(s.stderr, /infer failed/);
    await build(p, "mid-run-eval.ts");
    const { out } = await drive(p, `
const m = await import("./.arkor/mid-run-eval.mjs");
await outcome("reviewed", m.reviewed.wait());
`);
    assertCompleted(out.reviewed, "reviewed");
  });

  // demo/index.ts: the README demo (mid-run eval on the bundled triage set):
  // `arkor start demo/index.ts`, with the first 6 tickets of the real eval
  // file where the demo reads it, so each checkpoint scores them (4 at a
  // time) and the last one scores them again under the triage schema. The
  // tiny model's answers are mostly not triage JSON: the lines' shape and
  // counts are checked, not the scores.
  covers("demo/index.ts");
  test("demo/index.ts: arkor start prints a sample and the eval file's score per checkpoint, and completes", async () => {
    const evalFile = readFileSync(join(EXAMPLES, "data", "triage-eval.jsonl"), "utf8").split("\n").slice(0, 6).join("\n") + "\n";
    const p = makeProject({ "demo/index.ts": "demo/index.ts" }, { extra: { "examples/data/triage-eval.jsonl": evalFile } });
    const s = await start(p, "demo/index.ts");
    assert.deepEqual(stepsIn(s.stdout, /^step=(\d+) sample=".*"$/gm), [1, 2, 3, 4], s.stdout);
    const score = (label) => new RegExp(`^step=(\\d+) eval${label}: valid JSON (\\d)/6 \\(\\d+%\\) · category (\\d)/6 \\(\\d+%\\) · team (\\d)/6 \\(\\d+%\\) · \\d+\\.\\ds$`, "gm");
    assert.deepEqual(stepsIn(s.stdout, score("")), [1, 2, 3, 4], s.stdout);
    assert.deepEqual(stepsIn(s.stdout, score(" \\(json_schema\\)")), [4], s.stdout);
    for (const m of s.stdout.matchAll(score("( \\(json_schema\\))?"))) {
      const [valid, category, team] = [m[3], m[4], m[5]].map(Number);
      assert.ok(category <= valid && team <= valid, m[0]);
    }
    assert.match(s.stdout, /finished with status=completed/);
  });

  // notifications.ts: reads its webhook from SLACK_WEBHOOK_URL, pointed at a
  // local receiver. The driver waits on `trainer`, then on `chatty`.
  covers("notifications.ts");
  test("notifications.ts: the webhook receives the completion message and a sample per checkpoint", async (t) => {
    const received = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        received.push({ method: req.method, type: req.headers["content-type"], body: JSON.parse(body) });
        res.end("ok");
      });
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    t.after(() => server.close());
    const hook = `http://127.0.0.1:${server.address().port}/hook`;
    const p = makeProject({ "notifications.ts": "notifications.ts" }, { env: { SLACK_WEBHOOK_URL: hook } });
    await build(p, "notifications.ts");
    const { r, out } = await drive(p, `
const m = await import("./.arkor/notifications.mjs");
await outcome("trainer", m.trainer.wait());
emit({ label: "mark", ok: true });
await outcome("chatty", m.chatty.wait());
`);
    assertCompleted(out.trainer, "trainer");
    assertCompleted(out.chatty, "chatty");
    assert.doesNotMatch(r.stderr, /webhook|failed/);
    for (const m of received) {
      assert.equal(m.method, "POST");
      assert.equal(m.type, "application/json");
    }
    const texts = received.map((m) => m.body.text);
    assert.equal(texts[0], `:white_check_mark: *support-bot-v1* finished (1 artifact). Job \`${out.trainer.jobId}\`.`);
    // chatty: `step % 100` never hits in 4 steps; one sample per checkpoint.
    const samples = texts.slice(1);
    assert.deepEqual(samples.map((s) => Number(/^step=(\d+) → /.exec(s)?.[1])), [1, 2, 3, 4], texts.join("\n"));
  });

  // structured-outputs.ts: four exported trainers, run for real. `trainer`
  // logs the triage JSON per checkpoint, or its parse failure when the tiny
  // model runs out of maxTokens inside a string (the grammar cannot close a
  // string for it); `guarded` aborts on a category outside its label set;
  // `toolCaller` and `classifier` complete, the classifier printing one of
  // its choices.
  covers("structured-outputs.ts");
  test("structured-outputs.ts: responseFormat json_schema, tools and structuredOutputs are decoded under their constraints", async () => {
    const p = makeProject({ "structured-outputs.ts": "structured-outputs.ts" });
    await build(p, "structured-outputs.ts");
    const { r, out } = await drive(p, `
const m = await import("./.arkor/structured-outputs.mjs");
await outcome("trainer", m.trainer.wait());
await outcome("guarded", m.guarded.wait());
await outcome("toolCaller", m.toolCaller.wait());
await outcome("classifier", m.classifier.wait());
`);
    assertCompleted(out.trainer, "trainer");
    assert.doesNotMatch(r.stderr, /CloudApiError|not supported/);
    const parsed = stepsIn(r.stdout, /^step=(\d+) triage=/gm);
    const unfinished = stepsIn(r.stderr, /^step=(\d+) triage check failed: SyntaxError/gm);
    assert.deepEqual([...parsed, ...unfinished].sort(), [1, 2, 3, 4], r.stdout + r.stderr);
    // guarded aborts its run when a parsed category is outside its label set,
    // which the tiny model's answers are free to be (the schema has no enum).
    if (out.guarded.ok) assertCompleted(out.guarded, "guarded");
    else {
      assert.match(out.guarded.message, /aborted/);
      assert.match(r.stderr, /^step=\d+ category=.* not in label set, aborting$/m);
    }
    assertCompleted(out.toolCaller, "toolCaller");
    assertCompleted(out.classifier, "classifier");
    assert.deepEqual(r.stdout.split("\n").filter((l) => /^(low|medium|high)$/.test(l)).length, 4, r.stdout);
  });

  // trainer-control.ts: a script (top-level start / wait) that also exports
  // `withTimeout` and `control`. The driver imports it (runs the top level),
  // then calls control(): the signal is aborted before start, so wait()
  // rejects at once and the job is cancelled.
  covers("trainer-control.ts");
  test("trainer-control.ts: top level completes; control() aborts the wait and cancels its job", async () => {
    const p = makeProject({ "trainer-control.ts": "trainer-control.ts" });
    await build(p, "trainer-control.ts");
    const { r, out } = await drive(p, `
const m = await import("./.arkor/trainer-control.mjs");
await outcome("control", m.control());
`);
    assert.match(r.stdout, /^Started job_\S+$/m);
    assert.match(r.stdout, /^Finished with 1 artifact\(s\)\.$/m);
    assert.equal(out.control.ok, true, out.control.message);
    assert.equal(out.control.value, null);
    const jobs = sqliteJobs(p.arkorHome);
    assert.deepEqual(jobs.map((j) => [j.name, j.status]), [["support-bot-v1", "completed"], ["with-timeout", "cancelled"]]);
    assert.match(r.stdout, new RegExp(`^${jobs[1].id}$`, "m"));
  });

  // early-stopping/: index.ts exports the manifest and `main()` ("run
  // training outside the CLI"); trainer.ts exports three factories. The tiny
  // model's loss (~11) is above LOSS_CEILING (5): main() aborts at step 1
  // and cancels the job. The two variations need 10 / 30 steps to trigger,
  // so on a 4-step run they complete.
  covers("early-stopping/index.ts", "early-stopping/trainer.ts");
  test("early-stopping: the loss ceiling aborts at step 1 and the job ends cancelled; variations complete", async () => {
    const p = makeProject({ "early-stopping/index.ts": "early-stopping/index.ts", "early-stopping/trainer.ts": "early-stopping/trainer.ts" });
    await build(p, "early-stopping/index.ts");
    await build(p, "early-stopping/trainer.ts");
    const { r, out } = await drive(p, `
const idx = await import("./.arkor/index.mjs");
await outcome("main", idx.main());
const f = await import("./.arkor/trainer.mjs");
await outcome("smoothed", f.makeSmoothedTrainer().trainer.wait());
await outcome("patient", f.makePatientTrainer().trainer.wait());
`);
    assert.equal(out.main.ok, true, out.main.message);
    assert.match(r.stderr, /^step=1 loss=\d+(\.\d+)? exceeds ceiling, aborting$/m);
    assert.equal((r.stderr.match(/exceeds ceiling/g) || []).length, 1);
    assertCompleted(out.smoothed, "makeSmoothedTrainer");
    assertCompleted(out.patient, "makePatientTrainer");
    const jobs = sqliteJobs(p.arkorHome);
    assert.deepEqual(jobs.map((j) => j.status), ["cancelled", "completed", "completed"]);
  });

  // programmatic-runs/: one project shaped like the docs' layout.
  //   src/arkor/trainer.ts   = programmatic-runs/trainer.ts
  //   src/arkor/index.ts, src/arkor/alt.ts (written here: re-export the
  //     trainer and print the env the scripts set, to observe them)
  //   .arkor/build/index.mjs = `arkor build` of src/arkor/index.ts
  //   scripts/*.ts           = the other recipe files (+ trainer.ts, which
  //     train.ts / route.ts import as ./trainer)
  // Scripts with top-level code (train, multi, run-trainer, ci-smoke,
  // nightly) are bundled and run with node; direct.ts's main() and
  // route.ts's POST() are called by a driver.
  covers(...readdirSync(join(EXAMPLES, "programmatic-runs")).map((f) => `programmatic-runs/${f}`));
  test("programmatic-runs: train, route, direct, multi, run-trainer, ci-smoke, nightly", async () => {
    const scripts = ["trainer", "train", "route", "direct", "multi", "run-trainer", "ci-smoke", "nightly"];
    const files = { "src/arkor/trainer.ts": "programmatic-runs/trainer.ts" };
    for (const s of scripts) files[`scripts/${s}.ts`] = `programmatic-runs/${s}.ts`;
    const entry = (which) => `import { trainer } from "./trainer";
console.log(\`${which} entry loaded RUN_LABEL=\${process.env.RUN_LABEL ?? ""} ARKOR_SMOKE=\${process.env.ARKOR_SMOKE ?? ""}\`);
export { trainer };
`;
    const p = makeProject(files, {
      extra: { "src/arkor/index.ts": entry("index"), "src/arkor/alt.ts": entry("alt") },
      env: { CI: undefined, ARKOR_SMOKE: undefined, RUN_LABEL: undefined },
    });
    const bundles = {};
    for (const s of scripts.slice(1)) bundles[s] = await build(p, `scripts/${s}.ts`);
    // the default build, for run-trainer.ts's third call
    const b = await runNodeArgs([BIN, "build"], { cwd: p.dir, env: p.env });
    assert.equal(b.code, 0, b.stderr);
    assert.ok(existsSync(join(p.dir, ".arkor", "build", "index.mjs")));

    const ok = (r, what) => assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    const finished = (text) => (text.match(/^Job \S+ finished with status=completed$/gm) || []).length;

    // train.ts: exit 0 on a completed run
    const train = await node(p, bundles.train);
    ok(train, "train.ts");
    assert.match(train.stdout, /^Started job_\S+$/m);

    // multi.ts: sequential, then concurrent waits on the same two trainers
    const multi = await node(p, bundles.multi);
    ok(multi, "multi.ts");
    assert.match(multi.stdout, /^completed completed completed completed$/m);

    // run-trainer.ts: default entry, explicit source entry, built artifact
    const rt = await node(p, bundles["run-trainer"]);
    ok(rt, "run-trainer.ts");
    assert.equal(finished(rt.stdout), 3, rt.stdout);
    assert.deepEqual(rt.stdout.match(/^\w+ entry loaded/gm), ["index entry loaded", "alt entry loaded", "index entry loaded"]);
    assert.equal(new Set(rt.stdout.match(/(?<=^Started job )\S+$/gm)).size, 3);

    // ci-smoke.ts: with CI set, ARKOR_SMOKE=1 is visible to the entry
    const ci = await node(p, bundles["ci-smoke"], { CI: "1" });
    ok(ci, "ci-smoke.ts");
    assert.match(ci.stdout, /^index entry loaded RUN_LABEL= ARKOR_SMOKE=1$/m);
    assert.equal(finished(ci.stdout), 1);

    // nightly.ts: RUN_LABEL=nightly-<date> set before the entry loads
    const nightly = await node(p, bundles.nightly);
    ok(nightly, "nightly.ts");
    assert.match(nightly.stdout, /^index entry loaded RUN_LABEL=nightly-\d{4}-\d\d-\d\d ARKOR_SMOKE=$/m);
    assert.equal(finished(nightly.stdout), 1);

    // direct.ts's main() and route.ts's POST() (whose wait() runs in the
    // background and must keep the process alive until the job is done)
    const { r, out } = await drive(p, `
const d = await import("./.arkor/direct.mjs");
await outcome("direct", d.main());
const route = await import("./.arkor/route.mjs");
const res = await route.POST();
emit({ label: "route", ok: true, value: { status: res.status, type: res.headers.get("content-type"), body: await res.json() } });
`);
    assert.equal(out.direct.ok, true, out.direct.message);
    assert.match(r.stdout, /^Started job job_\S+$/m);
    assert.match(r.stdout, /^Finished with 1 artifact\(s\)\.$/m);
    assert.equal(out.route.value.status, 200);
    assert.match(out.route.value.type, /application\/json/);
    assert.match(out.route.value.body.jobId, /^job_/);
    assert.doesNotMatch(r.stderr, /wait\(\) threw/);

    const jobs = sqliteJobs(p.arkorHome);
    // train 1 + multi 2 + run-trainer 3 + ci-smoke 1 + nightly 1 + direct 1 + route 1
    assert.equal(jobs.length, 10);
    assert.deepEqual(jobs.filter((j) => j.status !== "completed"), []);
    assert.ok(jobs.some((j) => j.id === out.route.value.body.jobId));
  });

  test("every recipe file in examples/ is covered above", () => {
    assert.deepEqual(allRecipes().filter((f) => !COVERED.has(f)), []);
  });
});
