// runTrainer (lib/runner.js): entry resolution, trainer discovery order,
// error messages and printed lines, with fake trainers in temp modules.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { mkdtempSync, mkdirSync, writeFileSync, readdirSync, rmSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

const require = createRequire(import.meta.url);
const { runTrainer } = require("../lib/runner.js");
const MANIFEST_URL = pathToFileURL(require.resolve("../lib/manifest.js")).href;

const NO_TRAINER =
  "Training entry must export `arkor` (from createArkor({...})) or `trainer` (from createTrainer({...})), or default-export one of them.";

let dir;
before(() => {
  dir = realpathSync(mkdtempSync(path.join(tmpdir(), "arkor-runner-")));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

let counter = 0;
/** Write a module into the temp dir; returns its absolute path. */
function writeEntry(body, ext = ".mjs") {
  const file = path.join(dir, `entry-${++counter}${ext}`);
  writeFileSync(file, body);
  return file;
}

// Source of a fake trainer whose id is `id`; it records calls on
// globalThis.__calls so a test can check what ran.
const fake = (id, status = "completed") => `({
  name: ${JSON.stringify(id)},
  async start() { (globalThis.__calls ??= []).push("start:${id}"); return { jobId: ${JSON.stringify(id)} }; },
  async wait() {
    (globalThis.__calls ??= []).push("wait:${id}");
    return { job: { id: ${JSON.stringify(id)}, status: ${JSON.stringify(status)} }, artifacts: [] };
  },
  async cancel() { (globalThis.__calls ??= []).push("cancel:${id}"); },
})`;

/**
 * Run `fn` with string writes to process.stdout captured; returns them.
 * Binary chunks (the test runner's own reporting channel) pass through.
 */
async function captureStdout(fn) {
  const original = process.stdout.write;
  let out = "";
  process.stdout.write = function (chunk, ...rest) {
    if (typeof chunk !== "string") return original.call(this, chunk, ...rest);
    out += chunk;
    const cb = rest.find((r) => typeof r === "function");
    if (cb) cb();
    return true;
  };
  try {
    await fn();
  } finally {
    process.stdout.write = original;
  }
  return out;
}

async function runAndCapture(file) {
  globalThis.__calls = [];
  const out = await captureStdout(() => runTrainer(file));
  return { out, calls: globalThis.__calls };
}

test("prints the two lines and calls start() then wait()", async () => {
  const file = writeEntry(`export const trainer = ${fake("job-print", "completed")};`);
  const { out, calls } = await runAndCapture(file);
  assert.equal(out, "Started job job-print\nJob job-print finished with status=completed\n");
  assert.deepEqual(calls, ["start:job-print", "wait:job-print"]);
});

test("a failed job still resolves, reporting status=failed", async () => {
  const file = writeEntry(`export const trainer = ${fake("job-failed", "failed")};`);
  const { out } = await runAndCapture(file);
  assert.equal(out, "Started job job-failed\nJob job-failed finished with status=failed\n");
});

test("the finished line reports wait()'s job, not start()'s id", async () => {
  const file = writeEntry(`export const trainer = {
    async start() { return { jobId: "submitted" }; },
    async wait() { return { job: { id: "reported", status: "cancelled" }, artifacts: [] }; },
    async cancel() {},
  };`);
  const { out } = await runAndCapture(file);
  assert.equal(out, "Started job submitted\nJob reported finished with status=cancelled\n");
});

test("1. `arkor` manifest wins over `trainer` and default", async () => {
  const file = writeEntry(`
    import { createArkor } from ${JSON.stringify(MANIFEST_URL)};
    export const arkor = createArkor({ trainer: ${fake("from-arkor")} });
    export const trainer = ${fake("from-trainer")};
    export default ${fake("from-default")};
  `);
  const { out, calls } = await runAndCapture(file);
  assert.match(out, /^Started job from-arkor\n/);
  assert.deepEqual(calls, ["start:from-arkor", "wait:from-arkor"]);
});

test("an `arkor` export that is itself a trainer is used", async () => {
  const file = writeEntry(`
    export const arkor = ${fake("arkor-is-trainer")};
    export const trainer = ${fake("from-trainer")};
  `);
  const { calls } = await runAndCapture(file);
  assert.deepEqual(calls, ["start:arkor-is-trainer", "wait:arkor-is-trainer"]);
});

test("2. `trainer` is used when `arkor` has no usable trainer", async () => {
  const file = writeEntry(`
    import { createArkor } from ${JSON.stringify(MANIFEST_URL)};
    export const arkor = createArkor({});
    export const trainer = ${fake("from-trainer")};
    export default ${fake("from-default")};
  `);
  const { calls } = await runAndCapture(file);
  assert.deepEqual(calls, ["start:from-trainer", "wait:from-trainer"]);
});

test("3. default-exported manifest", async () => {
  const file = writeEntry(`
    import { createArkor } from ${JSON.stringify(MANIFEST_URL)};
    export default createArkor({ trainer: ${fake("default-manifest")} });
  `);
  const { calls } = await runAndCapture(file);
  assert.deepEqual(calls, ["start:default-manifest", "wait:default-manifest"]);
});

test("4. default-exported trainer", async () => {
  const file = writeEntry(`export default ${fake("default-trainer")};`);
  const { calls } = await runAndCapture(file);
  assert.deepEqual(calls, ["start:default-trainer", "wait:default-trainer"]);
});

test("5. default export holding a `trainer` property", async () => {
  const file = writeEntry(`export default { trainer: ${fake("default-dot-trainer")} };`);
  const { calls } = await runAndCapture(file);
  assert.deepEqual(calls, ["start:default-dot-trainer", "wait:default-dot-trainer"]);
});

test("a CommonJS entry (module.exports) works", async () => {
  const file = writeEntry(`module.exports = { trainer: ${fake("cjs-trainer")} };`, ".cjs");
  const { calls } = await runAndCapture(file);
  assert.deepEqual(calls, ["start:cjs-trainer", "wait:cjs-trainer"]);
});

test("objects lacking start/wait/cancel are not trainers", async () => {
  const file = writeEntry(`
    export const trainer = { start() {}, wait() {} };
    export const arkor = { _kind: "arkor", trainer: { start() {}, wait() {}, cancel: 1 } };
    export default { trainer: "nope" };
  `);
  await assert.rejects(runTrainer(file), (err) => {
    assert.equal(err.message, NO_TRAINER);
    return true;
  });
});

test("a module exporting nothing usable rejects with the exact message", async () => {
  const file = writeEntry(`export const something = 1;`);
  globalThis.__calls = [];
  await assert.rejects(runTrainer(file), (err) => {
    assert.ok(err instanceof Error);
    assert.equal(err.message, NO_TRAINER);
    return true;
  });
});

test("a missing entry rejects with its absolute path", async () => {
  const missing = path.join(dir, "does", "not", "exist.mjs");
  await assert.rejects(runTrainer(missing), (err) => {
    assert.equal(
      err.message,
      `Training entry not found: ${missing}. Provide a path or create src/arkor/index.ts.`,
    );
    return true;
  });
});

test("relative paths and the default entry resolve against process.cwd()", async () => {
  const project = path.join(dir, "project");
  mkdirSync(path.join(project, "src", "arkor"), { recursive: true });
  const cwd = process.cwd();
  process.chdir(project);
  try {
    // Default entry missing: the error names <cwd>/src/arkor/index.ts.
    await assert.rejects(runTrainer(), (err) => {
      assert.equal(
        err.message,
        `Training entry not found: ${path.join(project, "src/arkor/index.ts")}. Provide a path or create src/arkor/index.ts.`,
      );
      return true;
    });

    writeFileSync(
      path.join(project, "rel.mjs"),
      `export const trainer = ${fake("relative")};`,
    );
    const { calls } = await runAndCapture("rel.mjs");
    assert.deepEqual(calls, ["start:relative", "wait:relative"]);
  } finally {
    process.chdir(cwd);
  }
});

test("a TypeScript default entry runs even where Node cannot load .ts itself", async () => {
  const project = path.join(dir, "ts-project");
  const src = path.join(project, "src", "arkor");
  mkdirSync(src, { recursive: true });
  // Type annotations plus an extensionless relative import: the layout
  // `arkor init` produces.
  writeFileSync(
    path.join(src, "trainer.ts"),
    `interface Fake { name: string }
     const meta: Fake = { name: "ts-trainer" };
     export const trainer = { ...meta, ...${fake("ts-trainer")} };`,
  );
  writeFileSync(
    path.join(src, "index.ts"),
    `import { trainer } from "./trainer";
     export const arkor = { _kind: "arkor" as const, trainer };`,
  );
  const cwd = process.cwd();
  process.chdir(project);
  try {
    const { out, calls } = await runAndCapture();
    assert.equal(out, "Started job ts-trainer\nJob ts-trainer finished with status=completed\n");
    assert.deepEqual(calls, ["start:ts-trainer", "wait:ts-trainer"]);
  } finally {
    process.chdir(cwd);
  }
  // No temporary bundle is left behind.
  assert.deepEqual(readdirSync(src).sort(), ["index.ts", "trainer.ts"]);
});

test("errors from start() and wait() propagate unchanged", async () => {
  const boom = writeEntry(`
    export const trainer = {
      async start() { return { jobId: "j" }; },
      async wait() { const e = new Error("stream broke"); e.code = "X_TEST"; throw e; },
      async cancel() {},
    };
  `);
  let out;
  await assert.rejects(
    (async () => {
      out = await captureStdout(() => runTrainer(boom));
    })(),
    (err) => err.message === "stream broke" && err.code === "X_TEST",
  );
  void out;
});
