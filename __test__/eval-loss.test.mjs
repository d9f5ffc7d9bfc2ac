// Eval loss from the SDK's side: `evalSteps` makes the embedded backend score
// held-out rows, `onLog` gets `evalLoss` as a number on eval steps and null
// otherwise, and the CLI's progress line and `arkor logs` show it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { ARKOR_ESM, TINY_MODEL, chatmlRows, isolated, jsonLines, makeTempDir, runScript, writeDataset } from "./helpers/local-backend.mjs";

const require = createRequire(import.meta.url);
const { describeLog } = require("../lib/cli/progress.js");
const { describeEvent } = require("../lib/cli/format.js");

async function train(extra) {
  const cwd = makeTempDir("arkor-eval-");
  const dataUrl = writeDataset(cwd, "data.jsonl", chatmlRows(40));
  const { env } = isolated();
  const h = runScript(
    cwd,
    "run.mjs",
    `
import { createTrainer } from ${JSON.stringify(ARKOR_ESM)};
const emit = (v) => process.stdout.write("@@" + JSON.stringify(v) + "\\n");
const trainer = createTrainer({
  name: "eval-loss",
  model: ${JSON.stringify(TINY_MODEL)},
  dataset: { type: "blob", url: ${JSON.stringify(dataUrl)} },
  maxSteps: 5,
  ...${JSON.stringify(extra)},
  callbacks: { onLog: ({ step, loss, evalLoss }) => emit({ step, loss, evalLoss }) },
});
const { job } = await trainer.wait();
emit({ status: job.status });
`,
    { env, timeoutMs: 60_000 },
  );
  const r = await h.done;
  assert.equal(r.code, 0, r.stderr);
  return jsonLines(r.stdout);
}

test("onLog gets evalLoss every evalSteps steps and at the end, null between", async () => {
  const out = await train({ evalSteps: 2 });
  assert.equal(out.at(-1).status, "completed");
  const logs = out.slice(0, -1);
  assert.deepEqual(logs.map((l) => l.step), [1, 2, 3, 4, 5]);
  assert.deepEqual(logs.filter((l) => l.evalLoss !== null).map((l) => l.step), [2, 4, 5]);
  for (const l of logs.filter((l) => l.evalLoss !== null)) assert.ok(Number.isFinite(l.evalLoss) && l.evalLoss > 0, `${l.evalLoss}`);
});

test("without evalSteps every evalLoss is null", async () => {
  const logs = (await train({})).slice(0, -1);
  assert.equal(logs.length, 5);
  assert.ok(logs.every((l) => l.evalLoss === null && typeof l.loss === "number"), JSON.stringify(logs));
});

test("the progress line and `arkor logs` show the eval loss", () => {
  const job = { config: { maxSteps: 10 } };
  const at = (step, evalLoss) => ({ step, loss: 1.5, evalLoss, learningRate: 2e-4, job });
  assert.match(describeLog(at(5, 1.23456), 0, 1000), /^step 5\/10 · loss 1\.5000 · eval loss 1\.2346 · /);
  // Between eval steps the live line keeps the latest one, with its step.
  assert.match(describeLog(at(6, null), 0, 1000, { step: 5, evalLoss: 1.23456 }), / · eval loss 1\.2346 @5 · /);
  assert.doesNotMatch(describeLog(at(6, null), 0, 1000), /eval loss/);
  assert.match(describeEvent({ type: "training.log", ...at(5, 0.5) }, job), /step 5\/10 · loss 1\.5000 · eval loss 0\.5000/);
  const done = { type: "training.completed", metrics: { steps: 10, finalLoss: 0.2, evalLoss: 0.4, evalExamples: 8, evalSource: "held-out" } };
  assert.match(describeEvent(done, job), /completed \(10 steps, final loss 0\.2000, eval loss 0\.4000 on 8 held-out rows\)/);
});
